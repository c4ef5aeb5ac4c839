"""requests' ``Request`` and ``PreparedRequest`` for the blocking facade.

``syncwrap.Request("POST", url, json=...).prepare()`` gives a PreparedRequest
(``method``, ``url`` with the params, ``headers``, ``body``) that
``Session.send`` sends; ``Response.request`` is a PreparedRequest describing
the request as it was sent (its headers include auth and cookies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from multidict import CIMultiDict

from ..engine import BasicAuth
from ..engine.payload import BytesPayload, JsonPayload, form_payload, is_body_source
from ..engine.request import build_url

__all__ = ["Request", "PreparedRequest", "from_sent", "merged_params"]


class PreparedRequest:
    """A request ready to send: ``method``, ``url``, ``headers``, ``body`` (bytes, a
    file object or iterable, or None), ``hooks``. ``files`` and ``auth`` that need the
    connection (multipart, digest) are kept and applied by ``Session.send``."""

    def __init__(self) -> None:
        self.method: str | None = None
        self.url: str | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body: Any = None
        self.hooks: dict[str, list[Any]] = {"response": []}
        self.files: Any = None
        self.auth: Any = None

    def prepare(self, method: str | bytes | None = None, url: Any = None, headers: Any = None,
                files: Any = None, data: Any = None, params: Any = None, auth: Any = None,
                cookies: Any = None, hooks: Any = None, json: Any = None) -> None:
        """Fill this request from requests-style arguments (as ``Request.prepare`` does)."""
        if isinstance(method, bytes):
            method = method.decode("ascii")
        self.method = (method or "GET").upper()
        self.url = str(build_url(url, params))
        self.headers = CIMultiDict((k, v) for k, v in dict(headers or {}).items()
                                   if v is not None)
        self.files = files
        self.body = _body(data, json, self.headers) if not files else data
        if isinstance(auth, tuple) and len(auth) == 2:
            self.headers["Authorization"] = BasicAuth(*auth).encode()
        elif isinstance(auth, BasicAuth):
            self.headers["Authorization"] = auth.encode()
        else:
            self.auth = auth
        if cookies:
            self.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in dict(cookies).items())
        for event, fns in dict(hooks or {}).items():
            self.hooks.setdefault(event, []).extend(fns if isinstance(fns, list) else [fns])

    def copy(self) -> PreparedRequest:
        other = PreparedRequest()
        other.__dict__.update(self.__dict__)
        other.headers = CIMultiDict(self.headers)
        return other

    def __repr__(self) -> str:
        return f"<PreparedRequest [{self.method}]>"


def _body(data: Any, json_value: Any, headers: CIMultiDict[str]) -> Any:
    """``data=``/``json=`` as the bytes sent (a stream or file object is kept as is)."""
    if data is None or data == {} or data == []:
        if json_value is None:
            return None
        headers.setdefault("Content-Type", "application/json")
        return JsonPayload(json_value).body
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray)) or is_body_source(data):
        return data
    payload = form_payload(data)
    headers.setdefault("Content-Type", payload.content_type)
    return payload.body


class Request:
    """A request not yet prepared (requests' ``Request``): the same arguments as
    ``Session.request``'s request part; :meth:`prepare` gives a PreparedRequest."""

    def __init__(self, method: str | bytes | None = None, url: Any = None, headers: Any = None,
                 files: Any = None, data: Any = None, params: Any = None, auth: Any = None,
                 cookies: Any = None, hooks: Any = None, json: Any = None) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers or {})
        self.files = files
        self.data = data if data is not None else []
        self.json = json
        self.params = dict(params or {}) if not isinstance(params, (str, list)) else params
        self.auth = auth
        self.cookies = cookies
        self.hooks = hooks or {}

    def prepare(self) -> PreparedRequest:
        prepared = PreparedRequest()
        prepared.prepare(method=self.method, url=self.url, headers=self.headers,
                         files=self.files, data=self.data, params=self.params, auth=self.auth,
                         cookies=self.cookies, hooks=self.hooks, json=self.json)
        return prepared

    def __repr__(self) -> str:
        return f"<Request [{self.method}]>"


def from_sent(method: str, url: str, headers: Any, payload: Any) -> PreparedRequest:
    """The PreparedRequest describing a request as sent (for ``Response.request``)."""
    prepared = PreparedRequest()
    prepared.method = method
    prepared.url = url
    prepared.headers = CIMultiDict(headers)
    if isinstance(payload, BytesPayload):
        prepared.body = payload.body
    elif payload is not None:
        prepared.body = getattr(payload, "file", payload)
    return prepared


def merged_params(session_params: Any, params: Any) -> Any:
    """requests' merge of ``Session.params`` and a request's ``params=``: a request's
    value wins, a None value drops the session's; a string or list of pairs from the
    request is sent after the session's pairs."""
    if params is None:
        return dict(session_params)
    if isinstance(params, Mapping):
        merged = {**session_params, **params}
        return {k: v for k, v in merged.items() if v is not None}
    if isinstance(params, str):
        return "&".join(p for p in (urlencode(list(dict(session_params).items()),
                                              doseq=True), params) if p)
    return [*dict(session_params).items(), *params]
