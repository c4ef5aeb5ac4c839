"""``ClientSession.ws_connect``: the handshake through the session, then the take-over.

The upgrade request goes through ``session.request`` (so through the session's
headers, cookies, auth, proxies and TLS); a 101 answer that completes the
handshake hands its connection over (``ClientResponse.upgrade``) to a
:class:`~.connection.WebSocketConnection`. The connection leaves the pool for
good; its connector still counts it until the WebSocket is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable
from typing import Any

from ..auth import BasicAuth
from ..netrc_auth import load_netrc
from ..proxy import ProxyRoute, ProxySpec
from ..tls import ca_from_env, cached_ca_from_env, resolve_ssl
from .connection import WebSocketConnection
from .handshake import DEFAULT_MAX_MSG_SIZE, Handshake, http_url
from .messages import ClientWSTimeout
from .response import ClientWebSocketResponse

__all__ = ["ws_connect", "WSRequestContextManager"]

_DEFAULT_TIMEOUT = ClientWSTimeout()
_TLS_ALIASES = ("verify_ssl", "ssl_context", "fingerprint", "server_hostname")


class WSRequestContextManager:
    """What ``session.ws_connect()`` returns: await it, or use it with ``async with``
    (the WebSocket is closed at the end of the block)."""

    __slots__ = ("_coro", "_ws")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._ws: ClientWebSocketResponse | None = None

    def __await__(self) -> Generator[Any, None, ClientWebSocketResponse]:
        return self._coro.__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> ClientWebSocketResponse:
        self._ws = await self._coro
        return self._ws

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()


def ws_connect(session: Any, url: Any, **kwargs: Any) -> WSRequestContextManager:
    """``session.ws_connect(url, ...)``: see :func:`connect` for the arguments."""
    return WSRequestContextManager(connect(session, url, **kwargs))


async def connect(
    session: Any,
    url: Any,
    *,
    protocols: Iterable[str] = (),
    timeout: ClientWSTimeout | float | None = _DEFAULT_TIMEOUT,
    receive_timeout: float | None = None,
    autoclose: bool = True,
    autoping: bool = True,
    heartbeat: float | None = None,
    auth: Any = None,
    origin: str | None = None,
    params: Any = None,
    headers: Any = None,
    proxy: Any = None,
    proxy_auth: BasicAuth | None = None,
    proxy_headers: Any = None,
    ssl: Any = True,
    compress: int | bool = 0,
    max_msg_size: int | None = DEFAULT_MAX_MSG_SIZE,
    method: str = "GET",
    decode_text: bool = True,
    **tls: Any,
) -> ClientWebSocketResponse:
    """Open a WebSocket to ``url`` (``ws://``, ``wss://``, ``http(s)://``) with ``session``.

    ``protocols``: subprotocols to offer (``ws.protocol`` is the one chosen).
    ``timeout``: a :class:`ClientWSTimeout` (``ws_close``: how long ``close()`` waits,
    10 s; ``ws_receive``: each ``receive()``'s default limit), or a number, the close
    timeout (aiohttp's older spelling). ``receive_timeout``: the default limit of each
    ``receive()``. The handshake itself runs under the session's timeout.
    ``heartbeat``: send a ping after that many seconds without data; no data within half
    of that afterwards closes the connection (an ERROR message with a ReadTimeout, then
    CLOSED). ``autoping``: pings are always answered; with False, PING and PONG messages
    are delivered too. ``autoclose`` is accepted for aiohttp's sake: a server's close
    frame is always answered, as RFC 6455 requires. ``compress``: 0 (default), or True /
    15 / 9..14 to offer permessage-deflate. ``max_msg_size``: the largest message
    accepted (4 MiB; 0 or None: no limit); a larger one closes with 1009.
    ``method``: the handshake's method (GET, as RFC 6455 asks). ``decode_text=False``:
    TEXT messages keep their data as bytes (still checked to be UTF-8), for parsers
    such as orjson that take bytes.
    ``auth``, ``origin``, ``params``, ``headers``, ``proxy``, ``proxy_auth``,
    ``proxy_headers``, ``ssl`` (and ``server_hostname``, ``verify_ssl``,
    ``ssl_context``, ``fingerprint``) apply to the handshake as to any request; the
    session's headers, cookies and auth go with it. A refused handshake raises
    :class:`~syncwrap.exceptions.WSServerHandshakeError`.
    """
    unknown = set(tls) - set(_TLS_ALIASES)
    if unknown:
        raise TypeError(f"ws_connect() got unexpected keyword argument(s): "
                        f"{', '.join(sorted(unknown))}")
    limits = _ws_timeout(timeout, receive_timeout)
    if heartbeat is not None and (isinstance(heartbeat, bool)
                                  or not isinstance(heartbeat, int | float) or heartbeat <= 0):
        raise ValueError(f"heartbeat=: expected a positive number of seconds, got {heartbeat!r}")
    target = http_url(url, params, session.base_url)
    handshake = Handshake(target, protocols=protocols, compress=compress,
                          max_msg_size=max_msg_size, origin=origin)
    if target.scheme == "http":  # ws:// through an HTTP proxy goes through a tunnel
        tunnel = await _tunnel(session, target, proxy, proxy_auth, proxy_headers, ssl, tls)
        if tunnel is not None:
            proxy, proxy_auth, proxy_headers = tunnel, None, None
    resp = await session.request(
        method, target, headers=handshake.headers(headers), auth=auth, proxy=proxy,
        proxy_auth=proxy_auth, proxy_headers=proxy_headers, ssl=ssl, raise_for_status=False,
        **tls)
    try:
        handshake.accept(resp)
        connection, data = resp.upgrade()
    except BaseException:
        resp.close()
        raise
    conn = WebSocketConnection(asyncio.get_running_loop(), handshake.protocol,
                               autoping=autoping, heartbeat=heartbeat,
                               close_timeout=limits.ws_close, on_closed=connection.close,
                               decode_text=decode_text)
    conn.start(connection.transport, data)
    return ClientWebSocketResponse(conn, resp, receive_timeout=limits.ws_receive,
                                   autoclose=autoclose, autoping=autoping, heartbeat=heartbeat,
                                   compress=15 if compress is True else int(compress or 0))


async def _tunnel(session: Any, target: Any, proxy: Any, auth: Any, headers: Any, ssl: Any,
                  tls: dict[str, Any]) -> ProxySpec | None:
    """For a ``ws://`` target: the HTTP proxy it goes through (the session's rules), as
    one that opens a CONNECT tunnel (a forward proxy cannot relay a WebSocket in
    absolute form, RFC 6455 section 4.1); None when it goes direct or through SOCKS."""
    route = ProxyRoute.merged(proxy, auth, headers, default=session.proxy,
                              default_auth=session.proxy_auth, trust_env=session.trust_env)
    if route is None:
        return None
    aliases = {name: value for name, value in tls.items() if name != "server_hostname"}
    # the TLS to an https:// proxy, as the session's requests use
    config = session.ssl if ssl is True and not aliases else resolve_ssl(ssl, **aliases)
    loop = asyncio.get_running_loop()
    if session.trust_env:  # a CA bundle not loaded yet is read in a thread
        loaded = cached_ca_from_env(config)
        if loaded is None:
            loaded = await loop.run_in_executor(None, ca_from_env, config)
        config = loaded
    # the proxy's .netrc credentials: file I/O, in a thread
    netrc = await loop.run_in_executor(None, load_netrc) if route.trust_env else None
    spec = route.for_url(target, config, netrc)
    if spec is None or spec.is_socks:
        return None
    return spec.as_tunnel()


def _ws_timeout(timeout: Any, receive_timeout: float | None) -> ClientWSTimeout:
    if timeout is None:
        timeout = ClientWSTimeout(ws_close=None)
    elif not isinstance(timeout, ClientWSTimeout):
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout=: expected a ClientWSTimeout or a number (the close "
                            f"timeout), got {type(timeout).__name__}")
        timeout = ClientWSTimeout(ws_close=timeout)
    if receive_timeout is not None:
        timeout = ClientWSTimeout(ws_receive=receive_timeout, ws_close=timeout.ws_close)
    return timeout
