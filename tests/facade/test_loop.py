"""The loop thread (issue points 1, 3 and 4): lifecycle, syncwrap.run, uvloop, re-entrancy,
and use from a thread that already runs an event loop."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import warnings

import pytest

import syncwrap
import syncwrap.loop
from tests.facade._util import WAIT, collect_earlier_garbage, request_then_wait_close, run_script
from tests.servers import keep_alive

# -- point 1: one named daemon loop thread, get_loop(), run() ---------------------------------


def test_one_named_daemon_loop_thread_per_process(counting_server):
    assert syncwrap.get(counting_server.url).status_code == 200
    loops: list[asyncio.AbstractEventLoop] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait(WAIT)
        loops.append(syncwrap.loop.get_loop())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    loop = syncwrap.loop.get_loop()
    assert len(loops) == 8 and all(other is loop for other in loops)
    named = [t for t in threading.enumerate() if t.name == "syncwrap-loop"]
    assert len(named) == 1
    assert named[0].daemon and named[0].is_alive()

    async def where() -> tuple[str, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, asyncio.get_running_loop()

    name, running = syncwrap.run(where())
    assert name == "syncwrap-loop" and running is loop
    assert loop.is_running()


def test_loop_thread_starts_on_first_use_and_uses_uvloop(counting_server):
    pytest.importorskip("uvloop")
    proc = run_script("loop_info.py", counting_server.url)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    info = json.loads(proc.stdout)
    assert "syncwrap-loop" not in info["before"]  # importing syncwrap starts nothing
    assert info["status"] == 200
    assert info["loop_threads"] == 1 and info["daemon"]
    assert info["loop_class"].startswith("uvloop")
    assert info["coroutine_ran_in"] == "syncwrap-loop:uvloop"


@pytest.mark.parametrize("how", ["env", "use_uvloop(False)"])
def test_uvloop_opt_out(counting_server, how):
    if how == "env":
        proc = run_script("loop_info.py", counting_server.url, SYNCWRAP_NO_UVLOOP="1")
    else:
        proc = run_script("loop_info.py", counting_server.url, "opt-out")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    info = json.loads(proc.stdout)
    assert info["status"] == 200 and info["loop_threads"] == 1
    assert info["loop_class"].startswith("asyncio."), info
    assert info["coroutine_ran_in"].startswith("syncwrap-loop:asyncio")


def test_run_returns_result_and_raises_the_coroutines_exception():
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    assert syncwrap.run(add(2, 3)) == 5
    assert syncwrap.run(add(2, 3), timeout=WAIT) == 5

    class Boom(Exception):
        pass

    async def fail() -> None:
        await asyncio.sleep(0)
        raise Boom("from the loop")

    with pytest.raises(Boom, match="from the loop"):
        syncwrap.run(fail())


def test_run_takes_any_awaitable_not_only_coroutines():
    class Awaitable:  # e.g. the engine's request context managers: awaitable, no coroutine
        def __await__(self):
            return (yield from asyncio.sleep(0, "awaited").__await__())

    assert syncwrap.run(Awaitable(), timeout=WAIT) == "awaited"
    with pytest.raises(TypeError):
        syncwrap.run(42, timeout=WAIT)  # type: ignore[arg-type]
    assert syncwrap.run(asyncio.sleep(0, "alive"), timeout=WAIT) == "alive"


def test_run_timeout_raises_timeout_and_cancels_the_coroutine():
    cancelled = threading.Event()
    never = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        never.set()

    started = time.monotonic()
    with pytest.raises(syncwrap.Timeout) as info:
        syncwrap.run(forever(), timeout=0.2)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started < 1.0  # promptly: no extra grace wait on top
    assert cancelled.wait(WAIT) and not never.is_set()
    # The loop is still healthy afterwards.
    assert syncwrap.run(asyncio.sleep(0, "alive"), timeout=WAIT) == "alive"


def test_loop_roundtrip_benchmark(capsys):
    """BENCHMARK: mean round trip of syncwrap.run(noop()); printed for the lead."""

    async def noop() -> None:
        return None

    for _ in range(200):  # warm up
        syncwrap.run(noop())
    n = 5000
    started = time.perf_counter()
    for _ in range(n):
        syncwrap.run(noop())
    mean_us = (time.perf_counter() - started) / n * 1e6
    loop_kind = type(syncwrap.loop.get_loop()).__module__
    with capsys.disabled():
        print(f"\n[syncwrap benchmark] loop round trip: {mean_us:.1f} us mean over {n} "
              f"syncwrap.run(noop()) calls ({loop_kind} loop)")
    assert mean_us < 2000


# -- point 3: blocking calls on the loop thread raise RuntimeError -----------------------------


def test_blocking_call_on_loop_thread_raises_runtime_error(counting_server):
    async def call_blocking_api() -> None:
        syncwrap.get(counting_server.url)

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="would deadlock"):
        syncwrap.run(call_blocking_api(), timeout=WAIT)

    async def nested_run() -> None:
        syncwrap.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="event-loop thread"):
        syncwrap.run(nested_run(), timeout=WAIT)

    with syncwrap.Session() as s:

        async def session_call() -> None:
            s.get(counting_server.url)

        with pytest.raises(RuntimeError, match="would deadlock"):
            syncwrap.run(session_call(), timeout=WAIT)
        assert s.get(counting_server.url).status_code == 200
    assert time.monotonic() - started < WAIT


def test_blocking_call_from_loop_callback_raises_runtime_error(counting_server):
    outcome: list[BaseException | object] = []
    done = threading.Event()

    def callback() -> None:
        try:
            outcome.append(syncwrap.get(counting_server.url))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)
        done.set()

    syncwrap.loop.get_loop().call_soon_threadsafe(callback)
    assert done.wait(WAIT)
    assert isinstance(outcome[0], RuntimeError) and "deadlock" in str(outcome[0])
    assert syncwrap.get(counting_server.url).status_code == 200  # loop not wedged


def test_reading_streamed_body_on_loop_thread_raises_instead_of_deadlocking(raw_server):
    received, closed = threading.Event(), threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"  # 7 bytes never come
    server = raw_server(request_then_wait_close(received, closed, head))
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=WAIT)

        async def read_on_loop() -> bytes:
            return r.raw.read()  # needs the 7 bytes that never come

        with pytest.raises(RuntimeError, match="would deadlock"):
            syncwrap.run(read_on_loop(), timeout=WAIT)
        # The loop thread is not wedged: other work still runs there.
        assert syncwrap.run(asyncio.sleep(0, "ok"), timeout=WAIT) == "ok"
        r.close()
    assert closed.wait(WAIT)


def test_session_close_on_loop_thread_closes_connections(raw_server):
    requests: list = []
    server = raw_server(keep_alive(b"ok", requests=requests))
    s = syncwrap.Session()
    assert s.get(server.url).content == b"ok"  # one pooled keep-alive connection

    async def close_there() -> None:
        s.close()

    syncwrap.run(close_there(), timeout=WAIT)
    assert server.join(WAIT), "the pooled connection was not closed"
    with pytest.raises(RuntimeError):
        s.get(server.url)


# -- point 4: works in a thread that already runs an event loop ---------------------------------


def test_works_inside_asyncio_run_without_warnings(counting_server, httpbin_url):
    async def main() -> tuple[int, dict, bytes]:
        # A synchronous call inside running async code (a Jupyter cell does this).
        r = syncwrap.get(counting_server.url)
        with syncwrap.Session() as s:
            j = s.get(httpbin_url + "/get", params={"a": "1"}).json()
            with s.get(httpbin_url + "/bytes/1000", stream=True) as streamed:
                body = b"".join(streamed.iter_content(100))
        return r.status_code, j, body

    collect_earlier_garbage()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, j, body = asyncio.run(main(), debug=True)
        gc.collect()  # anything syncwrap left unclosed warns now
    assert status == 200 and j["args"] == {"a": "1"} and len(body) == 1000
    assert [str(w.message) for w in caught] == []


def test_works_from_a_callback_of_a_foreign_running_loop(counting_server):
    loop = asyncio.new_event_loop()
    result: list[object] = []
    done = threading.Event()

    def callback() -> None:
        try:
            result.append(syncwrap.get(counting_server.url).json())
        except BaseException as exc:  # noqa: BLE001
            result.append(exc)
        done.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        collect_earlier_garbage()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loop.call_soon_threadsafe(callback)
            assert done.wait(WAIT)
        assert isinstance(result[0], dict) and "connection" in result[0]
        assert caught == []
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()
