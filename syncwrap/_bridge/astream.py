"""The streaming twin: ``async with s.astream(method, url, ...) as r:``, on any running loop.

``async with s.astream("GET", url) as r:`` gives an :class:`AsyncStreamResponse` with
status and headers, whose body is read with ``await r.aread()``, ``async for chunk in
r.aiter_content(n)`` or ``r.aiter_lines()``, one hop to the loop thread per chunk. The
call is translated and sent on entry (bad input raises there). Leaving the block
returns the connection to the pool if the body was read to its end, and closes it
otherwise.

It is sent as the other twins are (:mod:`syncwrap._bridge.twins`); the body stays
in the engine response on the loop thread and is read from there.
"""

from __future__ import annotations

import asyncio
import codecs
import json as _json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from .. import loop as loop_thread
from ..engine.response import ClientResponse
from ..engine.session import ClientSession
from ..exceptions import StreamConsumedError
from .calls import PreparedCall, prepare_call
from .response import Response
from .twins import run_call, run_on_loop, translate

__all__ = ["stream_twin", "AsyncStream", "AsyncStreamResponse"]


def stream_twin(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any], *,
                session_hooks: Any = None, on_exit: Callable[[], object] | None = None
                ) -> AsyncStream:
    """``astream()``: the call is translated (bad input raises) and sent on entry."""
    if kwargs.pop("stream", True) is not True:
        raise TypeError("stream=: astream() always streams; use arequest() to read the body")
    kwargs["stream"] = True
    return AsyncStream(partial(prepare_call, engine, method, url, kwargs,
                               session_hooks=session_hooks), kwargs, on_exit)


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
            call = await translate(self._prepare, self._kwargs)
            head = await run_call(call, self._keep)
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
