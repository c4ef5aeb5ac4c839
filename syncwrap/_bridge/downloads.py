"""Handing a streamed response body from the loop thread to a calling thread.

A pump task on the loop reads the engine's StreamReader and pushes chunks into
a :class:`~syncwrap._bridge.channel.ByteChannel`; the caller takes them without
a round trip to the loop per read. When the channel holds 8 MiB the pump waits
(so the socket is paused by the StreamReader's own flow control) until the
caller drains it below 4 MiB. Memory stays bounded.

A large plain body (no Content-Encoding; over TLS too, on the engine's own TLS
transport), or a chunked one not yet whole, skips all that: :class:`DirectChannel`
has the calling thread receive it straight from the socket (``direct.py``, the
engine's thread-mode hand-off; a chunked body framed by the engine's parser), so
the loop thread is not involved per chunk and an exact-size read of a plain
Content-Length body is the kernel's one copy.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from ..exceptions import ClientPayloadError
from .channel import ByteChannel, ByteReader, refuse_loop_thread
from .direct import THREAD_READ_SIZE, SocketBody

__all__ = ["DirectChannel", "RawBody", "start_pump"]


class DirectChannel:
    """A body the calling thread receives itself, straight from the socket.

    The same reading interface (:class:`~syncwrap._bridge.channel.ByteReader`) as a
    :class:`~syncwrap._bridge.channel.ByteChannel`. What arrived before the take-over
    (and what a line reader puts back) is served first; then every read is one
    ``recv`` into a fresh bytes object, never past the Content-Length (a chunked body:
    received into a reused buffer and framed by the engine's parser). Not for several
    reading threads at once; :meth:`close` may come from any thread.
    """

    def __init__(self, body: SocketBody) -> None:
        self._body = body
        # What arrived before the take-over, and what a line reader puts back: a finished
        # channel, so taking from it never waits.
        self._pending = ByteChannel.holding(body.buffered)
        body.buffered = b""
        self.closed = False

    def get(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes (what has arrived if ``n < 0``); b'' at EOF; waits for data.

        ``timeout`` is not used: the connection's sock_read timeout applies.
        """
        if self._pending.buffered:
            return self._pending.get(n)
        refuse_loop_thread()
        return self._body.recv(n if n > 0 else THREAD_READ_SIZE)

    def get_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes unless the body ends first (one kernel copy, when aligned)."""
        head = self._pending.get(n) if self._pending.buffered else b""
        if len(head) == n:
            return head
        refuse_loop_thread()
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


async def _pump(content: Any, channel: ByteChannel, on_done: Any) -> None:
    error: BaseException | None = None
    try:
        while not channel.closed:
            chunks = await content.read_views()  # all that is buffered: one hop per batch
            if not chunks:
                break
            if not channel.put_many_nowait(chunks):
                await channel.wait_space()
    except asyncio.CancelledError:
        error = ClientPayloadError("The response was closed while its body was being read")
        raise
    except BaseException as exc:  # noqa: BLE001 - handed to the reader
        error = exc
    finally:
        channel.finish(error)
        on_done(error)


def start_pump(content: Any, channel: ByteChannel, on_done: Any) -> asyncio.Task[None]:
    """Start the pump on the running loop (call from the loop thread)."""
    return asyncio.ensure_future(_pump(content, channel, on_done))


class RawBody(io.RawIOBase):
    """``response.raw``: the decoded body as a readable binary file object."""

    def __init__(self, channel: ByteReader, on_close: Any = None) -> None:
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
