"""The connection's asyncio protocol: writes requests, feeds the response parser.

One :class:`ResponseHandler` per TCP connection. It runs one request at a time:
:meth:`send_head` / :meth:`write_body` go out, :meth:`start_response` arms the
parser, and the response head arrives through :meth:`wait_head`. The body is
fed into a :class:`StreamReader` whose buffer pauses the socket when full.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from ...exceptions import (
    ClientConnectionError,
    ClientOSError,
    ClientPayloadError,
    ReadTimeout,
    RequestBodyLengthError,
    ServerDisconnectedError,
)
from .. import direct_read
from ..streams import DEFAULT_HIGH_WATER, StreamReader
from .decoders import DecodingSink, make_decoder
from .parser import ResponseHead, ResponseParser
from .writer import LAST_CHUNK, Compressor, frame_chunk

__all__ = ["ResponseHandler", "BodyWriter"]

_WRITE_HIGH_WATER = 1024 * 1024
# What one read hands over at most: asyncio's selector transports read 256 KiB at a
# time. (Bigger reads were measured slower: a fresh 1 MiB bytes object per read costs
# page faults that outweigh the saved loop iterations.)
READ_SIZE = 256 * 1024


class ResponseHandler(asyncio.Protocol):
    """Protocol for one client connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._close_exc: BaseException | None = None
        self._parser: ResponseParser | None = None  # set while a response is expected
        self._spare_parser: ResponseParser | None = None
        self._head_waiter: asyncio.Future[ResponseHead] | None = None
        self._continue_waiter: asyncio.Future[bool] | None = None
        self._sink: Any = None
        self.reader: StreamReader | None = None
        # Body parts received before anyone took the body: a small response is usually
        # whole before its ClientResponse exists, and then needs no StreamReader at all.
        self._early: list[bytes] | None = None
        self._early_size = 0
        self.response_complete = False
        self.should_close = False
        self.on_complete: Callable[[], None] | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False
        self._auto_decompress = True
        self._raw_statuses: frozenset[int] = frozenset()
        self._high_water = DEFAULT_HIGH_WATER
        self._read_timeout: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0

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
        if parser is None:
            # Nothing was asked: an idle pooled connection got bytes. Never reuse it.
            self.should_close = True
            self.close()
            return
        if self._read_timeout is not None:
            self._last_read = self._loop.time()
        try:
            parser.feed(data)
        except Exception as exc:  # parse errors and decoding errors
            self._fail(exc)
            return
        if parser.extra_data:  # the response may already be back in the pool: close now
            self.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if self._spare_parser is not None:
            self._spare_parser.close()
            self._spare_parser = None
        self.transport = None
        if self._direct is not None:  # direct body reads: close the dup, wake its reader
            self._direct_end()
        self._cancel_read_timer()
        parser = self._parser
        if parser is not None and not self.response_complete:
            try:
                parser.feed_eof()
            except Exception as err:
                if exc is not None and not isinstance(err, ClientPayloadError):
                    err = ClientOSError(getattr(exc, "errno", None), f"Connection lost: {exc}")
                self._fail(err)
        elif exc is not None:
            self._close_exc = exc
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_exception(ClientConnectionError(f"Connection lost: {exc or 'closed'}"))
        self._drain_waiters.clear()
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)

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
        if self.closed:
            raise ClientConnectionError("Connection closed while sending the request body")
        if not self._write_paused:
            return
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        await fut

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            (self._direct or self.transport).pause_reading()  # direct body reads: the dup

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            if self._read_timeout is not None:
                self._last_read = self._loop.time()
            (self._direct or self.transport).resume_reading()  # direct body reads: the dup

    # -- one request/response cycle ------------------------------------------

    def start_response(self, method: str, options: Any) -> asyncio.Future[ResponseHead]:
        """Arm the parser for the response to the request about to be sent.

        ``options`` carries ``auto_decompress``, ``raw_statuses`` (statuses whose body is
        never decoded when a Location comes with them: redirects about to be followed),
        ``high_water``, ``read_timeout``, ``limits`` and ``expect100``. Returns the future
        of the final response head.
        """
        parser = self._spare_parser
        if parser is None:  # one per connection, reused response after response
            parser = self._spare_parser = ResponseParser(
                self._on_head,
                self._on_body,
                self._on_complete,
                on_chunk_end=self._on_chunk_end,
                on_informational=self._on_informational,
            )
        parser.start(method, options.limits)
        self._parser = parser
        self._head_waiter = waiter = self._loop.create_future()
        self._continue_waiter = self._loop.create_future() if options.expect100 else None
        self.reader = None
        self._sink = None
        self._early = None
        self.response_complete = False
        self._auto_decompress = options.auto_decompress
        self._raw_statuses = options.raw_statuses
        self._high_water = options.high_water
        self._read_timeout = read_timeout = options.read_timeout
        if read_timeout:
            self._last_read = self._loop.time()
            self._arm_read_timer(read_timeout)
        return waiter

    def send(self, data: bytes) -> None:
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
        encoding = head.first(b"content-encoding") if self._auto_decompress else None
        decoder = make_decoder(encoding) if encoding and not self._raw_body(head) else None
        if decoder is not None:
            sink = self._sink = DecodingSink(decoder, self, self._high_water, self._loop)
            self.reader = sink.reader
        elif head.chunked:  # chunk boundaries matter to readchunk(): a reader from the start
            self._start_reader()
        else:
            self._early = []
            self._early_size = 0
        if not head.keep_alive:
            self.should_close = True
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        direct_read.on_head(self, head)  # direct body reads: large plain bodies on uvloop
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(head)

    def _raw_body(self, head: ResponseHead) -> bool:
        """A redirect that will be followed: its body is dropped, never decoded."""
        return head.status in self._raw_statuses and (
            head.count(b"location") > 0 or head.count(b"uri") > 0)

    def _on_body(self, data: bytes) -> None:
        sink = self._sink
        if sink is not None:
            sink.feed_data(data)
            return
        self._early.append(data)  # type: ignore[union-attr]
        self._early_size += len(data)
        if self._early_size > self._high_water:
            self._start_reader()  # its flow control pauses the socket

    def _on_chunk_end(self) -> None:
        self._sink.end_http_chunk_receiving()

    def _on_complete(self) -> None:
        if self._direct is not None:  # direct body reads: end them before completing
            self._direct_end()
        self.response_complete = True
        self._cancel_read_timer()
        if self._parser is not None and self._parser.extra_data:
            self.should_close = True
        if self._sink is not None:
            self._sink.feed_eof()
        callback = self.on_complete
        if callback is not None:
            self.on_complete = None
            callback()

    def _start_reader(self) -> StreamReader:
        """Put the body behind a StreamReader from now on (with what arrived so far)."""
        reader = self.reader = StreamReader(self, high_water=self._high_water, loop=self._loop)
        self._sink = reader
        early, self._early = self._early, None
        if early:
            for part in early:
                reader.feed_data(part)
        if self.response_complete:
            reader.feed_eof()
        return reader

    def take_body(self) -> tuple[StreamReader | None, bytes | None]:
        """The body for the response object: ``(None, body)`` if it is already whole and
        was never handed out, else ``(reader, None)`` (``reader`` None: no body expected)."""
        if self._early is not None:
            if self.response_complete:
                early, self._early = self._early, None
                return None, early[0] if len(early) == 1 else b"".join(early)
            return self._start_reader(), None
        return self.reader, None

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
        if (self.closed or head is None or (remaining is None and not head.chunked)
                or (remaining is not None and remaining > limit)):
            self.close()
            fut.set_result(False)
            return fut
        self._early = None
        self._sink = _Discard(fut, limit, self)
        self.resume_reading()
        return fut

    def _fail(self, exc: BaseException) -> None:
        self.should_close = True
        self._cancel_read_timer()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
            waiter.exception()  # mark retrieved: the caller may already be gone
        elif self._sink is not None:
            self._sink.set_exception(exc)
        elif self._early is not None:
            self._start_reader().set_exception(exc)
        if self._continue_waiter is not None and not self._continue_waiter.done():
            self._continue_waiter.set_result(False)
        self.close()

    # -- sock_read timeout -----------------------------------------------------

    def _arm_read_timer(self, delay: float) -> None:
        self._read_timer = self._loop.call_later(delay, self._check_read_timeout)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _check_read_timeout(self) -> None:
        self._read_timer = None
        timeout = self._read_timeout
        if timeout is None or self.response_complete or self.closed:
            return
        if self._reading_paused:  # the reader is slow, not the server
            self._arm_read_timer(timeout)
            return
        idle = self._loop.time() - self._last_read
        if idle >= timeout:
            self._fail(ReadTimeout(f"No data from the server for {timeout} s (sock_read timeout)"))
        else:
            self._arm_read_timer(timeout - idle)

    # -- teardown ------------------------------------------------------------

    def detach(self) -> None:
        """Forget the finished response so the connection can go back to the pool."""
        self._parser = None
        self.reader = None
        self._sink = None
        self._early = None
        self.on_complete = None
        self._cancel_read_timer()
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def is_reusable(self) -> bool:
        return (
            not self.should_close
            and not self.closed
            and self.response_complete
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        """Close the connection abruptly (its response, if any, is abandoned)."""
        self.should_close = True
        self._cancel_read_timer()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        """Close without flushing buffers (RST-like); used on cancellation."""
        self.should_close = True
        transport = self.transport
        if transport is not None:
            transport.abort()

    # -- direct body reads (see direct_read.py) ----------------------------------------------

    #: The reader taking the body straight from a dup of the socket (loop or thread mode);
    #: it receives the flow-control calls meanwhile. None when the transport reads.
    _direct: Any = None

    def _direct_end(self) -> None:
        """End direct body reads: the dup is closed (or its reading thread woken) and the
        transport reads again, unless flow control paused it, seeing what comes next."""
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.stop()
            transport = self.transport
            if transport is not None and not self._reading_paused and not transport.is_closing():
                transport.resume_reading()


class _Discard:
    """The sink of a body being dropped: counts it and ends a future (see discard_body)."""

    __slots__ = ("_fut", "_left", "_protocol")

    def __init__(self, fut: asyncio.Future[bool], limit: int, protocol: ResponseHandler) -> None:
        self._fut = fut
        self._left = limit
        self._protocol = protocol

    def feed_data(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0 and not self._fut.done():
            self._fut.set_result(False)
            self._protocol.close()

    def feed_eof(self) -> None:
        if not self._fut.done():
            self._fut.set_result(True)

    def end_http_chunk_receiving(self) -> None:
        pass

    def set_exception(self, exc: BaseException) -> None:
        if not self._fut.done():
            self._fut.set_result(False)


class BodyWriter:
    """Writes a request body: compression, chunk framing, socket backpressure, and the
    declared ``length`` (the Content-Length; None when chunked), which it never exceeds.

    With a length, the write that completes it is held back until :meth:`finish`: a
    body that runs past its length fails (:class:`RequestBodyLengthError`) before the
    server has received all of it, so it can never take an incomplete upload for a
    whole one. :meth:`finish` raises the same error for a body that ended short.
    """

    __slots__ = ("_protocol", "_chunked", "_compressor", "bytes_written", "_length", "_left",
                 "_held")

    def __init__(
        self, protocol: ResponseHandler, *, chunked: bool, compressor: Compressor | None = None,
        length: int | None = None,
    ) -> None:
        self._protocol = protocol
        self._chunked = chunked
        self._compressor = compressor
        self.bytes_written = 0
        self._length = length
        self._left = length
        self._held: bytes | bytearray | memoryview | None = None

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if not chunk:
            return
        if self._compressor is not None:
            chunk = self._compressor.compress(chunk)
            if not chunk:
                return
        if self._left is not None:
            left = self._left - len(chunk)
            if left < 0:
                raise RequestBodyLengthError(
                    f"data=: the body runs past its Content-Length of {self._length} bytes "
                    f"(it produced at least {self._length - self._left + len(chunk)}); the "
                    "request was abandoned, the excess was not sent"
                )
            self._left = left
            if not left:  # held: a byte more would be an error, which the server must see
                self._held = chunk if type(chunk) is bytes else bytes(chunk)
                return
        self._send(chunk)
        await self._protocol.drain()

    def _send(self, chunk: bytes | bytearray | memoryview) -> None:
        transport = self._protocol.transport
        if transport is None or transport.is_closing():
            raise ClientConnectionError("Connection closed while sending the request body")
        self.bytes_written += len(chunk)
        if self._chunked:
            transport.writelines(frame_chunk(chunk))
        else:
            transport.write(chunk)

    async def sendfile(self, file: Any, offset: int, count: int) -> bool:
        """Send ``count`` bytes of an OS file with the kernel's sendfile, if this
        connection allows it (plain TCP on asyncio's loop, no framing or compression).
        False means the caller should send the bytes itself; nothing was sent."""
        protocol = self._protocol
        transport = protocol.transport
        if (self._chunked or self._compressor is not None or transport is None
                or (self._left is not None and count > self._left)
                or transport.get_extra_info("sslcontext") is not None
                or not isinstance(protocol._loop, asyncio.selector_events.BaseSelectorEventLoop)):
            return False
        try:
            sent = await protocol._loop.sendfile(transport, file, offset, count, fallback=False)
        except (asyncio.SendfileNotAvailableError, NotImplementedError):
            return False
        self.bytes_written += sent
        if self._left is not None:
            self._left -= sent
        return True

    async def finish(self) -> None:
        """Flush the compressor and send the last chunk, or the held-back end of a body
        with a length (raising :class:`RequestBodyLengthError` if it ended short)."""
        if self._compressor is not None:
            tail = self._compressor.flush()
            if tail:
                self._send(tail)
        if self._left:
            raise RequestBodyLengthError(
                f"data=: the body ended after {self._length - self._left} bytes, short of its "
                f"Content-Length of {self._length}; the request was abandoned"
            )
        held, self._held = self._held, None
        if held is not None:
            self._send(held)
        if self._chunked:
            self._protocol.send(LAST_CHUNK)
        await self._protocol.drain()
