"""Read compression bombs and report this process's peak RSS (run by tests/test_bomb_memory.py).

usage: bomb_client.py LAYER JOB BASE_URL ARG...
  LAYER  engine: syncwrap.engine.ClientSession in asyncio.run
         facade: syncwrap.Session
  JOB    stream PATH NBYTES: stream PATH, reading NBYTES decoded bytes in 64 KiB pieces
             (engine: resp.content.iter_chunked(65536); facade: stream=True and
             r.iter_content(65536)), then close the response
         whole PATH LIMIT: read PATH whole (engine: resp.read(); facade: r.content) with
             max_body_size=LIMIT; reports the exception's type and message
         redirect PATH...: GET each PATH (302s are followed) and read the final body

Before the job: imports, the session, and one request to BASE_URL/warm (a small deflate
body), then the baseline. Prints one JSON line: results, seconds, baseline_kib (ru_maxrss
after the warm-up), maxrss_kib (ru_maxrss at the end) and vm_hwm_kib (VmHWM at the end).
"""

import asyncio
import json
import sys
import time

from upload_client import maxrss_kib, vm_hwm_kib  # this script's neighbour

import syncwrap
from syncwrap.engine import ClientSession, ClientTimeout

PIECE = 65536


def failure(exc: BaseException) -> dict:
    return {"error": type(exc).__name__, "message": str(exc)}


async def engine_job(s: ClientSession, job: str, base: str, args: list[str]) -> list:
    if job == "stream":
        path, nbytes = args[0], int(args[1])
        got = 0
        async with s.get(base + path) as resp:
            async for chunk in resp.content.iter_chunked(PIECE):
                got += len(chunk)
                if got >= nbytes:
                    break
        return [{"status": resp.status, "read": got}]
    if job == "whole":
        try:
            async with s.get(base + args[0], max_body_size=int(args[1])) as resp:
                return [{"status": resp.status, "length": len(await resp.read())}]
        except Exception as exc:  # noqa: BLE001 - reported to the test
            return [failure(exc)]
    out = []
    for path in args:
        async with s.get(base + path) as resp:
            out.append({"status": resp.status, "body": (await resp.read()).decode(),
                        "history": [r.status for r in resp.history]})
    return out


def facade_job(s: syncwrap.Session, job: str, base: str, args: list[str]) -> list:
    if job == "stream":
        path, nbytes = args[0], int(args[1])
        got = 0
        with s.get(base + path, stream=True) as r:
            for chunk in r.iter_content(PIECE):
                got += len(chunk)
                if got >= nbytes:
                    break
        return [{"status": r.status_code, "read": got}]
    if job == "whole":
        try:
            r = s.get(base + args[0], max_body_size=int(args[1]))
            return [{"status": r.status_code, "length": len(r.content)}]
        except Exception as exc:  # noqa: BLE001 - reported to the test
            return [failure(exc)]
    out = []
    for path in args:
        r = s.get(base + path)
        out.append({"status": r.status_code, "body": r.text,
                    "history": [h.status_code for h in r.history]})
    return out


def main() -> None:
    layer, job, base, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    report: dict = {}
    if layer == "engine":
        async def run() -> None:
            async with ClientSession(timeout=ClientTimeout(total=30)) as s:
                async with s.get(base + "/warm") as resp:
                    await resp.read()
                report["baseline_kib"] = maxrss_kib()
                started = time.perf_counter()
                report["results"] = await engine_job(s, job, base, args)
                report["seconds"] = time.perf_counter() - started

        asyncio.run(run())
    else:
        with syncwrap.Session(timeout=30) as s:
            assert s.get(base + "/warm").content
            report["baseline_kib"] = maxrss_kib()
            started = time.perf_counter()
            report["results"] = facade_job(s, job, base, args)
            report["seconds"] = time.perf_counter() - started
    report["maxrss_kib"] = maxrss_kib()
    report["vm_hwm_kib"] = vm_hwm_kib()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
