"""Direct sends for the blocking WebSocket: the calling thread writes its frame itself.

A send through the loop costs a hop (``call_soon_threadsafe``: a self-pipe write, a
wakeup of the loop thread, one loop iteration) before the frame reaches the socket.
When nothing else is on its way to the socket, the calling thread writes the frame
itself, with one non-blocking ``send`` on a duplicate of the connection's socket
(``os.dup``: the same socket, the same O_NONBLOCK flag), as direct body reads do
(:mod:`syncwrap._bridge.direct`). Cost model: a direct send is the framing (the
library's, on the calling thread), one lock and one ``send`` system call; the loop is
not woken at all. A hop adds the self-pipe write, the wakeup, a loop iteration and the
frame copied once more into the transport's buffer.

The byte stream must hold whole frames, in the order they were sent, and nothing after
the close frame; the protocol state (websockets' ``ClientProtocol``) keeps one owner,
the loop. So:

- every write of the loop (frames sent through it, pongs, pings, the close frame) goes
  through :meth:`DirectSend.loop_write` (``WebSocketConnection.route_writes``), under
  the lock the direct sends hold;
- a thread sends directly only under that lock, while the WebSocket is open, when
  nothing it handed to the loop waits (the caller checks) and the transport's buffer
  is empty: everything written before is in the kernel already;
- if the kernel takes part of a frame, the rest (the *tail*) is the loop's to write
  before anything else: every loop write flushes it first, and no thread sends
  directly until it is written;
- the calling thread only reads the protocol's state, and frames data messages, which
  changes no state when no extension was negotiated (with permessage-deflate every
  send goes through the loop).

Plain TCP only (a TLS transport holds the stream's state), POSIX only.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from ..engine.http1.direct import POSIX, dup_socket
from ..engine.websocket.connection import WebSocketConnection

__all__ = ["DirectSend"]


class DirectSend:
    """The direct path of one WebSocket's sends (see the module docs); ``lock`` is the
    facade sender's lock, held by the caller of :meth:`try_send`."""

    def __init__(self, conn: WebSocketConnection, transport: asyncio.Transport,
                 loop: asyncio.AbstractEventLoop, lock: threading.Lock,
                 sock: socket.socket) -> None:
        self._conn = conn
        self._transport = transport
        self._loop = loop
        self._lock = lock
        self._sock: socket.socket | None = sock
        self._tail: memoryview | None = None
        #: Frames written by calling threads (the rest went through the loop).
        self.sent = 0
        conn.route_writes(self.loop_write)

    @classmethod
    def attach(cls, conn: WebSocketConnection, loop: asyncio.AbstractEventLoop,
               lock: threading.Lock) -> DirectSend | None:
        """On the loop: the direct path for ``conn``, or None where it does not apply
        (TLS, an extension, no socket, not POSIX)."""
        transport = conn.transport
        if not POSIX or conn.extensions or transport is None or transport.is_closing():
            return None
        if transport.get_extra_info("sslcontext") is not None:
            return None
        raw = transport.get_extra_info("socket")
        if raw is None or raw.type != socket.SOCK_STREAM:
            return None
        sock = dup_socket(transport)
        sock.settimeout(0.0)  # never wait in send() (the flag is shared, and already set)
        return cls(conn, transport, loop, lock, sock)

    def frame(self, data: bytes, *, text: bool) -> bytes:
        """The bytes of a TEXT or BINARY message's frame (any thread, no lock)."""
        return self._conn.frame_bytes(data, text=text)

    # -- calling threads (the lock held) ---------------------------------------------------

    def try_send(self, frame: bytes) -> bool:
        """Write ``frame`` now if nothing else is on its way; False: send it through the
        loop (nothing of it was written)."""
        sock = self._sock
        transport = self._transport
        if (sock is None or self._tail is not None or self._conn.closing
                or transport.is_closing() or transport.get_write_buffer_size()):
            return False
        try:
            sent = sock.send(frame)
        except OSError:  # the socket is full (EAGAIN), or failed: the loop will say so
            return False
        if sent < len(frame):
            self._tail = memoryview(frame)[sent:]
            self._loop.call_soon_threadsafe(self._write_tail)
        self.sent += 1
        return True

    # -- the loop ---------------------------------------------------------------------------

    def loop_write(self, data: bytes) -> None:
        """Every write of the connection: after the tail, under the lock."""
        with self._lock:
            if self._tail is not None:
                self._flush_tail()
            self._transport.write(data)

    def _write_tail(self) -> None:
        with self._lock:
            self._flush_tail()

    def _flush_tail(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None and not self._transport.is_closing():
            self._transport.write(tail)

    def close(self) -> None:
        """The connection is gone (any thread): no more direct sends."""
        with self._lock:
            sock, self._sock = self._sock, None
            self._tail = None
        if sock is not None:
            sock.close()
