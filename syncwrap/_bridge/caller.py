"""User code runs in the calling thread: the loop asks, the waiting caller runs it.

A blocking call that involves user code (a sync generator body, a sync auth flow or a
requests-style auth callable, response hooks) runs through :meth:`Caller.run`. While
its coroutine runs on the loop thread, the calling thread does not just wait: it serves
a queue of callables that the loop posts, until the call ends::

    calling thread                                loop thread
    Caller.run(coro) ─────────submit───────────►  task: coro   (current() is the Caller)
    serve: job = jobs.get()   ◄────post(job)────  await caller.call(fn, *args)
           fn(*args)          ─────result──────►  (a future set by call_soon_threadsafe)
           ...
    the call ended            ◄─────None───────   finally
    return its result, or raise its exception (as syncwrap.loop.run does)

So user code never runs on the loop thread and never blocks it, and a call without
user code does not pay for any of this (the facade then uses ``loop.run`` directly).

:meth:`Caller.call` hands the function's result or exception back to the loop (an auth
callable's error fails the request there, through the engine). A job posted with
:meth:`Caller.post` (the upload feeder) may raise in the calling thread instead: the
call is then cancelled, as Ctrl-C cancels it, and the exception raised by ``run``.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TypeVar

from .. import loop as loop_thread

__all__ = ["Caller", "current", "settling_job", "settle"]

T = TypeVar("T")

_current: ContextVar[Caller | None] = ContextVar("syncwrap_caller", default=None)


def current() -> Caller:
    """On the loop: the :class:`Caller` of the blocking call this task works for."""
    caller = _current.get()
    if caller is None:
        raise RuntimeError(
            "syncwrap: user code written for the blocking API (a sync auth flow, a "
            "requests-style auth callable, a middleware, a sync generator body) runs in the "
            "thread of a blocking call, and this request was not made by one; on the loop, "
            "use an AuthFlow, a middleware or a generator written with async def"
        )
    return caller


class Caller:
    """The calling thread of one blocking call, lent to the loop to run user code.

    ``present`` turns an engine response into what user code receives (the facade's
    Response), on the loop: ``await caller.present(engine_response)``.
    """

    __slots__ = ("_jobs", "present")

    def __init__(self, present: Callable[[Any], Awaitable[Any]] | None = None) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self.present = present or _as_is

    # -- the calling thread ----------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``syncwrap.loop.run(coro)``, serving the loop's jobs in this thread meanwhile."""
        try:
            return loop_thread.run(self._serving(coro), while_waiting=self._serve)
        finally:
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()  # refused by run() (called on the loop thread): never started

    def _serve(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
            job()

    async def _serving(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await self.bound(coro)
        finally:
            self._jobs.put(None)  # the caller stops serving

    async def bound(self, coro: Coroutine[Any, Any, T]) -> T:
        """On the loop: ``await coro`` with this Caller as :func:`current`."""
        _current.set(self)  # in this task's context, and so in the tasks it starts
        return await coro

    def serve_until(self, done: Callable[[], bool]) -> bool:
        """In the calling thread, from inside a job: run the loop's jobs until ``done()``
        is true (a job the loop posts makes it so). False when the call ended first;
        the call's own serving then stops too."""
        get = self._jobs.get
        while not done():
            job = get()
            if job is None:
                self._jobs.put(None)  # for the serving loop this job runs in
                return False
            job()
        return True

    # -- the loop side -----------------------------------------------------------------------

    def post(self, job: Callable[[], object]) -> None:
        """Have the calling thread run ``job()``; an exception it raises cancels the call."""
        self._jobs.put(job)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` run in the calling thread; its result, or its exception, here."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put(settling_job(fut, fn, *args))
        return await fut


def settling_job(fut: asyncio.Future[T], fn: Callable[..., T], *args: Any) -> Callable[[], None]:
    """A job for another thread: ``fn(*args)``, its result or exception then set on
    ``fut`` through ``fut``'s loop (skipped if ``fut`` was cancelled meanwhile)."""
    loop = fut.get_loop()

    def job() -> None:
        if fut.cancelled():  # the call was cancelled while this job waited
            return
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the loop
            loop.call_soon_threadsafe(settle, fut, None, exc)
        else:
            loop.call_soon_threadsafe(settle, fut, result, None)

    return job


async def _as_is(value: Any) -> Any:
    return value


def settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On ``fut``'s loop: its result or exception, unless it is done already."""
    if fut.done():
        return
    if error is None:
        fut.set_result(result)
    else:
        fut.set_exception(error)
