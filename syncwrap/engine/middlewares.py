"""Client middlewares, in the shape aiohttp 3.12+ documents.

A middleware is ``async def mw(request: ClientRequest, handler) -> ClientResponse``:
it may change ``request`` (its headers, method, url) before calling
``await handler(request)``, call the handler more than once (a retry, a token
refresh), and returns a response. Middlewares are given as
``ClientSession(middlewares=...)`` or per request (``middlewares=`` replaces
the session's; ``middlewares=()`` runs none). The first one listed is the
outermost. The chain runs around each hop's send: once per redirect followed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from .auth_flow import authorize, wants_retry
from .digest import DigestAuth
from .payload import Payload

__all__ = ["ClientRequest", "ClientHandlerType", "ClientMiddlewareType",
           "DigestAuthMiddleware", "check_middlewares", "run_chain"]


class ClientRequest:
    """One hop as a middleware sees it: ``method``, ``url`` and ``headers`` (a
    mutable CIMultiDict: what the handler sends), ``body`` (the payload, None for
    none) and ``session``. Changes made before calling the handler are sent."""

    __slots__ = ("method", "url", "headers", "body", "session")

    def __init__(self, method: str, url: URL, headers: CIMultiDict[str],
                 body: Payload | None, session: Any) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.session = session

    def __repr__(self) -> str:
        return f"<ClientRequest({self.method} {self.url})>"


ClientHandlerType = Callable[[ClientRequest], Awaitable[Any]]
ClientMiddlewareType = Callable[[ClientRequest, ClientHandlerType], Awaitable[Any]]


def check_middlewares(middlewares: Any, name: str = "middlewares") -> tuple[Any, ...]:
    """``middlewares`` as a tuple of callables; TypeError naming ``name`` otherwise."""
    if middlewares is None:
        return ()
    if callable(middlewares) or isinstance(middlewares, (str, bytes)) or not isinstance(
            middlewares, Iterable):
        raise TypeError(f"{name}=: expected a sequence of middlewares, "
                        f"got {type(middlewares).__name__}")
    chain = tuple(middlewares)
    for mw in chain:
        if not callable(mw):
            raise TypeError(f"{name}=: {mw!r} is not callable")
    return chain


async def run_chain(middlewares: Sequence[ClientMiddlewareType], request: ClientRequest,
                    send: ClientHandlerType) -> Any:
    """``request`` through ``middlewares`` (the first one outermost) down to ``send``."""

    def link(index: int) -> ClientHandlerType:
        if index == len(middlewares):
            return send

        async def handler(req: ClientRequest) -> Any:
            return await middlewares[index](req, link(index + 1))

        return handler

    return await link(0)(request)


class DigestAuthMiddleware:
    """HTTP Digest credentials as a middleware:
    ``ClientSession(middlewares=(DigestAuthMiddleware("user", "pass"),))``.

    A 401 challenge is answered by sending the request once more; later requests
    to the same origin answer the remembered challenge up front (the behaviour of
    :class:`~.digest.DigestAuth`). A request that already carries an
    ``Authorization`` header is sent as it is.
    """

    def __init__(self, login: str, password: str, preemptive: bool = True) -> None:
        self._flow = DigestAuth(login, password)
        self._preemptive = preemptive

    def __repr__(self) -> str:
        return f"DigestAuthMiddleware(login={self._flow.login!r})"

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> Any:
        if "Authorization" in request.headers:
            return await handler(request)
        if self._preemptive:
            await self._sign(request)
        response = await handler(request)
        replayable = request.body is None or request.body.replayable
        if not replayable or not await wants_retry(self._flow, response):
            return response
        await response.discard_body(1 << 16)
        await self._sign(request)
        return await handler(request)

    async def _sign(self, request: ClientRequest) -> None:
        request.headers.popall("Authorization", None)
        request.headers = await authorize(self._flow, request.method, request.url,
                                          request.headers, request.body)
