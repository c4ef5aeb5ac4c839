"""Real WebSocket peers for the tests, on 127.0.0.1 (never imports syncwrap).

- :class:`WSServer`: websockets' own asyncio server in a daemon thread (its own loop),
  over ws:// or wss:// (trustme), with or without permessage-deflate. Routes by path:

  - ``/echo``: every message back as it came (text as text, binary as binary);
  - ``/headers``: the handshake request's headers as one JSON text message, then echo;
  - ``/close/<code>?reason=...``: closes at once with that code and reason;
  - ``/fragments``: a text message in three fragments, a binary one in two, then echo;
  - ``/deaf``: after the handshake, reads nothing more (pings go unanswered);
  - ``/flood?size=N&count=M``: sends M binary messages of N bytes (numbered in their
    first 8 bytes), recording ``sent`` and setting ``blocked`` when a send waits
    more than ``stall`` seconds (the client stopped reading);
  - ``/quiet``: sends nothing and records each connection's close code and reason in
    ``closes`` (:meth:`WSServer.wait_closes` waits for them).

- raw handshake helpers for misbehaving servers run with ``tests.servers.RawServer``:
  :func:`raw_handshake` answers the upgrade request (or a canned head), and
  :func:`read_frame` / :func:`frame` read and build frames by hand, so a server can send
  what the protocol forbids.

Everything is bounded: the server thread is joined at close, sockets have timeouts.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl as ssl_module
import struct
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.utils import accept_key

from tests.servers import read_request

START_TIMEOUT = 10.0


class WSServer:
    """websockets' server on 127.0.0.1:<ephemeral>; ``url`` is ``ws://...`` or ``wss://...``.

    ``compression``: "deflate" or None; ``ssl``: a server SSLContext; ``subprotocols``:
    the ones it accepts; ``max_size``: its own message limit (None: none).
    """

    def __init__(self, *, compression: str | None = None, ssl: ssl_module.SSLContext | None = None,
                 subprotocols: list[str] | None = None, max_size: int | None = None,
                 stall: float = 0.5) -> None:
        self.requests: list[Any] = []  # the handshake requests (websockets Request)
        self.closes: list[tuple[int | None, str | None]] = []
        self._closes_changed = threading.Condition()
        self.sent = 0
        self.blocked = threading.Event()
        self.extensions: list[list[str]] = []
        self._stall = stall
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stopping: asyncio.Event | None = None
        options = dict(compression=compression, ssl=ssl, subprotocols=subprotocols,
                       max_size=max_size, ping_interval=None, close_timeout=1)
        self._server = asyncio.run_coroutine_threadsafe(
            self._start(options), self._loop).result(START_TIMEOUT)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'wss' if ssl is not None else 'ws'}://127.0.0.1:{self.port}"

    async def _start(self, options: dict[str, Any]) -> Any:
        self._stopping = asyncio.Event()
        return await serve(self._handle, "127.0.0.1", 0, **options)

    async def _handle(self, ws: Any) -> None:
        request = ws.request
        self.requests.append(request)
        self.extensions.append([str(e) for e in ws.protocol.extensions])
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        path = parts.path
        if path == "/headers":
            await ws.send(json.dumps([[k, v] for k, v in request.headers.raw_items()]))
        elif path.startswith("/close/"):
            await ws.close(int(path.rsplit("/", 1)[1]), query.get("reason", [""])[0])
            return
        elif path == "/fragments":
            await ws.send(["frag", "ment", "ed"])
            await ws.send([b"\x00\x01", b"\x02"])
        elif path == "/deaf":  # reads nothing more: it sees neither pings nor the close
            ws.transport.pause_reading()
            await self._stopping.wait()
            ws.transport.abort()
            return
        elif path == "/flood":
            await self._flood(ws, int(query["size"][0]), int(query["count"][0]))
            return
        elif path == "/quiet":
            await ws.wait_closed()
            with self._closes_changed:
                self.closes.append((ws.close_code, ws.close_reason))
                self._closes_changed.notify_all()
            return
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async def _flood(self, ws: Any, size: int, count: int) -> None:
        body = bytes(size - 8)
        for n in range(count):
            send = asyncio.ensure_future(ws.send(struct.pack("!Q", n) + body))
            done, _ = await asyncio.wait([send], timeout=self._stall)
            if not done:
                self.blocked.set()
                await send
            self.sent = n + 1
        await ws.wait_closed()

    def wait_closes(self, count: int, timeout: float = 10.0) -> list[tuple[int | None, str]]:
        """Wait until ``count`` /quiet connections have ended; their (code, reason)."""
        with self._closes_changed:
            self._closes_changed.wait_for(lambda: len(self.closes) >= count, timeout)
            return list(self.closes)

    def close(self) -> None:
        async def stop() -> None:
            self._stopping.set()
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()


# -- raw peers ---------------------------------------------------------------------------


def raw_handshake(conn: socket.socket, head: bytes | None = None, *,
                  accept: str | None = None) -> dict[str, str]:
    """Read the upgrade request from ``conn`` and answer it: ``head`` verbatim if given,
    else a 101 with the right Sec-WebSocket-Accept (or ``accept``). Returns the request's
    headers (lower-case names)."""
    raw = read_request(conn)
    headers = {}
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if head is None:
        key = accept if accept is not None else accept_key(headers["sec-websocket-key"])
        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {key}\r\n\r\n").encode()
    conn.sendall(head)
    return headers


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it (``rsv``: the RSV bits, 0..7)."""
    head = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        return bytes([head, n]) + payload
    if n < 65536:
        return bytes([head, 126]) + struct.pack("!H", n) + payload
    return bytes([head, 127]) + struct.pack("!Q", n) + payload


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def read_frame(conn: socket.socket) -> tuple[int, bytes]:
    """One (masked) client frame: (opcode, unmasked payload)."""
    b1, b2 = _recv_exact(conn, 2)
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _recv_exact(conn, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _recv_exact(conn, 8))
    mask = _recv_exact(conn, 4) if b2 & 0x80 else b"\0\0\0\0"
    data = _recv_exact(conn, n)
    return b1 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


def read_close_code(conn: socket.socket) -> int | None:
    """Read client frames until its close frame; its code (None: closed without one)."""
    try:
        while True:
            opcode, payload = read_frame(conn)
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (EOFError, OSError):
        return None
