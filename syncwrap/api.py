"""The blocking, requests-like facade over the engine.

One owner per rule: the engine's :class:`~syncwrap.engine.ClientSession` holds
every default and policy (headers, cookies, auth and its retries, TLS,
timeouts, redirects, body limits, raise_for_status). A :class:`Session` owns
one, and its requests-style attributes (``headers``, ``auth``, ``timeout``,
``verify``, ``cert``, ``max_redirects``, ``raise_for_status``...) are views onto
the engine session's settings. Each call goes through
:func:`syncwrap._bridge.calls.request_call`: its arguments translated once, one
engine call on the loop thread, the result wrapped in a :class:`Response`
(:mod:`syncwrap._bridge.response`). The facade's own work is only the thread
crossing (bodies, cookies, user code run in the calling thread: ``syncwrap._bridge``).

Every call is marshalled to the loop thread (:mod:`syncwrap.loop`) and waits
there; nothing here does I/O itself. A :class:`Session` may be shared by any
number of threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from multidict import CIMultiDict

from . import loop as loop_thread
from ._bridge import hooks as _hooks
from ._bridge.adapters import BaseAdapter, HTTPAdapter, adapter_for
from ._bridge.astream import AsyncStream, AsyncStreamResponse, stream_twin
from ._bridge.auth import SyncAuth, auth_option
from ._bridge.calls import (
    PreparedCall,
    prepare_call,
    proxy_auth_option,
    request_call,
    websocket_call,
)
from ._bridge.cookies import CookiesView
from ._bridge.fanout import DEFAULT_CONCURRENCY, FanOut
from ._bridge.middlewares import middlewares_option
from ._bridge.oneshot import (
    adelete,
    aget,
    ahead,
    aoptions,
    apatch,
    apost,
    aput,
    arequest,
    as_completed,
    astream,
    delete,
    download,
    get,
    head,
    options,
    patch,
    post,
    put,
    request,
    ws_connect,
)
from ._bridge.oneshot import map as map  # noqa: A004 - syncwrap.map, the module-level fan-out
from ._bridge.pools import track
from ._bridge.prepared import PreparedRequest, Request, merged_params
from ._bridge.response import Response
from ._bridge.saving import DEFAULT_CHUNK_SIZE
from ._bridge.saving import download as _download
from ._bridge.twins import request_twin
from ._bridge.websocket import WebSocket
from .engine.auth import BasicAuth
from .engine.connector import BaseConnector, TCPConnector
from .engine.session import ClientSession
from .engine.timeouts import ClientTimeout
from .engine.tls import requests_ssl

__all__ = [
    "Session",
    "Response",
    "request",
    "get",
    "options",
    "head",
    "post",
    "put",
    "patch",
    "delete",
    "ws_connect",
    "download",
    "as_completed",  # and map, left out of __all__: a star import must not hide the builtin
    "FanOut",
    "WebSocket",
    "Request",
    "PreparedRequest",
    # awaitable twins
    "arequest",
    "aget",
    "aoptions",
    "ahead",
    "apost",
    "aput",
    "apatch",
    "adelete",
    "astream",
    "AsyncStream",
    "AsyncStreamResponse",
]

_DEFAULT: Any = object()
T = TypeVar("T")


# -- Session ----------------------------------------------------------------------


class _EngineSetting(Generic[T]):
    """A Session attribute that is the engine session's attribute of the same name:
    reading it reads the engine's setting, assigning it sets the engine's."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, session: None, owner: type) -> _EngineSetting[T]: ...
    @overload
    def __get__(self, session: Session, owner: type) -> T: ...

    def __get__(self, session: Session | None, owner: type) -> Any:
        return self if session is None else getattr(session.engine_settings, self.name)

    def __set__(self, session: Session, value: Any) -> None:
        setattr(session.engine_settings, self.name, value)



class Session:
    """A requests-style session: default headers, cookies, auth and a connection pool.

    Its settings live in an engine :class:`~syncwrap.engine.ClientSession` (see
    :attr:`engine_session`); ``s.headers``, ``s.auth``, ``s.timeout``, ``s.verify``,
    ``s.cert``, ``s.max_redirects``, ``s.raise_for_status``, ``s.max_body_size``,
    ``s.trust_env``, ``s.cookie_jar`` and ``s.cookies`` read and change them, before
    or between requests. Safe to share between threads; all its network state
    lives on the loop thread. After ``os.fork()`` the child's first call builds a
    new engine session with the same settings and a new, empty pool.
    ``max_body_size`` (also per request; default 1 GiB, None: no limit) bounds what
    ``.content``, ``.text`` and ``.json()`` accept: a larger body raises
    BodyTooLargeError; read it with ``stream=True`` and ``iter_content()`` instead.
    TLS: ``verify`` (True, False, a CA bundle file or directory), ``cert`` (a PEM
    path, ``(cert, key)`` or ``(cert, key, password)``), ``ssl`` (an SSLContext,
    which wins over verify and cert) and ``fingerprint`` (a SHA-256 digest to pin),
    also per request, as ``server_hostname=`` is.
    ``proxies`` (requests' mapping, also :attr:`proxies`) and ``proxy_auth`` set the
    default proxies; ``trust_env=True`` also reads HTTP_PROXY, HTTPS_PROXY, ALL_PROXY,
    NO_PROXY and .netrc (the default is False, unlike requests).
    ``middlewares`` (also per request): plain functions ``mw(request, handler)`` run
    in the calling thread (:mod:`syncwrap._bridge.middlewares`).
    """

    def __init__(
        self,
        *,
        headers: Any = None,
        cookies: Any = None,
        auth: Any = None,
        timeout: Any = _DEFAULT,
        connector: BaseConnector | None = None,
        cookie_jar: Any = None,
        base_url: str | None = None,
        trust_env: bool = False,
        raise_for_status: bool = False,
        max_redirects: int = 10,
        verify: Any = True,
        cert: Any = None,
        ssl: Any = None,
        fingerprint: Any = None,
        auto_decompress: bool = True,
        hooks: Any = None,
        max_body_size: Any = _DEFAULT,
        proxies: Any = None,
        proxy_auth: Any = None,
        retries: Any = None,
        middlewares: Any = None,
    ) -> None:
        #: requests-style event hooks: ``{"response": [fn, ...]}`` (see syncwrap._bridge.hooks).
        self.hooks = _hooks.normalize_hooks(hooks)
        #: Query parameters added to every request's URL (a request's own win), as in requests.
        self.params: dict[str, Any] = {}
        given: dict[str, Any] = {}
        if timeout is not _DEFAULT:
            given["timeout"] = timeout
        if max_body_size is not _DEFAULT:
            given["max_body_size"] = max_body_size
        self._engine = ClientSession(
            base_url, connector=connector if connector is not None else TCPConnector(),
            cookies=cookies, cookie_jar=cookie_jar, headers=headers,
            auth=auth_option(auth), raise_for_status=raise_for_status,
            max_redirects=max_redirects, trust_env=trust_env, auto_decompress=auto_decompress,
            proxy=proxies if proxies is not None else {},
            proxy_auth=proxy_auth_option(proxy_auth), retries=retries,
            middlewares=middlewares_option(middlewares), **given,
        )
        #: Mounted adapters by URL prefix (:meth:`mount`); only user-mounted ones.
        self.adapters: dict[str, BaseAdapter] = {}
        if ssl is not None or verify is not True or cert is not None or fingerprint is not None:
            self._engine.ssl = requests_ssl(self._engine.ssl, ssl=ssl, verify=verify, cert=cert,
                                            fingerprint=fingerprint)
        track(self._engine.connector)
        self._generation = -1  # the loop generation it was last used in; -1: never used
        self._lock = threading.Lock()
        self._closed = False

    def _engine_session(self) -> ClientSession:
        generation = loop_thread.generation()
        if self._generation == generation:
            return self._engine
        with self._lock:
            if self._closed:
                raise RuntimeError("Session is closed")
            if self._generation != generation:
                if self._generation != -1:  # used before a fork: the parent keeps its sockets
                    self._engine = _rebuilt(self._engine)
                    track(self._engine.connector)
                self._generation = generation
            return self._engine

    @property
    def engine_settings(self) -> ClientSession:
        """The engine session that holds this Session's settings (also when closed)."""
        return self._engine

    @property
    def engine_session(self) -> ClientSession:
        """The engine session that holds this Session's settings and pool (this process's).

        Use it on the loop thread only (for example from a coroutine given to
        :func:`syncwrap.run`); its setters may be called from any thread.
        """
        return self._engine_session()

    def request(self, method: str, url: Any, **kwargs: Any) -> Response:
        """Send a request and wait for the response (see the module docs for arguments)."""
        if self.params or self.adapters:
            kwargs = self._call_arguments(method, url, kwargs)
        engine = (self._engine if self._generation == loop_thread.generation()
                  else self._engine_session())
        return request_call(engine, method, url, kwargs, session_hooks=self.hooks)

    def _call_arguments(self, method: str, url: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A call's keyword arguments with the session's params and mounted retries added."""
        if self.params:
            kwargs["params"] = merged_params(self.params, kwargs.get("params"))
        if self.adapters and "retries" not in kwargs:
            _mounted_retries(self.adapters, method, url, kwargs)
        return kwargs

    def mount(self, prefix: str, adapter: BaseAdapter) -> None:
        """Use ``adapter``'s settings (an :class:`~syncwrap.adapters.HTTPAdapter`'s
        ``max_retries``...) for the URLs starting with ``prefix``; the longest mounted
        prefix wins, as in requests. ``pool_block=True`` sets the pool's limit per host."""
        if not isinstance(prefix, str):
            raise TypeError(f"mount(): prefix must be a str, got {type(prefix).__name__}")
        if not isinstance(adapter, BaseAdapter):
            raise TypeError(f"mount(): adapter must be a syncwrap.adapters.BaseAdapter, "
                            f"got {type(adapter).__name__}")
        self.adapters[prefix] = adapter
        if isinstance(adapter, HTTPAdapter) and adapter.pool_block:
            self._engine.connector.limit_per_host = adapter.pool_maxsize

    def get_adapter(self, url: str) -> BaseAdapter | None:
        """The adapter mounted for ``url`` (the longest matching prefix), or None."""
        return adapter_for(self.adapters.items(), str(url))

    # -- requests' prepared requests ----------------------------------------------------

    def prepare_request(self, request: Request) -> PreparedRequest:
        """``request`` prepared with this session's headers, params and auth merged in
        (cookies are added when it is sent)."""
        headers = dict(self.headers)
        headers.update(request.headers)
        params = merged_params(self.params, request.params)
        auth = request.auth if request.auth is not None else self.auth
        prepared = PreparedRequest()
        prepared.prepare(method=request.method, url=request.url, headers=headers,
                         files=request.files, data=request.data, params=params, auth=auth,
                         cookies=request.cookies, hooks=request.hooks, json=request.json)
        return prepared

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        """Send a PreparedRequest; ``stream=``, ``timeout=``, ``verify=``, ``cert=``,
        ``proxies=`` and ``allow_redirects=`` as for :meth:`request`."""
        if not isinstance(request, PreparedRequest):
            raise TypeError(f"request: expected a PreparedRequest, got "
                            f"{type(request).__name__}; call .prepare() first")
        call: dict[str, Any] = {"headers": request.headers, "data": request.body}
        if request.files is not None:
            call["files"] = request.files
        if request.auth is not None:
            call["auth"] = request.auth
        if any(request.hooks.values()):
            call["hooks"] = request.hooks
        call.update(kwargs)
        return request_call(self._engine_session(), request.method or "GET", request.url, call,
                     session_hooks=self.hooks)

    # -- settings: views onto the engine session --------------------------------------

    headers: _EngineSetting[CIMultiDict[str]] = _EngineSetting(
        "The default headers: the engine session's multidict, so changes reach requests.")
    timeout: _EngineSetting[ClientTimeout] = _EngineSetting(
        "The default timeout (a number, None or a (connect, read) tuple may be set).")
    max_redirects: _EngineSetting[int] = _EngineSetting("Redirects followed at most (10).")
    raise_for_status: _EngineSetting[bool] = _EngineSetting(
        "Whether a 4xx/5xx response raises HTTPError (after the hooks have seen it).")
    max_body_size: _EngineSetting[int | None] = _EngineSetting(
        "The largest body .content accepts (1 GiB; None: no limit).")
    trust_env: _EngineSetting[bool] = _EngineSetting(
        "Whether the environment is read: HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, .netrc, and a "
        "CA bundle named by REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR "
        "(False).")
    retries: _EngineSetting[Any] = _EngineSetting(
        "The default retry policy: a syncwrap.Retry, an int, or None (no retries).")
    cookie_jar: _EngineSetting[Any] = _EngineSetting(
        "The engine CookieJar (use it on the loop thread; :attr:`cookies` from any thread).")

    @property
    def auth(self) -> Any:
        """The default auth (BasicAuth, an AuthFlow, a sync flow or callable...);
        ``s.auth = ("u", "p")`` works."""
        auth = self._engine.auth
        return auth.auth if isinstance(auth, SyncAuth) else auth

    @auth.setter
    def auth(self, auth: Any) -> None:
        self._engine.auth = auth_option(auth)

    @property
    def proxies(self) -> dict[str, str]:
        """requests-style proxies, ``{"http": url, "https": url, "all": url,
        "https://host": url}``: the engine session's mapping itself, so changes reach
        later requests. A call's ``proxies=`` are merged over it; ``proxy=`` replaces it."""
        proxy = self._engine.proxy
        if not isinstance(proxy, dict):
            proxy = {} if not proxy else {"all": str(proxy)}
            self._engine.proxy = proxy
        return proxy

    @proxies.setter
    def proxies(self, proxies: Any) -> None:
        self._engine.proxy = proxies if proxies is not None else {}

    @property
    def proxy_auth(self) -> BasicAuth | None:
        """The default proxy credentials; ``s.proxy_auth = ("u", "p")`` works."""
        return self._engine.proxy_auth

    @proxy_auth.setter
    def proxy_auth(self, auth: Any) -> None:
        self._engine.proxy_auth = proxy_auth_option(auth)

    @property
    def verify(self) -> bool | str:
        """True, False or a CA bundle path: the certificate check of the engine's TLS setting."""
        return self._engine.ssl.verify  # type: ignore[no-any-return]

    @verify.setter
    def verify(self, verify: Any) -> None:
        self._engine.ssl = self._engine.ssl.replace(verify=True if verify is None else verify)

    @property
    def cert(self) -> str | tuple[str, str] | None:
        """The client certificate of the engine's TLS setting (a path or (cert, key))."""
        return self._engine.ssl.cert  # type: ignore[no-any-return]

    @cert.setter
    def cert(self, cert: Any) -> None:
        self._engine.ssl = self._engine.ssl.replace(cert=cert)

    @property
    def cookies(self) -> CookiesView:
        """The session's cookies as a dict-like view (``s.cookies["name"]`` is the value).

        Thread-safe: every operation runs on the loop thread (see syncwrap._bridge.cookies).
        """
        return CookiesView(self._engine.cookie_jar)

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        view = CookiesView(self._engine.cookie_jar)
        view.clear()
        if cookies:
            view.update(cookies)

    @property
    def connector(self) -> BaseConnector:
        return self._engine_session().connector

    # -- verbs --------------------------------------------------------------------------

    def get(self, url: Any, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def options(self, url: Any, **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url: Any, **kwargs: Any) -> Response:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: Any, data: Any = None, **kwargs: Any) -> Response:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: Any, data: Any = None, **kwargs: Any) -> Response:
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: Any, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    def ws_connect(self, url: Any, **kwargs: Any) -> WebSocket:
        """Open a WebSocket (``ws://``, ``wss://``): ``with s.ws_connect(url) as ws:``.

        The handshake carries the session's headers, cookies and auth, through its
        proxies; arguments as for the engine's ``ws_connect`` (``protocols``,
        ``heartbeat``, ``receive_timeout``, ``timeout`` (the close timeout),
        ``compress``, ``max_msg_size``, ``headers``, ``auth``, ``origin``, ``params``,
        ``proxy``...), plus requests' ``proxies``, ``verify``, ``cert`` and
        ``fingerprint``. See :class:`syncwrap.WebSocket`.
        """
        return websocket_call(self._engine_session(), url, kwargs)

    # -- downloads (issue 15) ---------------------------------------------------------

    def download(self, url: Any, path: str | os.PathLike[str], *, resume: bool = True,
                 progress: Any = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 checksum: tuple[str, str] | None = None, **kwargs: Any) -> Path:
        """Download ``url`` to the file ``path``; return it as a :class:`pathlib.Path`.

        The body is streamed to ``path + ".part"`` and renamed onto ``path`` atomically
        once complete and verified, so ``path`` never holds a partial file. The file is
        saved as served (``Accept-Encoding: identity`` is asked for; a Content-Encoding
        the server applies anyway is kept). With ``resume=True`` a ``.part`` left by an
        interrupted call for the same URL is resumed with Range and If-Range (its
        validator, a strong ETag or Last-Modified, is kept in ``path + ".part.json"``);
        a server that ignores the range or whose file changed sends it whole, and the
        download starts over. ``checksum=("sha256", hexdigest)`` (any hashlib algorithm)
        verifies the whole file: a mismatch raises :class:`ChecksumMismatchError` and
        removes the ``.part``. ``progress=True`` shows a tqdm bar (the ``progress``
        extra; the widget in Jupyter), a callable gets ``(done, total)`` in bytes
        (total None when unknown). Other keyword arguments are as for :meth:`get`.
        """
        return _download(self.request, url, path, resume=resume, progress=progress,
                         chunk_size=chunk_size, checksum=checksum, request_kwargs=kwargs)

    # -- awaitable twins, for any running event loop (syncwrap._bridge.twins) -----------

    async def arequest(self, method: str, url: Any, **kwargs: Any) -> Response:
        """The awaitable twin of :meth:`request`, for any running event loop: the same
        arguments (but ``stream=``: see :meth:`astream`), pool, cookies and auth; the
        body is read. User code (hooks, sync auth, generator bodies) runs in the
        awaiting loop's default executor."""
        return await request_twin(self._engine_session(), method, url,
                                  self._call_arguments(method, url, kwargs),
                                  session_hooks=self.hooks)

    async def aget(self, url: Any, **kwargs: Any) -> Response:
        return await self.arequest("GET", url, **kwargs)

    async def aoptions(self, url: Any, **kwargs: Any) -> Response:
        return await self.arequest("OPTIONS", url, **kwargs)

    async def ahead(self, url: Any, **kwargs: Any) -> Response:
        kwargs.setdefault("allow_redirects", False)
        return await self.arequest("HEAD", url, **kwargs)

    async def apost(self, url: Any, data: Any = None, json: Any = None,
                    **kwargs: Any) -> Response:
        return await self.arequest("POST", url, data=data, json=json, **kwargs)

    async def aput(self, url: Any, data: Any = None, **kwargs: Any) -> Response:
        return await self.arequest("PUT", url, data=data, **kwargs)

    async def apatch(self, url: Any, data: Any = None, **kwargs: Any) -> Response:
        return await self.arequest("PATCH", url, data=data, **kwargs)

    async def adelete(self, url: Any, **kwargs: Any) -> Response:
        return await self.arequest("DELETE", url, **kwargs)

    def astream(self, method: str, url: Any, **kwargs: Any) -> AsyncStream:
        """The streaming twin: ``async with s.astream("GET", url) as r:`` then
        ``await r.aread()``, ``async for chunk in r.aiter_content(n)`` or
        ``r.aiter_lines()``; leaving the block lets the connection go."""
        return stream_twin(self._engine_session(), method, url,
                           self._call_arguments(method, url, kwargs), session_hooks=self.hooks)

    # -- fan-out (syncwrap._bridge.fanout) ------------------------------------------------

    def map(self, reqs: Iterable[Any], *, concurrency: int = DEFAULT_CONCURRENCY,
            return_exceptions: bool = False, stream: bool = False, **common: Any) -> FanOut:
        """Send many requests, at most ``concurrency`` in flight on the loop; an iterator
        of their responses in input order.

        An item is a URL or a dict (``method``, ``url`` and the keywords of
        :meth:`request`); ``common`` keywords apply to every item (an item's win). The
        input is pulled lazily. A failed request raises at its item (the rest is
        cancelled), or with ``return_exceptions=True`` its exception is yielded in its
        place. Bodies are read whole unless ``stream=True`` (then close each response).
        Breaking out, ``close()`` or Ctrl-C cancels what is in flight. See
        :mod:`syncwrap._bridge.fanout`.
        """
        return FanOut("map", reqs, self._fan_out_call, ordered=True, concurrency=concurrency,
                      return_exceptions=return_exceptions, stream=stream, common=common)

    def as_completed(self, reqs: Iterable[Any], *, concurrency: int = DEFAULT_CONCURRENCY,
                     return_exceptions: bool = False, stream: bool = False,
                     **common: Any) -> FanOut:
        """As :meth:`map`, the responses in the order they finish."""
        return FanOut("as_completed", reqs, self._fan_out_call, ordered=False,
                      concurrency=concurrency, return_exceptions=return_exceptions,
                      stream=stream, common=common)

    def _fan_out_call(self, method: str, url: Any, kwargs: dict[str, Any]) -> PreparedCall:
        return prepare_call(self._engine_session(), method, url,
                            self._call_arguments(method, url, kwargs), session_hooks=self.hooks,
                            defer_hooks=True)

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the session's connections. Further requests raise RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            engine = self._engine
            used_here = self._generation == loop_thread.generation()
        if not used_here:  # no connection of this process: nothing to close on the loop
            engine.detach()
            return
        if loop_thread.in_loop_thread():  # cannot wait here: close without waiting
            loop_thread.submit(engine.close())
            return
        try:
            loop_thread.run(engine.close(), timeout=5)
        except RuntimeError:
            pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Dropped without close(): close its connections on the loop, without waiting.
        engine = getattr(self, "_engine", None)
        try:
            if (engine is not None and not self._closed
                    and self._generation == loop_thread.generation()):
                loop_thread.call_soon(_close_dropped, engine)
        except Exception:  # noqa: BLE001 - interpreter teardown: nothing left to close
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<syncwrap.Session {state}>"


def _mounted_retries(adapters: dict[str, BaseAdapter], method: Any, url: Any,
                     kwargs: dict[str, Any]) -> None:
    """A call without ``retries=`` gets its mounted adapter's ``max_retries``."""
    adapter = adapter_for(adapters.items(), str(url))
    if isinstance(adapter, HTTPAdapter):
        kwargs["retries"] = adapter.max_retries


def _rebuilt(old: ClientSession) -> ClientSession:
    """A new engine session with ``old``'s settings and a new, empty pool (after a fork).

    Copies what a facade Session can set; the header multidict and the cookie jar
    are the same objects, so references users hold keep working.
    """
    new = ClientSession(
        old.base_url, connector=_clone_connector(old.connector), cookie_jar=old.cookie_jar,
        auth=old.auth, raise_for_status=old.raise_for_status, timeout=old.timeout,
        auto_decompress=old.auto_decompress, trust_env=old.trust_env,
        max_redirects=old.max_redirects, max_body_size=old.max_body_size, ssl=old.ssl,
        proxy=old.proxy, proxy_auth=old.proxy_auth, retries=old.retries,
        middlewares=old.middlewares,
    )
    new.headers = old.headers
    old.detach()  # its connections belong to the parent process: never touched here
    return new


def _close_dropped(engine: ClientSession) -> None:  # on the loop thread
    """Close a dropped Session's idle connections now, those still in use on release."""
    engine.detach()  # closed on purpose: no "Unclosed client session" warning
    engine.connector.close_when_released()


def _clone_connector(template: BaseConnector) -> BaseConnector:
    clone = getattr(template, "clone", None)
    if clone is None:
        raise TypeError(f"connector=: {type(template).__name__} cannot be rebuilt after fork")
    return clone()  # type: ignore[no-any-return]
