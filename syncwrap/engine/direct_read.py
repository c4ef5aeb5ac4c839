"""Direct body reads: the rest of a large plain body straight from the socket.

Once a response head is parsed, a body that is

- on plain TCP (no TLS) with a real socket under the transport,
- not transformed (the protocol's sink is the StreamReader: no Content-Encoding decoder),
- length-delimited (Content-Length) or read until the server closes, not chunked,

may be received from a duplicate of the connection's socket (``os.dup``: the same socket,
so the same O_NONBLOCK flag) instead of through the transport, whose reading is paused
meanwhile. Two modes:

- **Loop mode** (:class:`LoopReader`, engine): on loops other than asyncio's selector loop
  (uvloop), whose transports copy every read once more before ``data_received``, the loop
  watches the duplicate and ``sock.recv()`` hands a fresh ``bytes`` (one kernel copy) to
  ``protocol.data_received`` exactly as the transport would. The StreamReader's flow
  control pauses and resumes this watch instead of the transport.
- **Thread mode** (:class:`SocketBody`, the blocking facade): :func:`take_body`, on the loop
  thread, hands the body to a caller thread, which receives it itself with blocking
  ``recv`` calls (``MSG_WAITALL`` for exact sizes: the kernel fills one fresh ``bytes``),
  with ``sock_read`` as ``SO_RCVTIMEO``. The loop is not involved per chunk; at the end the
  connection goes back to the pool through the loop.

Both end before the normal completion runs: the duplicate is closed and the transport reads
again, so a finished connection is pooled exactly as without direct reads. Failures (EOF
before Content-Length, timeouts, resets) raise the same exceptions as the normal path.

The protocol side is the "direct body reads" section of
:class:`~syncwrap.engine.protocol.ResponseHandler`: ``protocol._direct`` is the active
reader, whose ``pause_reading``/``resume_reading`` receive the flow-control calls and whose
``stop()`` is called (by ``protocol._direct_end()``) when the body completes or the
connection is lost.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from typing import TYPE_CHECKING

from ..exceptions import ClientPayloadError, ReadTimeout

if TYPE_CHECKING:
    from .http1.connection import ResponseHandler
    from .http1.parser import ResponseHead
    from .response import ClientResponse

__all__ = ["MIN_BODY", "LoopReader", "SocketBody", "on_head", "take_body"]

#: Smallest body worth the set-up (dup, a reader registration, flags); ``-1`` (until close)
#: always qualifies.
MIN_BODY = 1024 * 1024
#: One loop-mode read (as asyncio's selector transport: bigger reads fault in fresh pages).
LOOP_READ_SIZE = 256 * 1024
#: Thread mode: the most one ``recv`` asks for when the caller takes "what has arrived".
THREAD_READ_SIZE = 1024 * 1024
#: Thread mode: the most one exact ``recv`` allocates (larger reads are joined from parts).
_MAX_EXACT = 64 * 1024 * 1024
#: Bytes left of a body read until the server closes the connection.
UNTIL_CLOSE = -1
#: dup() of a socket's fd, MSG_WAITALL and SO_RCVTIMEO as a timeval are POSIX; elsewhere the
#: transport reads every body.
_POSIX = os.name == "posix" and hasattr(socket, "MSG_WAITALL")


def _body_left(protocol: ResponseHandler) -> int | None:
    """Bytes of the body still to come (``UNTIL_CLOSE`` if unknown), or None when the
    response's body cannot be read directly (see the module docstring)."""
    transport = protocol.transport
    parser = protocol._parser
    if (not _POSIX or transport is None or transport.is_closing() or protocol.closed
            or parser is None or protocol.response_complete or protocol._direct is not None):
        return None
    reader = protocol.reader
    if reader is not None:  # the response object took the body: it has a StreamReader
        if protocol._sink is not reader or reader.exception() is not None:
            return None  # decoded, or failed
        received = reader.total_bytes
    elif protocol._early is not None and protocol._sink is None:  # not taken yet, plain
        received = protocol._early_size
    else:
        return None
    head = parser.head
    if head is None or head.chunked or head.upgrade:
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return None
    if head.content_length is None:
        return UNTIL_CLOSE
    return head.content_length - received


def _dup_socket(protocol: ResponseHandler) -> socket.socket:
    """A second socket object on the connection (a dup of its file descriptor)."""
    transport = protocol.transport
    assert transport is not None
    fd = os.dup(transport.get_extra_info("socket").fileno())
    try:
        return socket.socket(fileno=fd)
    except BaseException:
        os.close(fd)
        raise


def _pause_transport(protocol: ResponseHandler) -> None:
    """Stop the transport's reads for the take-over (unless flow control already did)."""
    if not protocol._reading_paused and protocol.transport is not None:
        protocol.transport.pause_reading()


# -- loop mode -------------------------------------------------------------------------------


def on_head(protocol: ResponseHandler, head: ResponseHead) -> None:
    """Hook for ``ResponseHandler._on_head``: on a loop that is not asyncio's selector loop,
    start loop mode for a large plain body once the parser has finished this feed."""
    loop = protocol._loop
    if isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop) or head.chunked:
        return
    if head.content_length is not None and head.content_length < MIN_BODY:
        return
    loop.call_soon(_start_loop_mode, protocol, head)


def _start_loop_mode(protocol: ResponseHandler, head: ResponseHead) -> None:
    parser = protocol._parser
    if parser is None or parser.head is not head:  # that response is gone already
        return
    left = _body_left(protocol)
    if left is None or 0 <= left < MIN_BODY:
        return
    reader = LoopReader(protocol, _dup_socket(protocol))
    _pause_transport(protocol)
    protocol._direct = reader
    if not protocol._reading_paused:
        reader.resume_reading()


class LoopReader:
    """Loop mode: the loop watches a dup of the socket and feeds the protocol itself."""

    def __init__(self, protocol: ResponseHandler, sock: socket.socket) -> None:
        self._protocol = protocol
        self._loop = protocol._loop
        self._sock: socket.socket | None = sock
        sock.settimeout(0)  # non-blocking (it already is: the transport's flag is shared)
        self._fd = sock.fileno()
        self._watching = False

    def pause_reading(self) -> None:
        """Flow control: the StreamReader is full."""
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        """Flow control: the StreamReader wants more."""
        if not self._watching and self._sock is not None:
            self._watching = True
            self._loop.add_reader(self._fd, self._on_readable)

    def stop(self) -> None:
        """The body is complete or the connection is going: stop watching, close the dup."""
        self.pause_reading()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def detach_socket(self) -> socket.socket:
        """Stop watching and hand the dup over (to thread mode)."""
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
        try:
            data = sock.recv(LOOP_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            protocol.data_received(data)
        else:
            # EOF or a reset: give the socket back to the transport, which sees the same
            # end and reports it as it always does (eof_received, connection_lost).
            protocol._direct_end()


# -- thread mode -------------------------------------------------------------------------------


def take_body(response: ClientResponse, min_size: int = MIN_BODY) -> SocketBody | None:
    """On the loop thread: hand the rest of ``response``'s body to a caller thread.

    Returns None (nothing changed) unless the body qualifies (module docstring), the request
    is not traced, and at least ``min_size`` bytes of it are still to come, or it is read
    until close. The StreamReader's buffered bytes move to :attr:`SocketBody.buffered`.
    """
    connection = response.connection
    if connection is None or response._traces:
        return None
    protocol = connection.protocol
    loop_reader = protocol._direct
    if loop_reader is not None and not isinstance(loop_reader, LoopReader):
        return None
    protocol._direct = None  # a loop-mode body is judged afresh, then its dup is reused
    left = _body_left(protocol)
    transport = protocol.transport
    reader = protocol.reader
    parser = protocol._parser
    if (left is None or 0 <= left < min_size or reader is None or parser is None
            or parser.head is None or transport is None
            or transport.get_write_buffer_size()):  # a blocking fd must have nothing to send
        protocol._direct = loop_reader
        return None
    if loop_reader is not None:
        sock = loop_reader.detach_socket()
    else:
        sock = _dup_socket(protocol)
        _pause_transport(protocol)
    protocol._cancel_read_timer()  # the reading thread applies sock_read itself
    body = SocketBody(response, protocol, sock, left, parser.head.content_length,
                      protocol._read_timeout)
    protocol._direct = body  # from here on, flow-control calls reach body (no-ops)
    body.buffered = reader.read_nowait()
    return body


class SocketBody:
    """Thread mode: the rest of one body, received by a caller thread from a dup socket.

    :attr:`buffered` holds what arrived before the take-over (deliver it first); then
    :meth:`recv` returns the following bytes, b"" at the end of the body. :meth:`close`
    (any thread, idempotent) gives the connection back: pooled if the body was read to the
    end, closed otherwise. The loop calls :meth:`stop` when the connection is torn down
    (a total timeout, a closed session): a blocked :meth:`recv` wakes up and raises.

    The dup is closed only by a thread that holds the lock while nobody is inside
    ``recv()`` (never under a blocked reader's feet); others wake the reader with
    ``shutdown()``, after which the connection is never pooled.
    """

    def __init__(
        self,
        response: ClientResponse,
        protocol: ResponseHandler,
        sock: socket.socket,
        left: int,
        content_length: int | None,
        read_timeout: float | None,
    ) -> None:
        self.buffered = b""
        self._response = response
        self._protocol = protocol
        self._loop = protocol._loop
        self._sock: socket.socket | None = sock
        self._left = left
        self._content_length = content_length
        self._read_timeout = read_timeout
        self._lock = threading.Lock()
        self._blocking = False
        self._reading = False  # a thread is inside recv()
        self._done = False  # the body was received to its end
        self._closed = False  # close() was called
        self._shut = False  # shutdown() was called: the connection is dead
        self._ended = False  # the loop was told (pool or close the connection)
        self._error: BaseException | None = None  # set by stop(): raise it in the reader

    # -- the loop side -------------------------------------------------------------------

    def pause_reading(self) -> None:
        """Flow control does not apply: the reading thread reads on demand."""

    def resume_reading(self) -> None:
        """Flow control does not apply: the reading thread reads on demand."""

    def stop(self) -> None:
        """On the loop: the connection is going (or the body completed). Wake the reader."""
        with self._lock:
            if self._sock is None:
                return
            reader = self._protocol.reader
            if reader is not None and self._error is None:
                self._error = reader.exception()  # e.g. the total timeout's ReadTimeout
            if self._reading:
                self._shutdown()  # the reading thread wakes up and ends the body
            else:
                self._release_socket()  # the next recv() or close() reports the end

    # -- the reading thread ------------------------------------------------------------------

    def recv(self, n: int, exact: bool = False) -> bytes:
        """Up to ``n`` (> 0) bytes of the body, exactly ``n`` with ``exact`` unless the body
        ends first; b"" at its end. Blocks; never reads past the Content-Length."""
        with self._lock:
            if self._done:
                return b""
            if self._closed or self._ended:
                raise self._error or _closed_error()
            sock = self._sock
            self._reading = sock is not None
        try:
            # sock is None: the loop tore the connection down while nobody was reading.
            data = self._at_eof(b"") if sock is None else self._receive(sock, n, exact)
        except BaseException:  # timeouts, resets, KeyboardInterrupt: the connection is lost
            self._end(ok=False)
            raise
        finally:
            self._reading = False
        if self._closed:  # closed by another thread meanwhile
            self._end(ok=False)
            raise _closed_error()
        return data

    def _receive(self, sock: socket.socket, n: int, exact: bool) -> bytes:
        left = self._left
        want = n if left == UNTIL_CLOSE else min(n, left)
        if not exact:
            want = min(want, THREAD_READ_SIZE)
        if not self._blocking:
            self._set_blocking(sock, True)
        parts: list[bytes] = []
        got = 0
        while got < want:
            try:
                data = sock.recv(min(want - got, _MAX_EXACT), socket.MSG_WAITALL if exact else 0)
            except BlockingIOError:  # SO_RCVTIMEO expired without a byte
                raise ReadTimeout(
                    f"No data from the server for {self._read_timeout} s (sock_read timeout)"
                ) from None
            except OSError:
                data = b""  # a reset ends the body as an EOF does (as in connection_lost)
            if self._error is not None:  # stop(): e.g. the total timeout fired
                raise self._error
            if not data:
                return self._at_eof(b"".join(parts))
            got += len(data)
            parts.append(data)
            if not exact:
                break
        if left != UNTIL_CLOSE:
            self._left = left - got
            if self._left == 0:
                self._end(ok=True)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _at_eof(self, tail: bytes) -> bytes:
        """The connection ended: the end of an until-close body, else an incomplete one."""
        if self._error is not None:
            raise self._error
        if self._left == UNTIL_CLOSE:
            self._end(ok=True)
            return tail
        missing = self._left - len(tail)
        raise ClientPayloadError(
            f"Response payload is not completed: {missing} of {self._content_length} "
            "bytes missing"
        )

    def close(self) -> None:
        """Any thread: done with the body (pool the connection if it was read to the end)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reading:  # another thread is inside recv(): wake it, it ends the body
                self._shutdown()
                return
        self._end(ok=self._done)

    # -- ending ----------------------------------------------------------------------------------

    def _set_blocking(self, sock: socket.socket, blocking: bool) -> None:
        sock.setblocking(blocking)
        if self._read_timeout:
            # sock_read as SO_RCVTIMEO (a zero timeval would mean "no timeout": at least 1 us)
            micros = max(round(self._read_timeout * 1_000_000), 1) if blocking else 0
            value = struct.pack("ll", *divmod(micros, 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self._blocking = blocking

    def _shutdown(self) -> None:
        """Wake a reader blocked in recv() (lock held); the connection is dead afterwards."""
        self._shut = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _release_socket(self) -> None:
        """Restore the shared flags and close the dup (lock held, nobody inside recv())."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if self._blocking:
                self._set_blocking(sock, False)
        except OSError:
            pass
        finally:
            sock.close()

    def _end(self, ok: bool) -> None:
        """Close the dup and tell the loop: pool the connection (ok) or close it."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            ok = ok and not self._shut
            self._done = ok
            self._release_socket()
        try:
            self._loop.call_soon_threadsafe(self._finish_on_loop, ok)
        except RuntimeError:  # the loop is closed (interpreter exit): nothing to give back
            pass

    def _finish_on_loop(self, ok: bool) -> None:
        protocol = self._protocol
        response = self._response
        parser = protocol._parser
        if ok and protocol._direct is self and not protocol.closed and parser is not None:
            parser.end_body()  # completes the response; completion ends direct mode first
            response.release()
        else:
            response.close()


def _closed_error() -> ClientPayloadError:
    return ClientPayloadError("The response was closed while its body was being read")
