"""The module-level verbs: ``syncwrap.get(...)`` and the rest, without a Session.

They share one process-wide connection pool (a new one in a child process after
fork) and keep no state between calls: each call gets a fresh engine session with
the default settings and an empty cookie jar, detached afterwards (the pool stays
open). Re-exported by :mod:`syncwrap.api`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import loop as loop_thread
from ..engine.connector import BaseConnector, TCPConnector
from ..engine.session import ClientSession
from .astream import AsyncStream, stream_twin
from .calls import PreparedCall, prepare_call, request_call, websocket_call
from .fanout import DEFAULT_CONCURRENCY, FanOut
from .pools import track
from .response import Response
from .saving import DEFAULT_CHUNK_SIZE
from .saving import download as _download
from .twins import request_twin
from .websocket import WebSocket

__all__ = [
    "request", "get", "options", "head", "post", "put", "patch", "delete", "ws_connect",
    "download", "map", "as_completed", "arequest", "aget", "aoptions", "ahead", "apost",
    "aput", "apatch", "adelete", "astream",
]


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
                    self._connector = track(TCPConnector())
                    self._generation = generation
        return self._connector  # type: ignore[return-value]

    def request(self, method: str, url: Any, **kwargs: Any) -> Response:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return request_call(engine, method, url, kwargs)
        finally:
            engine.detach()  # the pool stays open for the next call

    async def arequest(self, method: str, url: Any, **kwargs: Any) -> Response:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return await request_twin(engine, method, url, kwargs)
        finally:
            engine.detach()  # the pool stays open for the next call

    def astream(self, method: str, url: Any, **kwargs: Any) -> AsyncStream:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return stream_twin(engine, method, url, kwargs, on_exit=engine.detach)
        except BaseException:
            engine.detach()
            raise

    def fan_out_call(self, method: str, url: Any, kwargs: dict[str, Any]) -> PreparedCall:
        """One item of a module-level fan-out: a fresh engine session, as for request()."""
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        call = prepare_call(engine, method, url, kwargs, defer_hooks=True)
        return call.ending_with(engine.detach)  # the pool stays open for the next call

    def ws_connect(self, url: Any, **kwargs: Any) -> WebSocket:
        engine = ClientSession(connector=self.connector(), connector_owner=False)
        try:
            return websocket_call(engine, url, kwargs)
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


def download(url: Any, path: str | os.PathLike[str], *, resume: bool = True,
             progress: Any = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
             checksum: tuple[str, str] | None = None, **kwargs: Any) -> Path:
    """Download ``url`` to ``path`` with the process-wide pool (see :meth:`Session.download`)."""
    return _download(request, url, path, resume=resume, progress=progress,
                     chunk_size=chunk_size, checksum=checksum, request_kwargs=kwargs)


# -- module-level awaitable twins (syncwrap._bridge.twins) ---------------------------


async def arequest(method: str, url: Any, **kwargs: Any) -> Response:
    """The awaitable twin of :func:`request`, for any running event loop (body read)."""
    return await _client.arequest(method, url, **kwargs)


async def aget(url: Any, **kwargs: Any) -> Response:
    return await arequest("GET", url, **kwargs)


async def aoptions(url: Any, **kwargs: Any) -> Response:
    return await arequest("OPTIONS", url, **kwargs)


async def ahead(url: Any, **kwargs: Any) -> Response:
    kwargs.setdefault("allow_redirects", False)
    return await arequest("HEAD", url, **kwargs)


async def apost(url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    return await arequest("POST", url, data=data, json=json, **kwargs)


async def aput(url: Any, data: Any = None, **kwargs: Any) -> Response:
    return await arequest("PUT", url, data=data, **kwargs)


async def apatch(url: Any, data: Any = None, **kwargs: Any) -> Response:
    return await arequest("PATCH", url, data=data, **kwargs)


async def adelete(url: Any, **kwargs: Any) -> Response:
    return await arequest("DELETE", url, **kwargs)


def astream(method: str, url: Any, **kwargs: Any) -> AsyncStream:
    """The streaming twin with the process-wide pool (see :meth:`Session.astream`)."""
    return _client.astream(method, url, **kwargs)


# -- module-level fan-out (syncwrap._bridge.fanout) ------------------------------------


def map(reqs: Iterable[Any], *, concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False, stream: bool = False, **common: Any) -> FanOut:
    """:meth:`Session.map` with the process-wide pool and no cookies kept."""
    return FanOut("map", reqs, _client.fan_out_call, ordered=True, concurrency=concurrency,
                  return_exceptions=return_exceptions, stream=stream, common=common)


def as_completed(reqs: Iterable[Any], *, concurrency: int = DEFAULT_CONCURRENCY,
                 return_exceptions: bool = False, stream: bool = False,
                 **common: Any) -> FanOut:
    """:meth:`Session.as_completed` with the process-wide pool and no cookies kept."""
    return FanOut("as_completed", reqs, _client.fan_out_call, ordered=False,
                  concurrency=concurrency, return_exceptions=return_exceptions,
                  stream=stream, common=common)
