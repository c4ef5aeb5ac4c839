"""StreamReader: the buffered body of a response, with bounded memory.

The protocol feeds it; above ``high_water`` buffered bytes it pauses reading
from the socket and resumes below ``low_water``. Readers await data.

Cost per chunk fed (a network read: up to 1 MiB in loop mode, ``http1/direct.py``):
``feed_data`` appends it and ends the one waiter's future; a waiting reader awaits
that future itself (no coroutine of its own per wait: ~1,100 instructions per chunk
less, callgrind); ``iter_any`` yields the chunk unchanged, ``read(n)`` and
``iter_chunked(n)`` slice it (one copy of what they return, none of the rest).

A chunk may be a memoryview of the buffer a TLS read decrypted into (see
``http1/tls_reads.py``, TLSReader): the reading methods return bytes
(one copy, made where the copying TLS protocol made its join), and
:meth:`StreamReader.read_views` hands the chunks on as they are, for a consumer that
copies them anyway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol

from ..exceptions import BodyTooLargeError, ClientPayloadError

__all__ = ["StreamReader", "EMPTY_PAYLOAD", "DEFAULT_HIGH_WATER"]

DEFAULT_HIGH_WATER = 4 * 1024 * 1024


class _FlowControl(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class StreamReader:
    """An async byte stream (``response.content``) with aiohttp's reading methods."""

    def __init__(
        self,
        flow: _FlowControl | None = None,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        loop: asyncio.AbstractEventLoop | None = None,
        timer: Any = None,
    ) -> None:
        self._flow = flow
        self._loop = loop  # the running loop, looked up when a reader first waits
        self._high_water = max(high_water, 1)
        self._low_water = self._high_water // 4
        self._buffer: deque[bytes] = deque()
        self._offset = 0  # bytes of _buffer[0] already read (partial reads copy no rest)
        self._size = 0
        self._eof = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._eof_waiters: list[asyncio.Future[None]] = []
        self._exception: BaseException | None = None
        self._http_chunk_ends: deque[int] = deque()
        self._last_chunk_end = 0
        self._timer = timer
        self.total_bytes = 0

    @classmethod
    def from_bytes(cls, data: bytes, loop: asyncio.AbstractEventLoop | None = None
                   ) -> StreamReader:
        """A finished stream holding ``data``."""
        reader = cls(loop=loop)
        reader.feed_data(data)
        reader.feed_eof()
        return reader

    def __repr__(self) -> str:
        state = "eof" if self._eof else f"{self._size} bytes buffered"
        return f"<StreamReader {state}>"

    # -- the producer side -------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        """Append bytes (called by the protocol or by user code)."""
        if not data:
            return
        self._buffer.append(data)
        n = len(data)
        self._size += n
        self.total_bytes += n
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._size > self._high_water and not self._paused and self._flow is not None:
            self._paused = True
            self._flow.pause_reading()

    def end_http_chunk_receiving(self) -> None:
        """Mark the end of an HTTP chunk (for :meth:`readchunk` / :meth:`iter_chunks`)."""
        if self.total_bytes == self._last_chunk_end:
            return  # no data since the last mark (the terminating 0 chunk): no empty chunk
        self._http_chunk_ends.append(self.total_bytes)
        self._last_chunk_end = self.total_bytes

    def feed_eof(self) -> None:
        """No more data will come; the connection is no longer ours to pause."""
        self._eof = True
        self._flow = None
        self._paused = False
        self._wake_all()

    def set_exception(self, exc: BaseException) -> None:
        """Make every pending and future read raise ``exc``."""
        self._exception = exc
        self._wake_all(exc)

    def exception(self) -> BaseException | None:
        return self._exception

    def _wake_all(self, exc: BaseException | None = None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
        for fut in self._eof_waiters:
            if not fut.done():
                fut.set_result(None)
        self._eof_waiters.clear()

    # -- state ---------------------------------------------------------------

    def at_eof(self) -> bool:
        """True when EOF was fed and the buffer is empty."""
        return self._eof and not self._buffer

    def is_eof(self) -> bool:
        """True when EOF was fed (data may still be buffered)."""
        return self._eof

    @property
    def buffered(self) -> int:
        return self._size

    async def wait_eof(self) -> None:
        if self._eof:
            return
        fut = (self._loop or asyncio.get_running_loop()).create_future()
        self._eof_waiters.append(fut)
        await self._await(fut)

    # -- the consumer side -------------------------------------------------

    def _wait_for_data(self) -> Awaitable[None]:
        """What a reader awaits until data, EOF or an error arrives (reading resumed if
        paused). The future itself when there is no timer: no coroutine of its own per
        wait, which a read from the network pays for every chunk."""
        if self._exception is not None:
            raise self._exception
        if self._paused:
            self._resume()
        fut = self._waiter = (self._loop or asyncio.get_running_loop()).create_future()
        return fut if self._timer is None else self._timed_wait(fut)

    async def _timed_wait(self, fut: asyncio.Future[None]) -> None:
        with self._timer:
            await fut

    async def _await(self, fut: asyncio.Future[None]) -> None:
        if self._timer is None:
            await fut
        else:
            with self._timer:
                await fut

    def _resume(self) -> None:
        self._paused = False
        if self._flow is not None:
            self._flow.resume_reading()

    def _consumed(self, n: int) -> None:
        self._size -= n
        if self._paused and self._size < self._low_water:
            self._resume()

    def read_nowait(self, n: int = -1) -> bytes:
        """Return up to ``n`` buffered bytes (all if ``n < 0``) without waiting."""
        if self._exception is not None:
            raise self._exception
        buf = self._buffer
        if not buf:
            return b""
        offset = self._offset
        if n < 0 or n >= self._size:
            if offset:
                buf[0] = memoryview(buf[0])[offset:]  # type: ignore[call-overload]
                self._offset = 0
            data = bytes(buf.popleft()) if len(buf) == 1 else b"".join(buf)
            buf.clear()
        else:
            first = buf[0]
            available = len(first) - offset
            if available > n:
                data = bytes(first[offset:offset + n])
                self._offset = offset + n
            elif available == n:
                data = bytes(first[offset:] if offset else first)
                buf.popleft()
                self._offset = 0
            else:  # across chunks: views of the pieces, one copy in the join
                parts: list[bytes | memoryview] = [memoryview(buf.popleft())[offset:]]
                self._offset = 0
                need = n - available
                while need:
                    chunk = buf[0]
                    if len(chunk) <= need:
                        parts.append(buf.popleft())
                        need -= len(chunk)
                    else:
                        parts.append(memoryview(chunk)[:need])
                        self._offset = need
                        need = 0
                data = b"".join(parts)
        self._consumed(len(data))
        return data

    def _read_first_chunk(self) -> bytes:
        data = self._buffer.popleft()
        if self._offset:
            data = data[self._offset:]
            self._offset = 0
        self._consumed(len(data))
        return data if type(data) is bytes else bytes(data)

    async def read_views(self) -> list[bytes | memoryview]:
        """Every chunk buffered (waiting for one), as they arrived: bytes, or memoryviews
        of TLS reads' buffers, which the caller may keep. ``[]`` at EOF. For a consumer
        that copies them anyway: one wait per batch instead of one per chunk."""
        while not self._buffer and not self._eof:
            await self._wait_for_data()
        if self._exception is not None:
            raise self._exception
        buf = self._buffer
        if not buf:
            return []
        if self._offset:
            buf[0] = memoryview(buf[0])[self._offset:]  # type: ignore[call-overload]
            self._offset = 0
        chunks = list(buf)
        buf.clear()
        self._consumed(self._size)
        return chunks

    async def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (waiting for at least one), or everything if ``n < 0``."""
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if n < 0:
            while not self._eof:
                await self._wait_for_data()
            return self.read_nowait()
        while not self._buffer and not self._eof:
            await self._wait_for_data()
        return self.read_nowait(n)

    async def read_limited(self, limit: int) -> bytes:
        """Everything up to EOF, as ``read()``, but raise BodyTooLargeError as soon as the
        body (counted from its first byte) passes ``limit`` bytes."""
        while not self._eof:
            if self.total_bytes > limit:
                raise BodyTooLargeError(limit)
            await self._wait_for_data()
        if self.total_bytes > limit:
            raise BodyTooLargeError(limit)
        return self.read_nowait()

    async def readany(self) -> bytes:
        """Return whatever arrived next (one network chunk), or b'' at EOF."""
        while not self._buffer and not self._eof:
            await self._wait_for_data()
        if self._exception is not None:
            raise self._exception
        return self._read_first_chunk() if self._buffer else b""

    async def readexactly(self, n: int) -> bytes:
        """Read exactly ``n`` bytes; raise IncompleteReadError at an early EOF."""
        while self._size < n and not self._eof:
            await self._wait_for_data()
        if self._size < n:
            partial = self.read_nowait()
            raise asyncio.IncompleteReadError(partial, n)
        return self.read_nowait(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """Read up to and including ``separator`` (or to EOF)."""
        if not separator:
            raise ValueError("readuntil(): separator must not be empty")
        checked = 0  # bytes past the read offset already searched
        buf = self._buffer
        while True:
            if len(buf) > 1:  # one chunk: what is unread, joined
                offset, self._offset = self._offset, 0
                first = memoryview(buf.popleft())[offset:]
                joined = b"".join((first, *buf))
                buf.clear()
                buf.append(joined)
            elif buf and type(buf[0]) is not bytes:
                buf[0] = bytes(buf[0])
            if buf:
                chunk = buf[0]
                start = self._offset + max(0, checked - len(separator) + 1)
                idx = chunk.find(separator, start)
                if idx >= 0:
                    return self.read_nowait(idx - self._offset + len(separator))
                checked = len(chunk) - self._offset
            if self._eof:
                return self.read_nowait()
            await self._wait_for_data()

    async def readline(self) -> bytes:
        """Read one line including its ``\\n`` (or to EOF)."""
        return await self.readuntil(b"\n")

    async def readchunk(self) -> tuple[bytes, bool]:
        """Return ``(data, end_of_http_chunk)`` following the sender's chunk boundaries."""
        while True:
            if self._http_chunk_ends:
                end = self._http_chunk_ends[0]
                consumed = self.total_bytes - self._size
                if end <= consumed:
                    self._http_chunk_ends.popleft()
                    return b"", True
                data = self.read_nowait(end - consumed)
                if self.total_bytes - self._size >= end:
                    self._http_chunk_ends.popleft()
                    return data, True
                return data, False
            if self._buffer:
                return self._read_first_chunk(), False
            if self._eof:
                return b"", False
            await self._wait_for_data()

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Yield chunks of ``n`` bytes (the last may be shorter)."""
        if n <= 0:
            raise ValueError(f"iter_chunked(n): n must be positive, got {n}")
        while True:
            while self._size < n and not self._eof:
                await self._wait_for_data()
            data = self.read_nowait(n)
            if not data:
                return
            yield data

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Yield data as it arrives, chunk by chunk, without copying."""
        buffer = self._buffer
        while True:  # readany(), inlined: this loop runs once per network read
            while not buffer and not self._eof:
                await self._wait_for_data()
            if self._exception is not None:
                raise self._exception
            if not buffer:
                return
            yield self._read_first_chunk()

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        """Yield ``(data, end_of_http_chunk)`` pairs until EOF."""
        while True:
            data, end = await self.readchunk()
            if not data and not end:
                return
            yield data, end

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter_lines()

    async def _iter_lines(self) -> AsyncIterator[bytes]:
        while True:
            line = await self.readline()
            if not line:
                return
            yield line


class _EmptyStreamReader(StreamReader):
    def __init__(self) -> None:
        self._buffer = deque()
        self._offset = 0
        self._size = 0
        self._eof = True
        self._exception = None
        self._http_chunk_ends = deque()
        self._last_chunk_end = 0
        self.total_bytes = 0
        self._paused = False
        self._waiter = None
        self._flow = None
        self._timer = None

    def feed_data(self, data: bytes) -> None:
        raise ClientPayloadError("cannot feed an empty payload")


EMPTY_PAYLOAD = _EmptyStreamReader()
