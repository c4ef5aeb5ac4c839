"""Download a large body with the engine and count page faults (run by
tests/engine/test_loop_reads.py).

usage: loop_reads_client.py LOOP URL COUNT [CA_FILE]
  LOOP     asyncio or uvloop
  URL      a keep-alive server answering every GET with the same large body
  COUNT    timed downloads, after one untimed one (the connection and the first reader)
  CA_FILE  for an https URL: the CA that issued the server's certificate

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
import ssl
import sys

from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector
from syncwrap.engine.http1.direct import LoopReader


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


async def download(s: ClientSession, url: str) -> tuple[str, bool, int, int]:
    digest = hashlib.sha256()
    size = reads = 0
    async with s.get(url) as resp:
        loop_mode = isinstance(getattr(resp.connection.protocol, "_direct", None), LoopReader)
        async for chunk in resp.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
            reads += 1
    return digest.hexdigest(), loop_mode, size, reads


async def main(url: str, count: int, ca_file: str | None) -> dict:
    ssl_context = ssl.create_default_context(cafile=ca_file) if ca_file else True
    async with ClientSession(timeout=ClientTimeout(total=60),
                             connector=TCPConnector(ssl=ssl_context)) as s:
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
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    print(json.dumps(asyncio.run(main(sys.argv[2], int(sys.argv[3]), ca))))
