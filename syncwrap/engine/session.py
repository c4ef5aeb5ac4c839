"""ClientSession: the engine's entry point (aiohttp's ClientSession API).

A request is checked once into :class:`~.options.RequestOptions`, then sent hop
by hop: each hop gets its proxy (:class:`.proxy.ProxyRoute`), is prepared
(:mod:`.prepare`), sent on a pooled connection (:mod:`.exchange`),
its cookies stored, and then, by the session's policy, retried once for an
AuthFlow (:mod:`.auth_flow`) or followed to a redirect's target
(:func:`.redirects.next_hop`). A hop's send is repeated as its Retry policy
says (:mod:`.retry`, applied by :mod:`.retrying`).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import replace
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from ..exceptions import InvalidURL, TooManyRedirects
from . import tracing as _tracing
from .auth import BasicAuth
from .auth_flow import authorize, check_auth, wants_retry
from .connector import BaseConnector, TCPConnector
from .cookies import CookieJar, load_public_suffixes, public_suffixes_ready
from .exchange import send
from .http1.parser import HeaderLimits
from .middlewares import ClientMiddlewareType, ClientRequest, check_middlewares, run_chain
from .netrc_auth import load_netrc, netrc_auth
from .options import UNSET, RequestOptions, SessionDefaults, request_options
from .payload import strict_dumps
from .prepare import (
    PreparedRequest,
    cached_request,
    cookie_header,
    send_headers,
    uses_only_defaults,
)
from .proxy import ProxyRoute, ProxySpec
from .redirects import REDIRECT_STATUSES, next_hop, redirect_target
from .request import merge_headers
from .response import DEFAULT_MAX_BODY_SIZE, ClientResponse, check_max_body_size
from .retry import Retry, to_retry
from .retrying import send_retrying
from .streams import DEFAULT_HIGH_WATER
from .timeouts import (
    DEFAULT_TIMEOUT,
    ClientTimeout,
    DeadlineQueue,
    DeadlineTimer,
    to_client_timeout,
)
from .tls import SSLConfig, ca_from_env, cached_ca_from_env, resolve_ssl
from .unix import parse_url
from .websocket import WSRequestContextManager
from .websocket import ws_connect as _ws_connect

__all__ = ["ClientSession", "request"]

_DRAIN_LIMIT = 64 * 1024  # raw bytes of a redirect's body dropped to keep the connection


class _RequestContextManager(Coroutine[Any, Any, ClientResponse]):
    """What ``session.get()`` returns: await it, use it with ``async with``, or hand it
    to ``asyncio.create_task()`` (it is a coroutine)."""

    __slots__ = ("_coro", "_resp")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._resp: ClientResponse | None = None

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, *args: Any) -> Any:
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

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
    ``trust_env=True`` reads ``.netrc`` and the CA bundle variables (tls.ca_from_env),
    and the proxy variables (HTTP_PROXY, NO_PROXY...).
    ``proxy`` and ``proxy_auth`` are the default proxy settings; a request's
    ``proxy=``, ``proxy_auth=`` and ``proxy_headers=`` win.
    ``middlewares`` (see :mod:`.middlewares`) run around each hop's send; a
    request's ``middlewares=`` replaces them.
    ``retries`` (a :class:`~.retry.Retry`, an int, or None: no retries; also per
    request, and settable) says when a failed attempt is sent again.

    The defaults are readable properties, as in aiohttp; syncwrap adds setters
    (``headers``, ``auth``, ``timeout``, ``ssl``, ``raise_for_status``,
    ``max_redirects``, ``max_body_size``, ``trust_env``, ``cookie_jar``, ``proxy``,
    ``proxy_auth``): a new
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
        json_serialize: Callable[[Any], str] = strict_dumps,
        json_serialize_bytes: Callable[[Any], bytes] | None = None,
        cookie_jar: Any = None,
        connector_owner: bool = True,
        raise_for_status: bool | Callable[[ClientResponse], Any] = False,
        timeout: Any = UNSET,
        auto_decompress: bool = True,
        trust_env: bool = False,
        read_bufsize: int = DEFAULT_HIGH_WATER,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_headers: int = 128,
        max_redirects: int = 10,
        trace_configs: list[Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        ssl: Any = None,
        proxy: Any = None,
        proxy_auth: BasicAuth | None = None,
        retries: Retry | int | None = None,
        middlewares: Iterable[ClientMiddlewareType] | None = None,
    ) -> None:
        url = base_url if base_url is None or isinstance(base_url, URL) else parse_url(base_url)
        if url is not None and not url.is_absolute():
            raise InvalidURL(base_url, "base_url= must be absolute")
        self._connector = connector if connector is not None else TCPConnector()
        self._connector_owner = connector_owner
        default_headers = merge_headers(None, headers)
        if json_serialize_bytes is not None:  # as in aiohttp, it wins over json_serialize
            if not callable(json_serialize_bytes):
                raise TypeError("json_serialize_bytes=: expected a callable returning bytes")
            json_serialize = json_serialize_bytes  # type: ignore[assignment]
        check_auth(auth)  # BasicAuth or an AuthFlow (DigestAuth...)
        self._cookie_jar = cookie_jar if cookie_jar is not None else CookieJar()
        if cookies is not None:
            self._cookie_jar.update_cookies(cookies)
        self._trace_configs = list(trace_configs or ())
        for trace_config in self._trace_configs:
            trace_config.freeze()
        self._defaults = SessionDefaults(
            base_url=url, headers=default_headers,
            skip_auto_headers=frozenset(h.lower() for h in (skip_auto_headers or ())),
            auth=auth, json_serialize=json_serialize, raise_for_status=raise_for_status,
            timeout=DEFAULT_TIMEOUT if timeout is UNSET else to_client_timeout(timeout),
            auto_decompress=auto_decompress, trust_env=trust_env, read_bufsize=read_bufsize,
            limits=HeaderLimits(max_line_size=max_line_size, max_field_size=max_field_size,
                                max_headers=_positive_int(max_headers, "max_headers")),
            max_redirects=max_redirects, max_body_size=check_max_body_size(max_body_size),
            trace_configs=self._trace_configs,
        )
        self.ssl = ssl
        self.proxy = proxy
        self.proxy_auth = proxy_auth
        self.retries = retries
        self._middlewares = check_middlewares(middlewares)
        self._closed = False
        self._loop = loop
        self._deadlines: DeadlineQueue | None = None
        self._prepared: dict[tuple[Any, ...], PreparedRequest] = {}

    # -- properties --------------------------------------------------------------

    @property
    def middlewares(self) -> tuple[ClientMiddlewareType, ...]:
        """The session's middlewares, the first one outermost (``middlewares=`` of a
        request replaces them)."""
        return self._middlewares

    @property
    def closed(self) -> bool:
        return self._closed or self._connector.closed

    @property
    def connector(self) -> BaseConnector:
        return self._connector

    @property
    def base_url(self) -> URL | None:
        return self._defaults.base_url

    @property
    def cookie_jar(self) -> Any:
        return self._cookie_jar

    @cookie_jar.setter
    def cookie_jar(self, jar: Any) -> None:
        self._cookie_jar = jar if jar is not None else CookieJar()

    @property
    def headers(self) -> CIMultiDict[str]:
        """The default headers: the multidict itself, so changes reach later requests."""
        return self._defaults.headers

    @headers.setter
    def headers(self, headers: Any) -> None:
        """A CIMultiDict is used as it is (not copied); other mappings and pairs are copied."""
        if not isinstance(headers, CIMultiDict):
            headers = merge_headers(None, headers)
        self._defaults.headers = headers

    @property
    def timeout(self) -> ClientTimeout:
        return self._defaults.timeout

    @timeout.setter
    def timeout(self, timeout: Any) -> None:
        """A ClientTimeout, a number (total seconds), None (no limit) or (connect, read)."""
        self._defaults.timeout = to_client_timeout(timeout)
        self._defaults.refresh()

    @property
    def auth(self) -> Any:
        """The default auth: a BasicAuth, an AuthFlow (DigestAuth...) or None."""
        return self._defaults.auth

    @auth.setter
    def auth(self, auth: Any) -> None:
        check_auth(auth)
        self._defaults.auth = auth

    @property
    def ssl(self) -> SSLConfig:
        """The TLS of the session's requests, resolved (its ``verify`` and ``cert`` say
        it in requests' terms). Set it to True, False, an SSLContext, a Fingerprint,
        an SSLConfig (:func:`~syncwrap.engine.tls.ssl_for`), or None for the connector's."""
        return self._defaults.tls

    @ssl.setter
    def ssl(self, ssl: Any) -> None:
        if ssl is None:
            self._defaults.tls = getattr(self._connector, "ssl", None) or resolve_ssl(True)
        else:
            self._defaults.tls = resolve_ssl(ssl)

    @property
    def raise_for_status(self) -> bool | Callable[[ClientResponse], Any]:
        """True: a 4xx/5xx response raises HTTPError; a callable is called (and awaited)
        with every response instead."""
        return self._defaults.raise_for_status  # type: ignore[no-any-return]

    @raise_for_status.setter
    def raise_for_status(self, value: bool | Callable[[ClientResponse], Any]) -> None:
        if not isinstance(value, bool) and not callable(value):
            raise TypeError(f"raise_for_status=: expected a bool or a callable, got {value!r}")
        self._defaults.raise_for_status = value

    @property
    def max_redirects(self) -> int:
        return self._defaults.max_redirects

    @max_redirects.setter
    def max_redirects(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"max_redirects=: expected an int >= 0, got {value!r}")
        self._defaults.max_redirects = value

    @property
    def max_body_size(self) -> int | None:
        return self._defaults.max_body_size

    @max_body_size.setter
    def max_body_size(self, value: int | None) -> None:
        self._defaults.max_body_size = check_max_body_size(value)
        self._defaults.refresh()

    @property
    def auto_decompress(self) -> bool:
        return self._defaults.auto_decompress

    @property
    def trace_configs(self) -> list[Any]:
        return self._trace_configs

    @property
    def trust_env(self) -> bool:
        return self._defaults.trust_env

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        self._defaults.trust_env = bool(value)

    @property
    def proxy(self) -> Any:
        """The default proxy: a URL (``"http://user:pass@host:port"``, ``socks5://``...), a
        requests-style mapping (``{"https": url, "all://host": url}``; the object itself,
        so changes reach later requests), or None. A request's ``proxy=`` wins."""
        return self._defaults.proxy

    @proxy.setter
    def proxy(self, proxy: Any) -> None:
        ProxyRoute(proxy, None, None, False)  # checks the type at the call
        self._defaults.proxy = proxy

    @property
    def proxy_auth(self) -> BasicAuth | None:
        """The default proxy credentials (a BasicAuth); a request's ``proxy_auth=`` wins."""
        return self._defaults.proxy_auth

    @proxy_auth.setter
    def proxy_auth(self, auth: BasicAuth | None) -> None:
        ProxyRoute(None, auth, None, False)
        self._defaults.proxy_auth = auth

    @property
    def retries(self) -> Retry | None:
        """The default retry policy (None: no retries); a request's ``retries=`` wins."""
        return self._retries

    @retries.setter
    def retries(self, retries: Retry | int | None) -> None:
        self._retries = to_retry(retries)

    @property
    def skip_auto_headers(self) -> frozenset[str]:
        return self._defaults.skip_auto_headers

    # -- verbs -------------------------------------------------------------------

    def request(self, method: str, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        """Send a request; use with ``await`` or ``async with``."""
        return _RequestContextManager(self.fetch(method, url, **kwargs))

    def get(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("GET", url, **kwargs))

    def options(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("OPTIONS", url, **kwargs))

    def head(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        kwargs.setdefault("allow_redirects", False)
        return _RequestContextManager(self.fetch("HEAD", url, **kwargs))

    def post(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("POST", url, data=data, **kwargs))

    def put(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("PUT", url, data=data, **kwargs))

    def patch(self, url: str | URL, *, data: Any = None, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("PATCH", url, data=data, **kwargs))

    def delete(self, url: str | URL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self.fetch("DELETE", url, **kwargs))

    # -- the request -------------------------------------------------------------

    async def fetch(self, method: str, str_or_url: str | URL, **kwargs: Any) -> ClientResponse:
        """Send a request, following its redirects and an AuthFlow's retry; the response
        comes back with its body unread. ``kwargs``: :func:`~.options.request_options`.
        The coroutine :meth:`request` wraps (for ``async with``), for callers that only
        await it."""
        if self._closed:
            raise RuntimeError("Session is closed")
        retries = kwargs.pop("retries", UNSET)
        chain = kwargs.pop("middlewares", None)
        chain = self._middlewares if chain is None else check_middlewares(chain)
        policy = self._retries if retries is UNSET else to_retry(retries)
        req = request_options(self._defaults, method, str_or_url, **kwargs)
        loop = self._connector.loop  # bound on first use; saves a getpid() per call
        if self._defaults.trust_env:
            req = await self._with_env_ca(req)
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = DeadlineQueue.for_loop(loop)
        started = loop.time()
        timer = DeadlineTimer(deadlines, req.timeouts.total)
        body = req.payload  # a 303 drops the payload; the body is still closed at the end
        history: list[ClientResponse] | None = None  # the redirects followed
        traces: _tracing.Traces = ()
        trace_token = None
        retried_at: URL | None = None  # the URL an AuthFlow has had its one retry for
        try:
            if self._trace_configs:
                traces = await _tracing.request_start(self, self._trace_configs,
                                                      req.trace_request_ctx, req.method,
                                                      req.url, req.headers)
                trace_token = _tracing.activate(traces)
            while True:  # one hop: prepare, connect and send, then cookies, auth, redirects
                auth = req.auth
                netrc = (await self._read_netrc() if self._defaults.trust_env or (
                    req.route is not None and req.route.trust_env) else None)
                if auth is None and self._defaults.trust_env:
                    auth = netrc_auth(req.url, netrc)
                # The proxy hop: this hop's proxy, applied by PreparedRequest (the target's
                # form, Proxy-Authorization) and in its pool key (connector, tunnel.py).
                proxy = (req.route.for_url(req.url, req.tls, netrc)
                         if req.route is not None else None)
                hop_state = (req, timer, history, traces, deadlines, started, netrc)
                if chain:
                    prepared, resp, policy = await self._send_chain(chain, hop_state, auth,
                                                                    policy)
                else:
                    if auth is None and uses_only_defaults(req, self._defaults,
                                                           self._cookie_jar):
                        prepared = cached_request(self._prepared, req,
                                                  self._connector.force_close, proxy)
                    else:
                        prepared = self._prepare(req, auth, traces, proxy)
                        if prepared.auth_flow is not None:
                            prepared = await self._authorize(req, prepared, proxy)
                    if policy is None:  # _send() without its coroutine layer
                        resp = await send(self._connector, prepared, timer, req.timeouts,
                                          req.exchange, tuple(history) if history else (),
                                          self, bool(traces))
                    else:
                        resp, policy = await self._send(prepared, hop_state, policy)
                # (A WebSocket upgrade branches off here: a 101 response to an Upgrade.)
                if resp.has_header(b"set-cookie"):
                    if not public_suffixes_ready():  # a file read: not on the loop
                        await loop.run_in_executor(None, load_public_suffixes)
                    self._store_cookies(resp.headers.getall("Set-Cookie", ()), req.url)
                flow = prepared.auth_flow
                if (flow is not None and await wants_retry(flow, resp) and retried_at is not req.url
                        and (req.payload is None or req.payload.replayable)):
                    retried_at = req.url  # once per URL: a flow cannot loop
                    await _drain_for_redirect(resp)
                    continue
                if resp.status in REDIRECT_STATUSES and req.allow_redirects:
                    if history is None:
                        history = []
                    hop = await _follow_redirect(resp, req, history, traces, proxy, netrc)
                    if hop is not None:
                        req = hop
                        continue
                break
            if req.raise_for_status:
                await _check_status(resp, req.raise_for_status)
            if traces:
                resp.trace_with(traces)  # for on_response_chunk_received in read()
                await _tracing.request_end(traces, req.method, req.url, req.headers, resp)
            return resp
        except BaseException as exc:
            timer.cancel()
            if traces:
                await _tracing.request_exception(traces, req.method, req.url, req.headers, exc)
            raise
        finally:
            if trace_token is not None:
                _tracing.deactivate(trace_token)
            if body is not None:  # e.g. closes an async generator left unfinished
                await body.close()

    async def _with_env_ca(self, req: RequestOptions) -> RequestOptions:
        """``req`` checking certificates against the CA bundle the environment names
        (``trust_env``); a bundle not loaded yet is read in a thread."""
        tls = cached_ca_from_env(req.tls)
        if tls is None:
            tls = await self._connector.loop.run_in_executor(None, ca_from_env, req.tls)
        return req if tls is req.tls else replace(req, tls=tls)

    async def _read_netrc(self) -> Any:
        """The parsed .netrc, read in a thread (it is file I/O; netrc_auth caches it by
        path, mtime and size); asked for only when a request may use it (``trust_env``)."""
        return await self._connector.loop.run_in_executor(None, load_netrc)

    async def _send(self, prepared: PreparedRequest, hop_state: tuple[Any, ...],
                    policy: Retry | None) -> tuple[ClientResponse, Retry | None]:
        """Send ``prepared`` (once, or as ``policy`` says): the response and the policy left."""
        req, timer, history, traces, deadlines, started, _netrc = hop_state
        sent = (self._connector, prepared, timer, req.timeouts, req.exchange,
                tuple(history) if history else (), self, bool(traces))
        if policy is None:
            return await send(*sent), None
        return await send_retrying(policy, sent, req, traces, deadlines, started)

    async def _send_chain(self, chain: tuple[Any, ...], hop_state: tuple[Any, ...], auth: Any,
                          policy: Retry | None) -> tuple[PreparedRequest, ClientResponse,
                                                         Retry | None]:
        """This hop sent through the middlewares ``chain``: the request last sent, its
        response and the retry policy left."""
        req, _timer, _history, traces, _deadlines, _started, netrc = hop_state
        first = self._prepare(req, auth, traces, None, routed=False)
        last: list[Any] = [first, policy]

        async def handler(creq: ClientRequest) -> ClientResponse:
            proxy = (req.route.for_url(creq.url, req.tls, netrc)
                     if req.route is not None else None)
            prepared = PreparedRequest(creq.method, creq.url, CIMultiDict(creq.headers),
                                       req.tls, 0, creq.body, first.auth_flow, proxy,
                                       req.route is not None and first.auth_flow is None)
            if prepared.auth_flow is not None:
                prepared = await self._authorize(replace(req, method=creq.method, url=creq.url),
                                                 prepared, proxy)
            resp, last[1] = await self._send(prepared, hop_state, last[1])
            last[0] = prepared
            return resp

        resp = await run_chain(chain, ClientRequest(req.method, req.url,
                                                    CIMultiDict(first.headers), first.payload,
                                                    self), handler)
        if not isinstance(resp, ClientResponse):
            raise TypeError(f"middlewares=: a middleware returned {type(resp).__name__}, "
                            "not a ClientResponse")
        return last[0], resp, last[1]

    def _prepare(self, req: RequestOptions, auth: Any, traces: _tracing.Traces,
                 proxy: ProxySpec | None, routed: bool = True) -> PreparedRequest:
        """This hop of ``req`` with its own headers, cookies, body and ``auth`` (a BasicAuth,
        or an AuthFlow left for :meth:`_authorize`; a caller's Authorization header wins),
        sent through ``proxy`` (for an AuthFlow: once :meth:`_authorize` added its headers)."""
        flow = None
        if auth is not None and not isinstance(auth, BasicAuth):
            flow, auth = auth, None  # an AuthFlow (DigestAuth...)
        payload = req.payload
        if traces:
            payload = _tracing.traced_payload(payload, traces, req.method, req.url)
        headers = send_headers(req.method, req.url, req.headers, payload, req.skip, auth,
                               cookie_header(self._cookie_jar, req.url, req.cookies),
                               req.exchange, self._connector.force_close)
        if "Authorization" in req.headers:
            flow = None
        routed = routed and req.route is not None and flow is None
        return PreparedRequest(req.method, req.url, headers, req.tls, 0, payload, flow,
                               proxy, routed)

    async def _authorize(self, req: RequestOptions, prepared: PreparedRequest,
                         proxy: ProxySpec | None) -> PreparedRequest:
        """``prepared`` with the headers its AuthFlow's ``on_request`` adds, through ``proxy``."""
        headers = await authorize(prepared.auth_flow, req.method, req.url, prepared.headers,
                                  prepared.payload)
        if headers is prepared.headers and req.route is None:
            return prepared
        return PreparedRequest(req.method, req.url, headers, req.tls, 0, prepared.payload,
                               prepared.auth_flow, proxy, req.route is not None)

    def _store_cookies(self, values: Iterable[str], url: URL) -> None:
        updater = getattr(self._cookie_jar, "update_cookies_from_headers", None)
        if updater is not None:
            updater(list(values), url)

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


async def _follow_redirect(resp: ClientResponse, req: RequestOptions,
                           history: list[ClientResponse], traces: _tracing.Traces,
                           proxy: ProxySpec | None, netrc: Any = None) -> RequestOptions | None:
    """The options of the hop after the redirect ``resp`` (drained and added to
    ``history``; ``proxy`` is the one it came through, ``netrc`` the .netrc its hop
    read), or None when it has no Location. Raises TooManyRedirects."""
    location = resp.headers.get("Location") or resp.headers.get("URI")
    if not location:
        return None
    if traces:
        await _tracing.request_redirect(traces, req.method, req.url, req.headers, resp)
    history.append(resp)
    if len(history) > req.max_redirects:
        resp.close()
        raise TooManyRedirects(
            resp.request_info, tuple(history), status=resp.status,
            message=f"Exceeded {req.max_redirects} redirects",
            headers=resp.headers, response=resp,
        )
    await _drain_for_redirect(resp)
    payload = req.payload
    hop = next_hop(req.method, req.url, resp.status, location, req.headers,
                   has_body=payload is not None,
                   replayable=payload is None or payload.replayable,
                   same_proxy=_keeps_proxy(req, proxy, location, netrc))
    return req.redirected(hop)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}=: expected a positive int, got {value!r}")
    return value


def _keeps_proxy(req: RequestOptions, current: ProxySpec | None, location: str,
                 netrc: Any = None) -> bool:
    """For :func:`next_hop`: whether the redirect to ``location`` goes through the same
    proxy as ``req``'s hop (``current``), so that a Proxy-Authorization header may stay."""
    route = req.route
    if route is None:
        return False
    target = redirect_target(req.url, location)
    return route.same_proxy(current, route.for_url(target, req.tls, netrc))


async def _check_status(resp: ClientResponse, check: Any) -> None:
    """``raise_for_status``: True raises HTTPError for a 4xx/5xx; a callable is called
    (and awaited) with the response."""
    if callable(check):
        result = check(resp)
        if asyncio.iscoroutine(result):
            await result
    else:
        resp.raise_for_status()


async def _drain_for_redirect(resp: ClientResponse) -> None:
    """Drop a redirect's (or a retried 401's) body raw, never decoded, so the connection
    can be reused; close it instead when more than _DRAIN_LIMIT bytes of it are left."""
    await resp.discard_body(_DRAIN_LIMIT)


def request(method: str, url: str | URL, **kwargs: Any) -> _RequestContextManager:
    """A one-off request with its own session: ``async with request("GET", url) as r:``."""

    async def run() -> ClientResponse:
        session = ClientSession(connector=TCPConnector(force_close=True))
        try:
            resp = await session.request(method, url, **kwargs)
            await resp.read()
            return resp
        finally:
            await session.close()

    return _RequestContextManager(run())
