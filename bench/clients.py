"""Thin adapters giving every HTTP client the same four operations.

Async adapters (run on an event loop):   open, get_small, download, upload, close
Sync adapters (plain calls, thread-safe): get_small, download, upload, close

Each adapter uses its library the way that library's documentation shows, with a pool big
enough for the case (``pool``). syncwrap is used only through the API it is specified to have:
``syncwrap.engine`` is aiohttp-style, ``syncwrap`` (the facade) is requests-style.

Every factory also takes ``proxy`` and ``ca_file`` (the proxy group): with a proxy URL, GETs
go through that forward proxy, configured the library's documented way, and an HTTPS target's
certificate is checked against ``ca_file`` only.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from common import ASYNC_ITER_CHUNKED, DOWNLOAD_CHUNK, BadResponse, Unavailable, check_status
from tls import client_context

TIMEOUT = 120.0  # seconds; generous, it only turns a hang into an error


def import_client(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise Unavailable(f"cannot import {name}: {e}") from None


def need(obj: Any, attr: str, owner: str) -> Any:
    try:
        return getattr(obj, attr)
    except AttributeError:
        raise Unavailable(f"{owner}.{attr} does not exist (yet)") from None


# --------------------------------------------------------------------------- async


class AiohttpStyle:
    """aiohttp, and syncwrap.engine which has the same API."""

    def __init__(self, module: str, pool: int, proxy: str = "", ca_file: str = "") -> None:
        mod = import_client(module)
        self._session_cls = need(mod, "ClientSession", module)
        self._connector_cls = need(mod, "TCPConnector", module)
        self._connector_kw: dict[str, Any] = {"limit": pool}
        if ca_file:
            self._connector_kw["ssl"] = client_context(ca_file)
        self._request_kw = {"proxy": proxy} if proxy else {}
        self.session: Any = None

    async def open(self) -> None:
        self.session = self._session_cls(connector=self._connector_cls(**self._connector_kw))

    async def get_small(self, url: str) -> int:
        async with self.session.get(url, **self._request_kw) as r:
            check_status(r.status)
            return len(await r.read())

    async def download(self, url: str, variant: str) -> int:
        n = 0
        async with self.session.get(url, **self._request_kw) as r:
            check_status(r.status)
            if variant == "iter_any":
                async for chunk in r.content.iter_any():
                    n += len(chunk)
            elif variant == "iter_chunked":
                async for chunk in r.content.iter_chunked(ASYNC_ITER_CHUNKED):
                    n += len(chunk)
            else:
                raise ValueError(f"unknown variant {variant!r}")
        return n

    async def upload(self, url: str, data: Any) -> bytes:
        async with self.session.post(url, data=data) as r:
            check_status(r.status)
            return await r.read()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def httpx_options(httpx: Any, pool: int, proxy: str, ca_file: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "limits": httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        "timeout": TIMEOUT}
    if proxy:
        options["proxy"] = proxy
    if ca_file:
        options["verify"] = client_context(ca_file)
    return options


class HttpxAsync:
    def __init__(self, pool: int, proxy: str = "", ca_file: str = "") -> None:
        self._httpx = import_client("httpx")
        self._options = httpx_options(self._httpx, pool, proxy, ca_file)
        self.client: Any = None

    async def open(self) -> None:
        self.client = self._httpx.AsyncClient(**self._options)

    async def get_small(self, url: str) -> int:
        r = await self.client.get(url)
        check_status(r.status_code)
        return len(r.content)

    async def download(self, url: str, variant: str) -> int:
        n = 0
        async with self.client.stream("GET", url) as r:
            check_status(r.status_code)
            if variant == "aiter_raw":
                async for chunk in r.aiter_raw():
                    n += len(chunk)
            elif variant == "aiter_bytes":
                async for chunk in r.aiter_bytes():
                    n += len(chunk)
            else:
                raise ValueError(f"unknown variant {variant!r}")
        return n

    async def upload(self, url: str, data: Any) -> bytes:
        r = await self.client.post(url, content=data)
        check_status(r.status_code)
        return r.content

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


#: name -> factory(pool, proxy="", ca_file="")
ASYNC_CLIENTS: dict[str, Callable[..., Any]] = {
    "syncwrap.engine": lambda *a, **kw: AiohttpStyle("syncwrap.engine", *a, **kw),
    "aiohttp": lambda *a, **kw: AiohttpStyle("aiohttp", *a, **kw),
    "httpx.AsyncClient": HttpxAsync,
}


# --------------------------------------------------------------------------- sync


class RequestsStyle:
    """requests.Session, and syncwrap.Session which has the same API. ``request_kw``: the
    per-request proxy and CA arguments (they are spelled differently in the two)."""

    def __init__(self, module: str, request_kw: dict[str, Any]) -> None:
        mod = import_client(module)
        self.session = need(mod, "Session", module)()
        self._request_kw = request_kw

    def get_small(self, url: str) -> int:
        r = self.session.get(url, **self._request_kw)
        check_status(r.status_code)
        return len(r.content)

    def download(self, url: str, variant: str) -> int:
        n = 0
        with self.session.get(url, stream=True, **self._request_kw) as r:
            check_status(r.status_code)
            for chunk in r.iter_content(DOWNLOAD_CHUNK):
                n += len(chunk)
        return n

    def upload(self, url: str, data: Any) -> bytes:
        r = self.session.post(url, data=data)
        check_status(r.status_code)
        return r.content

    def close(self) -> None:
        self.session.close()


class SyncwrapSession(RequestsStyle):
    def __init__(self, pool: int, proxy: str = "", ca_file: str = "") -> None:
        kw: dict[str, Any] = {"proxy": proxy} if proxy else {}
        if ca_file:
            kw["verify"] = ca_file
        super().__init__("syncwrap", kw)


class Requests(RequestsStyle):
    def __init__(self, pool: int, proxy: str = "", ca_file: str = "") -> None:
        kw: dict[str, Any] = {"proxies": {"http": proxy, "https": proxy}} if proxy else {}
        if ca_file:
            kw["verify"] = ca_file
        super().__init__("requests", kw)
        adapter = import_client("requests.adapters").HTTPAdapter(pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)


class HttpxSync:
    def __init__(self, pool: int, proxy: str = "", ca_file: str = "") -> None:
        httpx = import_client("httpx")
        self.client = httpx.Client(**httpx_options(httpx, pool, proxy, ca_file))

    def get_small(self, url: str) -> int:
        r = self.client.get(url)
        check_status(r.status_code)
        return len(r.content)

    def download(self, url: str, variant: str) -> int:
        n = 0
        with self.client.stream("GET", url) as r:
            check_status(r.status_code)
            for chunk in r.iter_bytes(DOWNLOAD_CHUNK):
                n += len(chunk)
        return n

    def upload(self, url: str, data: Any) -> bytes:
        r = self.client.post(url, content=data)
        check_status(r.status_code)
        return r.content

    def close(self) -> None:
        self.client.close()


class Urllib3:
    """urllib3.PoolManager; with a proxy, urllib3.ProxyManager (CONNECT for HTTPS targets)."""

    def __init__(self, pool: int, proxy: str = "", ca_file: str = "") -> None:
        urllib3 = import_client("urllib3")
        options: dict[str, Any] = {"maxsize": pool, "timeout": TIMEOUT}
        if ca_file:
            options["ca_certs"] = ca_file
        self.pool = (urllib3.ProxyManager(proxy, **options) if proxy
                     else urllib3.PoolManager(**options))

    def get_small(self, url: str) -> int:
        r = self.pool.request("GET", url)
        check_status(r.status)
        return len(r.data)

    def download(self, url: str, variant: str) -> int:
        n = 0
        r = self.pool.request("GET", url, preload_content=False)
        try:
            check_status(r.status)
            for chunk in r.stream(DOWNLOAD_CHUNK):
                n += len(chunk)
        finally:
            r.release_conn()
        return n

    def upload(self, url: str, data: Any) -> bytes:
        r = self.pool.request("POST", url, body=data)
        check_status(r.status)
        return r.data

    def close(self) -> None:
        self.pool.clear()


class RawSocket:
    """The floor: one blocking keep-alive socket, no HTTP library at all.

    Requests are written by hand; responses are parsed just enough (status line and
    Content-Length) and bodies are received with ``recv_into`` into one preallocated 1 MiB
    buffer, so nothing is allocated per chunk. Not thread-safe (one connection).
    """

    BUFFER = 1 << 20

    def __init__(self, pool: int) -> None:
        self.sock: socket.socket | None = None
        self.buf = bytearray(self.BUFFER)
        self.view = memoryview(self.buf)

    def _connect(self, url: str) -> tuple[socket.socket, str, str]:
        parts = urlsplit(url)
        if self.sock is None:
            self.sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock, parts.path or "/", parts.netloc

    def _read_response(self, sock: socket.socket, keep_body: bool) -> tuple[int, int, bytes]:
        """Read one response; returns (status, content length, body if keep_body)."""
        buf, view = self.buf, self.view
        filled = 0
        while True:
            n = sock.recv_into(view[filled:])
            if not n:
                raise ConnectionError("server closed the connection")
            filled += n
            end = buf.find(b"\r\n\r\n", 0, filled)
            if end >= 0:
                break
            if filled == len(buf):
                raise BadResponse("response head larger than the buffer")
        head = bytes(view[:end]).lower()
        status = int(head[9:12])
        pos = head.find(b"\r\ncontent-length:")
        if pos < 0:
            raise BadResponse("response without Content-Length")
        stop = head.find(b"\r\n", pos + 2)
        length = int(head[pos + 17:stop if stop >= 0 else None])
        start = end + 4
        body = bytearray(view[start:filled]) if keep_body else bytearray()
        left = length - (filled - start)
        while left > 0:
            n = sock.recv_into(view, min(left, len(buf)))
            if not n:
                raise ConnectionError("server closed the connection mid-body")
            if keep_body:
                body += view[:n]
            left -= n
        return status, length, bytes(body)

    def _head(self, method: str, path: str, host: str, length: int | None = None) -> bytes:
        extra = f"Content-Length: {length}\r\n" if length is not None else ""
        return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()

    def get_small(self, url: str) -> int:
        sock, path, host = self._connect(url)
        sock.sendall(self._head("GET", path, host))
        status, length, _ = self._read_response(sock, keep_body=False)
        check_status(status)
        return length

    def download(self, url: str, variant: str) -> int:
        return self.get_small(url)  # same code path: the body is drained into the buffer

    def upload(self, url: str, data: Any) -> bytes:
        """``data`` is ``(size, source)``: the raw client sends a Content-Length, so it needs
        the size up front. ``source`` is a file object (sent with socket.sendfile, zero-copy)
        or an iterable of bytes (sent with sendall)."""
        sock, path, host = self._connect(url)
        size, source = data
        sock.sendall(self._head("POST", path, host, size))
        if hasattr(source, "read"):
            sock.sendfile(source, 0, size)
        else:
            for chunk in source:
                sock.sendall(chunk)
        status, _, body = self._read_response(sock, keep_body=True)
        check_status(status)
        return body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class RawProxySocket(RawSocket):
    """The proxy's own limit: the raw floor through the forward proxy.

    A plain-HTTP target gets an absolute-form request on a NEW connection every time: tinyproxy
    answers one request per client connection and then closes it (without a
    ``Connection: close``). An HTTPS target gets one CONNECT tunnel with TLS inside (the
    default context trusting ``ca_file``), kept alive like the floor's socket.
    """

    def __init__(self, pool: int, proxy: str, ca_file: str = "") -> None:
        super().__init__(pool)
        parts = urlsplit(proxy)
        self.proxy_address = (parts.hostname, parts.port)
        self.context = client_context(ca_file) if ca_file else None

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.proxy_address, timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _connect(self, url: str) -> tuple[socket.socket, str, str]:
        parts = urlsplit(url)
        if parts.scheme == "http":
            self.close()
            self.sock = self._open()
            return self.sock, url, parts.netloc
        if self.sock is None:
            if self.context is None:
                raise ValueError("an HTTPS target needs ca_file")
            sock = self._open()
            sock.sendall(f"CONNECT {parts.netloc} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
                         .encode())
            reply = b""
            while b"\r\n\r\n" not in reply:  # nothing follows it before our TLS hello
                chunk = sock.recv(4096)
                if not chunk or len(reply) > 65536:
                    raise BadResponse(f"bad CONNECT reply {reply[:80]!r}")
                reply += chunk
            if reply.split(None, 2)[1:2] != [b"200"]:
                raise BadResponse(f"CONNECT refused: {reply[:80]!r}")
            self.sock = self.context.wrap_socket(sock, server_hostname=parts.hostname)
        return self.sock, parts.path or "/", parts.netloc

    def close(self) -> None:
        super().close()
        self.sock = None


#: name -> factory(pool, proxy="", ca_file="")
SYNC_CLIENTS: dict[str, Callable[..., Any]] = {
    "syncwrap.Session": SyncwrapSession,
    "requests.Session": Requests,
    "httpx.Client": HttpxSync,
    "urllib3.PoolManager": Urllib3,
    "urllib3.ProxyManager": Urllib3,
    "raw socket": lambda pool, proxy="", ca_file="": (
        RawProxySocket(pool, proxy, ca_file) if proxy else RawSocket(pool)),
}


# --------------------------------------------------------------------------- WebSockets
#
# The ws group: one connection to bench/ws_echo.py per case; ``echo(message)`` sends a text
# (str) or binary (bytes) message and returns what came back. No compression anywhere.


class WSAiohttpStyle:
    """aiohttp's ``session.ws_connect``, and syncwrap.engine's, which has the same API."""

    def __init__(self, module: str) -> None:
        mod = import_client(module)
        self._session_cls = need(mod, "ClientSession", module)
        self.session: Any = None
        self.ws: Any = None

    async def open(self, url: str) -> None:
        self.session = self._session_cls()
        self.ws = await need(self.session, "ws_connect", "ClientSession")(url)

    async def echo(self, message: str | bytes) -> str | bytes:
        ws = self.ws
        if isinstance(message, str):
            await ws.send_str(message)
        else:
            await ws.send_bytes(message)
        return (await ws.receive()).data  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


class WSWebsocketsAsync:
    """websockets' asyncio client (``websockets.asyncio.client.connect``)."""

    def __init__(self) -> None:
        self._connect = need(import_client("websockets.asyncio.client"), "connect",
                             "websockets.asyncio.client")
        self.ws: Any = None

    async def open(self, url: str) -> None:
        self.ws = await self._connect(url, compression=None, max_size=None)

    async def echo(self, message: str | bytes) -> str | bytes:
        await self.ws.send(message)
        return await self.ws.recv()  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class WSSyncwrap:
    """The facade's blocking WebSocket (``Session.ws_connect``)."""

    def __init__(self, url: str) -> None:
        self.session = need(import_client("syncwrap"), "Session", "syncwrap")()
        self.ws = need(self.session, "ws_connect", "syncwrap.Session")(url)

    def echo(self, message: str | bytes) -> str | bytes:
        if isinstance(message, str):
            self.ws.send_str(message)
        else:
            self.ws.send_bytes(message)
        return self.ws.receive().data  # type: ignore[no-any-return]

    def close(self) -> None:
        self.ws.close()
        self.session.close()


class WSWebsocketsSync:
    """websockets' threading client (``websockets.sync.client.connect``)."""

    def __init__(self, url: str) -> None:
        connect = need(import_client("websockets.sync.client"), "connect",
                       "websockets.sync.client")
        self.ws = connect(url, compression=None, max_size=None)

    def echo(self, message: str | bytes) -> str | bytes:
        self.ws.send(message)
        return self.ws.recv()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.ws.close()


#: name -> factory() for async clients (then ``await open(url)``) ...
WS_ASYNC_CLIENTS: dict[str, Callable[[], Any]] = {
    "syncwrap.engine": lambda: WSAiohttpStyle("syncwrap.engine"),
    "aiohttp": lambda: WSAiohttpStyle("aiohttp"),
    "websockets": WSWebsocketsAsync,
}
#: ... and factory(url) for sync ones.
WS_SYNC_CLIENTS: dict[str, Callable[[str], Any]] = {
    "syncwrap.Session": WSSyncwrap,
    "websockets.sync": WSWebsocketsSync,
}
