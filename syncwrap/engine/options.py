"""What one request asks for: the session's defaults and a call's arguments, checked once.

:class:`SessionDefaults` holds the settings a :class:`~syncwrap.engine.ClientSession`
applies to every request. :func:`request_options` checks a call's keyword arguments
(raising at the call, naming the argument) and merges them with those defaults into
a :class:`RequestOptions`; :meth:`RequestOptions.redirected` gives the options of the
next hop after a redirect; :func:`proxy_route` is its proxy settings. No I/O here:
plain function calls.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from .auth import BasicAuth
from .auth_flow import check_auth
from .http1.parser import HeaderLimits
from .http1.writer import COMMON_METHODS, Compressor, validate_method
from .payload import JsonPayload, Payload, get_payload
from .proxy import ProxyRoute
from .redirects import REDIRECT_STATUSES, RedirectHop
from .request import build_url, merge_headers
from .response import DEFAULT_MAX_BODY_SIZE, check_max_body_size
from .streams import DEFAULT_HIGH_WATER
from .timeouts import DEFAULT_TIMEOUT, ClientTimeout, to_client_timeout
from .tls import SSLConfig, resolve_ssl

__all__ = ["UNSET", "ExchangeOptions", "SessionDefaults", "RequestOptions", "request_options",
           "proxy_route"]

#: "Not given" for arguments where None means something (``timeout=None``: no limit).
UNSET: Any = object()
_NO_STATUSES: frozenset[int] = frozenset()


@dataclass(slots=True)
class ExchangeOptions:
    """What the HTTP/1.1 connection and the body writer read for one exchange.

    ``raw_statuses`` are the statuses whose bodies are never decoded (the
    redirects that will be followed and drained).
    """

    auto_decompress: bool
    high_water: int
    limits: HeaderLimits
    read_timeout: float | None
    expect100: bool
    chunked: bool
    compress: str | None
    raw_statuses: frozenset[int]
    max_body_size: int | None


@dataclass(slots=True)
class SessionDefaults:
    """The settings every request of a session starts from (the session's properties
    read and write them; call :meth:`refresh` after changing ``timeout`` or
    ``max_body_size``). ``trace_configs``: the session's list (traced requests'
    signals get a copy of the headers). ``proxy`` (a URL, a requests-style mapping
    or None) and ``proxy_auth`` are the default proxy settings (:class:`.proxy.ProxyRoute`)."""

    base_url: URL | None = None
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    skip_auto_headers: frozenset[str] = frozenset()
    auth: Any = None
    json_serialize: Callable[[Any], str] = _json.dumps
    tls: SSLConfig = field(default_factory=lambda: resolve_ssl(True))
    timeout: ClientTimeout = DEFAULT_TIMEOUT
    raise_for_status: Any = False
    max_redirects: int = 10
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE
    auto_decompress: bool = True
    read_bufsize: int = DEFAULT_HIGH_WATER
    limits: HeaderLimits = field(default_factory=HeaderLimits)
    trust_env: bool = False
    trace_configs: list[Any] = field(default_factory=list)
    proxy: Any = None
    proxy_auth: BasicAuth | None = None
    exchange: ExchangeOptions = field(init=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the exchange options shared by requests that change none of them."""
        self.exchange = ExchangeOptions(
            auto_decompress=self.auto_decompress, high_water=self.read_bufsize,
            limits=self.limits, read_timeout=self.timeout.sock_read, expect100=False,
            chunked=False, compress=None, raw_statuses=REDIRECT_STATUSES,
            max_body_size=self.max_body_size,
        )


@dataclass(slots=True)
class RequestOptions:
    """One request, checked and merged with the session's defaults.

    ``headers`` are the caller's merged over the session's (``headers is
    defaults.headers`` when the call gave none); the session adds Host, cookies,
    auth and body framing per hop. ``auth`` is a BasicAuth, an AuthFlow or None;
    ``cookies`` the call's ``cookies=``; ``skip`` the auto headers not to add;
    ``route`` the proxy settings (None: no proxy applies, the request goes direct).
    """

    method: str
    url: URL
    headers: CIMultiDict[str]
    payload: Payload | None
    auth: Any
    cookies: Any
    skip: frozenset[str]
    tls: SSLConfig
    timeouts: ClientTimeout
    exchange: ExchangeOptions
    allow_redirects: bool
    max_redirects: int
    raise_for_status: Any
    trace_request_ctx: Any
    route: ProxyRoute | None = None

    def redirected(self, hop: RedirectHop) -> RequestOptions:
        """The options of the request sent after a redirect (see ``redirects.next_hop``)."""
        return replace(
            self, method=hop.method, url=hop.real_url, headers=hop.headers,
            payload=self.payload if hop.keep_body else None,
            auth=self.auth if hop.keep_auth else None,
            cookies=self.cookies if hop.keep_cookies else None,
        )


def request_options(
    defaults: SessionDefaults, method: str, str_or_url: str | URL, *,
    params: Any = None, allow_redirects: bool = True, max_redirects: int | None = None,
    headers: Any = None, skip_auto_headers: Iterable[str] | None = None,
    cookies: Any = None, auth: BasicAuth | None = None,
    data: Any = None, json: Any = None,
    compress: bool | str | None = None, chunked: bool | None = None, expect100: bool = False,
    timeout: Any = UNSET, raise_for_status: Any = None, trace_request_ctx: Any = None,
    ssl: Any = True, verify_ssl: bool | None = None, ssl_context: Any = None,
    fingerprint: bytes | None = None, server_hostname: str | None = None,
    auto_decompress: bool | None = None, read_bufsize: int | None = None,
    read_until_eof: bool = True, max_body_size: Any = UNSET,
    max_line_size: int | None = None, max_field_size: int | None = None,
    max_headers: int | None = None,
    proxy: Any = None, proxy_auth: BasicAuth | None = None, proxy_headers: Any = None,
) -> RequestOptions:
    """The options of one request: a ``ClientSession`` verb's keyword arguments (as in
    aiohttp's ``ClientSession.request``) checked and merged with ``defaults``.

    ``server_hostname`` is the name sent as SNI and checked in the certificate;
    with ``trust_env`` the session then adds the environment's CA bundle
    (``tls.ca_from_env``, off the loop);
    ``proxy``, ``proxy_auth`` and ``proxy_headers``: :func:`proxy_route`.
    ``read_until_eof`` is accepted and not used. Raises TypeError or ValueError
    naming the argument, InvalidURL for a bad URL.
    """
    if method not in COMMON_METHODS:
        method = validate_method(method)
    url = build_url(str_or_url, params, defaults.base_url)
    if headers is None and not defaults.trace_configs:
        req_headers = defaults.headers  # copied before anything changes it
    else:
        req_headers = merge_headers(defaults.headers, headers)
    if data is not None and json is not None:
        raise ValueError("data= and json= cannot both be set; pass one of them")
    if auth is not None and not isinstance(auth, BasicAuth):
        check_auth(auth)
    payload = None
    if data is not None or json is not None:
        payload = body_payload(data, json, req_headers, defaults.json_serialize)
    compress_name, framed = None, False
    if compress or chunked or payload is not None:
        compress_name, framed = body_framing(payload, req_headers, compress, chunked)
    tls = defaults.tls
    if (ssl is not True or verify_ssl is not None or ssl_context is not None
            or fingerprint is not None):
        tls = request_tls(tls, ssl, verify_ssl, ssl_context, fingerprint)
    if server_hostname is not None:
        tls = tls.with_server_hostname(server_hostname)
    skip = defaults.skip_auto_headers
    if skip_auto_headers:
        skip = skip | {h.lower() for h in skip_auto_headers}
    timeouts = defaults.timeout if timeout is UNSET else to_client_timeout(timeout)
    if url.raw_user is not None or url.raw_password is not None:
        url, auth = url_credentials(url, auth)
    if isinstance(defaults.auth, BasicAuth) and auth is None and "Authorization" in req_headers:
        raise ValueError("Cannot combine an Authorization header with the session's auth=")
    if (auto_decompress is None and read_bufsize is None and max_line_size is None
            and max_field_size is None and max_headers is None and not expect100 and not framed
            and compress_name is None and timeouts is defaults.timeout
            and allow_redirects and max_body_size is UNSET):
        exchange = defaults.exchange
    else:
        exchange = exchange_options(
            defaults, timeouts, auto_decompress=auto_decompress, read_bufsize=read_bufsize,
            limits=header_limits(defaults.limits, max_line_size, max_field_size, max_headers),
            expect100=expect100, chunked=framed, compress=compress_name,
            allow_redirects=allow_redirects, max_body_size=max_body_size,
        )
    return RequestOptions(
        method, url, req_headers, payload, defaults.auth if auth is None else auth, cookies,
        skip, tls, timeouts, exchange, allow_redirects,
        defaults.max_redirects if max_redirects is None else max_redirects,
        defaults.raise_for_status if raise_for_status is None else raise_for_status,
        trace_request_ctx, proxy_route(defaults, proxy, proxy_auth, proxy_headers),
    )


def proxy_route(defaults: SessionDefaults, proxy: Any, proxy_auth: BasicAuth | None,
                proxy_headers: Any) -> ProxyRoute | None:
    """A request's proxy settings over the session's (a mapping is merged over a
    default mapping); None when the request goes direct without looking."""
    return ProxyRoute.merged(proxy, proxy_auth, proxy_headers, default=defaults.proxy,
                             default_auth=defaults.proxy_auth, trust_env=defaults.trust_env)


def exchange_options(
    defaults: SessionDefaults, timeouts: ClientTimeout, *, auto_decompress: bool | None,
    read_bufsize: int | None, limits: HeaderLimits, expect100: bool, chunked: bool,
    compress: str | None, allow_redirects: bool, max_body_size: Any,
) -> ExchangeOptions:
    """The exchange options of a request that sets any of them (None/UNSET: the session's)."""
    return ExchangeOptions(
        auto_decompress=defaults.auto_decompress if auto_decompress is None else auto_decompress,
        high_water=read_bufsize or defaults.read_bufsize,
        limits=limits,
        read_timeout=timeouts.sock_read, expect100=expect100, chunked=chunked,
        compress=compress, raw_statuses=REDIRECT_STATUSES if allow_redirects else _NO_STATUSES,
        max_body_size=(defaults.max_body_size if max_body_size is UNSET
                       else check_max_body_size(max_body_size)),
    )


def body_payload(data: Any, json: Any, headers: CIMultiDict[str],
                 json_serialize: Callable[[Any], str]) -> Payload | None:
    """The body of ``data=`` or ``json=`` as a Payload, or None; a str ``data`` is
    encoded with the charset of the caller's Content-Type."""
    if json is not None:
        return JsonPayload(json, dumps=json_serialize)
    if data is not None:
        return get_payload(data, headers.get("Content-Type"))
    return None


def body_framing(payload: Payload | None, headers: CIMultiDict[str], compress: Any,
                 chunked: bool | None) -> tuple[str | None, bool]:
    """``(compress encoding or None, chunked)`` for ``compress=`` and ``chunked=``,
    checked against the caller's Content-Encoding, Content-Length and
    Transfer-Encoding headers before anything is sent."""
    if compress is True:
        compress = "deflate"
    if compress and "Content-Encoding" in headers:
        raise ValueError("compress= cannot be used with a Content-Encoding header; "
                         "set compress=False to send pre-compressed bytes")
    framing = "compress=" if compress else "chunked=True" if chunked else ""
    if payload is not None and "chunked" in headers.get("Transfer-Encoding", "").lower():
        chunked = True  # the caller's header: the body must be framed (never inline)
        framing = framing or "A Transfer-Encoding: chunked header"
    if framing and "Content-Length" in headers:
        raise ValueError(f"{framing} cannot be used with a Content-Length header")
    name = compress or None
    if name is not None:
        Compressor(name)  # validates the name
    return name, bool(chunked)


def request_tls(default: SSLConfig, ssl: Any, verify_ssl: bool | None, ssl_context: Any,
                fingerprint: bytes | None) -> SSLConfig:
    """The TLS settings of a request: the session's unless the call says otherwise."""
    if ssl is True and verify_ssl is None and ssl_context is None and fingerprint is None:
        return default
    tls = resolve_ssl(ssl, verify_ssl=verify_ssl, ssl_context=ssl_context,
                      fingerprint=fingerprint)
    if tls is resolve_ssl(True):  # the request's default defers to the session's
        return default
    return tls


def url_credentials(url: URL, auth: Any) -> tuple[URL, Any]:
    """``(url without user:password, auth)``: credentials in the URL become a BasicAuth."""
    url_auth = BasicAuth.from_url(url)
    if url_auth is None:
        return url, auth
    if auth is not None:
        raise ValueError("Credentials given both in the URL and in auth=")
    return url.with_user(None), url_auth


def header_limits(limits: HeaderLimits, max_line_size: int | None,
                  max_field_size: int | None, max_headers: int | None = None) -> HeaderLimits:
    """``limits`` with a call's ``max_line_size=`` / ``max_field_size=`` /
    ``max_headers=`` applied (the session's other limits kept)."""
    if max_line_size is None and max_field_size is None and max_headers is None:
        return limits
    if max_headers is not None and (type(max_headers) is not int or max_headers < 1):
        raise ValueError(f"max_headers=: expected a positive int, got {max_headers!r}")
    return HeaderLimits(max_line_size=max_line_size or limits.max_line_size,
                        max_field_size=max_field_size or limits.max_field_size,
                        max_headers=max_headers or limits.max_headers,
                        max_head_size=limits.max_head_size, max_interim=limits.max_interim)
