"""The hand-off between calling threads and the loop thread (syncwrap.loop): calls from
many threads share wake-ups, results are handed back to the right thread, and a call
cancelled before its coroutine started is dropped cleanly."""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
import threading
import time
import weakref

import pytest

import syncwrap
import syncwrap.loop
from tests.facade._util import WAIT, wait_until_blocked_in

THREADS = 16


def _in_threads(target, n: int = THREADS) -> list[object]:
    """``target(i)`` in ``n`` threads at once; their results (or exceptions) by index."""
    results: list[object] = [None] * n
    ready = threading.Barrier(n, timeout=WAIT)

    def worker(i: int) -> None:
        try:
            ready.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
        assert not t.is_alive()
    return results


def test_many_threads_finishing_in_one_pass_each_get_their_own_result():
    arrived = 0
    go: asyncio.Event | None = None

    async def wait_for_all(caller: tuple[int, int]) -> tuple[int, int]:
        nonlocal arrived, go
        if go is None:
            go = asyncio.Event()
        arrived += 1
        if arrived == THREADS:
            go.set()  # every call ends in the same pass of the loop
        await go.wait()
        return caller

    def call(i: int) -> tuple[tuple[int, int], tuple[int, int]]:
        mine = (i, threading.get_ident())
        return mine, syncwrap.run(wait_for_all(mine), timeout=WAIT)

    results = _in_threads(call)
    assert all(isinstance(r, tuple) and r[0] == r[1] for r in results), results
    assert arrived == THREADS


def test_the_result_is_the_callers_alone_once_run_returns():
    """The loop thread may finish its task's last step after the caller woke up; meanwhile
    it must not keep the result alive: a dropped streamed response closes its connection
    when the caller drops it, not at some later garbage collection."""

    class Result:
        pass

    async def produce() -> Result:
        return Result()

    coro = produce()
    at_end = threading.Event()  # the loop thread is in the step that woke the caller
    go_on = threading.Event()

    def at_return(frame, event, arg):
        if event == "return":  # the call's task ends its last step: hold the loop thread
            at_end.set()
            go_on.wait(WAIT)
        return at_return

    def tracer(frame, event, arg):  # on the loop thread: only the frame running ``coro``
        runner = frame.f_locals.get("self")
        if frame.f_code.co_flags & inspect.CO_COROUTINE and getattr(runner, "coro", 0) is coro:
            return at_return
        return None

    async def set_trace(fn):
        previous = sys.gettrace()
        sys.settrace(fn)
        return previous

    previous = syncwrap.loop.run(set_trace(tracer))
    try:
        result = syncwrap.loop.run(coro, timeout=WAIT)
        assert at_end.wait(WAIT)
        dropped = weakref.ref(result)
        del result
        assert dropped() is None, "the loop thread still holds the result run() returned"
    finally:
        go_on.set()
        syncwrap.loop.run(set_trace(previous), timeout=WAIT)


def test_calls_from_many_threads_are_all_started_and_answered():
    """Calls submitted while a wake-up is on its way share it: none may be left behind
    (a lost wake-up would show as a Timeout here, not as a hang)."""
    async def echo(value: tuple[int, int]) -> tuple[int, int]:
        return value

    def calls(i: int) -> list[tuple[int, int]]:
        return [syncwrap.run(echo((i, k)), timeout=WAIT) for k in range(300)]

    results = _in_threads(calls, 8)
    assert results == [[(i, k) for k in range(300)] for i in range(8)]


def test_a_call_cancelled_before_it_started_never_runs_and_is_closed():
    """A call that times out while the loop is busy elsewhere is dropped: its coroutine is
    closed unstarted (no 'never awaited' warning), its caller gets Timeout."""
    release = threading.Event()
    blocking = threading.Event()

    def block_the_loop() -> None:  # on the loop thread
        blocking.set()
        release.wait(WAIT)

    ran = threading.Event()

    async def body() -> None:
        ran.set()

    coro = body()
    outcome: list[BaseException] = []

    def caller() -> None:
        try:
            syncwrap.run(coro, timeout=0.05)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    syncwrap.loop.get_loop().call_soon_threadsafe(block_the_loop)
    assert blocking.wait(WAIT)
    try:
        thread = threading.Thread(target=caller, daemon=True)
        thread.start()
        thread.join(WAIT)  # the timeout, then the bounded wait for the (blocked) loop
        assert not thread.is_alive()
    finally:
        release.set()
    assert len(outcome) == 1 and isinstance(outcome[0], syncwrap.Timeout)
    assert syncwrap.run(asyncio.sleep(0, "alive"), timeout=WAIT) == "alive"
    assert not ran.is_set()
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_a_call_cancelled_while_running_reports_to_its_caller_only():
    started = threading.Event()
    cancelled = threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def quick(i: int) -> int:
        await asyncio.sleep(0)
        return i

    with pytest.raises(syncwrap.Timeout):
        syncwrap.run(slow(), timeout=0.1)
    assert started.is_set() and cancelled.wait(WAIT)
    assert _in_threads(lambda i: syncwrap.run(quick(i), timeout=WAIT), 4) == [0, 1, 2, 3]


def test_a_late_wake_up_of_an_abandoned_call_never_ends_the_threads_next_call():
    """A call that outlives its caller's wait (timeout, then the bounded grace) wakes its
    waiter late: the thread's next call must wait for its own answer all the same."""
    late_done: asyncio.Event | None = None

    async def slow_to_cancel() -> None:
        nonlocal late_done
        late_done = asyncio.Event()
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            await asyncio.sleep(1.3)  # beyond the caller's 1 s grace after its timeout
            raise
        finally:
            late_done.set()

    async def after_the_late_wake_up() -> str:
        assert late_done is not None
        await late_done.wait()  # resumes after the abandoned call has written its wake-up
        await asyncio.sleep(0.05)
        return "mine"

    def calls(_i: int) -> tuple[str, str]:
        try:
            syncwrap.run(slow_to_cancel(), timeout=0.05)
        except syncwrap.Timeout:
            first = "timeout"
        else:
            first = "finished"
        return first, syncwrap.run(after_the_late_wake_up(), timeout=WAIT)

    assert _in_threads(calls, 1) == [("timeout", "mine")]


def test_a_blocking_call_made_from_user_code_while_a_call_waits(counting_server):
    """A response hook runs in the calling thread while its call waits; a blocking call
    made there waits on its own waiter."""
    inner: list[object] = []

    def hook(r, **_kw):
        inner.append(syncwrap.get(counting_server.url, timeout=WAIT).json())
        return r

    with syncwrap.Session() as s:
        r = s.get(counting_server.url, hooks={"response": hook}, timeout=WAIT)
        again = s.get(counting_server.url, timeout=WAIT)
    assert r.ok and again.ok and isinstance(inner[0], dict)


def test_calls_wait_on_a_lock_when_no_file_descriptor_is_left(monkeypatch):
    syncwrap.loop.get_loop()

    def no_fd(*_args):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(syncwrap.loop.os, "eventfd", no_fd)

    async def double(i: int) -> int:
        await asyncio.sleep(0)
        return 2 * i

    # fresh threads: no waiter cached yet
    assert _in_threads(lambda i: syncwrap.run(double(i), timeout=WAIT), 4) == [0, 2, 4, 6]


def test_run_takes_timeouts_longer_than_one_poll():
    async def quick() -> str:
        await asyncio.sleep(0)
        return "done"

    assert syncwrap.run(quick(), timeout=10**8) == "done"  # 3 years: more than poll()'s int


@pytest.mark.parametrize("timeout", [None, WAIT], ids=["no-timeout", "timed"])
def test_ctrl_c_interrupts_the_wait_and_cancels_the_call(timeout):
    """SIGINT to the main thread while it waits (a blocking read, or a poll when the wait
    has a timeout): KeyboardInterrupt at once, the coroutine cancelled, the thread's next
    call answered normally."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread for SIGINT")
    cancelled = threading.Event()
    running = threading.Event()

    async def forever() -> None:
        running.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        # Once the coroutine runs (interrupted before, the call is dropped unstarted: that
        # case is test_a_call_cancelled_before_it_started_never_runs_and_is_closed).
        if running.wait(WAIT) and wait_until_blocked_in(main, "run", "loop.py"):
            signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    killer = threading.Thread(target=interrupt, daemon=True)
    try:
        killer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            syncwrap.run(forever(), timeout=timeout)
        assert time.monotonic() - started < WAIT
    finally:
        signal.signal(signal.SIGINT, previous)
        killer.join(WAIT)
    assert cancelled.wait(WAIT)
    assert syncwrap.run(asyncio.sleep(0, "next"), timeout=WAIT) == "next"
