"""The opening handshake: what the upgrade request carries and how its answer is checked.

The request itself is an ordinary GET sent through the session
(``ClientSession.request``), so the session's policy applies to it as to any request:
default headers, cookies from the jar, auth, proxies (a ``ConnectionKey`` with the
proxy), TLS, redirects. This module adds the WebSocket part, built and checked by
websockets' sans-I/O client (``websockets.client.ClientProtocol``): the
``Upgrade``/``Connection``/``Sec-WebSocket-*`` headers, and the check of the 101
answer (``Sec-WebSocket-Accept``, the negotiated extensions and subprotocol).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.protocol import OPEN
from websockets.uri import WebSocketURI
from yarl import URL

from ...exceptions import InvalidURL, WSServerHandshakeError
from ..request import build_url

__all__ = ["Handshake", "http_url", "DEFAULT_MAX_MSG_SIZE"]

#: Messages larger than this (4 MiB) close the connection with 1009, as in aiohttp.
DEFAULT_MAX_MSG_SIZE = 4 * 1024 * 1024

_SCHEMES = {"ws": "http", "wss": "https"}
# The headers of the handshake that websockets builds (Host and auth are the session's).
_BUILT = ("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin",
          "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol")


def http_url(url: str | URL, params: Any = None, base_url: URL | None = None) -> URL:
    """The http(s) URL the handshake goes to: ``ws://`` is ``http://``, ``wss://`` is
    ``https://``; http(s) and ``http+unix`` URLs, and URLs relative to ``base_url``,
    are taken as they are. Raises InvalidURL for another scheme."""
    if isinstance(url, str):
        scheme, sep, rest = url.partition("://")
        if sep and scheme.lower() in _SCHEMES:
            url = f"{_SCHEMES[scheme.lower()]}://{rest}"
    elif isinstance(url, URL) and url.scheme in _SCHEMES:
        url = url.with_scheme(_SCHEMES[url.scheme])
    elif not isinstance(url, URL):
        raise TypeError(f"url=: expected a str or yarl.URL, got {type(url).__name__}")
    try:
        return build_url(url, params, base_url)
    except InvalidURL as exc:
        raise InvalidURL(url, f"{exc}; a WebSocket URL is ws://, wss://, http:// or "
                              "https://") from None


class Handshake:
    """One opening handshake and the sans-I/O protocol that runs the connection after it.

    ``protocols``: subprotocols offered, most preferred first. ``compress``: 0 or False
    (no compression, the default), True or 15 (offer permessage-deflate), 9..14 (offer
    it with that client window size). ``max_msg_size``: the largest message accepted
    (0 or None: no limit). ``origin``: the Origin header.
    """

    def __init__(self, url: URL, *, protocols: Iterable[str] = (), compress: int | bool = 0,
                 max_msg_size: int | None = DEFAULT_MAX_MSG_SIZE,
                 origin: str | None = None) -> None:
        if isinstance(protocols, str):
            raise TypeError("protocols=: expected a list of subprotocol names, not a str")
        offered = [_check_protocol(p) for p in protocols]
        if max_msg_size is not None and (not isinstance(max_msg_size, int)
                                         or isinstance(max_msg_size, bool) or max_msg_size < 0):
            raise ValueError(f"max_msg_size=: expected an int >= 0 or None, got {max_msg_size!r}")
        secure = url.scheme == "https"
        uri = WebSocketURI(secure, url.raw_host or "localhost", url.port or (443 if secure else 80),
                           url.raw_path or "/", url.raw_query_string)
        #: The sans-I/O protocol: it checks the answer, then frames the connection.
        self.protocol = ClientProtocol(
            uri, origin=origin, extensions=_extensions(compress),  # type: ignore[arg-type]
            subprotocols=offered or None,  # type: ignore[arg-type]
            state=OPEN, max_size=max_msg_size or None)
        self._request = self.protocol.connect()

    def headers(self, headers: Any = None) -> list[tuple[Any, Any]]:
        """The request's headers: the caller's ``headers`` (a mapping or pairs; a value
        of None removes a session default), then the handshake's, which replace the
        caller's of the same name (an ``Origin`` header of the caller's stays when
        ``origin=`` is not given)."""
        built = self._request.headers
        names = [name for name in _BUILT if name in built]
        mine = {name.lower() for name in names}
        pairs = headers.items() if hasattr(headers, "items") else (headers or ())
        kept = [(name, value) for name, value in pairs
                if not (isinstance(name, str) and name.lower() in mine)]
        return kept + [(name, built[name]) for name in names]

    def accept(self, resp: Any) -> None:
        """Check the server's answer (an engine ClientResponse); raises
        WSServerHandshakeError, with its status and headers, unless it is a 101 that
        completes the handshake."""
        if resp.status != 101:
            raise _refused(resp, f"Invalid response status: {resp.status} {resp.reason}")
        headers = Headers(resp.headers.items())
        try:
            self.protocol.process_response(Response(resp.status, resp.reason, headers))
        except InvalidHandshake as exc:
            raise _refused(resp, f"Invalid handshake: {exc}") from exc


def _refused(resp: Any, message: str) -> WSServerHandshakeError:
    return WSServerHandshakeError(resp.request_info, resp.history, status=resp.status,
                                  message=message, headers=resp.headers)


def _check_protocol(name: Any) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in ' ,;"\r\n\t'):
        raise ValueError(f"protocols=: {name!r} is not a subprotocol name (a token)")
    return name


def _extensions(compress: int | bool) -> list[ClientPerMessageDeflateFactory] | None:
    if compress is False or compress == 0 or compress is None:
        return None
    if compress is True or compress == 15:
        bits: int | bool = True
    elif isinstance(compress, int) and 9 <= compress <= 14:
        bits = compress
    else:
        raise ValueError(f"compress=: expected 0 (off), True or 15 (on), or a window size "
                         f"9..14, got {compress!r}")
    return [ClientPerMessageDeflateFactory(client_max_window_bits=bits,
                                           compress_settings={"memLevel": 5})]
