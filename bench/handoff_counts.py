"""Costs of small GETs per request, from the process's own counters (issue 16).

    python bench/handoff_counts.py URL [--client C] [--loop L] [--count N] [--threads T]
                                   [--ca CA_FILE]

URL is a small body (``/small`` of ``python bench/nginx.py``, or its TLS listener with
``--ca``). After a 200-request warm-up the client makes ``--count`` GETs, one after another
or from ``--threads`` threads (tasks for the async clients) on one session, and prints per
request: voluntary and involuntary context switches of the process and of syncwrap's loop
thread, minor page faults, and the wall-clock rate. Counts hold under load much better than
the wall clock does. For instructions or system calls per request, run it twice under
``valgrind --tool=callgrind`` or ``strace -f -c`` with N and 2N requests and divide the
difference by N (the warm-up and start-up cancel out).

Clients: ``facade`` (a ``syncwrap.Session``; ``--loop asyncio`` sets SYNCWRAP_NO_UVLOOP),
``engine`` and ``aiohttp`` (one ClientSession, on ``--loop``). The syncwrap measured is the
one on ``PYTHONPATH`` (or installed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import ssl
import sys
import threading
import time

WARM_UP = 200


def _counters() -> tuple[int, ...]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    loop = (0, 0)
    for t in threading.enumerate():
        if t.name == "syncwrap-loop":
            with open(f"/proc/self/task/{t.native_id}/status") as f:
                fields = dict(line.split(":\t") for line in f if ":\t" in line)
            loop = (int(fields["voluntary_ctxt_switches"]),
                    int(fields["nonvoluntary_ctxt_switches"]))
    return (r.ru_nvcsw, r.ru_nivcsw, r.ru_minflt) + loop


def _report(args: argparse.Namespace, t0: float, before: tuple[int, ...], n: int) -> None:
    seconds = time.perf_counter() - t0
    d = [(b - a) / n for a, b in zip(before, _counters(), strict=True)]
    print(f"{args.client} {args.loop} threads={args.threads} n={n}: {n / seconds:,.0f} req/s;"
          f" per request: vcsw {d[0]:.2f} ivcsw {d[1]:.2f} minflt {d[2]:.2f};"
          f" loop thread vcsw {d[3]:.2f} ivcsw {d[4]:.2f}")


def _run_facade(args: argparse.Namespace) -> None:
    import syncwrap

    s = syncwrap.Session()
    if args.ca:
        s.verify = args.ca

    def one() -> None:
        assert s.get(args.url).content

    for _ in range(WARM_UP):
        one()
    per = args.count // max(args.threads, 1)
    if not args.threads:
        before, t0 = _counters(), time.perf_counter()
        for _ in range(per):
            one()
        return _report(args, t0, before, per)
    start = threading.Barrier(args.threads + 1, timeout=60)

    def worker() -> None:
        start.wait()
        for _ in range(per):
            one()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    start.wait()
    before, t0 = _counters(), time.perf_counter()
    for t in threads:
        t.join()
    _report(args, t0, before, per * args.threads)


async def _run_async(args: argparse.Namespace) -> None:
    if args.client == "engine":
        import syncwrap.engine as lib
    else:
        import aiohttp as lib
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else None
    connector = lib.TCPConnector(limit=max(args.threads, 1) * 2, **({"ssl": ctx} if ctx else {}))
    async with lib.ClientSession(connector=connector) as s:
        async def many(n: int) -> None:
            for _ in range(n):
                async with s.get(args.url) as r:
                    assert await r.read()

        await many(WARM_UP)
        tasks = max(args.threads, 1)
        per = args.count // tasks
        before, t0 = _counters(), time.perf_counter()
        await asyncio.gather(*(many(per) for _ in range(tasks)))
        _report(args, t0, before, per * tasks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--client", choices=("facade", "engine", "aiohttp"), default="facade")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0, help="0: one after another")
    p.add_argument("--ca", help="CA file for an https URL")
    args = p.parse_args()
    if args.client == "facade":
        if args.loop == "asyncio":
            os.environ["SYNCWRAP_NO_UVLOOP"] = "1"
        _run_facade(args)
    else:
        if args.loop == "uvloop":
            import uvloop
            uvloop.install()
        asyncio.run(_run_async(args))
    sys.stdout.flush()
    os._exit(0)  # a facade's loop thread needs no orderly shutdown here


if __name__ == "__main__":
    main()
