"""ClientWebSocketResponse: an open WebSocket, as ``ClientSession.ws_connect`` returns it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from websockets.frames import Opcode

from .connection import WebSocketConnection
from .messages import CLOSED_MESSAGE, WSMessage, WSMsgType
from .queue import MessageQueue, MessageSink

__all__ = ["ClientWebSocketResponse", "close_reason", "control_payload"]

_TEXT, _BINARY, _PING, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
_FRAMES = {WSMsgType.TEXT: _TEXT, WSMsgType.BINARY: _BINARY, WSMsgType.PING: _PING,
           WSMsgType.PONG: _PONG}


class ClientWebSocketResponse:
    """An open WebSocket (aiohttp's API).

    ``await ws.send_str("hi")``, ``send_bytes``, ``send_json``; ``msg = await
    ws.receive()`` (a :class:`WSMessage`), or ``async for msg in ws`` until the
    server closes; ``await ws.close()``. ``closed`` is True once a close frame was
    sent or received; ``close_code`` then says how it ended; ``protocol`` is the
    subprotocol the server chose. A failure arrives as an ERROR message whose data is
    the exception (also :meth:`exception`), followed by CLOSED.
    """

    def __init__(self, connection: WebSocketConnection, response: Any, *,
                 receive_timeout: float | None = None, autoclose: bool = True,
                 autoping: bool = True, heartbeat: float | None = None,
                 compress: int = 0) -> None:
        self._conn = connection
        self._queue: MessageQueue = connection.sink  # type: ignore[assignment]
        #: The handshake's answer (the 101 ClientResponse: status, headers, cookies).
        self.response = response
        self._receive_timeout = receive_timeout
        self._autoclose = autoclose
        self._autoping = autoping
        self._heartbeat = heartbeat
        self._compress = compress

    # -- state ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the connection is gone."""
        return self._conn.closing

    @property
    def close_code(self) -> int | None:
        """How it closed: the server's close code, or the code this side failed with
        (1002 protocol error, 1007 invalid UTF-8, 1009 too big, 1006 no close frame or
        no answer to the heartbeat); None while open."""
        return self._conn.close_code

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server chose among ``protocols=``, or None."""
        return self._conn.subprotocol

    @property
    def compress(self) -> int:
        """The ``compress=`` asked for when permessage-deflate was agreed, else 0."""
        return self._compress if self._conn.extensions else 0

    @property
    def client_notakeover(self) -> bool:
        """Whether permessage-deflate was agreed with client_no_context_takeover."""
        return any(getattr(ext, "local_no_context_takeover", False)
                   for ext in self._conn.extensions)

    @property
    def autoping(self) -> bool:
        return self._autoping

    @property
    def heartbeat(self) -> float | None:
        return self._heartbeat

    @property
    def receive_timeout(self) -> float | None:
        """The default limit of each :meth:`receive` (None: none)."""
        return self._receive_timeout

    @property
    def done(self) -> bool:
        """The connection is closed (the closing handshake is over, or it was dropped)."""
        return self._conn.done

    @property
    def connection(self) -> WebSocketConnection:
        """The protocol object driving the socket (seams for the blocking facade)."""
        return self._conn

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra info (``"peername"``, ``"sslcontext"``, ``"socket"``...)."""
        transport = self._conn.transport
        return default if transport is None else transport.get_extra_info(name, default)

    def exception(self) -> BaseException | None:
        """The error that failed the connection, if any."""
        return self._conn.exception

    # -- sending --------------------------------------------------------------------------

    async def send_str(self, data: str, compress: int | None = None) -> None:
        """Send a text message (``compress``: see :func:`_per_message`)."""
        _per_message(compress)
        if not isinstance(data, str):
            raise TypeError(f"send_str(data): expected str, got {type(data).__name__}")
        conn = self._conn
        conn.send(_TEXT, data.encode())
        if conn.write_paused:
            await conn.drain()

    async def send_bytes(self, data: bytes | bytearray | memoryview,
                         compress: int | None = None) -> None:
        """Send a binary message (``compress``: see :func:`_per_message`)."""
        _per_message(compress)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes(data): expected bytes, got {type(data).__name__}")
        conn = self._conn
        conn.send(_BINARY, data)  # type: ignore[arg-type]
        if conn.write_paused:
            await conn.drain()

    async def send_json(self, data: Any, compress: int | None = None, *,
                        dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``dumps(data)`` as a text message."""
        await self.send_str(dumps(data), compress)

    async def send_json_bytes(self, data: Any, compress: int | None = None, *,
                              dumps: Callable[[Any], bytes]) -> None:
        """Send ``dumps(data)`` (an encoder returning bytes, such as orjson's) as a
        binary message."""
        await self.send_bytes(dumps(data), compress)

    async def send_frame(self, message: bytes, opcode: WSMsgType) -> None:
        """Send ``message`` as one frame of type ``opcode``: TEXT (UTF-8 bytes), BINARY,
        PING or PONG (at most 125 bytes)."""
        if self.send_frame_nowait(message, opcode):
            await self._conn.drain()

    def send_frame_nowait(self, message: bytes, opcode: WSMsgType) -> bool:
        """:meth:`send_frame` without the wait: the frame is written (or buffered) now.
        Returns True when the write buffer is full: await :meth:`drain` before more."""
        frame_type = _FRAMES.get(opcode)
        if frame_type is None:
            raise ValueError(f"send_frame(opcode=): expected TEXT, BINARY, PING or PONG, "
                             f"got {opcode!r}")
        if frame_type is _PING or frame_type is _PONG:
            message = control_payload(message, opcode.name.lower())
        conn = self._conn
        conn.send(frame_type, message)
        return conn.write_paused

    async def drain(self) -> None:
        """Wait until the write buffer is below its high-water mark (1 MiB)."""
        await self._conn.drain()

    async def ping(self, message: bytes = b"") -> None:
        """Send a ping (at most 125 bytes); the server answers with a pong."""
        self._conn.send(_PING, control_payload(message, "ping"))

    async def pong(self, message: bytes = b"") -> None:
        """Send an unsolicited pong (at most 125 bytes)."""
        self._conn.send(_PONG, control_payload(message, "pong"))

    # -- receiving ------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The next message; CLOSED once the connection is closed. ``timeout`` (default:
        ``receive_timeout=``) raises ReadTimeout and leaves the WebSocket open."""
        queue = self._queue
        message = queue.take()
        if message is not None:
            return message
        if self._conn.sink is not queue:
            raise RuntimeError("receive(): messages go to the sink given to deliver_to()")
        fut = queue.waiter(timeout if timeout is not None else self._receive_timeout)
        if fut is None:  # the queue has ended
            return CLOSED_MESSAGE
        try:
            message = await fut  # once it has a result, the queue has let go of it
        except BaseException:
            queue.stop_waiting(fut)
            raise
        if message is None:
            message = queue.take()
        return CLOSED_MESSAGE if message is None else message

    async def receive_str(self, *, timeout: float | None = None) -> str:
        """The next message, which must be TEXT (TypeError otherwise)."""
        message = await self.receive(timeout)
        if message.type is not WSMsgType.TEXT:
            raise TypeError(f"Received message {message.type.name}:{message.data!r} is not "
                            "TEXT")
        return message.data  # type: ignore[no-any-return]

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next message, which must be BINARY (TypeError otherwise)."""
        message = await self.receive(timeout)
        if message.type is not WSMsgType.BINARY:
            raise TypeError(f"Received message {message.type.name}:{message.data!r} is not "
                            "BINARY")
        return message.data  # type: ignore[no-any-return]

    async def receive_json(self, *, loads: Callable[[Any], Any] = json.loads,
                           timeout: float | None = None) -> Any:
        """The next TEXT message, decoded with ``loads``."""
        return loads(await self.receive_str(timeout=timeout))

    def deliver_to(self, sink: MessageSink) -> None:
        """Deliver the messages to ``sink`` instead of :meth:`receive` (anything with
        ``put_nowait(msg) -> bool``, ``async wait_space()`` and ``finish()``, such as
        the blocking facade's channel); messages already queued move there first."""
        self._conn.deliver_to(sink)

    def __aiter__(self) -> ClientWebSocketResponse:
        return self

    async def __anext__(self) -> WSMessage:
        message = await self.receive()
        if message.type in _ENDS:
            raise StopAsyncIteration
        return message

    # -- closing --------------------------------------------------------------------------

    async def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool:
        """Close: send a close frame with ``code`` and ``message`` (at most 123 bytes),
        then wait for the server's close frame and the end of the connection (at most the
        close timeout, then the connection is dropped). False if it was already closing."""
        reason = close_reason(code, message)
        return await self._conn.close(code, reason)

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake."""
        self._conn.abort()

    async def __aenter__(self) -> ClientWebSocketResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ClientWebSocketResponse {state} {self.response.url}>"


def control_payload(message: Any, what: str) -> bytes:
    """A ping's or pong's payload (bytes or str, at most 125 bytes), checked."""
    if isinstance(message, str):
        message = message.encode()
    if not isinstance(message, bytes | bytearray | memoryview):
        raise TypeError(f"{what}(message): expected bytes, got {type(message).__name__}")
    if len(message) > 125:
        raise ValueError(f"{what}(message): at most 125 bytes, got {len(message)}")
    return bytes(message)


def close_reason(code: Any, message: Any) -> str:
    """Check a close ``code`` and ``message`` (bytes or str, at most 123 bytes once
    encoded); the reason as str. ValueError or TypeError, naming the argument."""
    if not isinstance(code, int) or isinstance(code, bool) or not (
            code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
            or 3000 <= code < 5000):
        raise ValueError(f"close(code=): {code!r} is not a close code that may be sent "
                         "(1000-1003, 1007-1014, 3000-4999)")
    if isinstance(message, bytes | bytearray):
        message = bytes(message).decode("utf-8")
    if not isinstance(message, str):
        raise TypeError(f"close(message=): expected bytes or str, got {type(message).__name__}")
    if len(message.encode()) > 123:
        raise ValueError("close(message=): at most 123 bytes")
    return message


def _per_message(compress: int | None) -> None:
    """aiohttp's per-message ``compress=``: permessage-deflate here is agreed once per
    connection (``ws_connect(compress=)``) and applies to every message, so only None
    (the connection's setting) is accepted; anything else is refused, never ignored."""
    if compress is not None:
        raise ValueError(f"compress={compress!r}: per-message compression levels are not "
                         "supported; set compress= on ws_connect() for the connection")
