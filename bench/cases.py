"""The measured cases. ``run(spec)`` executes one and returns its :class:`Sample`.

Every case first warms up (connections opened, code paths and TCP windows warmed), then
times one bounded section with :class:`Stopwatch`. Every response is checked (status, body
length, bytes the upload sink received), so a client that is fast because it is wrong fails.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from clients import (
    ASYNC_CLIENTS,
    SYNC_CLIENTS,
    WS_ASYNC_CLIENTS,
    WS_SYNC_CLIENTS,
    import_client,
    need,
)
from common import (
    SMALL_BODY_LEN,
    BadResponse,
    Budget,
    Sample,
    Spec,
    Stopwatch,
    Unavailable,
    abody_chunks,
    body_chunks,
    check_length,
    check_upload_echo,
)


def check_upload(spec: Spec, answer: bytes, size: int) -> None:
    check_upload_echo(answer, size, spec.upload_exact)


# --------------------------------------------------------------------------- async cases


def run_on_loop(main: Callable[[], Awaitable[Sample]], loop_kind: str) -> Sample:
    if loop_kind == "uvloop":
        loop = import_client("uvloop").new_event_loop()
    elif loop_kind in ("asyncio", ""):
        loop = asyncio.new_event_loop()
    else:
        raise ValueError(f"unknown loop {loop_kind!r}")
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


async def async_seq(client: Any, spec: Spec) -> Sample:
    url = spec.base_url + "/small"
    for _ in range(spec.warmup):
        check_length(await client.get_small(url), SMALL_BODY_LEN)
    budget = Budget(spec.count, spec.seconds)
    watch = Stopwatch()
    done = 0
    while budget.take():
        check_length(await client.get_small(url), SMALL_BODY_LEN)
        done += 1
    return watch.sample(ops=done)


async def async_conc(client: Any, spec: Spec) -> Sample:
    """``concurrency`` worker tasks share one request budget (so that many are in flight)."""
    url = spec.base_url + "/small"

    async def warm() -> None:
        for _ in range(spec.warmup):
            check_length(await client.get_small(url), SMALL_BODY_LEN)

    await asyncio.gather(*(warm() for _ in range(spec.concurrency)))
    budget = Budget(spec.count, spec.seconds)

    async def worker() -> int:
        done = 0
        while budget.take():
            check_length(await client.get_small(url), SMALL_BODY_LEN)
            done += 1
        return done

    watch = Stopwatch()
    counts = await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return watch.sample(ops=sum(counts))


#: The download cases whose body is not /big as it is: gzip-encoded or chunked.
ENCODED_BODIES = {"download_gz": ".gz", "tls_gz": ".gz", "chunked": ".chunked",
                  "tls_chunked": ".chunked"}


def download_paths(spec: Spec) -> tuple[str, str]:
    """(timed body, warm-up body): the gzip cases download the pre-compressed files, the
    chunked ones the chunked twins (both decode to /big's size)."""
    suffix = ENCODED_BODIES.get(spec.case, "")
    return "/big" + suffix, "/warm" + suffix


async def async_download(client: Any, spec: Spec) -> Sample:
    big, warm = download_paths(spec)
    check_length(await client.download(spec.base_url + warm, spec.variant), spec.warm_size)
    sizes = []
    watch = Stopwatch()
    for _ in range(max(spec.count, 1)):
        sizes.append(await client.download(spec.base_url + big, spec.variant))
    sample = watch.sample(ops=len(sizes), nbytes=sum(sizes))
    for n in sizes:
        check_length(n, spec.size)
    return sample


async def async_upload_gen(client: Any, spec: Spec) -> Sample:
    check_upload(spec, await client.upload(spec.upload_url, abody_chunks(spec.warm_size)),
                 spec.warm_size)
    watch = Stopwatch()
    answer = await client.upload(spec.upload_url, abody_chunks(spec.size))
    sample = watch.sample(ops=1, nbytes=spec.size)
    check_upload(spec, answer, spec.size)
    return sample


async def async_upload_file(client: Any, spec: Spec) -> Sample:
    with open(spec.warm_file, "rb") as f:
        check_upload(spec, await client.upload(spec.upload_url, f), spec.warm_size)
    watch = Stopwatch()
    with open(spec.data_file, "rb") as f:
        answer = await client.upload(spec.upload_url, f)
    sample = watch.sample(ops=1, nbytes=spec.size)
    check_upload(spec, answer, spec.size)
    return sample


ASYNC_CASES = {
    "seq": async_seq,
    "conc": async_conc,
    "threads": async_conc,  # 16 tasks on one session: the async twin of 16 threads
    "download": async_download,
    "download_gz": async_download,
    "chunked": async_download,
    "tls_seq": async_seq,
    "tls_threads": async_conc,  # 16 tasks on one session: the async twin of 16 threads
    "tls_download": async_download,
    "tls_gz": async_download,
    "tls_chunked": async_download,
    "proxy_seq": async_seq,
    "proxy_download": async_download,
    "tunnel_seq": async_seq,
    "tunnel_download": async_download,
    "upload_gen": async_upload_gen,
    "upload_file": async_upload_file,
}


def run_async_case(spec: Spec) -> Sample:
    client = ASYNC_CLIENTS[spec.client](max(spec.concurrency, 1), spec.proxy, spec.ca_file)
    case = ASYNC_CASES[spec.case]

    async def main() -> Sample:
        await client.open()
        try:
            return await case(client, spec)
        finally:
            await client.close()

    return run_on_loop(main, spec.loop)


# --------------------------------------------------------------------------- sync cases


def sync_seq(client: Any, spec: Spec) -> Sample:
    url = spec.base_url + "/small"
    for _ in range(spec.warmup):
        check_length(client.get_small(url), SMALL_BODY_LEN)
    budget = Budget(spec.count, spec.seconds)
    watch = Stopwatch()
    done = 0
    while budget.take():
        check_length(client.get_small(url), SMALL_BODY_LEN)
        done += 1
    return watch.sample(ops=done)


def sync_threads(client: Any, spec: Spec) -> Sample:
    """``concurrency`` threads share one client object and one request budget."""
    url = spec.base_url + "/small"
    ready = threading.Barrier(spec.concurrency + 1, timeout=60)
    go = threading.Event()
    counts: list[int] = []
    errors: list[BaseException] = []
    budget = Budget(0, 0)  # replaced right before "go"

    def worker() -> None:
        done = 0
        try:
            for _ in range(spec.warmup):
                check_length(client.get_small(url), SMALL_BODY_LEN)
            ready.wait()
            go.wait(timeout=60)
            while budget.take():
                check_length(client.get_small(url), SMALL_BODY_LEN)
                done += 1
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            ready.abort()
        finally:
            counts.append(done)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec.concurrency)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    budget = Budget(spec.count, spec.seconds)
    watch = Stopwatch()
    go.set()
    for t in threads:
        t.join(timeout=spec.seconds + 60)
    sample = watch.sample(ops=sum(counts))
    if errors:
        raise errors[0]
    return sample


def sync_download(client: Any, spec: Spec) -> Sample:
    big, warm = download_paths(spec)
    check_length(client.download(spec.base_url + warm, spec.variant), spec.warm_size)
    sizes = []
    watch = Stopwatch()
    for _ in range(max(spec.count, 1)):
        sizes.append(client.download(spec.base_url + big, spec.variant))
    sample = watch.sample(ops=len(sizes), nbytes=sum(sizes))
    for n in sizes:
        check_length(n, spec.size)
    return sample


def _gen_body(spec: Spec, size: int) -> Any:
    chunks = body_chunks(size)
    return (size, chunks) if spec.client == "raw socket" else chunks


def _file_body(spec: Spec, f: Any, size: int) -> Any:
    return (size, f) if spec.client == "raw socket" else f


def sync_upload_gen(client: Any, spec: Spec) -> Sample:
    check_upload(spec, client.upload(spec.upload_url, _gen_body(spec, spec.warm_size)),
                 spec.warm_size)
    watch = Stopwatch()
    answer = client.upload(spec.upload_url, _gen_body(spec, spec.size))
    sample = watch.sample(ops=1, nbytes=spec.size)
    check_upload(spec, answer, spec.size)
    return sample


def sync_upload_file(client: Any, spec: Spec) -> Sample:
    with open(spec.warm_file, "rb") as f:
        check_upload(spec, client.upload(spec.upload_url, _file_body(spec, f, spec.warm_size)),
                     spec.warm_size)
    watch = Stopwatch()
    with open(spec.data_file, "rb") as f:
        answer = client.upload(spec.upload_url, _file_body(spec, f, spec.size))
    sample = watch.sample(ops=1, nbytes=spec.size)
    check_upload(spec, answer, spec.size)
    return sample


SYNC_CASES = {
    "seq": sync_seq,
    "threads": sync_threads,
    "download": sync_download,
    "download_gz": sync_download,
    "chunked": sync_download,
    "tls_seq": sync_seq,
    "tls_threads": sync_threads,
    "tls_download": sync_download,
    "tls_gz": sync_download,
    "tls_chunked": sync_download,
    "proxy_seq": sync_seq,
    "proxy_download": sync_download,
    "tunnel_seq": sync_seq,
    "tunnel_download": sync_download,
    "upload_gen": sync_upload_gen,
    "upload_file": sync_upload_file,
}


def run_sync_case(spec: Spec) -> Sample:
    client = SYNC_CLIENTS[spec.client](max(spec.concurrency, 1), spec.proxy, spec.ca_file)
    try:
        return SYNC_CASES[spec.case](client, spec)
    finally:
        client.close()


# --------------------------------------------------------------------------- loop round trip


async def _noop() -> None:
    return None


def _reference_runner(loop_kind: str) -> tuple[Callable[[Any], Any], Callable[[], None]]:
    """What a minimal facade does: an event loop in a daemon thread, driven with
    run_coroutine_threadsafe(...).result(). Returns (run, stop)."""
    if loop_kind == "uvloop":
        loop = import_client("uvloop").new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    return run, stop


def run_rtt_case(spec: Spec) -> Sample:
    """Mean cost of one blocking call into the background loop with a no-op coroutine."""
    if spec.client == "syncwrap.run":
        run, stop = need(import_client("syncwrap"), "run", "syncwrap"), None
    else:
        run, stop = _reference_runner(spec.loop)
    try:
        for _ in range(spec.warmup):
            run(_noop())
        watch = Stopwatch()
        for _ in range(spec.count):
            run(_noop())
        return watch.sample(ops=spec.count)
    finally:
        if stop is not None:
            stop()


# --------------------------------------------------------------------------- WebSockets

#: The small text message of the round-trip case (each echo is checked).
WS_TEXT = "syncwrap bench 0123456789"


def _check_echo(sent: str | bytes, got: Any) -> None:
    if isinstance(sent, str):
        if got != sent:
            raise BadResponse(f"echo {str(got)[:40]!r} instead of the text sent")
    elif not isinstance(got, bytes | bytearray) or len(got) != len(sent):
        raise BadResponse(f"echo of {len(got) if got else got!r} bytes, sent {len(sent)}")


def _ws_message(spec: Spec) -> str | bytes:
    return WS_TEXT if spec.case == "ws_rtt" else bytes(spec.size)


async def async_ws(client: Any, spec: Spec) -> Sample:
    """One message at a time: send it, wait for its echo (round trips, or 1 MiB messages)."""
    message = _ws_message(spec)
    for _ in range(spec.warmup):
        _check_echo(message, await client.echo(message))
    budget = Budget(spec.count, spec.seconds)
    watch = Stopwatch()
    done = 0
    while budget.take():
        _check_echo(message, await client.echo(message))
        done += 1
    return watch.sample(ops=done, nbytes=0 if isinstance(message, str) else done * len(message))


def sync_ws(client: Any, spec: Spec) -> Sample:
    message = _ws_message(spec)
    for _ in range(spec.warmup):
        _check_echo(message, client.echo(message))
    budget = Budget(spec.count, spec.seconds)
    watch = Stopwatch()
    done = 0
    while budget.take():
        _check_echo(message, client.echo(message))
        done += 1
    return watch.sample(ops=done, nbytes=0 if isinstance(message, str) else done * len(message))


def run_ws_case(spec: Spec) -> Sample:
    if spec.client in WS_SYNC_CLIENTS:
        client = WS_SYNC_CLIENTS[spec.client](spec.base_url + "/")
        try:
            return sync_ws(client, spec)
        finally:
            client.close()
    if spec.client not in WS_ASYNC_CLIENTS:
        raise Unavailable(f"no WebSocket adapter for {spec.client}")
    client = WS_ASYNC_CLIENTS[spec.client]()

    async def main() -> Sample:
        await client.open(spec.base_url + "/")
        try:
            return await async_ws(client, spec)
        finally:
            await client.close()

    return run_on_loop(main, spec.loop)


def run(spec: Spec) -> Sample:
    if spec.group == "fanout":  # bench/fanout.py
        import fanout

        return fanout.run(spec)
    if spec.case == "rtt":
        return run_rtt_case(spec)
    if spec.group == "ws":
        return run_ws_case(spec)
    try:
        if spec.client in ASYNC_CLIENTS:
            return run_async_case(spec)
        return run_sync_case(spec)
    except TypeError as e:  # e.g. proxy= not accepted (yet): the API is missing, not broken
        if spec.proxy and "unexpected keyword argument" in str(e):
            raise Unavailable(f"{spec.client}: {e}") from None
        raise
