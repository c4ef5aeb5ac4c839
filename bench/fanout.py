"""The fan-out group (issue 15): 256 requests in flight from one caller.

- ``syncwrap.Session.map``: plain code, ``s.map(urls, concurrency=256)`` over a generator;
- ``aiohttp`` ``asyncio.gather``: one ClientSession, every request a coroutine gathered at
  once, a Semaphore(256) keeping 256 in flight (on asyncio's loop and on uvloop);
- ``requests`` with a 256-thread pool: ``ThreadPoolExecutor(256).map``, one
  ``requests.Session`` per thread.

Each GETs nginx's ``/small`` (its body length checked) until the request budget or the
time budget is spent (the profile's ``conc_count`` / ``conc_seconds``), after a warm-up
that opens the connections. Targets: ``s.map`` >= 1.5x aiohttp and >= 10x requests.

Run with the suite, ``python bench/run.py --only fanout`` (``--quick`` for a smoke run);
run.py builds the specs (:func:`specs`), bench/cases.py hands a fan-out spec to
:func:`run` in the worker, and :func:`render` prints the table and the ratios.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import SMALL_BODY_LEN, Budget, Sample, Spec, Stopwatch, check_length, check_status

IN_FLIGHT = 256
SYNCWRAP = "syncwrap.Session.map"
AIOHTTP = "aiohttp gather"
REQUESTS = "requests 256 threads"
CLIENTS = ((SYNCWRAP, ""), (AIOHTTP, "asyncio"), (AIOHTTP, "uvloop"), (REQUESTS, ""))


def specs(profile: Any, base: dict[str, Any]) -> list[Spec]:
    """run.py's spec builder for the group."""
    return [Spec(group="fanout", case="fanout", client=client, loop=loop,
                 count=profile.conc_count, seconds=profile.conc_seconds,
                 concurrency=IN_FLIGHT, warmup=1, **base) for client, loop in CLIENTS]


def run(spec: Spec) -> Sample:
    """In the worker: one measured run of ``spec.client``."""
    if spec.client == SYNCWRAP:
        return _syncwrap_map(spec)
    if spec.client == AIOHTTP:
        import cases

        return cases.run_on_loop(lambda: _aiohttp_gather(spec), spec.loop)
    if spec.client == REQUESTS:
        return _requests_threads(spec)
    raise ValueError(f"unknown fan-out client {spec.client!r}")


def _urls(url: str, budget: Budget) -> Iterator[str]:
    while budget.take():
        yield url


def _syncwrap_map(spec: Spec) -> Sample:
    from clients import import_client

    syncwrap = import_client("syncwrap")
    url = spec.base_url + "/small"
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=spec.concurrency)) as s:
        for r in s.map([url] * spec.concurrency * spec.warmup, concurrency=spec.concurrency):
            check_status(r.status_code)
        watch = Stopwatch()
        done = 0
        for r in s.map(_urls(url, Budget(spec.count, spec.seconds)),
                       concurrency=spec.concurrency):
            check_length(len(r.content), SMALL_BODY_LEN)
            done += 1
        return watch.sample(ops=done)


async def _aiohttp_gather(spec: Spec) -> Sample:
    from clients import import_client

    aiohttp = import_client("aiohttp")
    url = spec.base_url + "/small"
    limit = asyncio.Semaphore(spec.concurrency)
    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch() -> None:
            async with limit, session.get(url) as resp:
                check_length(len(await resp.read()), SMALL_BODY_LEN)

        await asyncio.gather(*(fetch() for _ in range(spec.concurrency * spec.warmup)))
        watch = Stopwatch()  # gather takes every request up front: the count budget only
        results = await asyncio.gather(*(fetch() for _ in range(spec.count)))
        return watch.sample(ops=len(results))


def _requests_threads(spec: Spec) -> Sample:
    from clients import import_client

    requests = import_client("requests")
    url = spec.base_url + "/small"
    local = threading.local()
    sessions: list[Any] = []

    def fetch(target: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        return len(session.get(target).content)

    with ThreadPoolExecutor(spec.concurrency) as pool:
        for size in pool.map(fetch, [url] * spec.concurrency * spec.warmup):
            check_length(size, SMALL_BODY_LEN)
        watch = Stopwatch()
        done = 0
        for size in pool.map(fetch, _urls(url, Budget(spec.count, spec.seconds))):
            check_length(size, SMALL_BODY_LEN)
            done += 1
        sample = watch.sample(ops=done)
    for session in sessions:
        session.close()
    return sample


def render(outcomes: Iterable[Any]) -> str:
    """The group's table (best req/s of the runs, peak RSS) and the s.map ratios."""
    mine = [o for o in outcomes if o.spec.group == "fanout"]
    by_key = {(o.spec.client, o.spec.loop): o for o in mine}
    lines = [f"\n=== Fan-out: {IN_FLIGHT} in flight, GET /small ===",
             f"{'client':<24} {'loop':<8} {'req/s':>10} {'peak RSS':>10}  status"]
    for client, loop in CLIENTS:
        o = by_key.get((client, loop))
        if o is None:
            continue
        value = "" if o.value is None else f"{o.value:,.0f}"
        rss = "" if o.rss_peak is None else f"{o.rss_peak / (1 << 20):.0f} MiB"
        lines.append(f"{client:<24} {loop or '-':<8} {value:>10} {rss:>10}  {o.status}")
    ours = by_key.get((SYNCWRAP, ""))
    for (client, loop), target in (((AIOHTTP, "asyncio"), 1.5), ((AIOHTTP, "uvloop"), 1.5),
                                   ((REQUESTS, ""), 10.0)):
        other = by_key.get((client, loop))
        if ours is None or other is None or not ours.value or not other.value:
            continue
        ratio = ours.value / other.value
        verdict = "PASS" if ratio >= target else "MISS"
        lines.append(f"  s.map / {client}{' ' + loop if loop else ''}: {ratio:.2f} "
                     f"(target >= {target:.1f}) {verdict}")
    return "\n".join(lines)
