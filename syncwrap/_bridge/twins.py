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

``s.astream(method, url, ...)`` is the streaming twin: ``async with s.astream("GET",
url) as r:`` gives an :class:`AsyncStreamResponse` with status and headers, whose body
is read with ``await r.aread()``, ``async for chunk in r.aiter_content(n)`` or
``r.aiter_lines()``, one hop to the loop thread per chunk (the call is translated and sent
on entry, so bad input raises there). Leaving the block returns
the connection to the pool if the body was read to its end, and closes it otherwise.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import json as _json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from .. import loop as loop_thread
from ..engine.payload import is_file_object
from ..engine.response import ClientResponse
from ..engine.session import ClientSession
from ..exceptions import ClientConnectionError, StreamConsumedError
from .caller import Caller
from .calls import PreparedCall, prepare_call
from .response import Response

__all__ = ["request_twin", "stream_twin", "run_on_loop", "AsyncStream",
           "AsyncStreamResponse", "CANCEL_GRACE"]

T = TypeVar("T")

#: How long a cancelled twin waits for its request to be torn down on the loop thread.
CANCEL_GRACE = 2.0


async def request_twin(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any],
                       *, session_hooks: Any = None) -> Response:
    """One facade request on ``engine``, awaited from the running loop (see the module docs)."""
    if "stream" in kwargs:
        raise TypeError("stream=: an awaitable twin reads the whole body; use astream() "
                        "for a streamed body")
    call = await _prepare(partial(prepare_call, engine, method, url, kwargs,
                                  session_hooks=session_hooks), kwargs)
    return await _run_call(call)


def stream_twin(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any], *,
                session_hooks: Any = None, on_exit: Callable[[], object] | None = None
                ) -> AsyncStream:
    """``astream()``: the call is translated (bad input raises) and sent on entry."""
    if kwargs.pop("stream", True) is not True:
        raise TypeError("stream=: astream() always streams; use arequest() to read the body")
    kwargs["stream"] = True
    return AsyncStream(partial(prepare_call, engine, method, url, kwargs,
                               session_hooks=session_hooks), kwargs, on_exit)


async def run_on_loop(coro: Coroutine[Any, Any, T]) -> T:
    """``await coro`` as a task on syncwrap's loop thread, from any running loop."""
    return await _Remote(asyncio.get_running_loop()).run(coro)


async def _prepare(prepare: partial[PreparedCall], kwargs: dict[str, Any]) -> PreparedCall:
    """Translate the call, in the awaiting loop's executor if that reads files (a CA
    bundle or client certificate to load, a file body or ``files=`` to size): the
    awaiting loop does no file I/O."""
    if ("files" in kwargs or "cert" in kwargs or isinstance(kwargs.get("verify"), str)
            or is_file_object(kwargs.get("data"))):
        return await asyncio.get_running_loop().run_in_executor(None, prepare)
    return prepare()


async def _run_call(call: PreparedCall,
                    streamed: Callable[[ClientResponse, float], Response] | None = None
                    ) -> Response:
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
        there = asyncio.get_running_loop()
        fut: asyncio.Future[T] = there.create_future()

        def run() -> None:
            if fut.cancelled():  # the call was cancelled while this job waited
                return
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - handed to the loop
                there.call_soon_threadsafe(_settle, fut, None, exc)
            else:
                there.call_soon_threadsafe(_settle, fut, result, None)

        self._in_executor(run, lambda exc: _settle(fut, None, exc))
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


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(result)
    else:
        fut.set_exception(error)


# -- the streaming twin ------------------------------------------------------------------


class AsyncStream:
    """``async with s.astream(method, url, ...) as r:``: the request is sent on entry,
    ``r`` is an :class:`AsyncStreamResponse`; leaving the block lets the connection go."""

    def __init__(self, prepare: partial[PreparedCall], kwargs: dict[str, Any],
                 on_exit: Callable[[], object] | None = None) -> None:
        self._prepare = prepare
        self._kwargs = kwargs
        self._on_exit = on_exit
        self._engine_response: ClientResponse | None = None
        self._response: AsyncStreamResponse | None = None
        self._entered = False

    async def __aenter__(self) -> AsyncStreamResponse:
        if self._entered:
            raise RuntimeError("astream(): a stream can be entered only once")
        self._entered = True
        try:
            call = await _prepare(self._prepare, self._kwargs)
            head = await _run_call(call, self._keep)
        except BaseException:
            if self._engine_response is not None:  # a hook failed, or cancelled meanwhile
                loop_thread.call_soon(self._engine_response.close)
            self._finish()
            raise
        self._response = AsyncStreamResponse(head)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()
        self._finish()

    def _keep(self, resp: ClientResponse, elapsed: float) -> Response:  # on the loop
        self._engine_response = resp
        return Response(resp, elapsed=elapsed)  # the body stays in the engine response

    def _finish(self) -> None:
        on_exit, self._on_exit = self._on_exit, None
        if on_exit is not None:
            on_exit()

    def __repr__(self) -> str:
        return f"<AsyncStream {self._prepare.args[1]} {self._prepare.args[2]}>"


class AsyncStreamResponse:
    """The response of ``astream()``: status and headers at once, the body read with
    ``await``: :meth:`aread`, :meth:`aiter_content` or :meth:`aiter_lines`, once.

    The other attributes are the facade Response's (``status_code``, ``headers``,
    ``url``, ``ok``, ``cookies``, ``history``, ``elapsed``, ``raise_for_status()``...);
    ``content``, ``text`` and ``json()`` work after ``await r.aread()``.
    """

    def __init__(self, head: Response) -> None:
        self._head = head
        self._read: Response | None = None
        self._consumed = False
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _BLOCKING_READS:
            raise AttributeError(f"{name}: a streamed twin's body is read with await: "
                                 "use aread(), aiter_content() or aiter_lines()")
        return getattr(self._head, name)

    def __repr__(self) -> str:
        return f"<AsyncStreamResponse [{self._head.status_code} {self._head.reason}]>"

    # -- the body, read with await ---------------------------------------------------------

    async def aread(self) -> bytes:
        """The whole body (decoded; ``max_body_size`` applies, as for ``.content``)."""
        if self._read is None:
            self._take()
            engine = self._head.engine_response
            data = await run_on_loop(engine.read())
            self._read = Response(engine, elapsed=self._head.elapsed.total_seconds(),
                                  content=data)
            self._read.encoding = self._head.encoding
        return self._read.content

    def aiter_content(self, chunk_size: int | None = 65536) -> AsyncIterator[bytes]:
        """The body in chunks of ``chunk_size`` bytes (the last may be shorter; None: as
        they arrive), each awaited from the loop thread."""
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise ValueError(f"aiter_content(chunk_size=): expected a positive int or None, "
                             f"got {chunk_size!r}")
        if self._read is not None:
            return _chunks_of(self._read.content, chunk_size)
        self._take()
        return self._chunks(chunk_size)

    def aiter_lines(self, chunk_size: int = 65536, decode_unicode: bool = False,
                    delimiter: bytes | str | None = None) -> AsyncIterator[Any]:
        """The body line by line, without line endings (str with ``decode_unicode``)."""
        chunks: AsyncIterator[Any] = self.aiter_content(chunk_size)
        if decode_unicode:
            chunks = _decoded(chunks, self.encoding or "utf-8")
        return _lines(chunks, delimiter)

    async def _chunks(self, chunk_size: int | None) -> AsyncIterator[bytes]:
        engine = self._head.engine_response
        try:
            while data := await run_on_loop(_next_chunk(engine, chunk_size)):
                yield data
        finally:
            self.close()

    def _take(self) -> None:
        if self._consumed or self._closed:
            raise StreamConsumedError("The body of this response was already consumed")
        self._consumed = True

    # -- after aread() -----------------------------------------------------------------

    def _body(self) -> Response:
        if self._read is None:
            raise StreamConsumedError("A streamed body is not read yet: await r.aread() "
                                      "first (or iterate r.aiter_content())")
        return self._read

    @property
    def content(self) -> bytes:
        return self._body().content

    @property
    def text(self) -> str:
        return self._body().text

    def json(self, *, loads: Callable[[str], Any] = _json.loads, **kwargs: Any) -> Any:
        return self._body().json(loads=loads, **kwargs)

    @property
    def encoding(self) -> str | None:
        return (self._read or self._head).encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._head.encoding = value
        if self._read is not None:
            self._read.encoding = value

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Let the connection go (pooled if the body was read to its end, else closed);
        never waits."""
        if not self._closed:
            self._closed = True
            loop_thread.call_soon(self._head.engine_response.release)

    async def aclose(self) -> None:
        self.close()


_BLOCKING_READS = frozenset({"iter_content", "iter_lines", "raw"})


async def _next_chunk(engine: ClientResponse, n: int | None) -> bytes:  # on the loop
    content = engine.content
    if n is None:
        data = await content.readany()
    else:
        try:
            data = await content.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            data = exc.partial
    if not data:
        engine.release()  # read to its end: the connection goes back to the pool
    return data


async def _chunks_of(data: bytes, chunk_size: int | None) -> AsyncIterator[bytes]:
    step = chunk_size or max(len(data), 1)
    for start in range(0, len(data), step):
        yield data[start : start + step]


async def _decoded(chunks: AsyncIterator[bytes], encoding: str) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    async for chunk in chunks:
        if text := decoder.decode(chunk):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


async def _lines(chunks: AsyncIterator[Any], delimiter: Any) -> AsyncIterator[Any]:
    """Lines of ``chunks`` (bytes or str), split at ``delimiter`` or at line endings."""
    pending: Any = None  # the unfinished tail of the chunks so far
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        if delimiter is not None:
            *lines, pending = chunk.split(delimiter)
        else:
            lines = chunk.splitlines(keepends=True)
            pending = None
            # Unfinished: no line ending yet, or a \r whose \n may be in the next chunk.
            if lines and (lines[-1].splitlines()[0] == lines[-1]
                          or lines[-1][-1:] in ("\r", b"\r")):
                pending = lines.pop()
            lines = [line.splitlines()[0] for line in lines]
        for line in lines:
            yield line
    if pending:
        for line in (pending.splitlines() if delimiter is None else [pending]):
            yield line
