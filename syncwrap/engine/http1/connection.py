"""The connection's asyncio protocol: writes requests, feeds the response parser.

One :class:`ResponseHandler` per TCP connection, one exchange at a time. Its
state (:class:`~.state.State`) changes in one method, :meth:`_advance`, through
the transitions of ``state.py``. Other modules use its public seam only:

- the request: :meth:`start_response` arms the parser (and returns the future of
  the response head), :meth:`send` / :meth:`drain` write (see ``body_writer.py``),
  :meth:`wait_continue` and :meth:`wait_head` wait;
- the body: :meth:`take_body` gives it to the response object (whole, or a
  :class:`StreamReader` whose buffer pauses the socket when full),
  :meth:`discard_body` drops it, :meth:`hand_off` gives it to a reader of the socket
  itself (``direct.py``), and :attr:`on_complete` is called when it is whole (or
  when the connection is lost first: the response gives the connection back at once);
- the end: :meth:`fail` (the exchange fails with an error), :meth:`abandon` (the
  request could not be sent whole: never reuse), :meth:`close` / :meth:`abort`;
- a switch of protocols: after a ``101`` head the connection stops reading, and
  :meth:`upgrade` hands its transport and the bytes after the head to the new
  protocol (a WebSocket);
- the pool: :attr:`reusable`, :attr:`reused`, :meth:`detach`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from ...exceptions import (
    ClientConnectionError,
    ClientConnectionResetError,
    ClientOSError,
    ClientPayloadError,
    ReadTimeout,
    ServerDisconnectedError,
)
from ..streams import StreamReader
from .body import IncomingBody
from .decoders import make_decoder
from .direct import (
    CHUNKED,
    MIN_BODY,
    POSIX,
    BodyTaker,
    LoopReader,
    RawBody,
    body_left,
    body_socket,
    read_cap,
)
from .parser import ResponseHead, ResponseParser
from .state import STEPS, Event, State, next_state
from .tls_transport import TLSTransport

__all__ = ["ResponseHandler", "READ_SIZE"]

_WRITE_HIGH_WATER = 1024 * 1024
# What one read hands over at most for a body buffered up to 256 KiB: a transport's
# read, or a loop-mode read (whose most grows with the buffer size, up to 1 MiB: see
# direct.py's read_cap()).
READ_SIZE = 256 * 1024

# Module constants: read per request, and faster than attribute lookups on the enums.
_NEW, _IDLE, _WAITING_HEAD, _RECEIVING = State.NEW, State.IDLE, State.WAITING_HEAD, State.RECEIVING
_HANDED_OFF, _COMPLETE, _MUST_CLOSE, _CLOSED = (State.HANDED_OFF, State.COMPLETE,
                                               State.MUST_CLOSE, State.CLOSED)
_IN_FLIGHT = frozenset({_WAITING_HEAD, _RECEIVING, _HANDED_OFF})
_START, _HEAD, _HAND_OFF, _TAKE_BACK = Event.START, Event.HEAD, Event.HAND_OFF, Event.TAKE_BACK
_BODY_END, _RELEASE, _NO_REUSE, _CLOSE = (Event.BODY_END, Event.RELEASE, Event.NO_REUSE,
                                          Event.CLOSE)
_SWITCHED, _SWITCH, _UPGRADE = State.SWITCHED, Event.SWITCH, Event.UPGRADE

T = TypeVar("T")


class ResponseHandler(asyncio.Protocol):
    """Protocol for one client connection (the seam: see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._state = _NEW  # changed by _advance() only
        self._keep_alive = True  # False from NO_REUSE on: the body ends in MUST_CLOSE
        self._parser: ResponseParser | None = None  # set while a response is expected
        self._spare_parser: ResponseParser | None = None
        self._head_waiter: asyncio.Future[ResponseHead] | None = None
        self._continue_waiter: asyncio.Future[bool] | None = None
        self._body = IncomingBody(loop)  # where the parser's body bytes go
        #: Called once when the current response is whole, or when the connection is
        #: lost before it is (set by the response object: it gives the connection back).
        self.on_complete: Callable[[], None] | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False
        self._auto_decompress = True
        self._raw_statuses: frozenset[int] = frozenset()
        self._read_timeout: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._loop_mode = POSIX  # direct reads by the loop (direct.py)
        self._loop_read_cap = READ_SIZE
        self._body_expected = True  # False for HEAD and CONNECT (no body whatever the head)
        self._body_views = False  # see body_views (TLS reads, tls_reads.py)

    # -- the state ------------------------------------------------------------

    def _advance(self, event: Event) -> None:
        """The one place the state changes (the transitions are in ``state.py``)."""
        if event is _NO_REUSE:
            self._keep_alive = False
        try:
            self._state = STEPS[self._state, event, self._keep_alive]
        except KeyError:  # not allowed: next_state() raises the StateError
            next_state(self._state, event, self._keep_alive)
            raise

    @property
    def state(self) -> State:
        """Where the connection is in its exchange (see ``state.py``)."""
        return self._state

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        """The connection is gone (or was never made)."""
        return self.transport is None

    @property
    def response_complete(self) -> bool:
        """The current response is whole."""
        state = self._state
        return state is _COMPLETE or state is _MUST_CLOSE

    @property
    def should_close(self) -> bool:
        """The connection is closed, or will be when its exchange ends: never reused."""
        state = self._state
        return not self._keep_alive or state is _MUST_CLOSE or state is _CLOSED

    @property
    def reusable(self) -> bool:
        """The exchange is over and the connection can carry another one."""
        transport = self.transport
        return self._state is _COMPLETE and transport is not None and not transport.is_closing()

    @property
    def reused(self) -> bool:
        """The connection carried an exchange before (read before :meth:`start_response`)."""
        return self._state is _IDLE

    @property
    def received_nothing(self) -> bool:
        """Not a byte of the current response arrived: on a reused connection, the server
        closed it before reading the request, which can then be sent again elsewhere."""
        parser = self._parser
        return parser is not None and not parser.received_any

    # -- connection events -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # nothing was asked: an idle pooled connection got bytes
            self.close()
            return
        if self._read_timeout is not None:
            self._last_read = self._loop.time()
        try:
            parser.feed(data)
        except Exception as exc:  # parse errors and decoding errors
            self.fail(exc)
            return
        if parser.extra_data:  # the response may already be back in the pool: close now
            self.close()

    def eof_received(self) -> bool:
        return False

    @property
    def body_views(self) -> bool:
        """The bytes fed from now on may be memoryviews of the reader's buffers (kept as
        they are): they belong to a body that is neither decoded nor before its head."""
        return self._body_views

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._spare_parser is not None:
            self._spare_parser.close()
            self._spare_parser = None
        self.transport = None
        self._advance(_CLOSE)  # first: a body that the close ends is whole (MUST_CLOSE)
        if self._direct is not None:  # direct body reads: close the dup, wake its reader
            self._end_direct(None)
        self._cancel_read_timer()
        parser = self._parser
        reader = self._body.reader
        if (parser is not None and not self.response_complete
                and (reader is None or reader.exception() is None)):
            # (a body that failed keeps its error: a timeout's, not the loss it caused)
            try:
                parser.feed_eof()
            except Exception as err:
                if exc is not None and not isinstance(err, ClientPayloadError):
                    err = ClientOSError(getattr(exc, "errno", None), f"Connection lost: {exc}")
                self.fail(err)
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_exception(
                    ClientConnectionResetError(f"Connection lost: {exc or 'closed'}"))
        self._drain_waiters.clear()
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        callback = self.on_complete
        if callback is not None:
            # A response still holds the connection, its body never to be whole: it gives
            # the connection (closed, never pooled) back to its pool now, not at its close.
            self.on_complete = None
            callback()

    # -- flow control --------------------------------------------------------

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self.transport is None:
            raise ClientConnectionError("Connection closed while sending the request body")
        if not self._write_paused:
            return
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        await fut

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            (self._direct or self.transport).pause_reading()  # direct body reads: the taker

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            if self._read_timeout is not None:
                self._last_read = self._loop.time()
            (self._direct or self.transport).resume_reading()  # direct body reads: the taker

    # -- one request/response cycle ------------------------------------------

    def start_response(self, method: str, options: Any) -> asyncio.Future[ResponseHead]:
        """Start an exchange: arm the parser for the response to the request about to be
        sent (on a new or idle connection).

        ``options`` carries ``auto_decompress``, ``raw_statuses`` (statuses whose body is
        never decoded when a Location comes with them: redirects about to be followed),
        ``high_water``, ``read_timeout``, ``limits`` and ``expect100``. Returns the future
        of the final response head.
        """
        self._advance(_START)
        self._body_views = False
        parser = self._spare_parser
        if parser is None:  # one per connection, reused response after response
            body = self._body
            parser = self._spare_parser = ResponseParser(
                self._on_head,
                body.feed_data,
                self._on_complete,
                on_chunk_end=body.end_chunk,
                on_informational=self._on_informational,
            )
        parser.start(method, options.limits)
        self._parser = parser
        self._head_waiter = waiter = self._loop.create_future()
        self._continue_waiter = self._loop.create_future() if options.expect100 else None
        self._body.start(self, options.high_water)
        self._loop_read_cap = read_cap(options.high_water)
        self._body_expected = method != "HEAD" and method != "CONNECT"
        self._auto_decompress = options.auto_decompress
        self._raw_statuses = options.raw_statuses
        self._read_timeout = read_timeout = options.read_timeout
        if read_timeout:
            self._last_read = self._loop.time()
            self._arm_read_timer(read_timeout)
        return waiter

    def send(self, data: bytes) -> None:
        """Write request bytes (the head, a small body with it)."""
        if self.transport is None or self.transport.is_closing():
            raise ServerDisconnectedError("Connection closed before the request was sent")
        self.transport.write(data)

    async def wait_head(self) -> ResponseHead:
        """Wait for the final response head (after any 1xx)."""
        waiter = self._head_waiter
        assert waiter is not None
        if not waiter.done():
            await waiter
        return waiter.result()

    async def wait_continue(self) -> bool:
        """For ``Expect: 100-continue``: True once 100 arrived, False on a final status."""
        waiter = self._continue_waiter
        if waiter is None:
            return True
        if not waiter.done():
            done, _ = await asyncio.wait(
                (waiter, self._head_waiter), return_when=asyncio.FIRST_COMPLETED
            )
        return waiter.done() and waiter.result()

    def _on_informational(self, head: ResponseHead) -> None:
        if head.status == 100 and self._continue_waiter is not None:
            if not self._continue_waiter.done():
                self._continue_waiter.set_result(True)

    def _on_head(self, head: ResponseHead) -> None:
        self._advance(_HEAD)
        if head.upgrade:
            self._on_switch(head)
            return
        encoding = head.first(b"content-encoding") if self._auto_decompress else None
        decoder = make_decoder(encoding) if encoding and not self._raw_body(head) else None
        self._body_views = decoder is None
        self._body.on_head(decoder, head.chunked)
        if not head.keep_alive:
            self._advance(_NO_REUSE)
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        if self._loop_mode and self._body_expected and decoder is None and not head.chunked and (
                head.content_length is None or head.content_length >= MIN_BODY):
            # now, before the transport reads again: uvloop's would read up to the
            # StreamReader's high water first (the rest of this read is fed as usual)
            self._start_loop_mode()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(head)

    def _on_switch(self, head: ResponseHead) -> None:
        """A 101 head: HTTP ends here. Reading stops until :meth:`upgrade` hands the
        transport over (the parser keeps what came after the head)."""
        self._advance(_SWITCH)
        self._cancel_read_timer()
        self.pause_reading()
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(head)

    def upgrade(self) -> tuple[asyncio.Transport, bytes]:
        """After a ``101 Switching Protocols`` head: the transport, for the protocol
        switched to, and the bytes that came after the head (already its own).

        The caller sets its protocol on the transport (``transport.set_protocol``),
        feeds it the bytes and resumes reading (reading is paused from the head on).
        The connection carries no HTTP any more: :meth:`close` still closes the
        transport. Raises :class:`ServerDisconnectedError` if the connection went
        meanwhile, StateError if no 101 head is pending.
        """
        parser = self._parser
        transport = self.transport
        if self._state is not _SWITCHED or parser is None:
            self._advance(_UPGRADE)  # raises StateError, naming the state
        if transport is None or transport.is_closing():
            raise ServerDisconnectedError("The connection closed right after the 101 response")
        data = parser.upgraded_data  # type: ignore[union-attr]
        self._advance(_UPGRADE)
        self._parser = None
        self._body.clear()
        self.on_complete = None
        if self._spare_parser is not None:  # llhttp holds our callbacks: break the cycle
            self._spare_parser.close()
            self._spare_parser = None
        return transport, data

    def _raw_body(self, head: ResponseHead) -> bool:
        """A redirect that will be followed: its body is dropped, never decoded."""
        return head.status in self._raw_statuses and (
            head.count(b"location") > 0 or head.count(b"uri") > 0)

    def _on_complete(self) -> None:
        if self._direct is not None:  # direct body reads: end them before completing
            self._end_direct(None)
        if self._parser is not None and self._parser.extra_data:
            self._advance(_NO_REUSE)
        self._advance(_BODY_END)
        self._cancel_read_timer()
        self._body.feed_eof()
        callback = self.on_complete
        if callback is not None:
            self.on_complete = None
            callback()

    def take_body(self) -> tuple[StreamReader | None, bytes | None]:
        """The body for the response object: ``(None, body)`` if it is already whole and
        was never handed out, else ``(reader, None)`` (``reader`` None: no body expected)."""
        return self._body.take()

    def discard_body(self, limit: int) -> asyncio.Future[bool]:
        """Drop the rest of the current body as it arrives, raw (never decoded).

        The future is True once the body ended within ``limit`` more bytes: the connection
        can be reused. It is False, and the connection closed, when more came, when a
        Content-Length says more will come, when only the server's close can end the
        body, or when the connection fails.
        """
        fut: asyncio.Future[bool] = self._loop.create_future()
        parser = self._parser
        if self.response_complete:
            fut.set_result(True)
            return fut
        remaining = parser.remaining if parser is not None else None
        head = parser.head if parser is not None else None
        if (self._state is _CLOSED or self.transport is None or head is None
                or (remaining is None and not head.chunked)
                or (remaining is not None and remaining > limit)):
            self.close()
            fut.set_result(False)
            return fut
        self._body.discard(fut, limit)
        self.resume_reading()
        return fut

    # -- ending an exchange ------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """The exchange fails with ``exc``: the head's waiter or the body's reader raises
        it, and the connection is closed."""
        self._cancel_read_timer()
        if self._direct is not None:  # a direct reader (e.g. blocked in recv) gets exc
            self._end_direct(exc)
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
            waiter.exception()  # mark retrieved: the caller may already be gone
        else:
            self._body.set_exception(exc)
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        self.close()

    def abandon(self) -> None:
        """The request will not be sent whole (the server answered first, or refused
        100-continue): its response can still be read, but the connection is then
        closed, never reused."""
        self._advance(_NO_REUSE)

    def close(self) -> None:
        """Close the connection now; an exchange in flight is abandoned.

        An abandoned exchange is aborted: a TLS transport's clean shutdown would wait
        for the peer's close_notify, which a peer still sending the body (into a socket
        paused by flow control) never sends, for up to the shutdown timeout (30 s)."""
        abandoned = self._state in _IN_FLIGHT
        self._advance(_CLOSE)
        self._cancel_read_timer()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if abandoned:
                transport.abort()
            else:
                transport.close()

    def abort(self) -> None:
        """Close without flushing buffers (RST-like); used on cancellation."""
        self._advance(_CLOSE)
        transport = self.transport
        if transport is not None:
            transport.abort()

    def detach(self) -> None:
        """Forget the finished exchange: the (reusable) connection goes to the pool."""
        self._advance(_RELEASE)
        self._parser = None
        self._body.clear()
        self.on_complete = None
        self._cancel_read_timer()
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- sock_read timeout -----------------------------------------------------

    def hold_read_timeout(self) -> None:
        """The request body is still being sent: sock_read does not count until
        :meth:`start_read_timeout`."""
        self._cancel_read_timer()

    def start_read_timeout(self) -> None:
        """The request was sent whole: sock_read counts from now (if in flight)."""
        timeout = self._read_timeout
        if timeout and self._state in _IN_FLIGHT and self._read_timer is None:
            self._last_read = self._loop.time()
            self._arm_read_timer(timeout)

    def _arm_read_timer(self, delay: float) -> None:
        self._read_timer = self._loop.call_later(delay, self._check_read_timeout)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _check_read_timeout(self) -> None:
        self._read_timer = None
        timeout = self._read_timeout
        if timeout is None or self._state not in _IN_FLIGHT:
            return
        if self._reading_paused:  # the reader is slow, not the server
            self._arm_read_timer(timeout)
            return
        idle = self._loop.time() - self._last_read
        if idle >= timeout:
            self.fail(ReadTimeout(f"No data from the server for {timeout} s (sock_read timeout)"))
        else:
            self._arm_read_timer(timeout - idle)

    # -- direct body reads (direct.py) -------------------------------------------------

    #: The taker reading the body from a dup of the socket (loop mode or a thread); it
    #: receives the flow-control calls meanwhile. None while the transport reads.
    _direct: Any = None

    def hand_off(self, make_taker: Callable[[RawBody], T], min_size: int = MIN_BODY,
                 chunked: bool = False) -> T | None:
        """Hand the rest of the current body to a taker that receives it from the socket
        itself (``direct.py``; the taker is a :class:`~.direct.BodyTaker`).

        Returns None, changing nothing, unless the body qualifies, its reader has no
        error, at least ``min_size`` bytes of it are still to come (or it is read until
        close, or it is chunked and ``chunked`` says the taker frames it through
        ``RawBody.framing``) and nothing waits to be sent. Otherwise the transport stops reading and
        ``make_taker`` gets a :class:`RawBody` (the reader's buffered bytes move into it);
        the taker gets the flow-control calls and ``stop()`` until it calls
        ``RawBody.complete`` or the connection goes.
        """
        loop_reader = self._direct
        if self._state is not _RECEIVING and not (
                self._state is _HANDED_OFF and isinstance(loop_reader, LoopReader)):
            return None
        reader = self._body.reader
        transport = self.transport
        left = self._direct_left(min_size, chunked, tls=True) if reader is not None else None
        if left is None or transport is None or transport.get_write_buffer_size():
            return None  # (a blocking fd must have nothing to send)
        give_back = None
        if loop_reader is not None:
            sock = loop_reader.detach_socket()  # loop mode's dup, taken over
        elif isinstance(transport, TLSTransport):  # its SSLSocket, lent (tls_transport.py)
            sock, give_back = transport.lend(), transport.take_back
        else:
            sock = body_socket(transport)
        # Draining the reader can resume reading (its flow control), so pause after it.
        buffered = reader.read_nowait()  # type: ignore[union-attr]
        if loop_reader is None:
            self._pause_transport()
        self._cancel_read_timer()  # the taker applies sock_read itself
        parser = self._parser
        framing = parser.hand_over_chunked() if left == CHUNKED else None  # type: ignore
        head = parser.head  # type: ignore[union-attr]
        raw = RawBody(sock, left, buffered, head.content_length,  # type: ignore[union-attr]
                      self._read_timeout, self._loop, self.end_hand_off, framing, give_back)
        try:
            taker = make_taker(raw)
        except BaseException as exc:
            if give_back is not None:
                give_back()
            else:
                sock.close()
            self.fail(exc)
            raise
        self._direct = taker
        self._advance(_HAND_OFF)
        return taker

    def end_hand_off(self, taker: BodyTaker) -> bool:
        """From a taker that read the body to its end, on the loop: the response
        completes (True), unless the connection went or was closed meanwhile (False)."""
        if self._direct is not taker or self._state is not _HANDED_OFF:
            return False
        self._parser.end_body()  # type: ignore[union-attr]  # _on_complete ends the hand-off
        return self._state is not _HANDED_OFF  # (a chunked body whose end was not framed)

    def take_back(self, taker: BodyTaker) -> None:
        """From a taker that fed all it read to :meth:`data_received` (loop mode) and
        stopped early (EOF, a reset): the transport reads again and reports the end."""
        if self._direct is taker:
            self._end_direct(None)
            self._advance(_TAKE_BACK)

    def _start_loop_mode(self) -> None:
        """Loop mode (``direct.py``) for the body whose head was just parsed."""
        transport = self.transport
        if (self._state is not _RECEIVING or transport is None
                or self._direct_left(MIN_BODY) is None):
            return
        try:
            sock = body_socket(transport)
        except OSError:  # e.g. out of file descriptors: the transport reads the body
            return
        reader = LoopReader(self, sock, self._loop_read_cap)
        self._pause_transport()
        self._direct = reader
        self._advance(_HAND_OFF)
        if not self._reading_paused:
            reader.resume_reading()

    def _direct_left(self, min_size: int, chunked: bool = False,
                     tls: bool = False) -> int | None:
        """Bytes of the plain body still to come (``UNTIL_CLOSE``: unknown; ``CHUNKED``
        if ``chunked`` allows) if at least ``min_size``, when a taker may read them from
        the socket (over TLS too if ``tls``: thread mode); else None."""
        received = self._body.plain_received()
        if received is None:
            return None
        left = body_left(self.transport, self._parser.head, received, tls)  # type: ignore
        if left is None or 0 <= left < min_size or (left == CHUNKED and not chunked):
            return None
        return left

    def _pause_transport(self) -> None:
        """Stop the transport's reads for the take-over (unless flow control already did)."""
        if not self._reading_paused and self.transport is not None:
            self.transport.pause_reading()

    def _end_direct(self, error: BaseException | None) -> None:
        """End direct body reads: the taker stops (its dup closed, a blocked reader woken
        with ``error``) and the transport reads again, unless flow control paused it."""
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.stop(error)
            transport = self.transport
            if transport is not None and not self._reading_paused and not transport.is_closing():
                transport.resume_reading()
