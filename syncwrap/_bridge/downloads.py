"""Handing a streamed response body from the loop thread to a calling thread.

A pump task on the loop reads the engine's StreamReader and pushes chunks into
a :class:`BodyChannel`; the caller takes them without a round trip to the loop
per read. When the channel holds more than ``high_water`` bytes the pump waits
(so the socket is paused by the StreamReader's own flow control) until the
caller drains it below ``low_water``. Memory stays bounded.

A large plain body (no TLS, no Content-Encoding, not chunked) skips all that:
:class:`DirectChannel` has the calling thread receive it straight from the
socket (``direct.py``, the engine's thread-mode hand-off), so the loop thread is
not involved per chunk and an exact-size read is the kernel's one copy.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import deque
from typing import Any

from .. import loop as loop_thread
from .direct import SocketBody

__all__ = ["BodyChannel", "DirectChannel", "RawBody", "start_pump"]

CHANNEL_HIGH_WATER = 8 * 1024 * 1024


class BodyChannel:
    """A bounded, thread-safe queue of body chunks with EOF and error."""

    def __init__(self, high_water: int = CHANNEL_HIGH_WATER) -> None:
        self._chunks: deque[bytes | memoryview] = deque()
        self._size = 0
        self._eof = False
        self._error: BaseException | None = None
        self._cond = threading.Condition(threading.Lock())
        self._high_water = high_water
        self._low_water = high_water // 2
        self._space: asyncio.Future[None] | None = None  # the pump waits on it when full
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @property
    def buffered(self) -> int:
        """Bytes waiting to be taken."""
        return self._size

    # -- the pump side (loop thread) -------------------------------------------

    def put(self, data: bytes | memoryview) -> bool:
        """Add a chunk; False means the channel is full and the pump should wait."""
        with self._cond:
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify()
            return self._size < self._high_water

    async def wait_space(self) -> None:
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._size < self._high_water or self.closed:
                return
            self._loop = loop
            self._space = fut = loop.create_future()
        await fut

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._eof = True
            self._error = error
            self._cond.notify_all()

    # -- the caller side -----------------------------------------------------------

    def _release_space(self) -> None:
        fut, self._space = self._space, None
        if fut is not None and self._loop is not None:
            loop_thread.call_soon(_set_if_pending, fut)

    def get(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes (all buffered ones if ``n < 0``); b'' at EOF; waits for data."""
        with self._cond:
            while not self._chunks:
                if self._eof:
                    if self._error is not None:
                        raise self._error
                    return b""
                _refuse_loop_thread()  # the pump runs here: waiting would deadlock
                if not self._cond.wait(timeout):
                    from ..exceptions import ReadTimeout

                    raise ReadTimeout(f"No body data within {timeout} s")
            chunks = self._chunks
            if n < 0 or n >= self._size:
                data = bytes(chunks.popleft()) if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
            else:
                parts = []
                need = n
                while need:
                    chunk = chunks[0]
                    if len(chunk) <= need:
                        parts.append(chunks.popleft())
                        need -= len(chunk)
                    else:  # views: the one copy is the join below
                        view = memoryview(chunk)
                        parts.append(view[:need])
                        chunks[0] = view[need:]
                        need = 0
                data = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
            self._size -= len(data)
            if self._space is not None and self._size < self._low_water:
                self._release_space()
            return data

    def get_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes unless EOF comes first (one copy when ``n`` fits the buffer)."""
        target = min(n, self._low_water)
        with self._cond:
            while self._size < target and not self._eof and not self.closed:
                if not self._cond.wait(60):
                    break  # let get() apply its own checks and timeouts
        parts = []
        need = n
        while need:
            data = self.get(need)
            if not data:
                break
            parts.append(data)
            need -= len(data)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front (what a line reader took too much of)."""
        with self._cond:
            self._chunks.appendleft(data)
            self._size += len(data)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._chunks.clear()
            self._size = 0
            if self._space is not None:
                self._release_space()


def _refuse_loop_thread() -> None:
    if loop_thread.in_loop_thread():
        raise RuntimeError(
            "syncwrap: a streamed body was read on syncwrap's own event-loop "
            "thread; waiting for more data there would deadlock. Read it from "
            "another thread, or use syncwrap.engine's async API on the loop."
        )


class DirectChannel:
    """A body the calling thread receives itself, straight from the socket.

    Same reading interface as :class:`BodyChannel`. What arrived before the take-over
    (and what a line reader puts back) is served first; then every read is one
    ``recv`` into a fresh bytes object, never past the Content-Length. Not for several
    reading threads at once; :meth:`close` may come from any thread.
    """

    def __init__(self, body: SocketBody) -> None:
        self._body = body
        # What arrived before the take-over, and what a line reader puts back: a finished
        # BodyChannel, so taking from it never waits.
        self._pending = BodyChannel()
        if body.buffered:
            self._pending.put(body.buffered)
            body.buffered = b""
        self._pending.finish()
        self.closed = False

    def get(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes (what has arrived if ``n < 0``); b'' at EOF; waits for data.

        ``timeout`` is not used: the connection's sock_read timeout applies.
        """
        if self._pending.buffered:
            return self._pending.get(n)
        _refuse_loop_thread()
        return self._body.recv(n if n > 0 else 256 * 1024)

    def get_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes unless the body ends first (one kernel copy, when aligned)."""
        head = self._pending.get(n) if self._pending.buffered else b""
        if len(head) == n:
            return head
        _refuse_loop_thread()
        tail = self._body.recv(n - len(head), exact=True)
        return head + tail if head else tail

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front (what a line reader took too much of)."""
        self._pending.unread(data)

    def close(self) -> None:
        """Done: the connection is pooled if the body was read to its end, else closed."""
        self.closed = True
        self._pending.close()
        self._body.close()

    def __del__(self) -> None:  # dropped unread (e.g. Ctrl-C before the Response existed)
        if not getattr(self, "closed", True):
            try:
                self._body.close()
            except Exception:  # noqa: BLE001 - interpreter teardown: nothing left to close
                pass


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _pump(content: Any, channel: BodyChannel, on_done: Any) -> None:
    error: BaseException | None = None
    try:
        while not channel.closed:
            data = await content.readany()
            if not data:
                break
            if not channel.put(data):
                await channel.wait_space()
    except asyncio.CancelledError:
        from ..exceptions import ClientPayloadError

        error = ClientPayloadError("The response was closed while its body was being read")
        raise
    except BaseException as exc:  # noqa: BLE001 - handed to the reader
        error = exc
    finally:
        channel.finish(error)
        on_done(error)


def start_pump(content: Any, channel: BodyChannel, on_done: Any) -> asyncio.Task[None]:
    """Start the pump on the running loop (call from the loop thread)."""
    return asyncio.ensure_future(_pump(content, channel, on_done))


class RawBody(io.RawIOBase):
    """``response.raw``: the decoded body as a readable binary file object."""

    def __init__(self, channel: BodyChannel | DirectChannel, on_close: Any = None) -> None:
        super().__init__()
        self._channel = channel
        self._on_close = on_close
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed response body")
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        return self._channel.get_exact(size)  # n bytes unless EOF, as requests' raw.read(n)

    def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, waiting only if none are buffered yet."""
        if self.closed:
            raise ValueError("I/O operation on closed response body")
        if size == 0:
            return b""
        return self._channel.get(size if size is not None and size > 0 else 1 << 20)

    def readall(self) -> bytes:
        parts = []
        while True:
            data = self._channel.get(-1)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def readline(self, size: int | None = -1) -> bytes:
        parts: list[bytes] = []
        total = 0
        limit = size if size is not None and size >= 0 else None
        while limit is None or total < limit:
            want = 65536 if limit is None else min(65536, limit - total)
            data = self._channel.get(want)
            if not data:
                break
            idx = data.find(b"\n")
            if idx >= 0:
                head, tail = data[: idx + 1], data[idx + 1 :]
                parts.append(head)
                if tail:
                    self._unread(tail)
                break
            parts.append(data)
            total += len(data)
        return b"".join(parts)

    def _unread(self, data: bytes) -> None:
        self._channel.unread(data)

    def close(self) -> None:
        if not self.closed:
            super().close()
            if self._on_close is not None:
                self._on_close()
