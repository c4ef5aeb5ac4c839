"""The loop thread: one background event loop per process that runs the engine.

``get_loop()`` starts it on first use; ``run(coro, timeout=None)`` runs a
coroutine there and blocks the calling thread until it finishes. A waiting
call is interruptible with Ctrl-C (the coroutine is cancelled on the loop). A
blocking call made *on* the loop thread raises RuntimeError instead of
deadlocking. After ``os.fork()`` the child starts a fresh loop thread; at
interpreter exit the loop is stopped quietly within a bounded time.

Cost model of one ``run()`` (the hand-off every blocking call pays; Linux):

* submit: the call goes on the loop thread's queue; the first call queued since the loop
  last drained it writes one eventfd wake-up, with the GIL released (so the loop thread it
  wakes finds the GIL free); calls queued while a wake-up is on its way add no system call.
  The loop starts every queued call in one pass (one reader callback, one task each,
  made directly with a fixed name: ``loop.create_task`` would format a "Task-N" name per
  call, 2.5 k instructions, and add a Python frame on asyncio's loop).
* wait: the caller blocks reading its thread's eventfd (``EventWaiter``); the task
  writes it from its own last step, with no done callback and no further pass of the
  loop. Both sides hold no GIL in those calls, so the woken caller does not preempt a
  loop thread that holds it (without eventfd: a bare lock, one futex each way).
* no getpid() per call: a fork hook forgets the parent's loop thread in the child.
* in the caller, ``run`` takes its thread's waiter, waits and gives it back inline (a flag
  on the waiter, no thread-local write), and the loop wakes it through a C partial (no
  Python frame): about 20.4 k instructions per call with 16 threads, 25.3 k one after
  another (``run`` of an empty coroutine, uvloop; 25.4 k and 30.7 k before).
  Without ``os.eventfd`` (not Linux) each call is scheduled with ``call_soon_threadsafe``.

uvloop is used when installed (the ``speedups`` extra) unless the environment
variable ``SYNCWRAP_NO_UVLOOP=1`` is set or :func:`use_uvloop(False)` is called
before the loop starts.
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import math
import os
import select
import threading
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Protocol, TypeVar

from .exceptions import Timeout

__all__ = ["get_loop", "started_loop", "run", "use_uvloop", "in_loop_thread", "generation",
           "LoopThread"]

T = TypeVar("T")

_lock = threading.Lock()
_current: LoopThread | None = None
_prefer_uvloop = os.environ.get("SYNCWRAP_NO_UVLOOP", "") in ("", "0")
_generation = 0
_forked_away: list[Any] = []  # loops inherited across fork: never touched, never collected
_exiting = False
_FORK_HOOK = hasattr(os, "register_at_fork")  # the child forgets the parent's loop thread
_EVENTFD = hasattr(os, "eventfd")  # Linux: wake-ups both ways through eventfds


def use_uvloop(enabled: bool) -> None:
    """Choose whether the loop thread uses uvloop (when installed). Call before first use."""
    global _prefer_uvloop
    _prefer_uvloop = bool(enabled)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    if _prefer_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopThread:
    """A daemon thread running one event loop forever, and the queue of calls other
    threads submit to it (:meth:`submit`)."""

    def __init__(self) -> None:
        self.loop = _new_event_loop()
        self.loop.set_exception_handler(_quiet_exception_handler)
        self._pending: deque[_Call] = deque()
        self._waking = False  # a wake-up is on its way: the loop will drain _pending
        self._wake_fd = -1
        if _EVENTFD:  # Linux; elsewhere call_soon_threadsafe wakes the loop
            try:
                self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            except OSError:  # out of file descriptors
                pass
            else:
                self.loop.add_reader(self._wake_fd, self._drain)
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="syncwrap-loop", daemon=True
        )
        self.thread.start()
        started.wait()
        self.ident = self.thread.ident
        self.pid = os.getpid()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            asyncio.set_event_loop(None)

    def submit(self, call: _Call) -> None:
        """Start ``call`` on the loop (from another thread). Calls submitted while a
        wake-up is on its way share it; the wake-up is written without the GIL, so the
        loop thread it wakes does not stall on the GIL this thread still holds.
        Raises RuntimeError when the loop is closed (interpreter exit)."""
        if self._wake_fd < 0:
            self.loop.call_soon_threadsafe(call.start, self.loop)
            return
        if self.loop.is_closed():
            raise RuntimeError("syncwrap: the loop thread has ended (interpreter exit)")
        self._pending.append(call)
        if not self._waking:
            try:
                self._waking = True
                os.eventfd_write(self._wake_fd, 1)
            except BaseException:  # Ctrl-C before the write: no wake-up is on its way
                self._waking = False
                raise

    def _drain(self) -> None:  # on the loop thread: the wake fd is readable
        try:
            os.eventfd_read(self._wake_fd)  # first: a wake-up written from now on is kept
        except BlockingIOError:
            pass
        self._waking = False
        pending, loop = self._pending, self.loop
        while pending:
            pending.popleft().start(loop)


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Connection errors of abandoned transports are expected at exit and after cancellation.
    if _exiting:
        return
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | OSError) and "transport" in context:
        return
    loop.default_exception_handler(context)


def _ours(current: LoopThread | None) -> bool:
    """Whether ``current`` is this process's loop thread, not one inherited across fork.
    The fork hook forgets the parent's in the child, so no getpid() per call where it runs."""
    return current is not None and (_FORK_HOOK or current.pid == os.getpid())


def _loop_thread() -> LoopThread:
    current = _current
    if _ours(current):
        return current  # type: ignore[return-value]
    return _start()


def _start() -> LoopThread:
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = LoopThread()
        return _current


def get_loop() -> asyncio.AbstractEventLoop:
    """The loop thread's event loop, started if needed."""
    return _loop_thread().loop


def started_loop() -> asyncio.AbstractEventLoop | None:
    """The loop thread's event loop if it is already running in this process, else None
    (unlike :func:`get_loop`, never waits for a loop thread to start)."""
    current = _current
    return current.loop if _ours(current) else None  # type: ignore[union-attr]


def in_loop_thread() -> bool:
    """True when called from the loop thread itself."""
    current = _current
    return current is not None and current.ident == threading.get_ident()


def generation() -> int:
    """A number that changes in a child process after fork (sessions rebuild their state)."""
    return _generation


# -- how a caller waits for the loop, and how the loop wakes it --------------------
#
# A call waits for exactly one wake-up from the loop thread. On Linux each calling thread
# keeps one eventfd for this (an EventWaiter): the caller blocks in ``read`` and
# the loop wakes it with ``write``, both with the GIL released. So the woken caller finds
# the GIL free (the loop thread is inside its write) rather than preempting a loop thread
# that holds it only to block on the GIL at once (futex calls per request with 16 threads:
# 6.7 with a lock, 0.4 with eventfds; see bench/README.md). Cost: one ``write`` on the
# loop thread, one ``read`` (and a ``poll`` when the wait has a timeout) in the caller,
# and one file descriptor per thread that makes blocking calls. Where ``os.eventfd`` is
# missing, or no file descriptor is left, a call waits on a fresh bare lock instead (one
# futex each way).
#
# A waiter is lent to one call at a time: take_waiter marks the thread's waiter busy and
# give_back_waiter frees it once its wake-up has been read (flags on the waiter: the
# thread-local slot is only written when a thread gets a new waiter). A call that stopped
# waiting early (Ctrl-C, a timeout) never gives it back, so a late wake-up cannot end a
# later call: the thread's next call makes a new waiter, which becomes the thread's. A
# nested call in the same thread (user code the facade runs while a call waits) likewise
# takes a new waiter. After fork, the fork hook drops the thread's waiter in the child (its
# eventfd is shared with the parent's).


class Waiter(Protocol):
    """What a call waits on: released once by the loop, acquired once by its caller."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...


class EventWaiter:
    """One thread's eventfd: ``acquire`` blocks in ``read``, ``release`` writes."""

    __slots__ = ("fd", "_poll", "release", "busy")

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_CLOEXEC)
        self._poll: select.poll | None = None
        #: Lent to a call whose wake-up has not been read yet.
        self.busy = False
        #: Wake the waiting caller (on the loop thread): a C call, no Python frame.
        self.release: Callable[[], object] = partial(os.eventfd_write, self.fd, 1)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Wait for the wake-up (at most ``timeout`` seconds unless it is -1); Ctrl-C
        interrupts the wait."""
        if blocking and timeout < 0:
            os.eventfd_read(self.fd)
            return True
        poll = self._poll
        if poll is None:
            poll = self._poll = select.poll()
            poll.register(self.fd, select.POLLIN)
        left = max(timeout, 0.0) if blocking else 0.0
        while not poll.poll(ms := min(math.ceil(left * 1000), _MAX_POLL_MS)):
            left -= ms / 1000
            if left <= 0:
                return False
        os.eventfd_read(self.fd)
        return True

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except (AttributeError, OSError, TypeError):  # no fd made; os torn down at exit
            pass


_waiters = threading.local()  # each thread's EventWaiter while no call uses it
_MAX_POLL_MS = 2**31 - 1  # poll()'s timeout is a C int


def take_waiter() -> Waiter:
    """A waiter for one call of this thread: the thread's own when it is free."""
    waiter = getattr(_waiters, "waiter", None)
    if waiter is not None and not waiter.busy:
        waiter.busy = True
        return waiter  # type: ignore[no-any-return]
    if _EVENTFD:
        try:
            waiter = EventWaiter()
        except OSError:  # out of file descriptors: a lock does the same job
            pass
        else:
            waiter.busy = True
            _waiters.waiter = waiter  # the thread's own from now on
            return waiter
    lock = _thread.allocate_lock()
    lock.acquire()
    return lock


def give_back_waiter(waiter: Waiter) -> None:
    """Return a waiter whose one wake-up has been read, for this thread's next call."""
    if type(waiter) is EventWaiter:
        waiter.busy = False  # type: ignore[attr-defined]


def _forget_waiter() -> None:
    """In a child process after fork: drop the forking thread's waiter (shared with the
    parent)."""
    _waiters.waiter = None


_TASK_NAME = "syncwrap.run"  # the name of every call's task


class _Call:
    """One submitted coroutine and the waiter its caller waits on (``lock``)."""

    __slots__ = ("coro", "lock", "result", "error", "task", "running", "dropped")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.lock: Waiter = take_waiter()
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None
        self.running = False  # its coroutine has begun
        self.dropped = False  # cancelled while still queued: never started

    def start(self, loop: asyncio.AbstractEventLoop) -> None:  # on the loop thread
        if not self.dropped:
            # The Task itself, named: loop.create_task() would format a "Task-N" name for
            # each call (and, on asyncio's loop, add a Python frame); this loop has no
            # task factory.
            self.task = asyncio.Task(self._run(), loop=loop, name=_TASK_NAME)

    async def _run(self) -> None:
        # The caller is released from inside the task's last step: no done callback, so
        # no extra pass of the loop between the result and the caller's wake-up.
        self.running = True
        try:
            self.result = await self.coro
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = exc
        finally:
            if not _exiting:
                self.lock.release()

    def _never_ran(self, _task: object = None) -> None:  # on the loop thread
        if self.running:
            return
        close = getattr(self.coro, "close", None)
        if close is not None:
            close()
        self.error = asyncio.CancelledError()
        if not _exiting:
            self.lock.release()

    def cancel(self) -> None:  # on the loop thread
        task = self.task
        if task is None:  # still queued
            if not self.dropped:
                self.dropped = True
                self._never_ran()
            return
        if not self.running:  # a task cancelled before its first step never runs _run
            task.add_done_callback(self._never_ran)
        task.cancel()


def run(
    coro: Coroutine[Any, Any, T],
    timeout: float | None = None,
    *,
    while_waiting: Callable[[], object] | None = None,
) -> T:
    """Run ``coro`` on the loop thread and return its result (or raise its exception).

    ``timeout`` bounds the wait (raising :class:`syncwrap.Timeout`). Ctrl-C while
    waiting cancels the coroutine and raises KeyboardInterrupt at once.
    ``while_waiting`` (the facade's service of user code) runs in the calling thread once
    the coroutine is submitted, before the wait; an exception it raises cancels the
    coroutine, as Ctrl-C does, and is raised here.
    """
    current = _current
    if current is None or not (_FORK_HOOK or current.pid == os.getpid()):  # _ours(), inline
        current = _start()
    if current.ident == get_ident():
        coro.close()
        raise RuntimeError(
            "syncwrap: a blocking call was made on syncwrap's own event-loop thread "
            "(from a callback or async code running there); it would deadlock. "
            "Use syncwrap.engine's async API there instead."
        )
    call = _Call(coro)
    loop = current.loop
    try:
        current.submit(call)
    except RuntimeError:  # the loop is closed: interpreter exit
        coro.close()
        raise
    except BaseException:  # Ctrl-C while submitting: the call may be queued already
        _cancel_and_wait(loop, call)
        raise
    lock = call.lock
    try:
        if while_waiting is not None:
            while_waiting()
        if timeout is None:
            if type(lock) is EventWaiter:
                os.eventfd_read(lock.fd)  # EventWaiter.acquire() without its frame
            else:
                lock.acquire()
            timed_out = False
        else:
            timed_out = not lock.acquire(timeout=max(timeout, 0))
    except BaseException:  # KeyboardInterrupt and other async exceptions
        _cancel_and_wait(loop, call)
        raise
    if timed_out:  # outside the try: cancelling twice would wait out the whole grace period
        _cancel_and_wait(loop, call)
        raise Timeout(f"syncwrap.run(): no result within {timeout} s")
    if type(lock) is EventWaiter:  # its one wake-up is read: free for this thread's next call
        lock.busy = False
    if call.error is not None:
        error = call.error
        call.error = None
        raise error
    # The loop thread may still hold ``call`` (its task's last step, after the wake-up):
    # the caller alone keeps the result, so dropping it frees it (a dropped streamed
    # response closes its connection then, not at some later collection).
    result, call.result = call.result, None
    return result  # type: ignore[no-any-return]


def _cancel_and_wait(loop: asyncio.AbstractEventLoop, call: _Call, wait: float = 1.0) -> None:
    """Cancel the call on the loop and give its cleanup a moment (bounded) to run."""
    try:
        loop.call_soon_threadsafe(call.cancel)
    except RuntimeError:
        return
    try:
        if call.lock.acquire(timeout=wait):
            give_back_waiter(call.lock)
    except BaseException:  # a second Ctrl-C: stop waiting
        pass


def submit(coro: Coroutine[Any, Any, Any]) -> None:
    """Start ``coro`` on the loop thread without waiting (fire and forget)."""
    loop = get_loop()

    def start() -> None:
        asyncio.ensure_future(coro)

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:
        coro.close()


def call_soon(callback: Any, *args: Any) -> None:
    """Schedule a plain callback on the loop thread, if it is running."""
    current = _current
    if current is None or not _ours(current):
        return
    try:
        current.loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


# -- fork and exit -------------------------------------------------------------

_exit_hooks: list[Any] = []


def on_shutdown(hook: Any) -> None:
    """Register an async callable run on the loop when the interpreter exits."""
    _exit_hooks.append(hook)


def _after_fork_in_child() -> None:
    global _current, _generation, _lock
    _generation += 1
    _lock = threading.Lock()
    _forget_waiter()
    if _current is not None:
        _forked_away.append(_current)  # its loop and sockets belong to the parent
    _current = None


async def _shutdown_on_loop() -> None:
    for hook in list(_exit_hooks):
        try:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    for _ in range(3):  # let closed transports run their connection_lost callbacks
        await asyncio.sleep(0)
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=0.3)


def _shutdown() -> None:
    global _exiting
    current = _current
    if current is None or current.pid != os.getpid() or not current.thread.is_alive():
        return
    loop = current.loop
    done = threading.Event()

    def stop(_fut: Any = None) -> None:
        loop.stop()
        done.set()

    def begin() -> None:
        global _exiting
        _exiting = True
        task = asyncio.ensure_future(_shutdown_on_loop())
        task.add_done_callback(stop)

    try:
        loop.call_soon_threadsafe(begin)
    except RuntimeError:
        return
    done.wait(0.6)
    current.thread.join(0.2)
    _exiting = True
    if not current.thread.is_alive():
        try:
            loop.close()
        except Exception:  # noqa: BLE001
            pass


if _FORK_HOOK:
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown)
