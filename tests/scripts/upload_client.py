"""Upload SIZE_MIB MiB to URL and report the client's peak RSS (run by test_upload_memory).

usage: upload_client.py MODE SOURCE URL SIZE_MIB [PATH]
  MODE    facade: syncwrap.post(...) from the main thread (a sync generator for "gen")
          engine: syncwrap.engine.ClientSession in asyncio.run (an async generator)
  SOURCE  gen:  a generator yielding copies of one 1 MiB pseudo-random block (seed 1234)
          file: open(PATH, "rb")

Prints one JSON line: status, the server's JSON answer, seconds for the upload call,
maxrss_kib (ru_maxrss at the very end: the whole process, imports included),
baseline_kib (ru_maxrss after imports and loop start, before the upload) and
vm_hwm_kib (/proc/self/status VmHWM at the end, a cross-check).
"""

import asyncio
import json
import random
import resource
import sys
import time

import syncwrap
from syncwrap.engine import ClientSession, ClientTimeout

BLOCK = 1024 * 1024


def block() -> bytes:
    return random.Random(1234).randbytes(BLOCK)


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def vm_hwm_kib() -> int:
    """The peak RSS of this process image (/proc/self/status VmHWM), a cross-check."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main() -> None:
    mode, source, url, size_mib = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else None
    view = memoryview(block())

    if mode == "facade":
        syncwrap.loop.get_loop()  # the loop thread is part of the baseline
        baseline = maxrss_kib()

        def gen():
            for _ in range(size_mib):
                yield view.tobytes()  # a fresh 1 MiB object each time, as a real source makes

        started = time.perf_counter()
        if source == "gen":
            r = syncwrap.post(url, data=gen(), timeout=60)
        else:
            with open(path, "rb") as f:
                r = syncwrap.post(url, data=f, timeout=60)
        seconds = time.perf_counter() - started
        status, answer = r.status_code, r.json()
    else:
        async def agen():
            for _ in range(size_mib):
                yield view.tobytes()  # a fresh 1 MiB object each time, as a real source makes

        async def upload():
            async with ClientSession(timeout=ClientTimeout(total=60)) as s:
                baseline = maxrss_kib()
                started = time.perf_counter()
                if source == "gen":
                    resp = await s.post(url, data=agen())
                else:
                    with open(path, "rb") as f:
                        resp = await s.post(url, data=f)
                answer = await resp.json()
                return baseline, time.perf_counter() - started, resp.status, answer

        baseline, seconds, status, answer = asyncio.run(upload())
    print(json.dumps({"status": status, "answer": answer, "seconds": seconds,
                      "baseline_kib": baseline, "maxrss_kib": maxrss_kib(),
                      "vm_hwm_kib": vm_hwm_kib()}), flush=True)


if __name__ == "__main__":
    main()
