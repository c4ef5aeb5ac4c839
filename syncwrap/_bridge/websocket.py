"""The blocking WebSocket: an engine WebSocket on the loop, used from any thread.

- Received messages reach the caller through the facade's bounded
  :class:`~syncwrap._bridge.channel.Channel` (the *inbox*): the engine connection
  delivers each message into it (``ClientWebSocketResponse.deliver_to``) and a
  reading thread takes them with ``receive()`` or ``for msg in ws``. It holds 64
  small messages or about 4 MiB (each message weighs 1 plus 1 per 64 KiB); when it
  is full the engine stops reading from the socket until the reader has drained it
  to half, so a slow reader slows the server and memory stays bounded.
- Sends, from any number of threads, return once the frame is written or queued, in
  order per thread (:class:`_Sender`). On plain TCP, when nothing else is on its way
  to the socket, the calling thread writes its frame itself
  (:mod:`syncwrap._bridge.ws_direct`); otherwise the send is one call into the loop
  (``call_soon_threadsafe``) that writes it. While the socket's write buffer is full
  the frames wait on the loop, and a sender blocks while 4 MiB are waiting.

A close (``close()``, the end of a ``with`` block) first sends what is queued, then
runs the closing handshake. A WebSocket dropped without close is closed on the loop
(code 1001); at interpreter exit every open one is closed the same way, within the
exit's time budget, silently.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .. import loop as loop_thread
from ..engine.websocket import CLOSED_MESSAGE, ClientWebSocketResponse, WSMessage, WSMsgType
from ..engine.websocket.messages import weigh
from ..engine.websocket.response import close_reason, control_payload
from ..exceptions import ClientConnectionError
from .channel import Channel, refuse_loop_thread
from .ws_direct import DirectSend

__all__ = ["WebSocket", "open_websocket"]

#: Inbox: 64 small messages, or about 4 MiB (see messages.weigh).
INBOX_HIGH_WATER = 64
#: Bytes sent by callers and not yet written before senders wait.
SEND_HIGH_WATER = 4 * 1024 * 1024
_EXIT_GRACE = 0.2  # seconds the closing handshakes get at interpreter exit
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
_TEXT, _BINARY = WSMsgType.TEXT, WSMsgType.BINARY
_open: weakref.WeakSet[ClientWebSocketResponse] = weakref.WeakSet()


class _Sender:
    """Frames from calling threads: each written by the calling thread itself when
    nothing else is on its way (:class:`~syncwrap._bridge.ws_direct.DirectSend`),
    else by one call on the loop.

    ``queued`` counts the bytes handed to the loop and not yet written (64 more per
    frame); a sender waits while it is at :data:`SEND_HIGH_WATER`, until the loop has
    written it down to half. While the socket's buffer is full, frames wait on the
    loop in ``backlog`` and a task writes them as it drains. After :meth:`fail`
    (the WebSocket closed, on the loop) sends raise. Data frames are framed on the
    calling thread when the direct path applies (then ``framed``: the loop writes the
    bytes as they are).
    """

    def __init__(self, ws: ClientWebSocketResponse, loop: asyncio.AbstractEventLoop) -> None:
        self._ws = ws
        self._loop = loop
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # waited on only when full
        self._queued = 0
        self._sleepers = 0
        self._backlog: deque[tuple[WSMsgType, bytes, int, bool]] = deque()
        self._flusher: asyncio.Future[None] | None = None
        self.error: BaseException | None = None
        self.direct = DirectSend.attach(ws.connection, loop, self._lock)

    # -- calling threads ------------------------------------------------------------------

    def send(self, kind: WSMsgType, data: bytes) -> None:
        size = len(data) + 64
        direct = self.direct
        framed = direct is not None and (kind is _TEXT or kind is _BINARY)
        if framed:
            data = direct.frame(data, text=kind is _TEXT)  # type: ignore[union-attr]
        with self._lock:
            while self._queued >= SEND_HIGH_WATER and self.error is None:
                refuse_loop_thread()
                self._sleepers += 1
                try:
                    self._cond.wait()
                finally:
                    self._sleepers -= 1
            if self.error is not None:
                raise self.error
            if framed and not self._queued and direct.try_send(data):  # type: ignore[union-attr]
                return
            self._queued += size
        try:
            self._loop.call_soon_threadsafe(self._write, kind, data, size, framed)
        except RuntimeError:  # the loop is gone (interpreter exit)
            raise ClientConnectionError("Cannot send: the event loop is closed") from None

    # -- the loop ---------------------------------------------------------------------------

    def _send_now(self, kind: WSMsgType, data: bytes, framed: bool) -> bool:
        """Write one frame; True when the socket's buffer is full."""
        if framed:
            conn = self._ws.connection
            conn.write_frame(data)
            return conn.write_paused
        return self._ws.send_frame_nowait(data, kind)

    def _write(self, kind: WSMsgType, data: bytes, size: int, framed: bool) -> None:
        if self._flusher is not None:  # the socket's buffer is full: wait in line
            self._backlog.append((kind, data, size, framed))
            return
        try:
            if self.error is None and self._send_now(kind, data, framed):
                self._flusher = asyncio.ensure_future(self._flush())
        except ClientConnectionError as exc:
            self.fail(exc)
        finally:
            self._written(size)

    async def _flush(self) -> None:
        """The socket's buffer is full: write the backlog as it drains."""
        backlog = self._backlog
        try:
            while True:
                await self._ws.drain()
                full = False
                while backlog and not full:
                    kind, data, size, framed = backlog.popleft()
                    try:
                        full = self._send_now(kind, data, framed)
                    finally:
                        self._written(size)
                if not full:
                    return
        except Exception as exc:  # noqa: BLE001 - the senders get it
            self.fail(exc)
        finally:
            self._flusher = None

    def _written(self, size: int) -> None:
        with self._lock:
            self._queued -= size
            if self._sleepers and self._queued <= SEND_HIGH_WATER // 2:
                self._cond.notify_all()

    async def flushed(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the frames sent so far are written."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            try:
                await asyncio.wait_for(asyncio.shield(flusher), timeout)
            except asyncio.TimeoutError:
                flusher.cancel()

    def fail(self, error: BaseException) -> None:
        """Sends raise ``error`` from now on (frames not written yet are dropped)."""
        with self._lock:
            if self.error is None:
                self.error = error
            self._backlog.clear()
            self._queued = 0
            self._cond.notify_all()


class _Inbox(Channel[WSMessage]):
    """The engine connection's sink (``deliver_to``): a bounded channel of messages, whose
    end also ends sending."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__(INBOX_HIGH_WATER, weigh=weigh)
        self.sender = sender

    def finish(self, error: BaseException | None = None) -> None:
        super().finish()
        self.sender.fail(ClientConnectionError("Cannot send: the WebSocket is closed"))
        if self.sender.direct is not None:
            self.sender.direct.close()


async def open_websocket(engine: Any, url: Any, kwargs: dict[str, Any]) -> WebSocket:
    """On the loop: the engine WebSocket with its inbox and sender, as a :class:`WebSocket`."""
    ws = await engine.ws_connect(url, **kwargs)
    sender = _Sender(ws, asyncio.get_running_loop())
    inbox = _Inbox(sender)
    ws.deliver_to(inbox)
    _open.add(ws)
    return WebSocket(ws, inbox, sender)


async def _close(ws: ClientWebSocketResponse, sender: _Sender, code: int, message: Any) -> bool:
    """On the loop: write what was sent, then the closing handshake."""
    await sender.flushed(10.0)
    return await ws.close(code=code, message=message)


class WebSocket:
    """A WebSocket for blocking code (``Session.ws_connect``, ``syncwrap.ws_connect``).

    ``send_str``, ``send_bytes``, ``send_json``, ``ping``, ``pong`` may be called from
    any thread, while one thread reads with ``receive(timeout=)`` or ``for msg in ws``
    (until the server closes). ``close()`` (or the end of a ``with`` block) closes it;
    so does dropping it, and the interpreter's exit. Messages are the engine's
    :class:`~syncwrap.engine.WSMessage`; ``closed``, ``close_code``, ``protocol`` and
    ``exception()`` are the engine WebSocket's.
    """

    def __init__(self, ws: ClientWebSocketResponse, inbox: Channel[WSMessage],
                 sender: _Sender) -> None:
        self._ws = ws
        self._inbox = inbox
        self._sender = sender
        self._closing = False

    # -- state ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the connection is gone."""
        return self._closing or self._ws.closed

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        return self._ws.protocol

    @property
    def response(self) -> Any:
        """The handshake's 101 answer (the engine's ClientResponse: status, headers)."""
        return self._ws.response

    def exception(self) -> BaseException | None:
        """The error that failed the connection, if any."""
        return self._ws.exception()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return loop_thread.run(_extra_info(self._ws, name, default))

    # -- sending (any thread) -------------------------------------------------------------

    def send_str(self, data: str) -> None:
        """Queue a text message (sent in order, from the loop)."""
        if not isinstance(data, str):
            raise TypeError(f"send_str(data): expected str, got {type(data).__name__}")
        self._put(WSMsgType.TEXT, data.encode())

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes(data): expected bytes, got {type(data).__name__}")
        self._put(WSMsgType.BINARY, bytes(data))

    def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Queue ``dumps(data)`` as a text message."""
        self.send_str(dumps(data))

    def ping(self, message: bytes = b"") -> None:
        """Queue a ping (at most 125 bytes)."""
        self._put(WSMsgType.PING, control_payload(message, "ping"))

    def pong(self, message: bytes = b"") -> None:
        """Queue an unsolicited pong (at most 125 bytes)."""
        self._put(WSMsgType.PONG, control_payload(message, "pong"))

    def _put(self, kind: WSMsgType, data: bytes) -> None:
        if self._closing or self._ws.closed:
            raise ClientConnectionError(
                f"Cannot send: the WebSocket is closed (code {self._ws.close_code})")
        self._sender.send(kind, data)

    # -- receiving (one thread at a time) -------------------------------------------------

    def receive(self, timeout: float | None = None) -> WSMessage:
        """The next message; CLOSED once the connection is closed. Waits at most
        ``timeout`` seconds (default: ``receive_timeout=``), then raises
        ``syncwrap.Timeout`` (a ReadTimeout); the WebSocket stays open."""
        if timeout is None:
            timeout = self._ws.receive_timeout
        message = self._inbox.get_item(timeout)
        return CLOSED_MESSAGE if message is None else message

    def receive_str(self, *, timeout: float | None = None) -> str:
        """The next message, which must be TEXT (TypeError otherwise)."""
        message = self.receive(timeout)
        if message.type is not WSMsgType.TEXT:
            raise TypeError(f"Received message {message.type.name}:{message.data!r} is not "
                            "TEXT")
        return message.data  # type: ignore[no-any-return]

    def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next message, which must be BINARY (TypeError otherwise)."""
        message = self.receive(timeout)
        if message.type is not WSMsgType.BINARY:
            raise TypeError(f"Received message {message.type.name}:{message.data!r} is not "
                            "BINARY")
        return message.data  # type: ignore[no-any-return]

    def receive_json(self, *, loads: Callable[[Any], Any] = json.loads,
                     timeout: float | None = None) -> Any:
        """The next TEXT message, decoded with ``loads``."""
        return loads(self.receive_str(timeout=timeout))

    def __iter__(self) -> Iterator[WSMessage]:
        """The messages until the connection closes (ERROR messages included)."""
        while True:
            message = self.receive()
            if message.type in _ENDS:
                return
            yield message

    # -- closing --------------------------------------------------------------------------

    def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool:
        """Send what is queued, then close with ``code`` and ``message``, waiting for the
        server (at most the close timeout). False if it was already closing."""
        close_reason(code, message)  # bad arguments fail here, before anything changes
        if self._closing:
            return False
        self._closing = True
        return loop_thread.run(_close(self._ws, self._sender, code, message))

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closing", True):
            self._closing = True
            loop_thread.call_soon(_close_dropped, self._ws, self._sender)

    def __repr__(self) -> str:
        return f"<syncwrap.WebSocket {'closed' if self.closed else 'open'}>"


async def _extra_info(ws: ClientWebSocketResponse, name: str, default: Any) -> Any:
    return ws.get_extra_info(name, default)


def _close_dropped(ws: ClientWebSocketResponse, sender: _Sender) -> None:  # on the loop
    asyncio.ensure_future(_quiet(_close(ws, sender, 1001, b"")))


async def _quiet(coro: Any) -> None:
    try:
        await coro
    except Exception:  # noqa: BLE001 - nobody waits for a dropped WebSocket's close
        pass


async def _close_all() -> None:
    """At interpreter exit, on the loop: close every open WebSocket (1001), briefly."""
    closing = [asyncio.ensure_future(_quiet(ws.close(code=1001))) for ws in list(_open)
               if not ws.done]
    if closing:
        done, pending = await asyncio.wait(closing, timeout=_EXIT_GRACE)
        for task in pending:
            task.cancel()
    for ws in list(_open):
        if not ws.done:
            ws.abort()


loop_thread.on_shutdown(_close_all)
