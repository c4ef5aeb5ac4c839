"""``auth=`` in the blocking facade: what runs on the loop, what runs in the caller's thread.

Accepted values:

- ``("user", "pass")`` or :class:`BasicAuth` — sent by the engine.
- an async :class:`~syncwrap.engine.AuthFlow` such as :class:`DigestAuth` — run
  by the engine, on the loop thread (library code, or async code written for it).
- a *sync flow*: an object with plain (not async) ``on_request(request)`` and/or
  ``on_response(response)`` methods, same contract as AuthFlow but run in the
  calling thread: ``on_request`` gets an :class:`AuthRequest` and returns headers
  to add; ``on_response`` gets the facade :class:`Response` and returns True to
  send the request once more (only when the body can be sent again).
- a requests-style callable ``auth(request) -> request``: called in the calling
  thread with an object having ``method``, ``url`` (str) and mutable
  ``headers``; the headers it leaves are sent (``requests.auth.AuthBase``
  subclasses that set headers work as they are).

Sync flows and callables run once, for the first request; the headers they
set go to the engine as request headers, so its redirect policy applies
(:mod:`syncwrap.engine.redirects`): ``Authorization`` and
``Proxy-Authorization`` are kept while the origin stays the same and dropped
when it changes; other headers they set are kept, as in requests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..engine.auth import BasicAuth
from ..engine.auth_flow import AuthRequest, is_auth_flow
from ..engine.payload import BytesPayload, Payload
from ..engine.request import build_url, merge_headers

__all__ = ["SyncAuth", "auth_option", "PreparedRequest"]


class PreparedRequest:
    """What a requests-style auth callable receives: ``method``, ``url``, ``headers``."""

    def __init__(self, method: str, url: str, headers: CIMultiDict[str], body: Any) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<PreparedRequest [{self.method}] {self.url}>"


class SyncAuth:
    """A facade-level auth (sync flow or callable); never given to the engine."""

    __slots__ = ("auth", "_on_request", "_on_response", "_is_flow")

    def __init__(self, auth: Any) -> None:
        self.auth = auth
        self._on_request = getattr(auth, "on_request", None)
        self._on_response = getattr(auth, "on_response", None)
        self._is_flow = self._on_request is not None or self._on_response is not None

    def _headers(self, method: str, url: URL, headers: CIMultiDict[str],
                 kwargs: dict[str, Any]) -> CIMultiDict[str]:
        if not self._is_flow:  # requests style: auth(request) -> request
            request = PreparedRequest(method, str(url), CIMultiDict(headers), _body(kwargs))
            result = self.auth(request)
            return merge_headers(None, (result if result is not None else request).headers)
        if self._on_request is None:
            return headers
        extra = self._on_request(AuthRequest(method, url, CIMultiDictProxy(headers),
                                             _known_body(kwargs)))
        return merge_headers(headers, extra) if extra else headers

    def send(self, send: Callable[[dict[str, Any]], Any], method: str, url: URL,
             kwargs: dict[str, Any]) -> Any:
        """Authorize, send with ``send(kwargs)``, and retry once if the flow asks."""
        headers: CIMultiDict[str] = kwargs.get("headers") or CIMultiDict()
        if self._is_flow and "Authorization" in headers:
            return send(kwargs)  # an explicit header wins over a flow, as in the engine
        response = send({**kwargs, "headers": self._headers(method, url, headers, kwargs)})
        if self._on_response is None:
            return response
        if self._on_response(response) and _replayable(kwargs):
            response.close()
            response = send({**kwargs, "headers": self._headers(method, url, headers, kwargs)})
            self._on_response(response)  # observed; a second retry is never made
        return response


def _body(kwargs: dict[str, Any]) -> Any:
    return kwargs.get("data") if kwargs.get("json") is None else kwargs.get("json")


def _known_body(kwargs: dict[str, Any]) -> bytes | None:
    data = kwargs.get("data")
    if kwargs.get("json") is None and data is None:
        return b""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, BytesPayload):
        return data.body
    return None


def _replayable(kwargs: dict[str, Any]) -> bool:
    if kwargs.get("files") is not None:
        return False
    data = kwargs.get("data")
    if data is None or isinstance(data, bytes | bytearray | str):
        return True
    if isinstance(data, Payload):
        return data.replayable
    if isinstance(data, Mapping):
        values = list(data.values())
    elif isinstance(data, list | tuple):
        values = [item[1] if isinstance(item, tuple | list) and len(item) == 2 else item
                  for item in data]
    else:
        return False
    return all(isinstance(v, str | bytes | int | float) or v is None for v in values)


def auth_option(auth: Any) -> Any:
    """Normalise the facade's ``auth=``: BasicAuth, an AuthFlow, a SyncAuth or None."""
    if auth is None or isinstance(auth, BasicAuth | SyncAuth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth)
    if is_auth_flow(auth):
        return auth
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


def request_url(url: Any, params: Any, base_url: str | None) -> URL:
    return build_url(url, params, URL(base_url) if base_url else None)
