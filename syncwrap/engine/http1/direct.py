"""Direct body reads: the rest of a large plain body straight from the socket.

Once a response head is parsed, a body that is

- on plain TCP with a real socket under the transport, or (thread mode only) on the
  engine's own TLS transport, which lends its SSLSocket (``tls_transport.py``),
- not transformed (no Content-Encoding decoder stands before its StreamReader),
- length-delimited (Content-Length) or read until the server closes, or (thread mode
  only, when the taker asks for it) chunked,

may be received from a duplicate of the connection's socket (``os.dup``: the same
socket, so the same O_NONBLOCK flag) instead of through the transport, whose reading
is paused meanwhile. The connection (``connection.py``) decides and hands the body
off; whoever takes it is a *body taker* (:class:`BodyTaker`):

- **Loop mode** (:class:`LoopReader`, here), on every POSIX loop (asyncio's selector
  loop and uvloop): the connection starts it from the head on, before the transport
  reads again. The loop watches the duplicate; each time it is readable,
  :func:`waiting` asks the kernel how much is there (``FIONREAD``) and one
  ``recv`` of exactly that much (at most :func:`read_cap`: 1 MiB) fills one fresh
  ``bytes``, which goes to ``data_received`` exactly as the transport's would. The
  StreamReader's flow control pauses and resumes this watch instead of the transport.

  Cost model, per read: one ``ioctl`` (into a buffer the reader keeps) and one
  ``recv`` (the kernel's copy, the only one), one loop callback, the parser's and the
  StreamReader's bookkeeping, for up to 1 MiB: ~45,000 instructions per read on
  asyncio's loop, ~25,000 on uvloop, the loop's own work and an ``iter_any`` consumer
  included (callgrind; the kernel's copy of a MiB costs ~150-200 us, the reads come
  about one per MiB when the reader is the slower side and the window is open). What it
  saves: uvloop copies every read once more; asyncio's selector transport reads 256 KiB
  at a time; and both ask for a fixed size, so a read that returns less leaves a shrunk
  object, too small to raise malloc's mmap threshold (glibc): under load, when reads
  come short, every one was then a fresh mmap, one page fault per 4 KiB received (~290
  per MiB measured against ~3 exact-sized).

  Memory, per read: none fresh. The reads' objects (up to 1 MiB, of varying sizes)
  must come from memory the allocator reuses, which glibc's defaults did not always
  do (10-30 page faults per MiB on both loops): a loop reader primes the allocator
  (``allocator.py``) and reads then cost 0-1 fault per MiB. Measured and left out: more
  receives per wake-up (while FIONREAD says more is waiting, up to 2 or 4 MiB) halve
  the wake-ups but not the CPU time per MiB, and the extra live blocks bring faults
  back; a 2-4 MiB cap did not make reads larger, nor, with the window open, 2 MiB
  reads cheaper per MiB. What made them larger: over a short path the kernel's receive
  buffer stays near 0.8 MiB and reads average 0.3-0.45 MiB, so a direct read's dup
  (:func:`body_socket`) opens the window (``window.py``): ~1 MiB per read.
  ``SO_RCVLOWAT`` (the kernel wakes the loop only once 256 KiB-1 MiB waits, lowered
  to the bytes left near the body's end) cut the wake-ups 2-3x and the user time per
  MiB with them, but the kernel's time rose more (~70 us per MiB: larger batches,
  copied from colder memory) and the throughput fell on both loops; it would also
  hold back the bytes of a body that trickles. Eager reads (a reader about to wait on
  an empty buffer receives at once what is waiting, at least 64 KiB, up to 4 times in
  a row before it waits on the loop) took 80 % of the reads off the loop's wait and cut
  the user time per MiB by a third on asyncio's loop, but the reads came smaller and
  more often, and the kernel's time rose by as much: the same CPU per MiB and
  throughput (ten alternating pairs). Three more alternating runs on a busy host (64 or
  256 KiB at least, 4 or 8 in a row) moved the CPU per MiB by -20 % to +7 %, either way
  from run to run; on a quiet host (no steal, eight rounds) they lost: 0.68-0.72 of the
  raw floor's throughput against 0.82 without them, 268-275 us of CPU per MiB against 260.
  With the window open (reads of ~1 MiB), eight more alternating rounds: 10 us less user
  time per MiB, 12 us more system time, the same throughput.
- **Thread mode** (the blocking facade's reader): ``ResponseHandler.hand_off`` gives a
  taker a :class:`RawBody` (the dup, the bytes left, what arrived before); it receives
  the body on its own thread and, back on the loop, calls :attr:`RawBody.complete`.
  It takes the dup over from loop mode, if loop mode started. A chunked body comes
  with its framing (:attr:`RawBody.framing`, a
  :class:`~.chunked.ChunkedDecoder`: the connection's own, where the loop left it): the
  taker feeds it what it receives and learns where the body data is, and how much chunk
  data is certainly coming next, so every chunk rule and limit stays the engine's. The
  taker cannot know where the body ends before it has read it, so bytes read past the
  end make the connection not reusable, exactly
  as on the loop (a server sends nothing unasked, so this does not happen in practice).
  Cost: the framing's work per chunk and no copy of its own (the taker copies body
  bytes from its buffer, or receives chunk data in place), minus the transport, the
  StreamReader and every hop between threads; a chunked body has no
  known size, so the taker decides when it pays (``hand_off(chunked=True)``: the
  facade's rule is in ``syncwrap/_bridge/direct.py``).

  Over TLS there is no dup (the TLS session lives in one object): the taker gets the
  connection's own ``ssl.SSLSocket``, lent (``TLSTransport.lend``: the loop stops
  watching it; decrypted bytes OpenSSL still holds are the taker's first read), and
  hands it back through :attr:`RawBody.give_back`, on the loop, non-blocking again.
  Cost: OpenSSL reads the socket and decrypts into the taker's buffer on the taker's
  thread; the loop's transport, its buffers and every hop between threads drop out.

Both end before the connection's normal completion runs: the duplicate is closed and
the transport reads again, so a finished connection is pooled exactly as without
direct reads. Failures (EOF before Content-Length, timeouts, resets) raise the same
exceptions as the normal path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .allocator import prime_allocator
from .window import open_window

if TYPE_CHECKING:
    from .chunked import ChunkedDecoder
    from .connection import ResponseHandler
    from .parser import ResponseHead

__all__ = ["MIN_BODY", "UNTIL_CLOSE", "CHUNKED", "BodyTaker", "RawBody", "LoopReader",
           "body_left", "body_socket", "dup_socket", "loop_mode_applies", "read_cap", "waiting"]

#: Smallest body worth the set-up (dup, a reader registration, flags); ``UNTIL_CLOSE``
#: always qualifies.
MIN_BODY = 1024 * 1024
#: Bytes left of a body read until the server closes the connection.
UNTIL_CLOSE = -1
#: Bytes left of a chunked body (its framing says where it ends).
CHUNKED = -2
#: The most one loop-mode read takes (it takes what is waiting, up to this, or up to the
#: body's buffer size if smaller, but not below a transport's read: see :func:`read_cap`).
LOOP_READ_SIZE = 1024 * 1024
#: What one transport read takes at most (asyncio's selector transport, uvloop's buffer).
TRANSPORT_READ_SIZE = 256 * 1024
#: dup() of a socket's fd, MSG_WAITALL, FIONREAD and SO_RCVTIMEO as a timeval are POSIX;
#: elsewhere the transport reads every body.
POSIX = os.name == "posix" and hasattr(socket, "MSG_WAITALL")

if POSIX:
    from fcntl import ioctl
    from termios import FIONREAD

    def waiting(fd: int, count: bytearray | None = None) -> int:
        """Bytes the kernel holds for the socket ``fd`` (0: none, or its end). ``count``:
        a 4-byte buffer for the answer, to reuse (a fresh one otherwise)."""
        if count is None:
            count = bytearray(4)
        try:  # into a writable buffer: ioctl() refuses bytes only after formatting an error
            ioctl(fd, FIONREAD, count)
        except OSError:
            return 0
        return int.from_bytes(count, sys.byteorder)
else:  # pragma: no cover - direct reads are POSIX-only
    def waiting(fd: int, count: bytearray | None = None) -> int:
        """Bytes the kernel holds for the socket ``fd`` (0: none, or its end)."""
        return 0


class BodyTaker(Protocol):
    """What receives a handed-off body; the connection calls it on the loop."""

    def pause_reading(self) -> None:
        """Flow control: the body's StreamReader is full."""

    def resume_reading(self) -> None:
        """Flow control: the body's StreamReader wants more."""

    def stop(self, error: BaseException | None) -> None:
        """The body is complete or the connection is going (``error``: why it failed,
        e.g. the total timeout): stop reading and close the dup."""


class RawBody(NamedTuple):
    """The rest of one response body, handed to a taker that receives it itself."""

    #: A dup of the connection's socket (non-blocking, shared flags); the taker closes it.
    sock: socket.socket
    #: Bytes of the body still to come, :data:`UNTIL_CLOSE` or :data:`CHUNKED`.
    left: int
    #: What arrived before the hand-off: deliver it first.
    buffered: bytes
    content_length: int | None
    #: ``sock_read`` in seconds: the taker applies it (the connection's timer is off).
    read_timeout: float | None
    #: The connection's loop (the taker's end is reported there).
    loop: asyncio.AbstractEventLoop
    #: On the loop, from the taker that read the body to its end: the response
    #: completes (True), unless the connection went meanwhile (False).
    complete: Callable[[BodyTaker], bool]
    #: A chunked body's framing: feed it every byte received, deliver what it returns.
    framing: ChunkedDecoder | None = None
    #: Over TLS: ``sock`` is the connection's own ``ssl.SSLSocket``, lent (no dup can
    #: share a TLS session); the taker never closes it but, done with it and its
    #: non-blocking mode restored, calls this on the loop. None for a plain dup.
    give_back: Callable[[], None] | None = None


def body_left(transport: asyncio.Transport | None, head: ResponseHead | None,
              received: int, tls: bool = False) -> int | None:
    """Bytes of the body still to come (``UNTIL_CLOSE`` if unknown, ``CHUNKED``) after
    ``received``, or None when it cannot be read directly (see the module docstring;
    with ``tls``, also over a TLS transport that lends its socket: thread mode). The
    caller has checked that the body is plain and not finished."""
    if (not POSIX or transport is None or transport.is_closing() or head is None
            or head.upgrade):
        return None
    if transport.get_extra_info("sslcontext") is not None and not (
            tls and callable(getattr(transport, "lend", None))):
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return None
    if head.chunked:
        return CHUNKED
    if head.content_length is None:
        return UNTIL_CLOSE
    return head.content_length - received


def loop_mode_applies(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop``'s transports copy every read once more (loops other than
    asyncio's selector loop, e.g. uvloop): WebSocket bulk reads pay off there. Loop
    mode for bodies applies on every POSIX loop."""
    return POSIX and not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


def read_cap(high_water: int) -> int:
    """The most one loop-mode read takes for a body buffered up to ``high_water`` bytes:
    what sits above the high water stays within one transport-sized read for small
    buffers, and reads of up to 1 MiB amortise the loop's work for large ones."""
    return min(LOOP_READ_SIZE, max(TRANSPORT_READ_SIZE, high_water))


def dup_socket(transport: asyncio.Transport) -> socket.socket:
    """A second socket object on the transport's connection (a dup of its descriptor)."""
    fd = os.dup(transport.get_extra_info("socket").fileno())
    try:
        return socket.socket(fileno=fd)
    except BaseException:
        os.close(fd)
        raise


def body_socket(transport: asyncio.Transport) -> socket.socket:
    """The dup a direct body read receives from, its receive window opened over a short
    path (``window.py``)."""
    sock = dup_socket(transport)
    open_window(sock)
    return sock


class LoopReader:
    """Loop mode: the loop watches a dup of the socket and feeds the connection itself."""

    __slots__ = ("_protocol", "_loop", "_sock", "_fd", "_watching", "_most", "_count")

    def __init__(self, protocol: ResponseHandler, sock: socket.socket,
                 most: int = LOOP_READ_SIZE) -> None:
        self._protocol = protocol
        self._most = most  # one read's most (read_cap())
        self._loop = protocol.loop
        self._sock: socket.socket | None = sock
        sock.settimeout(0)  # non-blocking (it already is: the transport's flag is shared)
        self._fd = sock.fileno()
        self._watching = False
        self._count = bytearray(4)  # FIONREAD's answer, every read
        prime_allocator()

    def pause_reading(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._watching and self._sock is not None:
            self._watching = True
            self._loop.add_reader(self._fd, self._on_readable)

    def stop(self, error: BaseException | None = None) -> None:
        self.pause_reading()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def detach_socket(self) -> socket.socket:
        """Stop watching and hand the dup over (to a thread-mode taker)."""
        self.pause_reading()
        sock, self._sock = self._sock, None
        assert sock is not None
        return sock

    def _on_readable(self) -> None:
        protocol = self._protocol
        sock = self._sock
        transport = protocol.transport
        if sock is None or transport is None or transport.is_closing():
            self.pause_reading()  # the connection is being closed: connection_lost ends us
            return
        size = waiting(self._fd, self._count)  # exactly what is there: see the cost model
        most = self._most
        try:
            data = sock.recv(size if 0 < size < most else most)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            protocol.data_received(data)
        else:
            # EOF or a reset: give the socket back to the transport, which sees the same
            # end and reports it as it always does (eof_received, connection_lost).
            protocol.take_back(self)
