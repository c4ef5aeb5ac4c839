"""Unix-domain sockets: ``http+unix://`` URLs, and opening a connection to a socket file.

An ``http+unix`` URL names the socket in its host, percent-encoded, as
requests-unixsocket does: ``http+unix://%2Fvar%2Frun%2Fdocker.sock/info``
asks ``/var/run/docker.sock`` for ``/info``. Such a request is sent with
``Host: localhost`` (as curl's ``--unix-socket`` and Docker clients do; pass
a Host header to change it) and pooled per socket path. A redirect may move
within the socket (a relative Location) but never to another socket.

yarl lower-cases hosts and does not resolve relative references against a
scheme it does not know; :func:`parse_url` and :func:`join_url` keep the path
as written. Give such URLs as str: a ``yarl.URL`` made from one without
``encoded=True`` has already lost the path's case.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from typing import Any
from urllib.parse import unquote, urlsplit

from yarl import URL

from ..exceptions import ConnectTimeout, UnixClientConnectorError, ssl_error
from .http1.connection import ResponseHandler
from .http1.tls_reads import TLSReader
from .http1.tls_transport import open_tls, own_tls_applies

__all__ = [
    "UNIX_SCHEME",
    "UNIX_HOST_HEADER",
    "parse_url",
    "join_url",
    "socket_path",
    "open_unix_socket",
]

UNIX_SCHEME = "http+unix"
UNIX_HOST_HEADER = "localhost"


def parse_url(url: str) -> URL:
    """``URL(url)``, keeping the case of an ``http+unix`` URL's socket path."""
    parsed = URL(url)
    if parsed.scheme != UNIX_SCHEME or not parsed.raw_host:
        return parsed
    host = urlsplit(url).netloc.rpartition("@")[2]
    if parsed.explicit_port is not None:
        host = host.rpartition(":")[0]
    return URL.build(scheme=UNIX_SCHEME, host=host, path=parsed.raw_path,
                     query_string=parsed.raw_query_string, fragment=parsed.raw_fragment,
                     encoded=True)


def join_url(base: URL, ref: URL) -> URL:
    """``base.join(ref)``, also for a relative ``ref`` against an ``http+unix`` base."""
    if base.scheme != UNIX_SCHEME or ref.scheme or ref.raw_host:
        return base.join(ref)
    return base.with_scheme("http").join(ref).with_scheme(UNIX_SCHEME)


def socket_path(url: URL) -> str:
    """The socket file an ``http+unix`` URL names (its host, percent-decoded)."""
    return unquote(url.raw_host or "")


async def open_unix_socket(path: str, key: Any, timeout: Any = None) -> ResponseHandler:
    """Connect to the socket at ``path`` for the pool key ``key``, with TLS if the key asks.

    Errors: :class:`UnixClientConnectorError` (naming the path) when the socket
    is missing or refuses, :class:`ConnectTimeout` after ``timeout.sock_connect``
    seconds, :class:`SSLError` for a failed TLS handshake.
    """
    loop = asyncio.get_running_loop()
    sslcontext = await key.ssl.loaded_context() if key.is_ssl else None
    if sslcontext is not None and own_tls_applies(loop) and hasattr(socket, "AF_UNIX"):
        opening = _open_tls(loop, path, sslcontext, key.ssl.server_hostname or key.host)
    else:
        opening = loop.create_unix_connection(
            lambda: ResponseHandler(loop), path, ssl=sslcontext,
            server_hostname=(key.ssl.server_hostname or key.host) if sslcontext else None,
        )
    sock_connect = getattr(timeout, "sock_connect", None)
    try:
        if sock_connect:
            _, protocol = await asyncio.wait_for(opening, sock_connect)
        else:
            _, protocol = await opening
    except asyncio.TimeoutError:
        raise ConnectTimeout(
            f"Connection to unix socket {path} timed out after {sock_connect} s") from None
    except ssl_module.SSLError as exc:
        raise ssl_error(key.host, key.port, exc) from exc
    except OSError as exc:
        raise UnixClientConnectorError(path, key.host, key.port, exc) from exc
    except ValueError as exc:  # e.g. a NUL inside the path
        raise UnixClientConnectorError(path, key.host, key.port, str(exc)) from None
    if isinstance(protocol, TLSReader):
        protocol = protocol.handler
    if sslcontext is not None:
        key.ssl.check(protocol.transport, key.host, key.port)
    return protocol


async def _open_tls(loop: asyncio.AbstractEventLoop, path: str, context: ssl_module.SSLContext,
                    server_hostname: str) -> tuple[asyncio.Transport, TLSReader]:
    """TLS over a new connection to the socket at ``path``, on the engine's own TLS
    transport (``http1/tls_transport.py``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, path)
    except BaseException:
        sock.close()
        raise
    return await open_tls(loop, sock, context, server_hostname,
                          lambda: TLSReader(ResponseHandler(loop)))
