"""Pluggable authentication: the :class:`AuthFlow` interface used by DigestAuth.

A flow is given as ``auth=`` (session default or per request) instead of a
BasicAuth. For each request it is asked for headers to add; after each
response it may ask for the request to be sent once more (a challenge it can
now answer, an expired token it has refreshed).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .auth import BasicAuth
from .payload import BytesPayload, Payload
from .request import merge_headers

__all__ = ["AuthFlow", "AuthRequest"]


class AuthRequest(NamedTuple):
    """The request an :class:`AuthFlow` is asked to authorize.

    ``url`` is what is sent (no credentials, no fragment); ``headers`` are the
    headers about to be sent (read-only); ``body`` is the body as bytes when it
    is known in advance (b"" for no body) and None for a streamed body.
    """

    method: str
    url: URL
    headers: CIMultiDictProxy[str]
    body: bytes | None


class AuthFlow:
    """Base class (and interface) of pluggable authentication flows.

    Subclass it and override one or both coroutines::

        class TokenAuth(AuthFlow):
            async def on_request(self, request):
                return {"Authorization": f"Bearer {self.token}"}

            async def on_response(self, response):
                if response.status == 401:
                    self.token = await self.refresh()
                    return True          # send the request once more
                return False

    ``async on_request(request: AuthRequest) -> Mapping[str, str] | None``
        Called before every request this flow authorizes, redirects and the
        retry included. Return headers to add (replacing headers of the same
        name), or None.
    ``async on_response(response: ClientResponse) -> bool``
        Called with every response to such a request, before redirects are
        followed. Return True to send the same request again: the response is
        drained and released, ``on_request`` is called again, and the retried
        response is what the caller gets (it is not put in ``history``). Each
        request is retried at most once per URL: a True returned for the
        response of a retry is ignored, so a flow cannot loop. No retry happens
        for a one-shot (streamed) body that cannot be sent twice.

    Both run on the engine's event loop (the facade's loop thread); they must
    not block. A flow is shared by every request that uses it and is free to
    keep state (a token, a digest challenge). The flow is dropped, like Basic
    credentials, when a redirect leaves the original origin, and is skipped
    when the request carries an explicit ``Authorization`` header.
    """

    async def on_request(self, request: AuthRequest) -> Mapping[str, str] | None:
        return None

    async def on_response(self, response: Any) -> bool:
        return False


def is_auth_flow(obj: Any) -> bool:
    """An AuthFlow, or any object with coroutine methods on_request and on_response."""
    if isinstance(obj, AuthFlow):
        return True
    return (inspect.iscoroutinefunction(getattr(obj, "on_request", None))
            and inspect.iscoroutinefunction(getattr(obj, "on_response", None)))


def check_auth(auth: Any) -> None:
    """Raise TypeError unless ``auth`` is None, a BasicAuth or an AuthFlow."""
    if auth is None or isinstance(auth, BasicAuth) or is_auth_flow(auth):
        return
    if hasattr(auth, "on_request") or hasattr(auth, "on_response"):
        raise TypeError(
            f"auth=: {type(auth).__name__} looks like an AuthFlow but its on_request and "
            "on_response must both be coroutine functions (async def)"
        )
    raise TypeError(f"auth=: expected BasicAuth or an AuthFlow, got {type(auth).__name__}")


async def authorize(flow: Any, method: str, url: URL, headers: CIMultiDict[str],
                    payload: Payload | None) -> CIMultiDict[str]:
    """The headers to send: ``headers`` plus what ``flow.on_request`` adds."""
    if payload is None:
        body: bytes | None = b""
    else:
        inner = getattr(payload, "inner", payload)  # a TracedPayload's payload
        body = inner.body if isinstance(inner, BytesPayload) else None
    extra = await flow.on_request(AuthRequest(method, url, CIMultiDictProxy(headers), body))
    if not extra:
        return headers
    return merge_headers(headers, extra)


async def wants_retry(flow: Any, response: Any) -> bool:
    """``flow.on_response(response)``; the response is closed if the flow raises."""
    try:
        return bool(await flow.on_response(response))
    except BaseException:
        response.close()
        raise
