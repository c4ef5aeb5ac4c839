"""Thin adapters giving every HTTP client the same four operations.

Async adapters (run on an event loop):   open, get_small, download, upload, close
Sync adapters (plain calls, thread-safe): get_small, download, upload, close

Each adapter uses its library the way that library's documentation shows, with a pool big
enough for the case (``pool``). syncwrap is used only through the API it is specified to have:
``syncwrap.engine`` is aiohttp-style, ``syncwrap`` (the facade) is requests-style.

Every factory also takes ``proxy`` and ``ca_file`` (the proxy and https groups): with a proxy
URL, GETs go through that forward proxy, configured the library's documented way, and an HTTPS
target's certificate is checked against ``ca_file`` only (never ``verify=False``). The raw
floors live in ``raw.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from common import ASYNC_ITER_CHUNKED, DOWNLOAD_CHUNK, Unavailable, check_status
from raw import raw_client
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


#: name -> factory(pool, proxy="", ca_file="")
SYNC_CLIENTS: dict[str, Callable[..., Any]] = {
    "syncwrap.Session": SyncwrapSession,
    "requests.Session": Requests,
    "httpx.Client": HttpxSync,
    "urllib3.PoolManager": Urllib3,
    "urllib3.ProxyManager": Urllib3,
    "raw socket": raw_client,
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
