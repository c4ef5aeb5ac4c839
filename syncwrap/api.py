"""The blocking, requests-like facade over the engine.

One owner per rule: the engine's :class:`~syncwrap.engine.ClientSession` holds
every default and policy (headers, cookies, auth and its retries, TLS,
timeouts, redirects, body limits, raise_for_status). A :class:`Session` owns
one, and its requests-style attributes (``headers``, ``auth``, ``timeout``,
``verify``, ``cert``, ``max_redirects``, ``raise_for_status``...) are views onto
the engine session's settings. Each call translates its requests-style
arguments once into engine arguments, each only when given (:func:`_translate`),
makes one engine call on the loop thread (:func:`_perform`) and wraps the result
in a :class:`Response`; an engine error's response is wrapped the same way at
this boundary. The facade's own work is only the thread crossing (bodies,
cookies, user code run in the calling thread: ``syncwrap._bridge``).

Every call is marshalled to the loop thread (:mod:`syncwrap.loop`) and waits
there; nothing here does I/O itself. A :class:`Session` may be shared by any
number of threads.
"""

from __future__ import annotations

import json as _json
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Generic, NamedTuple, TypeVar, overload

from multidict import CIMultiDict, CIMultiDictProxy

from . import loop as loop_thread
from ._bridge import hooks as _hooks
from ._bridge import uploads
from ._bridge.adapters import BaseAdapter, HTTPAdapter, adapter_for
from ._bridge.auth import SyncAuth, auth_option
from ._bridge.caller import Caller, current
from ._bridge.channel import ByteChannel, ByteReader
from ._bridge.cookies import CookiesView
from ._bridge.direct import take_body
from ._bridge.downloads import DirectChannel, RawBody, start_pump
from ._bridge.prepared import PreparedRequest, Request, from_sent, merged_params
from ._bridge.websocket import WebSocket, open_websocket
from .engine.auth import BasicAuth
from .engine.connector import BaseConnector, TCPConnector
from .engine.redirects import REDIRECT_STATUSES
from .engine.response import ClientResponse
from .engine.session import ClientSession
from .engine.timeouts import ClientTimeout, to_client_timeout
from .engine.tls import requests_ssl
from .exceptions import (
    BodyTooLargeError,
    ClientResponseError,
    HTTPError,
    JSONDecodeError,
    StreamConsumedError,
)

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
    "WebSocket",
    "Request",
    "PreparedRequest",
]

_DEFAULT: Any = object()
T = TypeVar("T")
_live_connectors: weakref.WeakSet[BaseConnector] = weakref.WeakSet()


class Response:
    """A response. Non-streamed responses are fully read; ``stream=True`` ones read on demand."""

    def __init__(
        self,
        engine_response: ClientResponse,
        *,
        elapsed: float,
        content: bytes | None = None,
        channel: ByteReader | None = None,
        pump: Any = None,
    ) -> None:
        self._resp = engine_response
        self.status_code: int = engine_response.status
        self.reason: str = engine_response.reason
        self.url: str = str(engine_response.real_url)  # with the fragment, as in requests
        self.request_info = engine_response.request_info
        self.elapsed = timedelta(seconds=elapsed)
        self._content = content
        self._channel = channel
        self._pump = pump
        self._raw: RawBody | None = None
        self._encoding: str | None = None
        self._consumed = False
        self._history: list[Response] | None = None

    # -- metadata --------------------------------------------------------------

    @property
    def request(self) -> PreparedRequest:
        """The request as it was sent (requests' ``r.request``): ``method``, ``url``,
        ``headers`` (auth and cookies included) and ``body``."""
        resp = self._resp
        info = resp.request_info
        return from_sent(info.method, str(info.url), info.headers, resp.request_payload)

    @property
    def status(self) -> int:
        return self.status_code

    @property
    def engine_response(self) -> ClientResponse:
        """The engine's response under this one (aiohttp's API)."""
        return self._resp

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers, case-insensitive."""
        return self._resp.headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers as (name, value) bytes pairs, exactly as received."""
        return self._resp.raw_headers

    @property
    def ok(self) -> bool:
        """True for a status below 400 (the engine response's ``ok``)."""
        return self._resp.ok

    def __bool__(self) -> bool:
        return self.ok

    @property
    def is_redirect(self) -> bool:
        return "Location" in self.headers and self.status_code in REDIRECT_STATUSES

    @property
    def history(self) -> list[Response]:
        """The redirect responses that led here, oldest first (their bodies are dropped)."""
        if self._history is None:
            self._history = [Response(r, elapsed=0.0, content=b"") for r in self._resp.history]
        return self._history

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies set by this response, name → value."""
        return {name: morsel.value for name, morsel in self._resp.cookies.items()}

    @property
    def links(self) -> dict[str, dict[str, str]]:
        return {
            str(rel): {k: str(v) for k, v in link.items()}
            for rel, link in self._resp.links.items()
        }

    @property
    def version(self) -> tuple[int, int]:
        return tuple(self._resp.version)  # type: ignore[return-value]

    def __repr__(self) -> str:
        method = self.request_info.method
        return f"<Response [{self.status_code} {self.reason}] {method} {self.url}>"

    # -- body --------------------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The whole body, decoded from gzip/deflate/br/zstd.

        A body larger than the request's ``max_body_size`` (1 GiB unless set on the
        Session or the request) raises BodyTooLargeError; ``iter_content()`` has no limit.
        """
        if self._content is None:
            if self._channel is None or self._consumed:
                raise StreamConsumedError("The body of this response was already consumed")
            self._consumed = True
            self._content = self._read_all()
        return self._content

    def _read_all(self) -> bytes:
        assert self._channel is not None
        limit = self._resp.max_body_size
        parts = []
        size = 0
        try:
            while True:
                data = self._channel.get(-1)
                if not data:
                    break
                size += len(data)
                if limit is not None and size > limit:
                    raise BodyTooLargeError(limit)
                parts.append(data)
        except BaseException:
            self.close()
            raise
        return b"".join(parts)

    @property
    def encoding(self) -> str | None:
        """The charset used by :attr:`text`: set it to override; else the Content-Type's."""
        return self._encoding if self._encoding is not None else self._resp.charset

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def apparent_encoding(self) -> str:
        """'utf-8' if the body is valid UTF-8, else 'iso-8859-1' (which decodes anything)."""
        try:
            self.content.decode("utf-8")
        except UnicodeDecodeError:
            return "iso-8859-1"
        return "utf-8"

    @property
    def text(self) -> str:
        """The body as text, using :attr:`encoding`, else UTF-8, else ISO-8859-1."""
        encoding = self.encoding
        if encoding:
            try:
                return self.content.decode(encoding, errors="replace")
            except LookupError:
                pass
        return self.content.decode(self.apparent_encoding)

    def json(self, *, loads: Callable[[str], Any] = _json.loads, **kwargs: Any) -> Any:
        """Decode the body as JSON with ``loads`` (``json.loads`` by default); a body
        that is not JSON raises :class:`~syncwrap.exceptions.JSONDecodeError`."""
        text = self.text
        try:
            return loads(text, **kwargs)
        except _json.JSONDecodeError as exc:
            raise JSONDecodeError(exc.msg, exc.doc, exc.pos) from exc

    @property
    def raw(self) -> RawBody:
        """The body as a readable binary file object (decoded; for ``stream=True``)."""
        if self._raw is None:
            if self._channel is None and self._content is None:
                closed = RawBody(ByteChannel.holding(b""))
                closed.close()
                return closed  # the response was closed before .raw was asked for
            channel = self._channel
            if channel is None:
                channel = ByteChannel.holding(self._content or b"")
            self._raw = RawBody(channel, on_close=self.close)
        return self._raw

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        """Yield the body in chunks of ``chunk_size`` bytes (None: as they arrive)."""
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise ValueError(f"iter_content(chunk_size=): expected a positive int or None, "
                             f"got {chunk_size!r}")
        chunks = self._iter_bytes(chunk_size)
        if decode_unicode:
            return _decode_iter(chunks, self.encoding or "utf-8")
        return chunks

    def _iter_bytes(self, chunk_size: int | None) -> Iterator[bytes]:
        if self._content is not None:
            data = self._content
            step = chunk_size or max(len(data), 1)
            for start in range(0, len(data), step):
                yield data[start : start + step]
            return
        if self._consumed or self._channel is None:
            raise StreamConsumedError("The body of this response was already consumed")
        self._consumed = True
        channel = self._channel
        try:
            while True:
                data = channel.get(-1) if chunk_size is None else channel.get_exact(chunk_size)
                if not data:
                    break
                yield data
        finally:
            self.close()

    def iter_lines(
        self,
        chunk_size: int = 65536,
        decode_unicode: bool = False,
        delimiter: bytes | str | None = None,
    ) -> Iterator[Any]:
        """Yield the body line by line, without line endings (empty lines included)."""
        pending: Any = None  # the raw, unfinished tail of the previous chunks
        for chunk in self.iter_content(chunk_size, decode_unicode=decode_unicode):
            if pending:
                chunk = pending + chunk
            if delimiter is not None:
                parts = chunk.split(delimiter)
                pending = parts.pop()
                yield from parts
                continue
            lines = chunk.splitlines(keepends=True)
            pending = None
            if lines:
                last = lines[-1]
                # Unfinished: no line ending yet, or a \r whose \n may be in the next chunk.
                if last.splitlines()[0] == last or last[-1:] in ("\r", b"\r"):
                    pending = lines.pop()
            for line in lines:
                yield line.splitlines()[0]
        if pending:
            if delimiter is None:
                yield from pending.splitlines()
            else:
                yield pending

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_content(128)

    # -- lifetime ----------------------------------------------------------------

    def raise_for_status(self) -> None:
        """Raise :class:`syncwrap.HTTPError` for a 4xx or 5xx status."""
        if not self.ok:
            kind = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(
                self.request_info,
                tuple(self.history),
                status=self.status_code,
                message=f"{kind} Error: {self.reason} for url: {self.url}",
                headers=self.headers,
                response=self,
            )

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to the end)."""
        channel, self._channel = self._channel, None
        if self._raw is not None and not self._raw.closed:
            self._raw.close()  # r.raw.closed is True after close, as in requests
        if channel is not None:
            channel.close()
            pump = self._pump
            if pump is not None and not pump.done():
                loop_thread.call_soon(pump.cancel)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_channel", None) is not None:
            self.close()


def _decode_iter(chunks: Iterator[bytes], encoding: str) -> Iterator[str]:
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


# -- one call: translate, send on the loop, wrap ------------------------------------

_PASSED = frozenset({
    "params", "data", "json", "cookies", "headers", "allow_redirects", "max_redirects",
    "compress", "chunked", "expect100", "auto_decompress", "skip_auto_headers", "max_body_size",
    "server_hostname", "proxy_headers", "retries",
})
_TLS = ("ssl", "verify", "cert", "fingerprint")


def _call(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any], *,
          session_hooks: Any = None) -> Response:
    """One facade request on ``engine``, in the calling thread (see the module docs)."""
    method = _requests_arguments(method, url, kwargs)
    hooks = _hooks.collect(session_hooks, kwargs.pop("hooks", None))
    hook_kwargs = _hook_kwargs(engine, kwargs) if hooks else {}
    upload = uploads.prepare_body(kwargs)  # files=, sync generators, checks at the call
    status = kwargs.pop("raise_for_status", None)
    stream, call_kwargs = _translate(engine, kwargs)
    raise_later = _status_option(call_kwargs, status, engine, stream, bool(hooks))
    after = _AfterHooks(hooks, hook_kwargs, raise_later) if hooks else None
    call = _perform(engine, method, url, call_kwargs, stream, after)
    if (after is None and upload is None
            and not isinstance(call_kwargs.get("auth", engine.auth), SyncAuth)):
        return loop_thread.run(call)  # no user code to run: just wait
    # User code runs in this thread, when the loop asks for it (syncwrap._bridge.caller).
    return Caller(_streamed_for_user if stream else _read_for_user).run(call)


def _requests_arguments(method: Any, url: Any, kwargs: dict[str, Any]) -> Any:
    """requests' argument spellings: a bytes method is decoded; ``cert=`` is ignored
    for a plain ``http://`` URL and ``verify=None`` means the default."""
    if isinstance(method, bytes):
        try:
            method = method.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"method=: {method!r} is not a valid HTTP method") from None
    if "cert" in kwargs and isinstance(url, str) and url[:7].lower() == "http://":
        del kwargs["cert"]
    if "verify" in kwargs and kwargs["verify"] is None:
        del kwargs["verify"]
    return method


class _AfterHooks(NamedTuple):
    """A call's response hooks, their keyword arguments, and whether raise_for_status
    is applied after them (by the facade) rather than by the engine."""

    hooks: list[Any]
    kwargs: dict[str, Any]
    raise_for_status: bool


def _translate(engine: ClientSession, kwargs: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """requests-style keyword arguments → the engine's, each passed only when given,
    so that the engine session's defaults (and its prepared-head cache) apply."""
    stream = bool(kwargs.pop("stream", False))
    out = {name: kwargs.pop(name) for name in [n for n in kwargs if n in _PASSED]}
    if "headers" in out and out["headers"] is None:
        del out["headers"]
    auth = auth_option(kwargs.pop("auth", None))  # ("u", "p") → BasicAuth; user code → SyncAuth
    if auth is not None:
        out["auth"] = auth
    elif isinstance(engine.auth, BasicAuth):  # requests lets it meet an Authorization header
        out["auth"] = engine.auth
    if "timeout" in kwargs:  # a (connect, read) tuple → ClientTimeout, checked at the call
        out["timeout"] = to_client_timeout(kwargs.pop("timeout"))
    if "proxy" in kwargs or "proxies" in kwargs or "proxy_auth" in kwargs:
        _proxy_options(kwargs, out)
    if kwargs:
        ssl = _ssl_option(engine, kwargs)
        if ssl is not None:
            out["ssl"] = ssl
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    return stream, out


def _ssl_option(engine: ClientSession, kwargs: dict[str, Any]) -> Any:
    """The engine's ``ssl=`` for a call's ``ssl=``, ``verify=``, ``cert=`` and
    ``fingerprint=`` over the session's (the engine's rule: requests_ssl), or None."""
    given = {name: kwargs.pop(name) for name in _TLS if name in kwargs}
    tls = requests_ssl(engine.ssl, **given) if given else None
    return None if tls is engine.ssl else tls


def _proxy_options(kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    """``proxy=`` (a URL) or requests' ``proxies=`` (a mapping) → the engine's ``proxy=``;
    ``proxy_auth=("u", "p")`` → a BasicAuth."""
    proxy = kwargs.pop("proxy", None)
    proxies = kwargs.pop("proxies", None)
    if proxy is not None and proxies:
        raise ValueError("proxy= and proxies= cannot both be set; pass one of them")
    if proxy is not None or proxies is not None:
        out["proxy"] = proxy if proxy is not None else proxies
    auth = _proxy_auth(kwargs.pop("proxy_auth", None))
    if auth is not None:
        out["proxy_auth"] = auth


def _proxy_auth(auth: Any) -> BasicAuth | None:
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth)
    if auth is not None and not isinstance(auth, BasicAuth):
        raise TypeError(f"proxy_auth=: expected a BasicAuth or a (user, password) pair, "
                        f"got {type(auth).__name__}")
    return auth


def _status_option(call_kwargs: dict[str, Any], given: Any, engine: ClientSession,
                   stream: bool, after_hooks: bool) -> bool:
    """Set the engine's ``raise_for_status=`` for this call; True when it must be
    applied after the hooks instead.

    The engine decides and raises. raise_for_status=True (the call's, else the
    session's) needs help twice: a call that reads the body reads it first, so
    that ``HTTPError.response.text`` works, and a call with hooks raises after them.
    """
    if (engine.raise_for_status if given is None else given) is not True:
        if given is not None:
            call_kwargs["raise_for_status"] = given
        return False
    if after_hooks:
        call_kwargs["raise_for_status"] = False
        return True
    if not stream:
        call_kwargs["raise_for_status"] = _raise_with_body
    elif given is not None:
        call_kwargs["raise_for_status"] = given
    return False


def _hook_kwargs(engine: ClientSession, kwargs: dict[str, Any]) -> dict[str, Any]:
    tls = engine.ssl
    return _hooks.hook_kwargs(kwargs, timeout=engine.timeout, verify=tls.verify, cert=tls.cert)


# -- on the loop thread --------------------------------------------------------------


async def _perform(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any],
                   stream: bool, after: _AfterHooks | None = None) -> Response:
    """The engine call, then the body (read whole, or handed to the calling thread),
    then the response hooks, which the calling thread runs."""
    started = time.perf_counter()
    try:
        resp = await engine.request(method, url, **kwargs)
    except ClientResponseError as exc:
        _wrap_error(exc, time.perf_counter() - started)
        raise
    elapsed = time.perf_counter() - started
    if not stream:
        response = Response(resp, elapsed=elapsed, content=await resp.read())
    else:
        response = _streamed(resp, elapsed)
    if after is not None:
        try:
            response = await current().call(_hooks.run_hooks, after.hooks, response,
                                            after.kwargs)
        except BaseException:
            response.close()  # a streamed body's connection is not left to the collector
            raise
        if after.raise_for_status and not response.ok:
            response.close()
            _raise_for_status(response)
    return response


def _streamed(resp: ClientResponse, elapsed: float) -> Response:
    """On the loop: a Response whose body the calling thread reads from the socket
    (a large plain body) or from a channel a pump task fills."""
    direct = take_body(resp)
    if direct is not None:
        return Response(resp, elapsed=elapsed, channel=DirectChannel(direct))
    channel = ByteChannel()

    def pump_done(error: BaseException | None) -> None:
        if error is None:
            resp.release()
        else:
            resp.close()

    pump = start_pump(resp.content, channel, pump_done)
    return Response(resp, elapsed=elapsed, channel=channel, pump=pump)


async def _read_for_user(resp: ClientResponse) -> Response:
    """How a sync auth flow sees an engine response: a Response with its body read
    (a redirect's body is dropped unread, as in ``history``)."""
    if resp.status in REDIRECT_STATUSES:
        return Response(resp, elapsed=0.0, content=b"")
    return Response(resp, elapsed=0.0, content=await resp.read())


async def _streamed_for_user(resp: ClientResponse) -> Response:
    """How a sync auth flow sees an engine response of a ``stream=True`` call: status
    and headers; its body is left for the caller (or dropped for a retry)."""
    return Response(resp, elapsed=0.0)


async def _raise_with_body(resp: ClientResponse) -> None:
    """raise_for_status=True for a call that reads the body: the error's response has it."""
    if resp.ok:
        return
    content = await resp.read()
    try:
        resp.raise_for_status()
    except ClientResponseError as exc:
        exc.response = Response(resp, elapsed=0.0, content=content)
        raise


def _raise_for_status(response: Response) -> None:
    """The engine's raise_for_status, applied to the response the hooks left."""
    try:
        response.engine_response.raise_for_status()
    except ClientResponseError as exc:
        exc.response = response
        exc.history = tuple(response.history)
        raise


def _wrap_error(exc: ClientResponseError, elapsed: float) -> None:
    """At the boundary, an engine error's response becomes a facade Response."""
    response = exc.response
    if isinstance(response, ClientResponse):
        response = exc.response = Response(response, elapsed=elapsed)
    if isinstance(response, Response):
        response.elapsed = timedelta(seconds=elapsed)
        exc.history = tuple(response.history)


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
            proxy_auth=_proxy_auth(proxy_auth), retries=retries, **given,
        )
        #: Mounted adapters by URL prefix (:meth:`mount`); only user-mounted ones.
        self.adapters: dict[str, BaseAdapter] = {}
        if ssl is not None or verify is not True or cert is not None or fingerprint is not None:
            self._engine.ssl = requests_ssl(self._engine.ssl, ssl=ssl, verify=verify, cert=cert,
                                            fingerprint=fingerprint)
        _live_connectors.add(self._engine.connector)
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
                    _live_connectors.add(self._engine.connector)
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
        if self.params:
            kwargs["params"] = merged_params(self.params, kwargs.get("params"))
        if self.adapters and "retries" not in kwargs:
            _mounted_retries(self.adapters, method, url, kwargs)
        return _call(self._engine_session(), method, url, kwargs, session_hooks=self.hooks)

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
        return _call(self._engine_session(), request.method or "GET", request.url, call,
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
        self._engine.proxy_auth = _proxy_auth(auth)

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
        return _ws_connect(self._engine_session(), url, kwargs)

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


# -- module-level verbs ------------------------------------------------------------


class _OneShotClient:
    """What the module-level verbs use: the process-wide connection pool, and for each
    call a fresh engine session with the default settings and an empty cookie jar.

    Nothing is kept between calls, while the cookies that a call's redirects set
    are still sent on its next hops.
    """

    def __init__(self) -> None:
        self._connector: BaseConnector | None = None
        self._generation = -1
        self._lock = threading.Lock()

    def connector(self) -> BaseConnector:
        """The process-wide pool (a new one in a child process after fork)."""
        generation = loop_thread.generation()
        if self._generation != generation:
            with self._lock:
                if self._generation != generation:
                    self._connector = TCPConnector()
                    _live_connectors.add(self._connector)
                    self._generation = generation
        return self._connector  # type: ignore[return-value]

    def request(self, method: str, url: Any, **kwargs: Any) -> Response:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return _call(engine, method, url, kwargs)
        finally:
            engine.detach()  # the pool stays open for the next call

    def ws_connect(self, url: Any, **kwargs: Any) -> WebSocket:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return _ws_connect(engine, url, kwargs)
        finally:
            engine.detach()  # the WebSocket keeps its connection


_client = _OneShotClient()


def request(method: str, url: Any, **kwargs: Any) -> Response:
    """One request with the process-wide connection pool and no cookies kept afterwards."""
    return _client.request(method, url, **kwargs)


def get(url: Any, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def options(url: Any, **kwargs: Any) -> Response:
    return request("OPTIONS", url, **kwargs)


def head(url: Any, **kwargs: Any) -> Response:
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def post(url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    return request("POST", url, data=data, json=json, **kwargs)


def put(url: Any, data: Any = None, **kwargs: Any) -> Response:
    return request("PUT", url, data=data, **kwargs)


def patch(url: Any, data: Any = None, **kwargs: Any) -> Response:
    return request("PATCH", url, data=data, **kwargs)


def delete(url: Any, **kwargs: Any) -> Response:
    return request("DELETE", url, **kwargs)


def ws_connect(url: Any, **kwargs: Any) -> WebSocket:
    """Open a WebSocket with the process-wide pool (see :meth:`Session.ws_connect`)."""
    return _client.ws_connect(url, **kwargs)


def _ws_connect(engine: ClientSession, url: Any, kwargs: dict[str, Any]) -> WebSocket:
    """A blocking WebSocket: requests-style arguments translated as for requests, then
    the engine's ws_connect on the loop (with the calling thread serving a sync auth)."""
    out: dict[str, Any] = {}
    if "auth" in kwargs:
        out["auth"] = auth_option(kwargs.pop("auth"))
    if "proxy" in kwargs or "proxies" in kwargs or "proxy_auth" in kwargs:
        _proxy_options(kwargs, out)
    if any(name in kwargs for name in _TLS):
        ssl = _ssl_option(engine, kwargs)
        if ssl is not None:
            out["ssl"] = ssl
    out.update(kwargs)  # the engine checks the rest
    call = open_websocket(engine, url, out)
    if isinstance(out.get("auth", engine.auth), SyncAuth):
        return Caller(_streamed_for_user).run(call)
    return loop_thread.run(call)


async def _close_all_connectors() -> None:
    for connector in list(_live_connectors):
        try:
            await connector.close()
        except Exception:  # noqa: BLE001 - at exit: close the others all the same
            pass


loop_thread.on_shutdown(_close_all_connectors)
