"""``auth=`` in the blocking facade: sync flows and requests-style callables as engine flows.

Accepted values:

- ``("user", "pass")`` or :class:`BasicAuth` — sent by the engine.
- an async :class:`~syncwrap.engine.AuthFlow` such as :class:`DigestAuth` — run
  by the engine, on the loop thread (library code, or async code written for it).
- a *sync flow*: an object with plain (not async) ``on_request(request)`` and/or
  ``on_response(response)`` methods, same contract as AuthFlow but run in the
  calling thread: ``on_request`` gets an :class:`~syncwrap.engine.AuthRequest` and
  returns headers to add; ``on_response`` gets the facade Response and returns True
  to send the request once more.
- a requests-style callable ``auth(request) -> request``: called in the calling
  thread with a :class:`PreparedRequest` (``method``, ``url`` as a str, mutable
  ``headers``, ``body`` as bytes, or None for a streamed body); the headers it
  sets, changes or removes are what is sent (``requests.auth.AuthBase`` subclasses
  that set headers work as they are).

The last two are wrapped in :class:`SyncAuth`, an engine AuthFlow whose methods have
the calling thread run the user's code (:mod:`syncwrap._bridge.caller`). So they get
the engine's rules by construction: asked for every request they authorize,
redirects and the retry included; retried at most once per URL, never for a body
that cannot be sent twice; dropped with everything they set when a redirect leaves
the original origin; skipped for a request that carries its own ``Authorization``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from ..engine.auth import BasicAuth
from ..engine.auth_flow import AuthFlow, AuthRequest, is_auth_flow
from ..engine.request import merge_headers
from .caller import current

__all__ = ["SyncAuth", "auth_option", "PreparedRequest"]


class PreparedRequest:
    """What a requests-style auth callable receives: ``method``, ``url``, ``headers``
    (change them in place, or return an object with new ones) and ``body`` (bytes for
    a body known in advance, b"" for none, None for a streamed one)."""

    def __init__(self, method: str, url: str, headers: CIMultiDict[str],
                 body: bytes | None) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<PreparedRequest [{self.method}] {self.url}>"


class SyncAuth(AuthFlow):
    """A sync flow or a requests-style callable, run in the calling thread as an AuthFlow."""

    def __init__(self, auth: Any) -> None:
        #: What the user gave.
        self.auth = auth
        self._on_request = getattr(auth, "on_request", None)
        self._on_response = getattr(auth, "on_response", None)
        self._is_flow = self._on_request is not None or self._on_response is not None

    async def on_request(self, request: AuthRequest) -> Mapping[str, str] | None:
        if self._is_flow and self._on_request is None:
            return None
        return await current().call(self._headers, request)

    async def on_response(self, response: Any) -> bool:
        if self._on_response is None:
            return False
        caller = current()
        return bool(await caller.call(self._on_response, await caller.present(response)))

    def _headers(self, request: AuthRequest) -> Any:
        """In the calling thread: the headers the user's code adds to ``request``."""
        if self._is_flow:
            return self._on_request(request)  # type: ignore[misc]
        prepared = PreparedRequest(request.method, str(request.url),
                                   CIMultiDict(request.headers), request.body)
        result = self.auth(prepared)
        return header_changes(request.headers,
                              (result if result is not None else prepared).headers)

    def __repr__(self) -> str:
        return f"<SyncAuth {self.auth!r}>"


def header_changes(before: CIMultiDictProxy[str], after: Any) -> list[tuple[str, str | None]]:
    """What turns headers ``before`` into ``after``, for ``merge_headers``: the names
    removed (with None), then every value of each name added or changed."""
    after = merge_headers(None, after)  # checked as request headers are
    changes: list[tuple[str, str | None]] = [
        (name, None) for name in before if name not in after
    ]
    names = {name.lower(): name for name in after}
    for name in names.values():
        values = after.getall(name)
        if values != before.getall(name, []):
            changes += [(name, value) for value in values]
    return changes


def auth_option(auth: Any) -> Any:
    """Normalise the facade's ``auth=``: BasicAuth, an AuthFlow (a SyncAuth for user
    code that runs in the calling thread) or None."""
    if auth is None or isinstance(auth, BasicAuth) or is_auth_flow(auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth)
    on_request = getattr(auth, "on_request", None)
    on_response = getattr(auth, "on_response", None)
    if on_request is not None or on_response is not None:
        for method in (on_request, on_response):
            if method is not None and inspect.iscoroutinefunction(method):
                raise TypeError(
                    "auth=: an async flow needs both on_request and on_response as "
                    "coroutine functions (subclass syncwrap.AuthFlow)"
                )
        return SyncAuth(auth)
    if callable(auth):
        return SyncAuth(auth)
    raise TypeError(
        "auth=: expected a (user, password) tuple, BasicAuth, DigestAuth, an AuthFlow, "
        f"a sync flow or a requests-style callable, got {auth!r}"
    )
