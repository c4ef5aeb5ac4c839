"""The blocking, requests-like facade over the engine.

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
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from . import loop as loop_thread
from ._bridge import hooks as _hooks
from ._bridge import uploads
from ._bridge.auth import auth_option
from ._bridge.cookies import CookiesView
from ._bridge.downloads import BodyChannel, DirectChannel, RawBody, start_pump
from ._bridge.tls import ssl_option
from .engine.connector import BaseConnector, TCPConnector
from .engine.cookies import CookieJar
from .engine.direct_read import take_body
from .engine.request import merge_headers
from .engine.response import ClientResponse, check_max_body_size
from .engine.session import ClientSession
from .engine.timeouts import DEFAULT_TIMEOUT, ClientTimeout, to_client_timeout
from .exceptions import BodyTooLargeError, HTTPError

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
]

_DEFAULT: Any = object()
_live_connectors: weakref.WeakSet[BaseConnector] = weakref.WeakSet()


class Response:
    """A response. Non-streamed responses are fully read; ``stream=True`` ones read on demand."""

    def __init__(
        self,
        engine_response: ClientResponse,
        *,
        elapsed: float,
        channel: BodyChannel | DirectChannel | None = None,
        pump: Any = None,
    ) -> None:
        self._resp = engine_response
        self.status_code: int = engine_response.status
        self.reason: str = engine_response.reason
        self.url: str = str(engine_response.url)
        self.request_info = engine_response.request_info
        self.elapsed = timedelta(seconds=elapsed)
        self._content: bytes | None = engine_response._body
        self._channel = channel
        self._pump = pump
        self._raw: RawBody | None = None
        self._encoding: str | None = None
        self._consumed = False
        self._history: list[Response] | None = None

    # -- metadata --------------------------------------------------------------

    @property
    def status(self) -> int:
        return self.status_code

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
        """True for a status below 400."""
        return self.status_code < 400

    def __bool__(self) -> bool:
        return self.ok

    @property
    def is_redirect(self) -> bool:
        return "Location" in self.headers and self.status_code in (301, 302, 303, 307, 308)

    @property
    def history(self) -> list[Response]:
        """The redirect responses that led here, oldest first."""
        if self._history is None:
            self._history = [Response(r, elapsed=0.0) for r in self._resp.history]
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
                raise RuntimeError("The body of this response was already consumed")
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
        """Decode the body as JSON with ``loads`` (``json.loads`` by default)."""
        return loads(self.text, **kwargs)

    @property
    def raw(self) -> RawBody:
        """The body as a readable binary file object (decoded; for ``stream=True``)."""
        if self._raw is None:
            channel = self._channel
            if channel is None:
                channel = BodyChannel()
                channel.put(self._content or b"")
                channel.finish()
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
            raise RuntimeError("The body of this response was already consumed")
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
        if self.status_code >= 400:
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


# -- the request coroutine (runs on the loop thread) -------------------------------


async def _perform(
    engine: ClientSession | None,
    method: str,
    url: Any,
    kwargs: dict[str, Any],
    stream: bool,
    own_session_factory: Callable[[], ClientSession] | None = None,
) -> tuple[ClientResponse, float, BodyChannel | DirectChannel | None, Any]:
    started = time.perf_counter()
    owned = None
    if engine is None:
        assert own_session_factory is not None
        engine = owned = own_session_factory()
    # raise_for_status=True is checked here so the HTTPError carries a facade Response.
    check_status = kwargs.get("raise_for_status") is True
    if check_status:
        kwargs = {**kwargs, "raise_for_status": False}
    try:
        resp = await engine._request(method, url, **kwargs)
        elapsed = time.perf_counter() - started
        if not stream:
            await resp.read()
            if check_status:
                Response(resp, elapsed=elapsed).raise_for_status()
            return resp, elapsed, None, None
        if check_status and resp.status >= 400:
            resp.release()  # the body is unread: the connection is closed, not pooled
            Response(resp, elapsed=elapsed).raise_for_status()
        direct = take_body(resp)  # a large plain body: the caller reads the socket itself
        if direct is not None:
            return resp, elapsed, DirectChannel(direct), None
        channel = BodyChannel()

        def pump_done(error: BaseException | None) -> None:
            if error is None:
                resp.release()
            else:
                resp.close()

        pump = start_pump(resp.content, channel, pump_done)
        return resp, elapsed, channel, pump
    finally:
        if owned is not None:
            owned.detach()


def _auth_option(auth: Any) -> Any:
    """BasicAuth, an AuthFlow (DigestAuth...), a facade-level SyncAuth, or None."""
    return auth_option(auth)


class Session:
    """A requests-style session: default headers, cookies, auth and a connection pool.

    Safe to share between threads; all its network state lives on the loop thread.
    ``max_body_size`` (also per request; default 1 GiB, None: no limit) bounds what
    ``.content``, ``.text`` and ``.json()`` accept: a larger body raises
    BodyTooLargeError; read it with ``stream=True`` and ``iter_content()`` instead.
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
        auto_decompress: bool = True,
        hooks: Any = None,
        max_body_size: Any = _DEFAULT,
    ) -> None:
        self.headers: CIMultiDict[str] = merge_headers(None, headers)
        # ``.content`` and friends above this raise BodyTooLargeError (the engine's default
        # of 1 GiB unless given; None: no limit).
        self._engine_options: dict[str, Any] = {}
        if max_body_size is not _DEFAULT:
            self._engine_options["max_body_size"] = check_max_body_size(max_body_size)
        self.auth = _auth_option(auth)
        #: requests-style event hooks: ``{"response": [fn, ...]}`` (see syncwrap._bridge.hooks).
        self.hooks = _hooks.normalize_hooks(hooks)
        self.timeout: ClientTimeout = (
            DEFAULT_TIMEOUT if timeout is _DEFAULT else to_client_timeout(timeout)
        )
        self.verify = verify
        self.cert = cert
        ssl_option(verify, cert)  # validate now, at the call
        self.max_redirects = max_redirects
        self._base_url = base_url
        self._trust_env = trust_env
        self._raise_for_status = raise_for_status
        self._auto_decompress = auto_decompress
        self._connector_template = connector
        self.cookie_jar = cookie_jar if cookie_jar is not None else CookieJar()
        if cookies is not None:
            self.cookie_jar.update_cookies(cookies)
        self._engine: ClientSession | None = None
        self._generation = -1
        self._lock = threading.Lock()
        self._closed = False

    def _engine_session(self) -> ClientSession:
        engine = self._engine
        if engine is not None and self._generation == loop_thread.generation():
            return engine
        with self._lock:
            if self._closed:
                raise RuntimeError("Session is closed")
            if self._engine is None or self._generation != loop_thread.generation():
                connector = self._connector_template
                if connector is None or self._engine is not None:
                    # A fork leaves the old connector's sockets to the parent: build anew.
                    connector = _clone_connector(connector)
                _live_connectors.add(connector)
                self._engine = ClientSession(
                    self._base_url,
                    connector=connector,
                    cookie_jar=self.cookie_jar,
                    trust_env=self._trust_env,
                    auto_decompress=self._auto_decompress,
                    **self._engine_options,
                )
                self._generation = loop_thread.generation()
            return self._engine

    def request(self, method: str, url: Any, **kwargs: Any) -> Response:
        """Send a request and wait for the response (see the module docs for arguments)."""
        request_hooks = kwargs.pop("hooks", None)
        hook_kwargs = _hooks.hook_kwargs(self, kwargs)
        upload = uploads.prepare_body(kwargs)  # files=, sync generators, checks at the call
        stream, call_kwargs = self._translate(kwargs)
        engine = self._engine_session()

        def send(call_kwargs: dict[str, Any]) -> Response:
            resp, elapsed, channel, pump = uploads.run_request(
                _perform(engine, method, url, call_kwargs, stream), upload
            )
            return Response(resp, elapsed=elapsed, channel=channel, pump=pump)

        # Facade-level auth, hooks and raise_for_status run here, in the calling thread.
        return _hooks.send(send, method, url, call_kwargs, session_hooks=self.hooks,
                           request_hooks=request_hooks, hook_kwargs=hook_kwargs,
                           base_url=self._base_url)

    @property
    def cookies(self) -> CookiesView:
        """The session's cookies as a dict-like view (``s.cookies["name"]`` is the value).

        Thread-safe: every operation runs on the loop thread (see syncwrap._bridge.cookies).
        """
        return CookiesView(self.cookie_jar)

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        view = CookiesView(self.cookie_jar)
        view.clear()
        if cookies:
            view.update(cookies)

    def _translate(self, kwargs: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        stream = bool(kwargs.pop("stream", False))
        out: dict[str, Any] = {}
        out["headers"] = merge_headers(self.headers, kwargs.pop("headers", None))
        auth = _auth_option(kwargs.pop("auth", None)) or _auth_option(self.auth)  # s.auth = (u, p)
        if auth is not None:
            out["auth"] = auth
        timeout = kwargs.pop("timeout", _DEFAULT)
        out["timeout"] = self.timeout if timeout is _DEFAULT else to_client_timeout(timeout)
        verify = kwargs.pop("verify", self.verify)
        cert = kwargs.pop("cert", self.cert)
        ssl = kwargs.pop("ssl", None)
        fingerprint = kwargs.pop("fingerprint", None)
        out["ssl"] = ssl_option(verify, cert, ssl=ssl, fingerprint=fingerprint)
        out["max_redirects"] = kwargs.pop("max_redirects", self.max_redirects)
        out["raise_for_status"] = kwargs.pop("raise_for_status", self._raise_for_status)
        if "max_body_size" in kwargs:
            out["max_body_size"] = check_max_body_size(kwargs.pop("max_body_size"))
        for name in ("params", "data", "json", "cookies", "allow_redirects", "compress",
                     "chunked", "expect100", "auto_decompress", "skip_auto_headers"):
            if name in kwargs:
                out[name] = kwargs.pop(name)
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        return stream, out

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

    @property
    def connector(self) -> BaseConnector:
        return self._engine_session().connector

    def close(self) -> None:
        """Close the session's connections. Further requests raise RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            engine, self._engine = self._engine, None
        if engine is not None and self._generation == loop_thread.generation():
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
            if engine is not None and self._generation == loop_thread.generation():
                loop_thread.call_soon(_close_dropped, engine)
        except Exception:  # noqa: BLE001 - interpreter teardown: nothing left to close
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<syncwrap.Session {state}>"


def _close_dropped(engine: ClientSession) -> None:  # on the loop thread
    """Close a dropped Session's idle connections now, those still in use on release."""
    engine.detach()  # closed on purpose: no "Unclosed client session" warning
    engine.connector.close_when_released()


def _clone_connector(template: BaseConnector | None) -> BaseConnector:
    if template is None:
        return TCPConnector()
    clone = getattr(template, "clone", None)
    if clone is None:
        raise TypeError(f"connector=: {type(template).__name__} cannot be rebuilt after fork")
    return clone()


# -- module-level verbs ------------------------------------------------------------

_shared: dict[str, Any] = {"generation": -1, "connector": None}
_shared_lock = threading.Lock()


def _shared_connector() -> BaseConnector:
    gen = loop_thread.generation()
    if _shared["generation"] != gen:
        with _shared_lock:
            if _shared["generation"] != gen:
                connector = TCPConnector()
                _live_connectors.add(connector)
                _shared["connector"] = connector
                _shared["generation"] = gen
    return _shared["connector"]  # type: ignore[no-any-return]


_module_defaults = Session.__new__(Session)
_module_defaults.headers = CIMultiDict()
_module_defaults.auth = None
_module_defaults.timeout = DEFAULT_TIMEOUT
_module_defaults.verify = True
_module_defaults.cert = None
_module_defaults.max_redirects = 10
_module_defaults._raise_for_status = False


def request(method: str, url: Any, **kwargs: Any) -> Response:
    """One request with the process-wide connection pool and no cookies kept afterwards."""
    request_hooks = kwargs.pop("hooks", None)
    hook_kwargs = _hooks.hook_kwargs(_module_defaults, kwargs)
    upload = uploads.prepare_body(kwargs)  # files=, sync generators, checks at the call
    stream, call_kwargs = _module_defaults._translate(kwargs)
    connector = _shared_connector()

    def factory() -> ClientSession:
        return ClientSession(connector=connector, connector_owner=False)

    def send(call_kwargs: dict[str, Any]) -> Response:
        resp, elapsed, channel, pump = uploads.run_request(
            _perform(None, method, url, call_kwargs, stream, factory), upload
        )
        return Response(resp, elapsed=elapsed, channel=channel, pump=pump)

    return _hooks.send(send, method, url, call_kwargs, session_hooks=None,
                       request_hooks=request_hooks, hook_kwargs=hook_kwargs)


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


async def _close_all_connectors() -> None:
    for connector in list(_live_connectors):
        connector._close_now()


loop_thread.on_shutdown(_close_all_connectors)
