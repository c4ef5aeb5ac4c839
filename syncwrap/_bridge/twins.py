"""Awaitable twins: the facade's calls awaited from any running event loop.

``await s.aget(url)`` (and ``apost``, ``aput``, ``apatch``, ``adelete``, ``ahead``,
``aoptions``, ``arequest``) is the blocking call's twin: the same translation
(:func:`~syncwrap._bridge.calls.prepare_call`), the same engine session (pool, cookies,
auth) and the same coroutine, run as a task on syncwrap's loop thread. The awaiting
loop (``asyncio.run``'s, a notebook's, uvicorn's, a uvloop, or syncwrap's own inside
``syncwrap.run``) only awaits a future of its own::

    awaiting loop                                 syncwrap's loop thread
    await s.aget(url)
      prepare_call: translation, checks
      call_soon_threadsafe(start)  ─────────────►  task: the engine call, the body read
      await a future (its other tasks              ...
      and timers run on meanwhile)                 done
      the result, or the same exception  ◄──call_soon_threadsafe──

Cancelling the awaiting task cancels the task on the loop thread (a request in flight
has its connection closed) and waits for that, up to :data:`CANCEL_GRACE` seconds,
before the CancelledError goes on.

User code of a call (response hooks, a sync auth flow or requests-style auth callable,
a sync generator body) runs in the awaiting loop's default executor
(``loop.run_in_executor(None, ...)``, with the awaiting task's context variables):
never on syncwrap's loop thread, never blocking the awaiting loop.

The streaming twin, ``s.astream(...)``, is in :mod:`syncwrap._bridge.astream`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from .. import loop as loop_thread
from ..engine.payload import is_file_object
from ..engine.response import ClientResponse
from ..engine.session import ClientSession
from ..exceptions import ClientConnectionError
from .caller import Caller, settle, settling_job
from .calls import PreparedCall, prepare_call
from .response import Response

__all__ = ["request_twin", "run_on_loop", "run_call", "translate", "CANCEL_GRACE"]

T = TypeVar("T")

#: How long a cancelled twin waits for its request to be torn down on the loop thread.
CANCEL_GRACE = 2.0


async def request_twin(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any],
                       *, session_hooks: Any = None) -> Response:
    """One facade request on ``engine``, awaited from the running loop (see the module docs)."""
    if "stream" in kwargs:
        raise TypeError("stream=: an awaitable twin reads the whole body; use astream() "
                        "for a streamed body")
    call = await translate(partial(prepare_call, engine, method, url, kwargs,
                                  session_hooks=session_hooks), kwargs)
    return await run_call(call)


async def run_on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """``await coro`` as a task on syncwrap's loop thread, from any running loop."""
    return await _Remote(asyncio.get_running_loop()).run(coro)


async def translate(prepare: partial[PreparedCall], kwargs: dict[str, Any]) -> PreparedCall:
    """Translate a call (``prepare()``), in the awaiting loop's executor if that reads files (a CA
    bundle or client certificate to load, a file body or ``files=`` to size): the
    awaiting loop does no file I/O."""
    if ("files" in kwargs or "cert" in kwargs or isinstance(kwargs.get("verify"), str)
            or is_file_object(kwargs.get("data"))):
        return await asyncio.get_running_loop().run_in_executor(None, prepare)
    return prepare()


async def run_call(call: PreparedCall,
                    streamed: Callable[[ClientResponse, float], Response] | None = None
                    ) -> Response:
    """Perform ``call`` on the loop thread, awaited from the running loop; its user code
    runs in this loop's executor (``streamed``: see :meth:`PreparedCall.perform`)."""
    remote = _Remote(asyncio.get_running_loop())
    coro = call.perform(streamed)
    if call.user_code:
        coro = _LoopCaller(call.present, remote).bound(coro)
    return await remote.run(coro)


# -- one coroutine on the loop thread, awaited from another loop ------------------------


class _Remote:
    """One coroutine run on syncwrap's loop for a task of the awaiting loop ``here``."""

    __slots__ = ("here", "ended", "task", "error", "abandoned")

    def __init__(self, here: asyncio.AbstractEventLoop) -> None:
        self.here = here
        self.ended: asyncio.Future[None] = here.create_future()  # set when the task is done
        self.task: asyncio.Future[Any] | None = None
        self.error: BaseException | None = None  # why the loop side cancelled the call
        self.abandoned = False  # the awaiting task was cancelled: nobody takes the result

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            there = loop_thread.started_loop()
            if there is None:  # first use: the loop thread is started in a worker thread
                there = await self.here.run_in_executor(None, loop_thread.get_loop)
            there.call_soon_threadsafe(self._start, coro)
        except BaseException:  # cancelled while starting, or the loop is closed (exit)
            coro.close()
            raise
        try:
            await asyncio.shield(self.ended)
        except asyncio.CancelledError:
            await self._abandon(there)
            raise
        return self._outcome()  # type: ignore[no-any-return]

    def cancel(self, error: BaseException | None = None) -> None:  # on the loop thread
        """Cancel the task: for ``error`` (raised to the awaiting task), or abandoned."""
        if error is None:
            self.abandoned = True
        elif self.error is None:
            self.error = error
        if self.task is not None:
            self.task.cancel()

    def _start(self, coro: Coroutine[Any, Any, Any]) -> None:  # on the loop thread
        self.task = task = asyncio.ensure_future(coro)
        task.add_done_callback(self._report)

    def _report(self, task: asyncio.Future[Any]) -> None:  # on the loop thread
        if self.abandoned:
            _discard(task)
        try:
            self.here.call_soon_threadsafe(_set_if_pending, self.ended)
        except RuntimeError:  # the awaiting loop is closed: nobody takes the result
            _discard(task)

    async def _abandon(self, there: asyncio.AbstractEventLoop) -> None:
        """The awaiting task was cancelled: cancel the call, wait (bounded) for its end."""
        try:
            there.call_soon_threadsafe(self.cancel)
        except RuntimeError:  # syncwrap's loop is closed (exit)
            return
        await asyncio.wait((self.ended,), timeout=CANCEL_GRACE)
        if self.ended.done() and self.task is not None:
            _discard(self.task)  # it finished before the cancellation reached it

    def _outcome(self) -> Any:
        task = self.task
        assert task is not None
        if task.cancelled():
            if self.error is not None:
                raise self.error
            raise ClientConnectionError("The request was cancelled on syncwrap's loop "
                                        "thread (is the interpreter exiting?)")
        return task.result()


def _set_if_pending(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def _discard(task: asyncio.Future[Any]) -> None:
    """A finished task's result nobody will take: its connection is let go."""
    if task.cancelled() or task.exception() is not None:
        return
    result = task.result()
    if isinstance(result, Response):
        loop_thread.call_soon(result.engine_response.release)


# -- user code: in the awaiting loop's executor -------------------------------------------


class _LoopCaller(Caller):
    """A twin's user code, run in the awaiting loop's default executor (never on either
    loop's thread), with the awaiting task's context variables."""

    __slots__ = ("remote", "context")

    def __init__(self, present: Callable[[Any], Awaitable[Any]], remote: _Remote) -> None:
        super().__init__(present)
        self.remote = remote
        self.context = contextvars.copy_context()

    def post(self, job: Callable[[], object]) -> None:  # on syncwrap's loop
        there = asyncio.get_running_loop()
        remote = self.remote

        def run() -> None:
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - fails the call, raised to the awaiter
                there.call_soon_threadsafe(remote.cancel, exc)

        self._in_executor(run, remote.cancel)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:  # on syncwrap's loop
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._in_executor(settling_job(fut, fn, *args), lambda exc: settle(fut, None, exc))
        return await fut

    def _in_executor(self, job: Callable[[], None],
                     failed: Callable[[BaseException], object]) -> None:
        """Start ``job`` in the awaiting loop's executor; ``failed(error)`` on syncwrap's
        loop if it cannot be started (that loop or its executor is shut down)."""
        there = asyncio.get_running_loop()
        here = self.remote.here
        context = self.context.copy()

        def start() -> None:  # on the awaiting loop
            try:
                here.run_in_executor(None, context.run, job)
            except RuntimeError as exc:
                there.call_soon_threadsafe(failed, exc)

        try:
            here.call_soon_threadsafe(start)
        except RuntimeError as exc:  # the awaiting loop is closed
            failed(exc)
