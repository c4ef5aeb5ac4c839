"""Opening a connection through a proxy (the connector calls :func:`open_via_proxy`).

- Plain HTTP through an HTTP(S) proxy: a connection to the proxy (TLS to it for an
  ``https://`` proxy); requests then go in absolute form (see ``engine.proxy``).
- HTTPS through an HTTP(S) proxy (and plain HTTP when the proxy's ``tunnel`` is set,
  as for a ``ws://`` WebSocket): ``CONNECT host:port`` (the proxy's headers and
  Proxy-Authorization on it, and nowhere else), the answer read by the sans-I/O
  response parser, then TLS to the target inside the tunnel with ``start_tls``,
  checked against the target's name (and pin). Through an ``https://`` proxy this
  is TLS inside TLS.
- SOCKS4/4a/5/5h: the handshake by python-socks (the ``socks`` extra), then TLS to
  an https target. ``socks5``/``socks4`` resolve the target with the connector's
  resolver; ``socks5h``/``socks4a`` leave it to the proxy.

Errors name who failed: an unreachable proxy or a refused CONNECT raise
:class:`~syncwrap.exceptions.ProxyError` (with the proxy's ``status``), TLS to the
target :class:`~syncwrap.exceptions.SSLError` naming the target.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from typing import Any

from ..exceptions import (
    ClientConnectorError,
    ConnectTimeout,
    MalformedResponseError,
    ProxyError,
    ServerDisconnectedError,
    ssl_error,
)
from .http1.connection import ResponseHandler
from .http1.parser import ResponseHead, ResponseParser
from .http1.writer import build_request_head
from .proxy import ProxySpec, require_socks
from .resolver import is_ip_address

__all__ = ["open_via_proxy", "connect_head"]


async def open_via_proxy(connector: Any, key: Any) -> ResponseHandler:
    """A connection for ``key`` (a ConnectionKey with a ``proxy``) through its proxy.

    ``connector`` provides ``resolve``, ``open_socket`` and ``start_protocol``
    (:class:`~syncwrap.engine.TCPConnector`).
    """
    proxy: ProxySpec = key.proxy
    target_tls = key.ssl if key.is_ssl else None
    if proxy.is_socks:
        sock = await _socks_socket(connector, proxy, key.host, key.port)
        return await connector.start_protocol(sock, key.host, key.port, target_tls)  # type: ignore[no-any-return]
    sock = await _proxy_socket(connector, proxy)
    if target_tls is None and not proxy.tunnel:  # plain HTTP: requests in absolute form
        return await connector.start_protocol(sock, proxy.host, proxy.port, proxy.ssl)  # type: ignore[no-any-return]
    loop = asyncio.get_running_loop()
    handshake = await connector.start_protocol(sock, proxy.host, proxy.port, proxy.ssl,
                                               factory=lambda: _Handshake(loop))
    transport = handshake.transport
    try:
        await handshake.establish(proxy, key.host, key.port)
        protocol = ResponseHandler(loop)
        if target_tls is None:  # a tunnel to a plain-HTTP target (ProxySpec.tunnel)
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            return protocol
        try:
            tls_transport = await loop.start_tls(
                transport, protocol, await target_tls.loaded_context(),
                server_hostname=target_tls.server_hostname or key.host)
        except ssl_module.SSLError as exc:
            raise ssl_error(key.host, key.port, exc) from exc
        except (OSError, ConnectionError) as exc:
            raise ClientConnectorError(key.host, key.port, exc) from exc
    except BaseException:
        transport.abort()
        raise
    if tls_transport is None:  # the connection closed during the handshake
        raise ClientConnectorError(key.host, key.port, "connection closed during TLS handshake")
    protocol.connection_made(tls_transport)
    target_tls.check(tls_transport, key.host, key.port)
    return protocol


async def _proxy_socket(connector: Any, proxy: ProxySpec) -> socket.socket:
    try:
        return await connector.open_socket(proxy.host, proxy.port)  # type: ignore[no-any-return]
    except ClientConnectorError as exc:
        raise ProxyError(proxy.host, proxy.port, exc.os_error or str(exc),
                         message=f"Cannot connect to proxy {proxy.url} [{_reason(exc)}]") from exc


def _reason(exc: ClientConnectorError) -> str:
    text = str(exc)
    return text[text.index("[") + 1:-1] if text.endswith("]") and "[" in text else text


def connect_head(proxy: ProxySpec, host: str, port: int) -> bytes:
    """The ``CONNECT host:port`` request for a tunnel to ``host:port`` (pure)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [("Host", authority), *proxy.headers]
    return build_request_head("CONNECT", authority, headers)


class _Handshake(asyncio.Protocol):
    """The connection to an HTTP proxy until its answer to CONNECT."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[ResponseHead] = loop.create_future()
        self._parser = ResponseParser(self._on_head, _ignore, _nothing)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed(data)
        except Exception as exc:  # a malformed or oversized answer
            self._end(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._end(ServerDisconnectedError("The proxy closed the connection before answering "
                                          "CONNECT"))

    def _on_head(self, head: ResponseHead) -> None:
        if not self._answer.done():
            self._answer.set_result(head)

    def _end(self, exc: BaseException) -> None:
        if not self._answer.done():
            self._answer.set_exception(exc)

    async def establish(self, proxy: ProxySpec, host: str, port: int) -> None:
        """Send CONNECT and wait for the proxy's 2xx; else raise ProxyError."""
        self._parser.start("CONNECT")
        assert self.transport is not None
        self.transport.write(connect_head(proxy, host, port))
        try:
            head = await self._answer
        except (MalformedResponseError, ServerDisconnectedError) as exc:
            raise ProxyError(proxy.host, proxy.port, str(exc),
                             message=f"The proxy {proxy.url} failed CONNECT to {host}:{port}: "
                                     f"{exc}") from exc
        finally:
            self._parser.close()  # it holds our bound callbacks
        if 200 <= head.status < 300 and not self._parser.extra_data:
            return
        raise ProxyError(proxy.host, proxy.port, head.reason, status=head.status,
                         headers=head.headers, message=_refusal(proxy, host, port, head))


def _refusal(proxy: ProxySpec, host: str, port: int, head: ResponseHead) -> str:
    text = (f"The proxy {proxy.url} refused CONNECT to {host}:{port}: "
            f"{head.status} {head.reason}".rstrip())
    if 200 <= head.status < 300:
        return text + " (data came before the TLS handshake)"
    if head.status == 407:
        if proxy.header("Proxy-Authorization") is None:
            return text + "; the proxy needs credentials: pass proxy_auth= or user:pass@ in " \
                          "the proxy URL"
        return text + "; the proxy rejected the credentials (proxy_auth= or the proxy URL's)"
    return text


def _ignore(data: bytes) -> None:
    pass


def _nothing() -> None:
    pass


async def _socks_socket(connector: Any, proxy: ProxySpec, host: str, port: int
                        ) -> socket.socket:
    """A socket connected to ``host:port`` through the SOCKS proxy (handshake done)."""
    require_socks()
    from python_socks import ProxyConnectionError, ProxyTimeoutError, ProxyType
    from python_socks import ProxyError as SocksError
    from python_socks.async_.asyncio import Proxy

    socks4 = proxy.scheme.startswith("socks4")
    remote_dns = proxy.scheme in ("socks5h", "socks4a")
    dest = host
    if not remote_dns and not is_ip_address(host):
        infos = await connector.resolve(host, port)
        if socks4:
            infos = [info for info in infos if info["family"] == socket.AF_INET]
            if not infos:
                raise ClientConnectorError(host, port, "SOCKS4 needs an IPv4 address; use "
                                                       "socks4a:// or socks5://")
        dest = infos[0]["host"]
    auth = proxy.auth
    client = Proxy(ProxyType.SOCKS4 if socks4 else ProxyType.SOCKS5, proxy.host, proxy.port,
                   username=auth.login if auth is not None else None,
                   password=auth.password if auth is not None and auth.password else None,
                   rdns=remote_dns, loop=asyncio.get_running_loop())
    try:
        return await client.connect(dest, port)  # type: ignore[no-any-return]
    except ProxyConnectionError as exc:
        raise ProxyError(proxy.host, proxy.port, exc, message=f"Cannot connect to proxy "
                         f"{proxy.url} [{exc.strerror or exc}]") from exc
    except ProxyTimeoutError as exc:
        raise ConnectTimeout(f"The SOCKS proxy {proxy.url} did not answer in time") from exc
    except SocksError as exc:
        raise ProxyError(proxy.host, proxy.port, str(exc), message=f"The SOCKS proxy "
                         f"{proxy.url} refused the connection to {host}:{port}: {exc}") from exc
