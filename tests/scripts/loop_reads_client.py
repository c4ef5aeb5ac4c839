"""Download a large plain body with the engine and count page faults (run by
tests/engine/test_loop_reads.py).

usage: loop_reads_client.py LOOP URL COUNT
  LOOP   asyncio or uvloop
  URL    a keep-alive server answering every GET with the same large body
  COUNT  timed downloads, after one untimed one (the connection and the first loop reader)

Each body is read with ``resp.content.iter_any()`` and hashed. Prints one JSON line:
``digests`` (sha256 hex of each timed body), ``loop_mode`` (whether loop mode read each),
``faults_per_mib`` (this thread's minor page faults over the timed downloads, per MiB of
body: the loop runs on this thread, the server lives in another process) and
``reads_per_mib`` (chunks iter_any yielded).
"""

import asyncio
import hashlib
import json
import resource
import sys

from syncwrap.engine import ClientSession, ClientTimeout
from syncwrap.engine.http1.direct import LoopReader


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


async def download(s: ClientSession, url: str) -> tuple[str, bool, int, int]:
    digest = hashlib.sha256()
    size = reads = 0
    async with s.get(url) as resp:
        loop_mode = isinstance(resp.connection.protocol._direct, LoopReader)
        async for chunk in resp.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
            reads += 1
    return digest.hexdigest(), loop_mode, size, reads


async def main(url: str, count: int) -> dict:
    async with ClientSession(timeout=ClientTimeout(total=60)) as s:
        await download(s, url)
        digests, modes = [], []
        size = reads = 0
        before = faults()
        for _ in range(count):
            digest, loop_mode, n, r = await download(s, url)
            digests.append(digest)
            modes.append(loop_mode)
            size += n
            reads += r
        mib = size / (1 << 20)
        return {"digests": digests, "loop_mode": modes,
                "faults_per_mib": (faults() - before) / mib, "reads_per_mib": reads / mib}


if __name__ == "__main__":
    if sys.argv[1] == "uvloop":
        import uvloop
        uvloop.install()
    print(json.dumps(asyncio.run(main(sys.argv[2], int(sys.argv[3])))))
