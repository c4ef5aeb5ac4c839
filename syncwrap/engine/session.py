"""ClientSession: the engine's entry point (aiohttp's ClientSession API)."""

from __future__ import annotations

import asyncio
import json as _json
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy, getversion
from yarl import URL

from ..exceptions import (
    ClientConnectionError,
    ClientOSError,
    InvalidURL,
    ServerDisconnectedError,
    TooManyRedirects,
)
from . import tracing as _tracing
from .auth import BasicAuth
from .auth_flow import authorize as _authorize
from .auth_flow import check_auth, wants_retry
from .connector import BaseConnector, ConnectionKey, TCPConnector
from .cookies import CookieJar
from .http1.body_writer import BodyWriter
from .http1.parser import HeaderLimits, ResponseHead
from .http1.writer import (
    COMMON_METHODS,
    Compressor,
    build_request_head,
    check_content_length,
    validate_method,
)
from .netrc_auth import netrc_auth
from .payload import BytesPayload, JsonPayload, Payload, get_payload
from .proxy import ProxyRoute, ProxySpec, proxy_request
from .redirects import REDIRECT_STATUSES, next_hop, redirect_target
from .request import (
    DEFAULT_ACCEPT_ENCODING,
    DEFAULT_USER_AGENT,
    build_url,
    host_header,
    merge_headers,
)
from .response import DEFAULT_MAX_BODY_SIZE, ClientResponse, RequestInfo, check_max_body_size
from .streams import DEFAULT_HIGH_WATER
from .timeouts import (
    DEFAULT_TIMEOUT,
    ClientTimeout,
    DeadlineQueue,
    DeadlineTimer,
    to_client_timeout,
)
from .tls import SSLConfig, ca_from_env, resolve_ssl
from .unix import UNIX_HOST_HEADER, UNIX_SCHEME, parse_url, socket_path
from .websocket import WSRequestContextManager
from .websocket import ws_connect as _ws_connect

__all__ = ["ClientSession", "request"]

_SENTINEL: Any = object()
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_INLINE_BODY_MAX = 256 * 1024
_DRAIN_LIMIT = 64 * 1024  # raw bytes of a redirect's body dropped to keep the connection
_PREPARED_CACHE_SIZE = 256


class _RequestContextManager:
    """What ``session.get()`` returns: await it, or use it with ``async with``."""

    __slots__ = ("_coro", "_resp")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._resp: ClientResponse | None = None

    def __await__(self) -> Any:
        return self._coro.__await__()

    async def __aenter__(self) -> ClientResponse:
        self._resp = await self._coro
        return self._resp

    async def __aexit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.release()


class ClientSession:
    """A set of defaults and a connection pool for making requests.

    ``async with ClientSession() as s: async with s.get(url) as r: ...``

    ``max_body_size`` (default 1 GiB; None: no limit; also per request) bounds what
    ``read()``, ``text()`` and ``json()`` accept: a larger body raises BodyTooLargeError.
    ``ssl`` (True, False, an SSLContext, a Fingerprint; default: the connector's)
    is the TLS setting of the session's requests; a request's ``ssl=`` wins, and
    its ``server_hostname=`` is the name sent as SNI and checked in the certificate.
    ``trust_env=True`` reads ``.netrc`` and the CA bundle variables (tls.ca_from_env).

    The defaults are readable properties, as in aiohttp; syncwrap adds setters
    (``headers``, ``auth``, ``timeout``, ``ssl``, ``raise_for_status``,
    ``max_redirects``, ``max_body_size``, ``trust_env``, ``cookie_jar``): a new
    value applies to the requests started afterwards. The blocking facade's
    Session attributes are views onto them.
    """

    def __init__(
        self,
        base_url: str | URL | None = None,
        *,
        connector: BaseConnector | None = None,
        cookies: Any = None,
        headers: Any = None,
        skip_auto_headers: Iterable[str] | None = None,
        auth: BasicAuth | None = None,
        json_serialize: Callable[[Any], str] = _json.dumps,
        cookie_jar: Any = None,
        connector_owner: bool = True,
        raise_for_status: bool | Callable[[ClientResponse], Any] = False,
        timeout: Any = _SENTINEL,
        auto_decompress: bool = True,
        trust_env: bool = False,
        read_bufsize: int = DEFAULT_HIGH_WATER,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_redirects: int = 10,
        trace_configs: list[Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        ssl: Any = None,
        proxy: Any = None,
        proxy_auth: BasicAuth | None = None,
    ) -> None:
        if base_url is None or isinstance(base_url, URL):
            self._base_url = base_url
        else:
            self._base_url = parse_url(base_url)
        if self._base_url is not None and not self._base_url.is_absolute():
            raise InvalidURL(base_url, "base_url= must be absolute")
        self._connector = connector if connector is not None else TCPConnector()
        self._connector_owner = connector_owner
        self._default_headers = merge_headers(None, headers)
        self._skip_auto_headers = frozenset(h.lower() for h in (skip_auto_headers or ()))
        check_auth(auth)  # BasicAuth or an AuthFlow (DigestAuth...)
        self._default_auth = auth
        self._json_serialize = json_serialize
        self._cookie_jar = cookie_jar if cookie_jar is not None else CookieJar()
        if cookies is not None:
            self._cookie_jar.update_cookies(cookies)
        self._raise_for_status = raise_for_status
        self._timeout = DEFAULT_TIMEOUT if timeout is _SENTINEL else to_client_timeout(timeout)
        self._auto_decompress = auto_decompress
        self._trust_env = trust_env
        self.proxy = proxy
        self.proxy_auth = proxy_auth
        self._read_bufsize = read_bufsize
        self._limits = HeaderLimits(max_line_size=max_line_size, max_field_size=max_field_size)
        self._max_redirects = max_redirects
        self._trace_configs = list(trace_configs or ())
        for trace_config in self._trace_configs:
            trace_config.freeze()
        self._closed = False
        self._loop = loop
        # Per-request work that only depends on session settings, done once.
        self.ssl = ssl
        self._max_body_size = check_max_body_size(max_body_size)
        self._refresh_default_options()
        self._deadlines: DeadlineQueue | None = None
        self._prepared: dict[tuple[str, URL, Any], _PreparedRequest] = {}

    # -- properties --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed or self._connector.closed

    @property
    def connector(self) -> BaseConnector:
        return self._connector

    @property
    def base_url(self) -> URL | None:
        return self._base_url

    @property
    def cookie_jar(self) -> Any:
        return self._cookie_jar

    @cookie_jar.setter
    def cookie_jar(self, jar: Any) -> None:
        self._cookie_jar = jar if jar is not None else CookieJar()

    @property
    def headers(self) -> CIMultiDict[str]:
        """The default headers: the multidict itself, so changes reach later requests."""
        return self._default_headers

    @headers.setter
    def headers(self, headers: Any) -> None:
        """A CIMultiDict is used as it is (not copied); other mappings and pairs are copied."""
        if not isinstance(headers, CIMultiDict):
            headers = merge_headers(None, headers)
        self._default_headers = headers

    @property
    def timeout(self) -> ClientTimeout:
        return self._timeout

    @timeout.setter
    def timeout(self, timeout: Any) -> None:
        """A ClientTimeout, a number (total seconds), None (no limit) or (connect, read)."""
        self._timeout = to_client_timeout(timeout)
        self._refresh_default_options()

    @property
    def auth(self) -> Any:
        """The default auth: a BasicAuth, an AuthFlow (DigestAuth...) or None."""
        return self._default_auth

    @auth.setter
    def auth(self, auth: Any) -> None:
        check_auth(auth)
        self._default_auth = auth

    @property
    def ssl(self) -> SSLConfig:
        """The TLS of the session's requests, resolved (its ``verify`` and ``cert`` say
        it in requests' terms). Set it to True, False, an SSLContext, a Fingerprint,
        an SSLConfig (:func:`~syncwrap.engine.tls.ssl_for`), or None for the connector's."""
        return self._default_tls

    @ssl.setter
    def ssl(self, ssl: Any) -> None:
        if ssl is None:
            self._default_tls = getattr(self._connector, "ssl", None) or resolve_ssl(True)
        else:
            self._default_tls = resolve_ssl(ssl)

    @property
    def raise_for_status(self) -> bool | Callable[[ClientResponse], Any]:
        """True: a 4xx/5xx response raises HTTPError; a callable is called (and awaited)
        with every response instead."""
        return self._raise_for_status

    @raise_for_status.setter
    def raise_for_status(self, value: bool | Callable[[ClientResponse], Any]) -> None:
        if not isinstance(value, bool) and not callable(value):
            raise TypeError(f"raise_for_status=: expected a bool or a callable, got {value!r}")
        self._raise_for_status = value

    @property
    def max_redirects(self) -> int:
        return self._max_redirects

    @max_redirects.setter
    def max_redirects(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"max_redirects=: expected an int >= 0, got {value!r}")
        self._max_redirects = value

    @property
    def max_body_size(self) -> int | None:
        return self._max_body_size

    @max_body_size.setter
    def max_body_size(self, value: int | None) -> None:
        self._max_body_size = check_max_body_size(value)
        self._refresh_default_options()

    @property
    def auto_decompress(self) -> bool:
        return self._auto_decompress

    @property
    def trace_configs(self) -> list[Any]:
        return self._trace_configs

    @property
    def trust_env(self) -> bool:
        return self._trust_env

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        self._trust_env = bool(value)

    @property
    def proxy(self) -> Any:
        """The default proxy: a URL (``"http://user:pass@host:port"``, ``socks5://``...), a
        requests-style mapping (``{"https": url, "all://host": url}``; the object itself,
        so changes reach later requests), or None. A request's ``proxy=`` wins."""
        return self._proxy

    @proxy.setter
    def proxy(self, proxy: Any) -> None:
        ProxyRoute(proxy, None, None, False)  # checks the type at the call
        self._proxy = proxy

    @property
    def proxy_auth(self) -> BasicAuth | None:
        """The default proxy credentials (a BasicAuth); a request's ``proxy_auth=`` wins."""
        return self._proxy_auth

    @proxy_auth.setter
    def proxy_auth(self, auth: BasicAuth | None) -> None:
        ProxyRoute(None, auth, None, False)
        self._proxy_auth = auth

    @property
    def skip_auto_headers(self) -> frozenset[str]:
        return self._skip_auto_headers

    def _refresh_default_options(self) -> None:
        """Rebuild the options of requests that only use the defaults (after a change)."""
        self._default_options = _RequestOptions(
            auto_decompress=self._auto_decompress, high_water=self._read_bufsize,
            limits=self._limits, read_timeout=self._timeout.sock_read, expect100=False,
            chunked=False, compress=None, raw_statuses=REDIRECT_STATUSES,
            max_body_size=self._max_body_size,
        )

    # -- verbs -------------------------------------------------------------------

    def request(self, method: str, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        """Send a request; use with ``await`` or ``async with``."""
        return _RequestContextManager(self._request(method, url, **kwargs))

    def get(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("GET", url, **kwargs))

    def options(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("OPTIONS", url, **kwargs))

    def head(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        kwargs.setdefault("allow_redirects", False)
        return _RequestContextManager(self._request("HEAD", url, **kwargs))

    def post(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("POST", url, data=data, **kwargs))

    def put(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("PUT", url, data=data, **kwargs))

    def patch(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("PATCH", url, data=data, **kwargs))

    def delete(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request("DELETE", url, **kwargs))

    # -- the request -------------------------------------------------------------

    async def _request(
        self,
        method: str,
        str_or_url: str | URL,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        cookies: Any = None,
        headers: Any = None,
        skip_auto_headers: Iterable[str] | None = None,
        auth: BasicAuth | None = None,
        allow_redirects: bool = True,
        max_redirects: int | None = None,
        compress: bool | str | None = None,
        chunked: bool | None = None,
        expect100: bool = False,
        raise_for_status: Any = None,
        read_until_eof: bool = True,
        timeout: Any = _SENTINEL,
        ssl: Any = True,
        verify_ssl: bool | None = None,
        ssl_context: Any = None,
        fingerprint: bytes | None = None,
        auto_decompress: bool | None = None,
        max_line_size: int | None = None,
        max_field_size: int | None = None,
        read_bufsize: int | None = None,
        server_hostname: str | None = None,
        trace_request_ctx: Any = None,
        max_body_size: Any = _SENTINEL,
        proxy: Any = None,
        proxy_auth: BasicAuth | None = None,
        proxy_headers: Any = None,
    ) -> ClientResponse:
        if self._closed:
            raise RuntimeError("Session is closed")
        if method not in COMMON_METHODS:
            method = validate_method(method)
        url = build_url(str_or_url, params, self._base_url)
        if headers is None and not self._trace_configs:
            req_headers = self._default_headers  # copied before anything changes it
        else:
            req_headers = merge_headers(self._default_headers, headers)
        if data is not None and json is not None:
            raise ValueError("data= and json= cannot both be set; pass one of them")
        if auth is not None and not isinstance(auth, BasicAuth):
            check_auth(auth)
        payload: Payload | None = None
        if json is not None:
            payload = JsonPayload(json, dumps=self._json_serialize)
        elif data is not None:  # a str body is encoded with the Content-Type's charset
            payload = get_payload(data, req_headers.get("Content-Type"))
        if compress is True:
            compress = "deflate"
        if compress and "Content-Encoding" in req_headers:
            raise ValueError("compress= cannot be used with a Content-Encoding header; "
                             "set compress=False to send pre-compressed bytes")
        framing = "compress=" if compress else "chunked=True" if chunked else ""
        if payload is not None and "chunked" in req_headers.get("Transfer-Encoding", "").lower():
            chunked = True  # the caller's header: the body must be framed (never inline)
            framing = framing or "A Transfer-Encoding: chunked header"
        if framing and "Content-Length" in req_headers:
            raise ValueError(f"{framing} cannot be used with a Content-Length header")
        compressor_name = compress or None
        if compressor_name is not None:
            Compressor(compressor_name)  # validates the name before anything is sent
        if ssl is True and verify_ssl is None and ssl_context is None and fingerprint is None:
            tls = self._default_tls
        else:
            tls = resolve_ssl(ssl, verify_ssl=verify_ssl, ssl_context=ssl_context,
                              fingerprint=fingerprint)
            if tls is resolve_ssl(True):  # the request's default defers to the connector's
                tls = self._default_tls
        if server_hostname is not None:
            tls = tls.with_server_hostname(server_hostname)
        if self._trust_env:
            tls = ca_from_env(tls)
        skip = self._skip_auto_headers
        if skip_auto_headers:
            skip = skip | {h.lower() for h in skip_auto_headers}
        timeouts = self._timeout if timeout is _SENTINEL else to_client_timeout(timeout)
        if max_redirects is None:
            max_redirects = self._max_redirects
        if raise_for_status is None:
            raise_for_status = self._raise_for_status

        loop = self._connector.loop  # bound on first use; saves a getpid() per call
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = DeadlineQueue.for_loop(loop)
        timer = DeadlineTimer(deadlines, timeouts.total)
        history: list[ClientResponse] = []
        url_auth = BasicAuth.from_url(url)
        if url_auth is not None:
            if auth is not None:
                raise ValueError("Credentials given both in the URL and in auth=")
            auth = url_auth
            url = url.with_user(None)
        if auth is None and self._default_auth is not None:
            auth = self._default_auth
        if (auto_decompress is None and read_bufsize is None and max_line_size is None
                and max_field_size is None and not expect100 and not chunked
                and compressor_name is None and timeouts is self._timeout
                and allow_redirects and max_body_size is _SENTINEL):
            options = self._default_options
        else:
            options = _RequestOptions(
                auto_decompress=(self._auto_decompress if auto_decompress is None
                                 else auto_decompress),
                high_water=read_bufsize or self._read_bufsize,
                limits=self._limits if max_line_size is None and max_field_size is None
                else HeaderLimits(max_line_size=max_line_size or self._limits.max_line_size,
                                  max_field_size=max_field_size or self._limits.max_field_size),
                read_timeout=timeouts.sock_read,
                expect100=expect100,
                chunked=bool(chunked),
                compress=compressor_name,
                raw_statuses=REDIRECT_STATUSES if allow_redirects else frozenset(),
                max_body_size=(self._max_body_size if max_body_size is _SENTINEL
                               else check_max_body_size(max_body_size)),
            )
        body = payload  # a 303 drops `payload`; the body is still closed at the end
        route = self._proxy_route(proxy, proxy_auth, proxy_headers)
        traces: _tracing.Traces = ()
        trace_token = None
        retried_at: URL | None = None  # the URL an AuthFlow has had its one retry for
        try:
            if self._trace_configs:
                traces = await _tracing.request_start(
                    self, self._trace_configs, trace_request_ctx, method, url, req_headers
                )
                trace_token = _tracing.activate(traces)
            while True:
                hop_auth = auth
                if hop_auth is None and self._trust_env:
                    hop_auth = netrc_auth(url)
                flow = None
                if (hop_auth is None and payload is None and not cookies
                        and req_headers is self._default_headers and skip is self._skip_auto_headers
                        and not expect100 and not len(self._cookie_jar)):
                    cache_key = (method, url, tls)
                    prepared = self._prepared.get(cache_key)
                    version = getversion(req_headers)
                    if prepared is None or prepared.version != version:
                        send_headers = self._prepare_headers(
                            method, url, req_headers, None, skip, None, None, options
                        )
                        prepared = _PreparedRequest(method, url, send_headers, tls, version)
                        if len(self._prepared) >= _PREPARED_CACHE_SIZE:
                            self._prepared.clear()
                        self._prepared[cache_key] = prepared
                else:
                    if hop_auth is not None and not isinstance(hop_auth, BasicAuth):
                        flow, hop_auth = hop_auth, None  # an AuthFlow (DigestAuth...)
                    if traces:
                        payload = _tracing.traced_payload(payload, traces, method, url)
                    send_headers = self._prepare_headers(
                        method, url, req_headers, payload, skip, hop_auth, cookies, options
                    )
                    if flow is not None and "Authorization" not in req_headers:
                        send_headers = await _authorize(flow, method, url, send_headers, payload)
                    else:
                        flow = None
                    prepared = _PreparedRequest(method, url, send_headers, tls, 0)
                proxy_spec = route.for_url(url, tls) if route is not None else None
                if route is not None and (proxy_spec is not None
                                          or "Proxy-Authorization" in prepared.headers):
                    prepared = _PreparedRequest(method, url, prepared.headers, tls, 0, proxy_spec,
                                                routed=True)
                resp = await self._send(
                    prepared, payload, timer, timeouts, options, tuple(history) if history else ()
                )
                set_cookies = (resp.headers.getall("Set-Cookie", ())
                               if resp.has_header(b"set-cookie") else ())
                if set_cookies:
                    self._store_cookies(set_cookies, url)
                if (flow is not None and await wants_retry(flow, resp) and retried_at is not url
                        and (payload is None or payload.replayable)):
                    retried_at = url  # once per URL: a flow cannot loop
                    await _drain_for_redirect(resp)
                    continue
                if resp.status in REDIRECT_STATUSES and allow_redirects:
                    location = resp.headers.get("Location") or resp.headers.get("URI")
                    if location:
                        if traces:
                            await _tracing.request_redirect(traces, method, url, req_headers,
                                                            resp)
                        history.append(resp)
                        if len(history) > max_redirects:
                            resp.close()
                            raise TooManyRedirects(
                                resp.request_info, tuple(history), status=resp.status,
                                message=f"Exceeded {max_redirects} redirects",
                                headers=resp.headers, response=resp,
                            )
                        await _drain_for_redirect(resp)
                        hop = next_hop(method, url, resp.status, location, req_headers,
                                       has_body=payload is not None,
                                       replayable=payload is None or payload.replayable,
                                       same_proxy=_keeps_proxy(route, proxy_spec, url, location,
                                                               tls))
                        method, url, req_headers = hop.method, hop.url, hop.headers
                        payload = payload if hop.keep_body else None
                        auth = auth if hop.keep_auth else None
                        cookies = cookies if hop.keep_cookies else None
                        continue
                break
            if raise_for_status:
                if callable(raise_for_status):
                    result = raise_for_status(resp)
                    if asyncio.iscoroutine(result):
                        await result
                else:
                    resp.raise_for_status()
            if traces:
                resp._traces = traces  # for on_response_chunk_received in read()
                await _tracing.request_end(traces, method, url, req_headers, resp)
            return resp
        except BaseException as exc:
            timer.cancel()
            if traces:
                await _tracing.request_exception(traces, method, url, req_headers, exc)
            raise
        finally:
            if trace_token is not None:
                _tracing.deactivate(trace_token)
            if body is not None:  # e.g. closes an async generator left unfinished
                await body.close()

    def _proxy_route(self, proxy: Any, proxy_auth: BasicAuth | None, proxy_headers: Any
                     ) -> ProxyRoute | None:
        """A request's proxy settings over the session's; None when it goes direct."""
        return ProxyRoute.merged(proxy, proxy_auth, proxy_headers, default=self._proxy,
                                 default_auth=self._proxy_auth, trust_env=self._trust_env)

    def _prepare_headers(
        self,
        method: str,
        url: URL,
        req_headers: CIMultiDict[str],
        payload: Payload | None,
        skip: frozenset[str],
        auth: BasicAuth | None,
        cookies: Any,
        options: _RequestOptions,
    ) -> CIMultiDict[str]:
        headers = CIMultiDict(req_headers)
        if "Host" not in headers and "host" not in skip:
            headers["Host"] = host_header(url)
        if "User-Agent" not in headers and "user-agent" not in skip:
            headers["User-Agent"] = DEFAULT_USER_AGENT
        if "Accept" not in headers and "accept" not in skip:
            headers["Accept"] = "*/*"
        if "Accept-Encoding" not in headers and "accept-encoding" not in skip:
            headers["Accept-Encoding"] = DEFAULT_ACCEPT_ENCODING
        if auth is not None and "Authorization" not in headers:
            headers["Authorization"] = auth.encode()
        cookie_header = self._cookie_header(url, cookies)
        if cookie_header:
            headers["Cookie"] = cookie_header
        if payload is not None:
            if (payload.content_type and "Content-Type" not in headers
                    and "content-type" not in skip):
                headers["Content-Type"] = payload.content_type
            for name, value in payload.headers.items():
                headers.setdefault(name, value)
            te = headers.get("Transfer-Encoding", "").lower()
            if options.compress:
                headers["Content-Encoding"] = options.compress
            if options.chunked or options.compress or "chunked" in te:
                headers.popall("Content-Length", None)
                if "chunked" not in te:
                    headers["Transfer-Encoding"] = "chunked"
            elif "Content-Length" in headers:  # the caller's: checked, or enforced if streamed
                check_content_length(headers.getall("Content-Length"), payload.size)
            elif payload.size is None:
                headers["Transfer-Encoding"] = "chunked"
            else:
                headers["Content-Length"] = str(payload.size)
        elif "Content-Length" in headers:
            check_content_length(headers.getall("Content-Length"), 0)
        elif method in _BODY_METHODS:
            headers["Content-Length"] = "0"
        if options.expect100:
            headers["Expect"] = "100-continue"
        if self._connector.force_close and "Connection" not in headers:
            headers["Connection"] = "close"
        return headers

    def _cookie_header(self, url: URL, cookies: Any) -> str:
        jar = self._cookie_jar
        pairs: list[tuple[str, str]] = []
        if len(jar):
            # Every matching cookie in RFC 6265 order, same-named ones on other paths too.
            cookies_for = getattr(jar, "cookies_for", None)
            morsels = (cookies_for(url) if cookies_for is not None
                       else jar.filter_cookies(url).values())
            pairs = [(morsel.key, morsel.coded_value) for morsel in morsels]
        if cookies:
            items = cookies.items() if hasattr(cookies, "items") else cookies
            extra = [(str(name), str(getattr(value, "coded_value", value)))
                     for name, value in items]
            names = {name for name, _ in extra}  # this request's cookies win over the jar's
            pairs = [pair for pair in pairs if pair[0] not in names] + extra
        if not pairs:
            return ""
        header = "; ".join(f"{name}={value}" for name, value in pairs)
        if "\r" in header or "\n" in header or "\x00" in header:
            raise ValueError("cookies=: cookie names and values must not contain CR, LF or NUL")
        return header

    def _store_cookies(self, values: Iterable[str], url: URL) -> None:
        updater = getattr(self._cookie_jar, "update_cookies_from_headers", None)
        if updater is not None:
            updater(list(values), url)

    async def _send(
        self,
        prepared: _PreparedRequest,
        payload: Payload | None,
        timer: DeadlineTimer,
        timeouts: ClientTimeout,
        options: _RequestOptions,
        history: tuple[ClientResponse, ...],
    ) -> ClientResponse:
        method = prepared.method
        key = prepared.key
        attempts = 2 if method in _IDEMPOTENT and (payload is None or payload.replayable) else 1
        for attempt in range(attempts):
            conn = None if self._trace_configs else self._connector.acquire_idle(key)
            if conn is None:  # traced requests report reuse through connect()
                conn = await self._connect(key, timer, timeouts)
            protocol = conn.protocol
            reused = protocol.reused  # a fresh protocol has never completed one
            if timer.active:
                timer.attach(protocol)
            writer_task = None
            try:
                head_waiter = protocol.start_response(method, options)
                if payload is None:
                    protocol.send(prepared.head)
                elif (isinstance(payload, BytesPayload) and not options.chunked
                      and not options.compress and not options.expect100
                      and len(payload.body) <= _INLINE_BODY_MAX):
                    protocol.send(prepared.head + payload.body)
                else:
                    protocol.send(prepared.head)
                    writer_task = asyncio.ensure_future(
                        _write_body(protocol, payload, options, prepared.headers)
                    )
                    writer_task.add_done_callback(_report_writer_error(protocol))
                head: ResponseHead = await head_waiter
            except (ServerDisconnectedError, ClientOSError) as exc:
                conn.close()
                if writer_task is not None:
                    writer_task.cancel()
                nothing_received = protocol.received_nothing
                if reused and nothing_received and attempt + 1 < attempts:
                    continue
                if isinstance(exc, ServerDisconnectedError):
                    raise
                raise ClientConnectionError(str(exc)) from exc
            except BaseException:
                conn.close()
                if writer_task is not None:
                    writer_task.cancel()
                raise
            if writer_task is not None and not writer_task.done():
                protocol.abandon()  # the server answered before the body was sent
                writer_task.cancel()
            request_info = prepared.request_info
            return ClientResponse(
                method,
                request_info.url,
                head=head,
                connection=conn,
                request_info=request_info,
                history=history,
                timer=timer if timer.active else None,
                session=self,
                max_body_size=options.max_body_size,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self, key: ConnectionKey, timer: DeadlineTimer, timeouts: ClientTimeout):
        timer.connecting = True
        try:
            with timer:
                if timeouts.connect:
                    try:
                        return await asyncio.wait_for(
                            self._connector.connect(key, timeouts), timeouts.connect
                        )
                    except asyncio.TimeoutError as exc:
                        from ..exceptions import ConnectTimeout

                        if isinstance(exc, ConnectTimeout):
                            raise
                        raise ConnectTimeout(
                            f"Connection to {key.host}:{key.port} timed out after "
                            f"{timeouts.connect} s (connect timeout)"
                        ) from None
                return await self._connector.connect(key, timeouts)
        finally:
            timer.connecting = False

    # -- lifetime ----------------------------------------------------------------

    async def close(self) -> None:
        """Close the session and, if it owns it, the connector."""
        if not self._closed:
            self._closed = True
            if self._connector_owner:
                await self._connector.close()

    def detach(self) -> None:
        """Forget the connector without closing it."""
        self._closed = True

    async def __aenter__(self) -> ClientSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True) and getattr(self, "_connector_owner", False):
            connector = getattr(self, "_connector", None)
            if connector is not None and connector.has_connections:
                _warn(f"Unclosed client session {self!r}", ResourceWarning, source=self)

    # -- WebSocket ---------------------------------------------------------------

    def ws_connect(self, url: str | URL, **kwargs: Any) -> WSRequestContextManager:
        """Open a WebSocket: ``async with session.ws_connect(url) as ws:`` (or await it).

        The upgrade request goes through this session (its headers, cookies, auth,
        proxies, TLS). Arguments: see :func:`syncwrap.engine.websocket.connect`.
        """
        if self._closed:
            raise RuntimeError("Session is closed")
        return _ws_connect(self, url, **kwargs)


class _PreparedRequest:
    """What goes on the wire for one hop: the final headers, their bytes, the pool key.

    Requests that only use the session's defaults reuse one of these per
    (method, URL); ``version`` is the default headers' multidict version when it
    was built, so changing ``session.headers`` invalidates it.
    """

    __slots__ = ("method", "headers", "head", "key", "request_info", "version")

    def __init__(self, method: str, url: URL, headers: CIMultiDict[str], tls: Any,
                 version: int, proxy: ProxySpec | None = None, routed: bool = False) -> None:
        self.method = method
        target = url.raw_path_qs or "/"
        if routed:  # proxies apply: what goes to the proxy, and the connection keyed by it
            headers, target, proxy = proxy_request(url, headers, proxy)
        self.headers = headers
        self.head = build_request_head(method, target, headers.items())
        https = url.scheme == "https"
        if url.scheme == UNIX_SCHEME:  # pooled per socket file
            self.key = ConnectionKey(UNIX_HOST_HEADER, 80, False, None, path=socket_path(url))
        else:
            self.key = ConnectionKey(url.raw_host or "", url.port or 80, https,
                                     tls if https else None, proxy)
        # url is without the fragment (never sent); real_url keeps it, as in aiohttp
        bare_url = url.with_fragment(None) if url.raw_fragment else url
        self.request_info = RequestInfo(bare_url, method, CIMultiDictProxy(headers), url)
        self.version = version


class _RequestOptions:
    __slots__ = ("auto_decompress", "high_water", "limits", "read_timeout", "expect100",
                 "chunked", "compress", "raw_statuses", "max_body_size")

    def __init__(
        self,
        auto_decompress: bool,
        high_water: int,
        limits: HeaderLimits,
        read_timeout: float | None,
        expect100: bool,
        chunked: bool,
        compress: str | None,
        raw_statuses: frozenset[int],
        max_body_size: int | None,
    ) -> None:
        self.auto_decompress = auto_decompress
        self.high_water = high_water
        self.limits = limits
        self.read_timeout = read_timeout
        self.expect100 = expect100
        self.chunked = chunked
        self.compress = compress
        self.raw_statuses = raw_statuses  # bodies never decoded: redirects to follow
        self.max_body_size = max_body_size


def _keeps_proxy(route: ProxyRoute | None, current: ProxySpec | None, url: URL, location: str,
                 tls: Any) -> bool:
    """For :func:`next_hop`: whether the redirect to ``location`` goes through the same
    proxy, so that a Proxy-Authorization header may stay."""
    if route is None:
        return False
    return route.same_proxy(current, route.for_url(redirect_target(url, location), tls))


async def _drain_for_redirect(resp: ClientResponse) -> None:
    """Drop a redirect's (or a retried 401's) body raw, never decoded, so the connection
    can be reused; close it instead when more than _DRAIN_LIMIT bytes of it are left."""
    await resp.discard_body(_DRAIN_LIMIT)


async def _write_body(protocol: Any, payload: Payload, options: _RequestOptions,
                      headers: CIMultiDict[str]) -> None:
    if options.expect100 and not await protocol.wait_continue():
        protocol.abandon()
        return
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    writer = BodyWriter(protocol, chunked=chunked,
                        compressor=Compressor(options.compress) if options.compress else None,
                        length=None if chunked else int(headers["Content-Length"]))
    await payload.write(writer)
    await writer.finish()


def _report_writer_error(protocol: Any) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            protocol.fail(exc)

    return done


def request(method: str, url: str | URL, **kwargs: Any) -> _RequestContextManager:
    """A one-off request with its own session: ``async with request("GET", url) as r:``."""

    async def run() -> ClientResponse:
        session = ClientSession(connector=TCPConnector(force_close=True))
        try:
            resp = await session._request(method, url, **kwargs)
            await resp.read()
            return resp
        finally:
            await session.close()

    return _RequestContextManager(run())
