"""The asyncio side of one WebSocket: the transport driven through websockets' sans-I/O
protocol.

:class:`WebSocketConnection` takes the transport over after the 101 answer
(``transport.set_protocol``). Every read goes to ``ClientProtocol.receive_data``,
whose frames become :class:`~.messages.WSMessage` (fragments joined, text decoded)
in the connection's sink; every write is what ``data_to_send`` returns. Framing,
masking, control frames, close frames and the limits are the library's; this module
adds what needs a loop:

- flow control both ways: a full sink pauses the socket until it has room; a full
  write buffer makes senders wait (:meth:`drain`);
- the heartbeat: a ping after ``heartbeat`` seconds without data; no data within half
  of that afterwards closes the connection (ERROR with a ReadTimeout, then CLOSED);
- the end: after a close frame (sent or received) or a failure, the server is given
  ``close_timeout`` seconds to close the TCP connection before it is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

from ...exceptions import ClientConnectionError, ReadTimeout, WebSocketError
from .bulk import BULK_READ, BulkReader
from .messages import WSMessage, WSMsgType
from .queue import MessageQueue, MessageSink

__all__ = ["WebSocketConnection"]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
_MSG_TEXT, _MSG_BINARY = WSMsgType.TEXT, WSMsgType.BINARY
_WRITE_HIGH_WATER = 1024 * 1024
_new_tuple = tuple.__new__  # WSMessage(...) without the namedtuple's Python __new__


class WebSocketConnection(asyncio.Protocol):
    """One WebSocket connection over a transport (see the module docs).

    ``on_closed`` is called once the transport is gone (the engine gives the HTTP
    connection back to its connector there).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: ClientProtocol, *,
                 autoping: bool = True, heartbeat: float | None = None,
                 close_timeout: float | None = 10.0,
                 on_closed: Callable[[], None] | None = None, decode_text: bool = True) -> None:
        self._loop = loop
        self._decode_text = decode_text  # False: TEXT data stays bytes (checked UTF-8)
        self._ws = protocol
        self.transport: asyncio.Transport | None = None
        self._put: Callable[[bytes], Any] = _not_started  # transport.write, or route_writes'
        self.sink: MessageSink = MessageQueue(loop)
        self._autoping = autoping
        self._heartbeat = heartbeat or None
        self._close_timeout = close_timeout
        self._on_closed = on_closed
        self._parts: list[Any] = []  # the frames of a fragmented message so far
        self._part_type = _MSG_TEXT
        #: The error that failed the connection (also delivered as an ERROR message).
        self.exception: BaseException | None = None
        self._close_code: int | None = None
        self._closed: asyncio.Future[None] = loop.create_future()
        self._dropping = False  # our close is under way: data messages are dropped
        self._read_paused = False  # the sink is full
        self._bulk: BulkReader | None = None  # large messages read from a dup (uvloop)
        self._draining = False
        self._space_task: asyncio.Task[None] | None = None
        #: The write buffer is full: senders await :meth:`drain`.
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._close_timer: asyncio.TimerHandle | None = None
        self._beat: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._pinged_at: float | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    @property
    def extensions(self) -> list[Any]:
        return self._ws.extensions

    @property
    def closing(self) -> bool:
        """A close frame was sent or received, or the connection is gone."""
        return self._ws.state is not OPEN

    @property
    def done(self) -> bool:
        """The TCP connection is closed."""
        return self._closed.done()

    @property
    def close_code(self) -> int | None:
        """The close code: the one this side failed with (1002, 1007, 1009, 1006...),
        else the server's close frame's; 1006 if it closed without one; None while open."""
        if self._close_code is not None:
            return self._close_code
        received = self._ws.close_rcvd
        if received is not None:
            return received.code
        return 1006 if self._closed.done() else None

    # -- taking the transport over ---------------------------------------------------------

    def start(self, transport: asyncio.Transport, data: bytes) -> None:
        """Take ``transport`` over (its reading paused), with ``data``, the bytes that
        came after the 101 head."""
        self.transport = transport
        self._put = transport.write
        if BulkReader.applies(self._loop, transport):
            self._bulk = BulkReader(transport)
        transport.set_protocol(self)
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        if self._heartbeat:
            self._last_read = self._loop.time()
            self._beat = self._loop.call_later(self._heartbeat, self._on_beat)
        if data:
            self.data_received(data)
        if not self._read_paused and not transport.is_closing():
            transport.resume_reading()

    def deliver_to(self, sink: MessageSink) -> None:
        """Deliver messages to ``sink`` from now on; those queued move there first."""
        old = self.sink
        self.sink = sink
        if isinstance(old, MessageQueue):
            while (message := old.take()) is not None:
                sink.put_nowait(message)
            if old.ended:
                sink.finish()
        elif self._closed.done():
            sink.finish()

    # -- reading -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        if self._heartbeat:
            self._last_read = self._loop.time()
        events = ws.events_received()
        if events:
            self._on_frames(events)
        if ws.state is not OPEN:  # a close frame, or a failure: the protocol closes
            if ws.parser_exc is not None and self.exception is None:
                self._failed(ws.parser_exc)
            self._flush()
            if ws.close_expected():
                self._expect_close()
        else:
            chunks = ws.data_to_send()  # the pongs it answered with
            if chunks:
                self._write(chunks)
            if len(data) >= BULK_READ and self._bulk is not None and not self._draining:
                self._drain(self._bulk)

    def _drain(self, bulk: BulkReader) -> None:
        """A large read: take what else the kernel holds from the dup (see bulk.py)."""
        transport = self.transport
        self._draining = True
        try:
            while (not self._read_paused and self._ws.state is OPEN and transport is not None
                   and not transport.is_closing()):
                try:
                    data = bulk.read()
                except OSError as exc:
                    self._read_failed(exc)
                    return
                if not data:
                    return  # nothing waiting, or the end (the transport sees it too)
                self.data_received(data)
                if len(data) < BULK_READ:
                    return
        finally:
            self._draining = False

    def eof_received(self) -> bool:
        self._ws.receive_eof()
        self._flush()
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self._ws.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        self._ws.data_to_send()
        for handle in (self._close_timer, self._beat):
            if handle is not None:
                handle.cancel()
        self._close_timer = self._beat = None
        if self._bulk is not None:
            self._bulk.close()
        if self._space_task is not None:
            self._space_task.cancel()
        if exc is not None and self.exception is None:
            self.exception = ClientConnectionError(f"WebSocket connection lost: {exc}")
            self.sink.put_nowait(WSMessage(WSMsgType.ERROR, self.exception, None))
        self._closed.set_result(None)
        self.sink.finish()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_exception(ClientConnectionError("WebSocket connection closed"))
        self._drain_waiters.clear()
        if self._on_closed is not None:
            callback, self._on_closed = self._on_closed, None
            callback()

    def _on_frames(self, frames: list[Any]) -> None:
        for frame in frames:
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                kind = _MSG_TEXT if opcode is _TEXT else _MSG_BINARY
                if not frame.fin:
                    self._part_type = kind
                    self._parts = [frame.data]
                    continue
                data = frame.data
            elif opcode is _CONT:
                self._parts.append(frame.data)
                if not frame.fin:
                    continue
                kind = self._part_type
                data = b"".join(self._parts)
                self._parts = []
            elif opcode is _CLOSE:
                received = self._ws.close_rcvd
                code, reason = (received.code, received.reason) if received else (1005, "")
                self._deliver(WSMessage(WSMsgType.CLOSE, code, reason))
                continue
            else:  # PING (the protocol has answered it already) or PONG
                if not self._autoping:
                    kind = WSMsgType.PING if opcode is _PING else WSMsgType.PONG
                    self._deliver(WSMessage(kind, bytes(frame.data), ""))
                continue
            if kind is _MSG_TEXT:
                try:
                    text = data.decode()
                    message = _new_tuple(WSMessage, (
                        _MSG_TEXT, text if self._decode_text else bytes(data), ""))
                except UnicodeDecodeError as exc:
                    self._fail(1007, f"Invalid UTF-8 in a text message: {exc.reason} at "
                                     f"position {exc.start}")
                    return
            else:
                message = _new_tuple(WSMessage, (_MSG_BINARY, bytes(data), ""))
            if not self._dropping and not self.sink.put_nowait(message):
                self._pause()

    def _deliver(self, message: WSMessage) -> None:
        """Hand ``message`` on (dropped once our close is under way)."""
        if not self._dropping and not self.sink.put_nowait(message):
            self._pause()

    def _pause(self) -> None:
        """The sink is full: stop reading until it has room."""
        if not self._read_paused and not self._dropping:
            self._read_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
            self._space_task = self._loop.create_task(self._wait_space(self.sink))

    async def _wait_space(self, sink: MessageSink) -> None:
        await sink.wait_space()
        self._resume()

    def _read_failed(self, exc: OSError) -> None:
        """A bulk read failed (a reset): what the transport reports for a lost connection."""
        if self.exception is None:
            self.exception = ClientConnectionError(f"WebSocket connection lost: {exc}")
            self.sink.put_nowait(WSMessage(WSMsgType.ERROR, self.exception, None))
        self.abort()

    def _resume(self) -> None:
        if self._read_paused:
            self._read_paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    # -- failures ------------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        """The protocol stopped on ``exc`` (it sent its close frame): report it."""
        if isinstance(exc, EOFError):
            return  # closed without a close frame: CLOSED, code 1006
        if isinstance(exc, PayloadTooBig):
            code, text = 1009, f"Message too big: {exc}"
        elif isinstance(exc, ProtocolError):
            code, text = 1002, f"WebSocket protocol error: {exc}"
        elif isinstance(exc, UnicodeDecodeError):
            code, text = 1007, f"Invalid UTF-8 in a close reason: {exc.reason}"
        else:
            code, text = 1011, f"WebSocket parser failed: {exc!r}"
        self._report(code, WebSocketError(code, text))

    def _fail(self, code: int, text: str) -> None:
        """Fail the connection from here (an invalid text message)."""
        self._ws.fail(code, text[:120])
        self._report(code, WebSocketError(code, text))

    def _report(self, code: int, error: BaseException) -> None:
        self._close_code = code
        self.exception = error
        self._parts = []
        self.sink.put_nowait(WSMessage(WSMsgType.ERROR, error, None))

    # -- writing -------------------------------------------------------------------------

    def send(self, opcode: Opcode, data: bytes) -> None:
        """Send one frame (a whole message, a ping or a pong); raises
        ClientConnectionError once the WebSocket is closing."""
        ws = self._ws
        transport = self.transport
        if ws.state is not OPEN or transport is None or transport.is_closing():
            raise ClientConnectionError(f"Cannot send on a {ws.state.name.lower()} WebSocket")
        if opcode is _TEXT or opcode is _BINARY:  # frame_bytes() and write_frame(), inlined
            self._put(Frame(opcode, data).serialize(mask=True, extensions=ws.extensions))
            return
        if opcode is _PING:
            ws.send_ping(data)
        else:
            ws.send_pong(data)
        self._flush()

    def frame_bytes(self, data: bytes, *, text: bool) -> bytes:
        """One whole TEXT (``data`` UTF-8) or BINARY message as the bytes of its frame,
        framed and masked by the library (what Protocol.send_text/send_binary would
        queue). Without a negotiated extension this changes no state, so it may run
        anywhere."""
        frame = Frame(_TEXT if text else _BINARY, data)
        return frame.serialize(mask=True, extensions=self._ws.extensions)

    def write_frame(self, frame: bytes) -> None:
        """Write the bytes of a data frame from :meth:`frame_bytes`; raises
        ClientConnectionError once the WebSocket is closing."""
        ws = self._ws
        transport = self.transport
        if ws.state is not OPEN or transport is None or transport.is_closing():
            raise ClientConnectionError(f"Cannot send on a {ws.state.name.lower()} WebSocket")
        self._put(frame)

    def route_writes(self, write: Callable[[bytes], Any]) -> None:
        """Pass every write of this connection (frames, pongs, the close frame) to
        ``write(data)``, which must hand it, in order, to ``transport.write``: the seam
        for a caller that also writes to the socket by other means."""
        self._put = write

    def _flush(self) -> None:
        chunks = self._ws.data_to_send()
        if chunks:
            self._write(chunks)

    def _write(self, chunks: list[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for chunk in chunks:
            if chunk:
                self._put(chunk)
            elif transport.can_write_eof():  # b"": the protocol half-closes
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()
                return

    async def drain(self) -> None:
        """Wait until the write buffer is below its high-water mark."""
        if not self.write_paused:
            return
        if self._closed.done():
            raise ClientConnectionError("WebSocket connection closed")
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        await fut

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()

    # -- closing -------------------------------------------------------------------------

    async def close(self, code: int, reason: str) -> bool:
        """Send a close frame (if none was sent or received yet) and wait until the TCP
        connection is closed, at most ``close_timeout`` seconds (then it is dropped).
        True if this call sent the close frame."""
        ws = self._ws
        started = False
        if ws.state is OPEN and self.transport is not None:
            ws.send_close(code, reason)
            started = True
            self._flush()
        self._dropping = True
        self._resume()  # the server's close frame must get through
        if not self._closed.done():
            self._expect_close()
            await asyncio.shield(self._closed)
        return started

    def abort(self) -> None:
        """Drop the connection now."""
        if self.transport is not None:
            self.transport.abort()

    def _expect_close(self) -> None:
        """The server is to close the TCP connection now: drop it if it does not."""
        if self._close_timer is None and self._close_timeout is not None:
            self._close_timer = self._loop.call_later(self._close_timeout, self.abort)

    # -- heartbeat -----------------------------------------------------------------------

    def _on_beat(self) -> None:
        self._beat = None
        heartbeat = self._heartbeat
        if self._ws.state is not OPEN or self.transport is None or heartbeat is None:
            return
        loop = self._loop
        now = loop.time()
        if self._read_paused:  # the reader is slow, not the server
            self._beat = loop.call_later(heartbeat, self._on_beat)
            return
        pinged = self._pinged_at
        if pinged is not None:
            if self._last_read <= pinged:
                self._no_answer(heartbeat)
                return
            self._pinged_at = None
        wait = self._last_read + heartbeat - now
        if wait > 0.001:
            self._beat = loop.call_later(wait, self._on_beat)
            return
        self._ws.send_ping(b"")
        self._flush()
        self._pinged_at = now
        self._beat = loop.call_later(heartbeat / 2, self._on_beat)

    def _no_answer(self, heartbeat: float) -> None:
        self._report(1006, ReadTimeout(f"No answer from the server within {heartbeat / 2} s "
                                       f"of a ping (heartbeat={heartbeat})"))
        self.abort()


def _not_started(data: bytes) -> None:
    raise ClientConnectionError("Cannot send: the WebSocket has no connection yet")
