"""Costs of a download per MiB, from the process's own counters (issue 16).

    python bench/download_counts.py URL [--client C] [--count N] [--variant V] [--cpu N]
                                        [--ca CA_FILE]

URL is a large body (e.g. ``/big`` or ``/big.chunked`` of ``python bench/nginx.py``; an
``https://`` URL of ``nginx.py --tls`` with ``--ca`` its CA file). The client downloads
``/warm`` (URL with ``/big`` replaced) once, then URL ``--count`` times, the way the bench
cases do (``clients.py``: ``iter_any`` or ``iter_chunked`` (``--variant``) for the engine and
aiohttp, ``iter_content(1 MiB)`` for the facade, ``recv_into`` for the raw floor), and prints
per MiB of body: minor page faults (``ru_minflt``), user and system CPU time, voluntary and
involuntary context switches, and the wall-clock throughput. Counts of faults and switches
hold under load much better than the wall clock does; for syscalls per MiB run it under
``strace -f -c``. ``--cpu N`` pins the client to CPU N, as ``run.py`` does (it pins the
servers to another CPU: ``taskset -pc`` nginx's processes to compare like with like); the
client is then the bottleneck, and CPU time per MiB is what a download costs.

Clients: ``engine-asyncio``, ``engine-uvloop``, ``aiohttp-asyncio``, ``aiohttp-uvloop``,
``facade``, ``urllib3`` (``stream(1 MiB)``, as the bench), ``raw``. The syncwrap measured
is the one on ``PYTHONPATH`` (or installed), so two checkouts compare with
``PYTHONPATH=<checkout> python bench/download_counts.py ...``. Syscalls per MiB: run it
under ``strace -f -c``; instructions: under ``valgrind --tool=callgrind`` (``--count`` 1
and 2, the difference).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MIB = 1 << 20
CLIENTS = ("engine-asyncio", "engine-uvloop", "aiohttp-asyncio", "aiohttp-uvloop", "facade",
           "urllib3", "raw")


def snapshot() -> tuple[float, ...]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    switches = {}
    with open("/proc/self/status") as status:
        for line in status:
            if "ctxt_switches" in line:
                name, value = line.split(":")
                switches[name] = int(value)
    return (usage.ru_minflt, usage.ru_utime, usage.ru_stime,
            switches["voluntary_ctxt_switches"], switches["nonvoluntary_ctxt_switches"],
            time.perf_counter())


def report(client: str, before: tuple[float, ...], after: tuple[float, ...], size: int) -> str:
    mib = size / MIB
    faults, user, system, vcs, ivcs, wall = (b - a for a, b in zip(before, after, strict=True))
    return (f"{client}: {mib:.0f} MiB; per MiB: {faults / mib:.1f} minor faults, "
            f"{user * 1e6 / mib:.0f} us user, {system * 1e6 / mib:.0f} us system, "
            f"{vcs / mib:.2f} voluntary + {ivcs / mib:.2f} involuntary switches; "
            f"{size / wall / 1e6:,.0f} MB/s")


def run_sync(client: str, url: str, count: int, ca_file: str) -> str:
    if client == "facade":
        from clients import SyncwrapSession
        session = SyncwrapSession(1, ca_file=ca_file)
    elif client == "urllib3":
        from clients import Urllib3
        session = Urllib3(1, ca_file=ca_file)
    else:
        from raw import raw_client
        session = raw_client(1, ca_file=ca_file)
    session.download(url.replace("/big", "/warm"), "recv_into")
    before = snapshot()
    size = sum(session.download(url, "recv_into") for _ in range(count))
    line = report(client, before, snapshot(), size)
    session.close()
    return line


async def run_async(client: str, url: str, count: int, variant: str, ca_file: str) -> str:
    from clients import AiohttpStyle
    library = "syncwrap.engine" if client.startswith("engine") else "aiohttp"
    session = AiohttpStyle(library, 1, ca_file=ca_file)
    await session.open()
    try:
        await session.download(url.replace("/big", "/warm"), variant)
        before = snapshot()
        size = 0
        for _ in range(count):
            size += await session.download(url, variant)
        return report(f"{client} {variant}", before, snapshot(), size)
    finally:
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--client", choices=CLIENTS, default="engine-asyncio")
    parser.add_argument("--count", type=int, default=8, help="timed downloads")
    parser.add_argument("--variant", choices=("iter_any", "iter_chunked"), default="iter_any",
                        help="the engine's and aiohttp's way of reading the body")
    parser.add_argument("--cpu", type=int, default=-1, help="pin the client to this CPU")
    parser.add_argument("--ca", default="", help="CA file trusted for an https:// URL")
    args = parser.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    if args.client in ("facade", "urllib3", "raw"):
        print(run_sync(args.client, args.url, args.count, args.ca))
        return
    if args.client.endswith("uvloop"):
        import uvloop
        uvloop.install()
    print(asyncio.run(run_async(args.client, args.url, args.count, args.variant,
                                        args.ca)))


if __name__ == "__main__":
    main()
