"""Thin adapters giving every HTTP client the same four operations.

Async adapters (run on an event loop):   open, get_small, download, upload, close
Sync adapters (plain calls, thread-safe): get_small, download, upload, close

Each adapter uses its library the way that library's documentation shows, with a pool big
enough for the case (``pool``). syncwrap is used only through the API it is specified to have:
``syncwrap.engine`` is aiohttp-style, ``syncwrap`` (the facade) is requests-style.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from common import ASYNC_ITER_CHUNKED, DOWNLOAD_CHUNK, BadResponse, Unavailable, check_status

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

    def __init__(self, module: str, pool: int) -> None:
        mod = import_client(module)
        self._session_cls = need(mod, "ClientSession", module)
        self._connector_cls = need(mod, "TCPConnector", module)
        self._pool = pool
        self.session: Any = None

    async def open(self) -> None:
        self.session = self._session_cls(connector=self._connector_cls(limit=self._pool))

    async def get_small(self, url: str) -> int:
        async with self.session.get(url) as r:
            check_status(r.status)
            return len(await r.read())

    async def download(self, url: str, variant: str) -> int:
        n = 0
        async with self.session.get(url) as r:
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


class HttpxAsync:
    def __init__(self, pool: int) -> None:
        self._httpx = import_client("httpx")
        self._pool = pool
        self.client: Any = None

    async def open(self) -> None:
        limits = self._httpx.Limits(max_connections=self._pool,
                                    max_keepalive_connections=self._pool)
        self.client = self._httpx.AsyncClient(limits=limits, timeout=TIMEOUT)

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


ASYNC_CLIENTS: dict[str, Callable[[int], Any]] = {
    "syncwrap.engine": lambda pool: AiohttpStyle("syncwrap.engine", pool),
    "aiohttp": lambda pool: AiohttpStyle("aiohttp", pool),
    "httpx.AsyncClient": HttpxAsync,
}


# --------------------------------------------------------------------------- sync


class RequestsStyle:
    """requests.Session, and syncwrap.Session which has the same API."""

    def __init__(self, module: str, pool: int) -> None:
        mod = import_client(module)
        self.session = need(mod, "Session", module)()

    def get_small(self, url: str) -> int:
        r = self.session.get(url)
        check_status(r.status_code)
        return len(r.content)

    def download(self, url: str, variant: str) -> int:
        n = 0
        with self.session.get(url, stream=True) as r:
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


class Requests(RequestsStyle):
    def __init__(self, pool: int) -> None:
        super().__init__("requests", pool)
        adapter = import_client("requests.adapters").HTTPAdapter(pool_maxsize=pool)
        self.session.mount("http://", adapter)


class HttpxSync:
    def __init__(self, pool: int) -> None:
        httpx = import_client("httpx")
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.client = httpx.Client(limits=limits, timeout=TIMEOUT)

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
    def __init__(self, pool: int) -> None:
        self.pool = import_client("urllib3").PoolManager(maxsize=pool, timeout=TIMEOUT)

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


SYNC_CLIENTS: dict[str, Callable[[int], Any]] = {
    "syncwrap.Session": lambda pool: RequestsStyle("syncwrap", pool),
    "requests.Session": Requests,
    "httpx.Client": HttpxSync,
    "urllib3.PoolManager": Urllib3,
    "raw socket": RawSocket,
}
