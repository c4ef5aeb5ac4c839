"""``middlewares=`` in the blocking facade: plain functions, run in the calling thread.

A facade middleware is ``mw(request, handler) -> Response``, a plain (not async)
function. ``request`` has ``method``, ``url`` (a str), ``headers`` (mutable) and
``body`` (bytes for a body known in advance, b"" for none, None for a streamed
one; read-only). ``handler(request)`` sends it and returns the
:class:`~syncwrap.Response`, with its body read unless the call streams. A
middleware may change the request, call ``handler`` more than once (a retry, a
token refresh) and returns a Response::

    def refresh_token(request, handler):
        request.headers["Authorization"] = f"Bearer {tokens.current}"
        r = handler(request)
        if r.status_code == 401:
            request.headers["Authorization"] = f"Bearer {tokens.refresh()}"
            r = handler(request)
        return r

    s = syncwrap.Session(middlewares=[refresh_token])

Each is wrapped in a :class:`SyncMiddleware`, an engine middleware, so the engine's
chain stays the one owner of the rules: the session's list or a call's
``middlewares=`` (which replaces it), the first one outermost, run around each hop
(redirects included). The middleware runs in the calling thread
(:mod:`syncwrap._bridge.caller`). Its ``handler`` hands the request back to the
loop and serves the call's other user code until the response arrives. The
engine's own :class:`~syncwrap.engine.DigestAuthMiddleware` is accepted as it is;
an ``async`` middleware is refused, because it would run user code on the loop
thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from ..engine.middlewares import (
    ClientHandlerType,
    ClientRequest,
    DigestAuthMiddleware,
    check_middlewares,
)
from ..engine.payload import BytesPayload
from ..engine.request import merge_headers
from .auth import PreparedRequest
from .caller import Caller, current
from .response import Response

__all__ = ["SyncMiddleware", "middlewares_option", "runs_user_code"]

# What a handler call sends to the loop: (method, url, headers) and where the outcome goes.
_Send = tuple[tuple[str, URL, CIMultiDict[str]], list[tuple[Any, BaseException | None]]]


class SyncMiddleware:
    """A facade middleware ``fn(request, handler) -> Response`` as an engine middleware:
    ``fn`` runs in the calling thread, and its ``handler`` sends on the loop."""

    def __init__(self, fn: Callable[[PreparedRequest, Callable[[Any], Response]], Response]):
        #: What the user gave.
        self.fn = fn

    def __repr__(self) -> str:
        return f"<SyncMiddleware {self.fn!r}>"

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> Any:
        caller = current()
        loop = asyncio.get_running_loop()
        sends: asyncio.Queue[_Send] = asyncio.Queue()
        given: list[Response] = []  # every response handed to fn

        def send(req: Any) -> Response:  # in the calling thread: fn's handler
            hop = _hop(req)
            outcome: list[tuple[Any, BaseException | None]] = []
            loop.call_soon_threadsafe(sends.put_nowait, (hop, outcome))
            if not caller.serve_until(lambda: bool(outcome)):
                raise RuntimeError("middlewares=: the call ended (cancelled or timed out) "
                                   "while a middleware waited for its handler")
            value, error = outcome[0]
            if error is not None:
                raise error
            return value  # type: ignore[no-any-return]

        done = asyncio.ensure_future(caller.call(self.fn, _view(request), send))
        get: asyncio.Future[_Send] | None = None
        try:
            while not done.done():
                get = asyncio.ensure_future(sends.get())
                await asyncio.wait((done, get), return_when=asyncio.FIRST_COMPLETED)
                if get.done():
                    await _answer(caller, request, handler, get.result(), given)
            return _returned(self.fn, done.result(), given)
        finally:
            done.cancel()
            if get is not None:
                get.cancel()


async def _answer(caller: Caller, request: ClientRequest, handler: ClientHandlerType,
                  sent: _Send, given: list[Response]) -> None:
    """On the loop: send one handler call's request, and post its outcome to the thread."""
    (request.method, request.url, request.headers), outcome = sent
    try:
        response = await caller.present(await handler(request))
    except Exception as exc:  # noqa: BLE001 - raised by handler() in the calling thread
        caller.post(partial(outcome.append, (None, exc)))
        return
    given.append(response)
    caller.post(partial(outcome.append, (response, None)))


def _returned(fn: Any, result: Any, given: list[Response]) -> Any:
    """The engine response of what ``fn`` returned; the other responses it got are let go."""
    if not isinstance(result, Response):
        for response in given:
            response.close()
        raise TypeError(f"middlewares=: {fn!r} returned {type(result).__name__}; return "
                        "the Response that handler(request) gave")
    for response in given:
        if response is not result:
            response.engine_response.release()
    return result.engine_response


def _view(request: ClientRequest) -> PreparedRequest:
    """What the middleware sees of the engine's request (a copy it may change)."""
    data: bytes | None = b""
    if request.body is not None:
        inner = getattr(request.body, "inner", request.body)  # a traced payload's own
        data = inner.body if isinstance(inner, BytesPayload) else None
    return PreparedRequest(request.method, str(request.url), CIMultiDict(request.headers),
                           data)


def _hop(req: Any) -> tuple[str, URL, CIMultiDict[str]]:
    """In the calling thread: the method, URL and headers ``handler(req)`` sends, checked."""
    method, url = getattr(req, "method", None), getattr(req, "url", None)
    if not isinstance(method, str) or not method:
        raise TypeError(f"handler(request): request.method must be a str, got {method!r}")
    if not isinstance(url, (str, URL)):
        raise TypeError(f"handler(request): request.url must be a str, got {url!r}")
    return method.upper(), URL(url), merge_headers(None, getattr(req, "headers", None))


def middlewares_option(middlewares: Any, name: str = "middlewares") -> tuple[Any, ...]:
    """The facade's ``middlewares=`` as engine middlewares: each plain function wrapped
    in a :class:`SyncMiddleware`. TypeError naming ``name`` for anything else."""
    chain = []
    for mw in check_middlewares(middlewares, name):
        if isinstance(mw, (SyncMiddleware, DigestAuthMiddleware)):
            chain.append(mw)
        elif inspect.iscoroutinefunction(mw) or inspect.iscoroutinefunction(
                type(mw).__call__):
            raise TypeError(
                f"{name}=: {mw!r} is async, and the blocking API never runs your code on "
                "its event loop; write it as a plain function mw(request, handler) "
                "(it runs in your thread), or use syncwrap.engine.ClientSession")
        else:
            chain.append(SyncMiddleware(mw))
    return tuple(chain)


def runs_user_code(middlewares: Any) -> bool:
    """Does this chain need the calling thread (a :class:`SyncMiddleware` in it)?"""
    return any(isinstance(mw, SyncMiddleware) for mw in middlewares or ())
