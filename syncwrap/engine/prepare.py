"""What goes on the wire for one hop: the final headers, their bytes, the pool key.

Pure functions over a request's options (:mod:`.options`): the auto headers
(Host, User-Agent, Accept, Accept-Encoding), Authorization for Basic
credentials, the Cookie header, the body's framing headers, then the
serialised head in a :class:`PreparedRequest`, which also applies the hop's
proxy (:func:`.proxy.proxy_request`: the absolute-form target, Proxy-Authorization)
and keys the connection by it (:func:`connection_key`). Requests that use nothing
but the session's defaults share one PreparedRequest per (method, URL, TLS, proxy):
:func:`cached_request`.
"""

from __future__ import annotations

from http.cookies import Morsel
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy, getversion
from yarl import URL

from .auth import BasicAuth
from .connector import ConnectionKey
from .cookies import cookie_pairs
from .http1.writer import build_request_head, check_content_length
from .options import ExchangeOptions, RequestOptions, SessionDefaults
from .payload import Payload
from .proxy import ProxySpec, proxy_request
from .request import DEFAULT_ACCEPT_ENCODING, DEFAULT_USER_AGENT, host_header
from .response import RequestInfo
from .unix import UNIX_HOST_HEADER, UNIX_SCHEME, socket_path

__all__ = [
    "PreparedRequest",
    "connection_key",
    "send_headers",
    "cookie_header",
    "uses_only_defaults",
    "cached_request",
    "PREPARED_CACHE_SIZE",
]

PREPARED_CACHE_SIZE = 256
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def connection_key(url: URL, tls: Any, proxy: ProxySpec | None = None) -> ConnectionKey:
    """The pool key of a request to ``url``: where it connects, with which TLS, through
    which ``proxy``; an ``http+unix`` URL's connections are pooled per socket file."""
    if url.scheme == UNIX_SCHEME:
        return ConnectionKey(UNIX_HOST_HEADER, 80, False, None, path=socket_path(url))
    https = url.scheme == "https"
    return ConnectionKey(url.raw_host or "", url.port or 80, https, tls if https else None,
                         proxy)


class PreparedRequest:
    """One hop as it is sent: the final headers, the head's bytes, the pool key, the
    body (None for none) and the AuthFlow that authorized it (None for none).

    ``version`` is the default headers' multidict version a cached entry was built
    from (0 when not cached): changing ``session.headers`` invalidates it.
    ``routed``: proxies apply to the request (it has a ``ProxyRoute``); then
    ``headers`` become what goes to ``proxy`` (None: direct, and no
    Proxy-Authorization is sent) and the connection is keyed by it.
    """

    __slots__ = ("method", "headers", "head", "key", "request_info", "version", "payload",
                 "auth_flow")

    def __init__(self, method: str, url: URL, headers: CIMultiDict[str], tls: Any,
                 version: int = 0, payload: Payload | None = None, auth_flow: Any = None,
                 proxy: ProxySpec | None = None, routed: bool = False) -> None:
        self.method = method
        target = url.raw_path_qs or "/"
        if routed:
            headers, target, proxy = proxy_request(url, headers, proxy)
        self.headers = headers
        self.head = build_request_head(method, target, headers.items())
        self.key = connection_key(url, tls, proxy)
        # url is without the fragment (never sent); real_url keeps it, as in aiohttp
        bare_url = url.with_fragment(None) if url.raw_fragment else url
        self.request_info = RequestInfo(bare_url, method, CIMultiDictProxy(headers), url)
        self.version = version
        self.payload = payload
        self.auth_flow = auth_flow


def send_headers(
    method: str,
    url: URL,
    headers: CIMultiDict[str],
    payload: Payload | None,
    skip: frozenset[str],
    auth: BasicAuth | None,
    cookie: str,
    exchange: ExchangeOptions,
    force_close: bool,
) -> CIMultiDict[str]:
    """The headers sent: ``headers`` (not changed) plus the auto headers not in
    ``skip``, Basic ``auth``, the ``cookie`` header value, the body's framing
    headers, ``Expect`` and ``Connection: close`` for a ``force_close`` pool.

    Raises InvalidHeader or RequestBodyLengthError for a caller's Content-Length
    that is not one number or does not match the body's size.
    """
    out = CIMultiDict(headers)
    if "Host" not in out and "host" not in skip:
        out["Host"] = host_header(url)
    if "User-Agent" not in out and "user-agent" not in skip:
        out["User-Agent"] = DEFAULT_USER_AGENT
    if "Accept" not in out and "accept" not in skip:
        out["Accept"] = "*/*"
    if "Accept-Encoding" not in out and "accept-encoding" not in skip:
        out["Accept-Encoding"] = DEFAULT_ACCEPT_ENCODING
    if auth is not None and "Authorization" not in out:
        out["Authorization"] = auth.encode()
    if cookie:
        out["Cookie"] = cookie
    if payload is not None:
        add_body_headers(out, payload, skip, exchange)
    elif "Content-Length" in out:
        check_content_length(out.getall("Content-Length"), 0)
    elif method in _BODY_METHODS:
        out["Content-Length"] = "0"
    if exchange.expect100:
        out["Expect"] = "100-continue"
    if force_close and "Connection" not in out:
        out["Connection"] = "close"
    return out


def add_body_headers(headers: CIMultiDict[str], payload: Payload, skip: frozenset[str],
                     exchange: ExchangeOptions) -> None:
    """Add the payload's Content-Type and headers, and its framing: Content-Length
    when its size is known, else (or when compressed or chunked) chunked encoding."""
    if payload.content_type and "Content-Type" not in headers and "content-type" not in skip:
        headers["Content-Type"] = payload.content_type
    for name, value in payload.headers.items():
        headers.setdefault(name, value)
    te = headers.get("Transfer-Encoding", "").lower()
    if exchange.compress:
        headers["Content-Encoding"] = exchange.compress
    if exchange.chunked or exchange.compress or "chunked" in te:
        headers.popall("Content-Length", None)
        if "chunked" not in te:
            headers["Transfer-Encoding"] = "chunked"
    elif "Content-Length" in headers:  # the caller's: checked, or enforced if streamed
        check_content_length(headers.getall("Content-Length"), payload.size)
    elif payload.size is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(payload.size)


def cookie_header(jar: Any, url: URL, cookies: Any) -> str:
    """The Cookie header for ``url``: the jar's matching cookies (RFC 6265 order),
    then the request's ``cookies=``, which win over same-named jar cookies; "" for none.

    Raises ValueError for a CR, LF or NUL in a name or value.
    """
    pairs: list[tuple[str, str]] = []
    if len(jar):
        # Every matching cookie in RFC 6265 order, same-named ones on other paths too.
        cookies_for = getattr(jar, "cookies_for", None)
        morsels = (cookies_for(url) if cookies_for is not None
                   else jar.filter_cookies(url).values())
        pairs = [(morsel.key, morsel.coded_value) for morsel in morsels]
    if cookies:
        items = cookies.items() if hasattr(cookies, "items") else cookie_pairs(cookies)
        # A Morsel goes under its own name, its attributes ignored (aiohttp's way).
        extra = [(value.key, value.coded_value) if isinstance(value, Morsel)
                 else (str(name), str(getattr(value, "coded_value", value)))
                 for name, value in items]
        names = {name for name, _ in extra}
        pairs = [pair for pair in pairs if pair[0] not in names] + extra
    if not pairs:
        return ""
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    if "\r" in header or "\n" in header or "\x00" in header:
        raise ValueError("cookies=: cookie names and values must not contain CR, LF or NUL")
    return header


def uses_only_defaults(req: RequestOptions, defaults: SessionDefaults, jar: Any) -> bool:
    """True when ``req`` (already known to carry no auth) can be sent as the session's
    shared prepared request: no body, no cookies (its own or the jar's), the
    session's headers and auto headers, no ``Expect``."""
    return (req.payload is None and not req.cookies and req.headers is defaults.headers
            and req.skip is defaults.skip_auto_headers and not req.exchange.expect100
            and not len(jar))


def cached_request(cache: dict[tuple[Any, ...], PreparedRequest], req: RequestOptions,
                   force_close: bool, proxy: ProxySpec | None = None) -> PreparedRequest:
    """The shared PreparedRequest of a request that :func:`uses_only_defaults`, sent
    through ``proxy`` (this hop's, when ``req.route`` is set), from ``cache`` (at most
    :data:`PREPARED_CACHE_SIZE` entries), built if missing or stale."""
    routed = req.route is not None
    cache_key = (req.method, req.url, req.tls, proxy) if routed else (req.method, req.url, req.tls)
    prepared = cache.get(cache_key)
    version = getversion(req.headers)
    if prepared is None or prepared.version != version:
        headers = send_headers(req.method, req.url, req.headers, None, req.skip, None, "",
                               req.exchange, force_close)
        prepared = PreparedRequest(req.method, req.url, headers, req.tls, version, None, None,
                                   proxy, routed)
        if len(cache) >= PREPARED_CACHE_SIZE:
            cache.clear()
        cache[cache_key] = prepared
    return prepared
