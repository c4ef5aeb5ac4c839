"""One facade call: requests-style arguments translated, one engine call, the result wrapped.

:func:`request_call` translates a call's requests-style arguments once into engine
arguments, each only when given (:func:`_translate`), so that the engine session's
defaults and its prepared-head cache apply; makes one engine call on the loop
thread (:func:`_perform`) and wraps the result in a :class:`Response`; an engine
error's response is wrapped the same way at this boundary. :func:`prepare_call`
translates now and :meth:`PreparedCall.perform` gives the coroutine to run later (the
awaitable twins await it from another loop; a fan-out runs many at once). User code of
the call (sync auth flows, middlewares, generator bodies, response hooks) runs in the
calling thread (:mod:`syncwrap._bridge.caller`). :func:`websocket_call` does the same for a
WebSocket handshake.

Fast path: a call with no keyword arguments (``s.get(url)``) on a session that needs
nothing but the engine call (no response hooks, no user code, no raise_for_status help)
skips the translation (:func:`_bare_call` gives what :func:`prepare_call` would) and
runs ``_perform`` at once. Cost model: about 95 bytecodes and 6 Python calls of the
facade before the hand-off instead of about 330 and 20 (``s.get(url)``, 16 threads,
bench/handoff_counts.py); it changes nothing a call sees (tests/facade/test_bare_calls.py).

On such a session, a call that gives only ``timeout=``, ``verify=``, ``stream=`` and
``allow_redirects=`` (fan-out items and awaitable twins too: :func:`prepare_call`
remembers), with plain values (``s.get(url, timeout=5, verify=CA)``: what
requests code passes on every call), reuses the translation the first call with the same
values (and the same types) got on a session with the same ``ssl`` and ``auth``
(:func:`_remembered`); the values are checked again by the engine on every call, and a
value the translation refuses is never remembered. Cost model: ~1 us before the hand-off
instead of ~4 (one key tuple and one dict lookup instead of the translation's ~20 Python
calls), about 20,000 instructions less per HTTPS request (callgrind, ``verify=CA``:
266,000 instead of 286,000; the same session with ``s.verify = CA``: 247,000); 16
threads on one session: 5-12 % more requests per second, paired runs
(tests/facade/test_repeated_calls.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple

from .. import loop as loop_thread
from ..engine.auth import BasicAuth
from ..engine.redirects import REDIRECT_STATUSES
from ..engine.response import ClientResponse
from ..engine.session import ClientSession
from ..engine.timeouts import to_client_timeout
from ..engine.tls import requests_ssl
from ..exceptions import ClientResponseError
from . import hooks as _hooks
from . import uploads
from .auth import SyncAuth, auth_option
from .caller import Caller, current
from .channel import ByteChannel
from .direct import take_body
from .downloads import DirectChannel, start_pump
from .middlewares import middlewares_option, runs_user_code
from .response import Response
from .websocket import WebSocket, open_websocket

__all__ = ["request_call", "prepare_call", "PreparedCall", "websocket_call", "proxy_auth_option"]


# -- one call: translate, send on the loop, wrap ------------------------------------

_PASSED = frozenset({
    "params", "data", "json", "cookies", "headers", "allow_redirects", "max_redirects",
    "compress", "chunked", "expect100", "auto_decompress", "skip_auto_headers", "max_body_size",
    "server_hostname", "proxy_headers", "retries",
})
_TLS = ("ssl", "verify", "cert", "fingerprint")


def request_call(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any], *,
          session_hooks: Any = None) -> Response:
    """One facade request on ``engine``, in the calling thread (see the module docs)."""
    if not kwargs and type(method) is str:
        bare = _bare_call(engine, session_hooks)
        if bare is not None:  # what prepare_call() would give, without its steps
            return loop_thread.run(_perform(engine, method, url, bare, False))
    call = prepare_call(engine, method, url, kwargs, session_hooks=session_hooks)
    if not call.user_code:  # no user code to run: just wait (call.perform(), inline)
        return loop_thread.run(_perform(engine, call.method, url, call.kwargs, call.stream,
                                        call.after, _streamed))
    # User code runs in this thread, when the loop asks for it (syncwrap._bridge.caller).
    return Caller(call.present).run(call.perform())


class PreparedCall(NamedTuple):
    """A facade call translated at the call (bad input already raised), not sent yet."""

    engine: ClientSession
    method: str
    url: Any
    kwargs: dict[str, Any]
    stream: bool
    after: _AfterHooks | None
    #: Whether the call runs user code while it runs (hooks, a sync auth, a sync iterable
    #: body), which needs a :class:`~syncwrap._bridge.caller.Caller` to run it.
    user_code: bool
    #: With ``defer_hooks=True``: what the calling thread applies to the response after
    #: the call instead (the response hooks, then a deferred raise_for_status), or None.
    finish: Callable[[Response], Response] | None = None
    #: Run on the loop once the engine call has ended, however it ended (a module-level
    #: call detaches its throwaway engine session), or None.
    ended: Callable[[], object] | None = None

    def perform(self, streamed: Any = None) -> Coroutine[Any, Any, Response]:
        """The coroutine to run on the loop; ``streamed(engine_response, elapsed)`` makes
        the Response of a ``stream=True`` call (default: read in a calling thread)."""
        coro = _perform(self.engine, self.method, self.url, self.kwargs, self.stream,
                        self.after, streamed or _streamed)
        return coro if self.ended is None else _then(coro, self.ended)

    def ending_with(self, ended: Callable[[], object]) -> PreparedCall:
        """This call, with ``ended()`` run on the loop once it has ended (:attr:`ended`)."""
        return self._replace(ended=ended)

    @property
    def present(self) -> Callable[[ClientResponse], Awaitable[Response]]:
        """How a sync auth flow of this call sees an engine response."""
        return _streamed_for_user if self.stream else _read_for_user


def prepare_call(engine: ClientSession, method: str, url: Any, kwargs: dict[str, Any], *,
                 session_hooks: Any = None, defer_hooks: bool = False) -> PreparedCall:
    """Translate a call's requests-style arguments (consumed from ``kwargs``) now: bad
    input raises here. ``defer_hooks`` leaves the response hooks out of the engine call,
    for the calling thread to run later (:attr:`PreparedCall.finish`)."""
    key = None
    if kwargs and type(method) is str and _bare_call(engine, session_hooks) is not None:
        key, seen = _remembered(engine, kwargs)
        if seen is not None:  # these arguments, translated before (see the module docs)
            kwargs.clear()
            return PreparedCall(engine, method, url, seen[1], seen[0], None, False)
    # A call with no keyword arguments and no hooks (the common case) skips what only
    # arguments or hooks need; each step below is a no-op for it.
    if kwargs or isinstance(method, bytes):
        method = _requests_arguments(method, url, kwargs)
    if "hooks" in kwargs or (session_hooks and session_hooks.get("response")):
        hooks = _hooks.collect(session_hooks, kwargs.pop("hooks", None))
    else:
        hooks = []
    hook_kwargs = _hook_kwargs(engine, kwargs) if hooks else {}
    # files=, sync generators, checks at the call
    upload = uploads.prepare_body(kwargs) if kwargs else None
    status = kwargs.pop("raise_for_status", None)
    default_auth = engine.auth
    stream, call_kwargs = _translate(engine, kwargs, default_auth)
    raise_later = (_status_option(call_kwargs, status, engine, stream, bool(hooks))
                   if status is not None or engine.raise_for_status is True else False)
    after = _AfterHooks(hooks, hook_kwargs, raise_later) if hooks else None
    finish = None
    if defer_hooks and after is not None:
        finish = partial(_run_after, after)
        after = None
    chain = (call_kwargs["middlewares"] if "middlewares" in call_kwargs
             else engine.middlewares)
    user_code = (after is not None or upload is not None
                 or isinstance(call_kwargs.get("auth", default_auth), SyncAuth)
                 or (runs_user_code(chain) if chain else False))
    call = PreparedCall(engine, method, url, call_kwargs, stream, after, user_code, finish)
    if key is not None and not user_code and after is None and finish is None:
        _remember(key, call)
    return call


def _bare_call(engine: ClientSession, session_hooks: Any) -> dict[str, Any] | None:
    """The engine arguments of a call given no keyword arguments, when it needs nothing
    but the engine call (no hooks, no user code, no help with raise_for_status), as
    :func:`prepare_call` translates it; else None."""
    if session_hooks and session_hooks.get("response"):
        return None
    auth = engine.auth
    if isinstance(auth, SyncAuth) or engine.raise_for_status is True:
        return None
    chain = engine.middlewares
    if chain and runs_user_code(chain):
        return None
    return _no_arguments(auth)


#: The keyword arguments whose translation depends on nothing but their values and the
#: engine session's ``ssl`` and ``auth``: what requests code passes on every call
#: (``timeout=5``, ``verify=CA``). See :func:`_remembered`.
_REPEATABLE = frozenset({"timeout", "verify", "stream", "allow_redirects"})
#: The value types (and those of a tuple's items) a translation is remembered for.
_PLAIN = frozenset({str, int, float, bool, type(None)})
#: :func:`_remembered`'s key -> (stream, engine kwargs) of a call translated before (bounded:
#: cleared at 256 entries; it holds sessions' ``ssl`` and ``auth`` settings, as the calls'
#: translations themselves do).
_REPEATED: dict[tuple[Any, ...], tuple[bool, dict[str, Any]]] = {}


def _remembered(engine: ClientSession, kwargs: dict[str, Any]
                ) -> tuple[tuple[Any, ...] | None, tuple[bool, dict[str, Any]] | None]:
    """``(key, translation)`` of a call whose translation by :func:`prepare_call` may be
    reused (every argument in ``_REPEATABLE`` and of a plain type; the caller has checked
    :func:`_bare_call`), the translation None if not given before; ``(None, None)`` for
    other calls. Each value's type is part of the key: ``True`` and ``1`` are equal, but
    ``timeout=True`` and ``verify=1`` must raise every time."""
    if not _REPEATABLE.issuperset(kwargs):
        return None, None
    parts: list[Any] = [engine.ssl, engine.auth]
    for name, value in kwargs.items():
        kind = type(value)
        if kind is tuple:
            kinds = tuple(map(type, value))
            if not _PLAIN.issuperset(kinds):
                return None, None
            parts.append((name, value, kinds))
        elif kind in _PLAIN:
            parts.append((name, value, kind))
        else:
            return None, None
    key = tuple(parts)
    try:
        return key, _REPEATED.get(key)
    except TypeError:  # an auth setting that is not hashable
        return None, None


def _remember(key: tuple[Any, ...], call: PreparedCall) -> None:
    """Keep ``call``'s translation under ``key`` (from :func:`_remembered`)."""
    if len(_REPEATED) >= 256:
        _REPEATED.clear()
    _REPEATED[key] = (call.stream, call.kwargs)


def _no_arguments(default_auth: Any) -> dict[str, Any]:
    """The engine arguments of a call given none: the session's BasicAuth, passed so that
    it meets an Authorization header as requests lets it (see :func:`_translate`)."""
    return {"auth": default_auth} if isinstance(default_auth, BasicAuth) else {}


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


def _translate(engine: ClientSession, kwargs: dict[str, Any],
               default_auth: Any) -> tuple[bool, dict[str, Any]]:
    """requests-style keyword arguments → the engine's, each passed only when given,
    so that the engine session's defaults (and its prepared-head cache) apply.
    ``default_auth`` is the engine session's ``auth``."""
    if not kwargs:
        return False, _no_arguments(default_auth)
    stream = bool(kwargs.pop("stream", False))
    out = {name: kwargs.pop(name) for name in [n for n in kwargs if n in _PASSED]}
    if "headers" in out and out["headers"] is None:
        del out["headers"]
    auth = auth_option(kwargs.pop("auth", None))  # ("u", "p") → BasicAuth; user code → SyncAuth
    if auth is not None:
        out["auth"] = auth
    elif isinstance(default_auth, BasicAuth):  # requests lets it meet an Authorization header
        out["auth"] = default_auth
    if "middlewares" in kwargs:  # plain functions run in this thread (_bridge.middlewares)
        out["middlewares"] = middlewares_option(kwargs.pop("middlewares"))
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
    ``fingerprint=`` over the session's (the engine's rule: requests_ssl), or None.

    Calls that repeat the same arguments (``verify=CA`` on every call) get the setting
    the first one got: requests_ssl checks the files on disk and builds the setting
    each time (about as long as the rest of the call's translation), while the engine
    keeps the loaded context of those arguments anyway.
    """
    given = {name: kwargs.pop(name) for name in _TLS if name in kwargs}
    if not given:
        return None
    base = engine.ssl
    try:
        # each value's type too: verify=True is cached, verify=1 must still raise
        key: tuple[Any, ...] | None = (base, *given.items(), *map(type, given.values()))
        tls = _TLS_SEEN.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable argument: translated every time
        key, tls = None, None
    if tls is None:
        tls = requests_ssl(base, **given)
        if key is not None:
            if len(_TLS_SEEN) >= 64:
                _TLS_SEEN.clear()
            _TLS_SEEN[key] = tls
    return None if tls is base else tls


#: (session's TLS setting, a call's TLS arguments...) -> that call's ssl= (bounded).
_TLS_SEEN: dict[tuple[Any, ...], Any] = {}


def _proxy_options(kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    """``proxy=`` (a URL) or requests' ``proxies=`` (a mapping) → the engine's ``proxy=``;
    ``proxy_auth=("u", "p")`` → a BasicAuth."""
    proxy = kwargs.pop("proxy", None)
    proxies = kwargs.pop("proxies", None)
    if proxy is not None and proxies:
        raise ValueError("proxy= and proxies= cannot both be set; pass one of them")
    if proxy is not None or proxies is not None:
        out["proxy"] = proxy if proxy is not None else proxies
    auth = proxy_auth_option(kwargs.pop("proxy_auth", None))
    if auth is not None:
        out["proxy_auth"] = auth


def proxy_auth_option(auth: Any) -> BasicAuth | None:
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
                   stream: bool, after: _AfterHooks | None = None,
                   streamed: Any = None) -> Response:
    """The engine call, then the body (read whole, or handed to the calling thread),
    then the response hooks, which the calling thread runs."""
    started = time.perf_counter()
    try:
        resp = await engine.fetch(method, url, **kwargs)
    except ClientResponseError as exc:
        _wrap_error(exc, time.perf_counter() - started)
        raise
    elapsed = time.perf_counter() - started
    if not stream:
        response = Response(resp, elapsed=elapsed, content=await resp.read())
    else:
        response = (streamed or _streamed)(resp, elapsed)
    if after is not None:
        try:
            response = await current().call(_run_hooks, after, response)
        except BaseException:
            response.close()  # a streamed body's connection is not left to the collector
            raise
        if after.raise_for_status and not response.ok:
            response.close()
            _raise_for_status(response)
    return response


async def _then(coro: Coroutine[Any, Any, Response], ended: Callable[[], object]) -> Response:
    try:
        return await coro
    finally:
        ended()


def _run_hooks(after: _AfterHooks, response: Response) -> Response:
    """In the calling thread: the response hooks."""
    return _hooks.run_hooks(after.hooks, response, after.kwargs)  # type: ignore[no-any-return]


def _run_after(after: _AfterHooks, response: Response) -> Response:
    """In the calling thread: the response hooks, then a deferred raise_for_status."""
    try:
        response = _run_hooks(after, response)
    except BaseException:
        response.close()
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


def websocket_call(engine: ClientSession, url: Any, kwargs: dict[str, Any]) -> WebSocket:
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
