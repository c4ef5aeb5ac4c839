"""Client tracing: aiohttp's TraceConfig signals.

::

    async def on_start(session, trace_config_ctx, params):
        trace_config_ctx.start = asyncio.get_running_loop().time()

    config = TraceConfig()
    config.on_request_start.append(on_start)
    async with ClientSession(trace_configs=[config]) as s:
        await s.get(url, trace_request_ctx={"id": 1})

Every signal is a list of async callbacks, each awaited as
``await cb(session, trace_config_ctx, params)``. ``trace_config_ctx`` is a new
``SimpleNamespace(trace_request_ctx=...)`` per request and per TraceConfig
(``trace_request_ctx`` is the request's ``trace_request_ctx=`` argument); the
params are the frozen ``Trace*Params`` objects below.

Cost when unused: a session without ``trace_configs`` checks one bool per
request, the connector reads one context variable per connection, nothing
runs per chunk. The traces of the request being made live in a context
variable for its duration, so the connector (which may be shared between
sessions) sees only the traces of the request asking for a connection.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from .payload import BodyWriter, Payload

__all__ = [
    "TraceConfig",
    "TraceRequestStartParams",
    "TraceRequestEndParams",
    "TraceRequestExceptionParams",
    "TraceRequestRedirectParams",
    "TraceRequestRetryParams",
    "TraceRequestChunkSentParams",
    "TraceResponseChunkReceivedParams",
    "TraceConnectionQueuedStartParams",
    "TraceConnectionQueuedEndParams",
    "TraceConnectionCreateStartParams",
    "TraceConnectionCreateEndParams",
    "TraceConnectionReuseconnParams",
    "TraceDnsResolveHostStartParams",
    "TraceDnsResolveHostEndParams",
    "TraceDnsCacheHitParams",
    "TraceDnsCacheMissParams",
]

Callback = Callable[[Any, SimpleNamespace, Any], Awaitable[None]]


class Signal(list):  # type: ignore[type-arg]
    """A list of async callbacks; frozen (read-only) once a session uses its TraceConfig."""

    __slots__ = ("_frozen",)

    def __init__(self) -> None:
        super().__init__()
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        self._frozen = True

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("Cannot modify a frozen trace signal (its TraceConfig is in use)")

    def append(self, callback: Callback) -> None:
        self._check()
        if not callable(callback):
            raise TypeError(f"trace callbacks must be async callables, got {callback!r}")
        super().append(callback)

    def extend(self, callbacks: Iterable[Callback]) -> None:
        for callback in callbacks:
            self.append(callback)

    def insert(self, index: Any, callback: Callback) -> None:
        self._check()
        super().insert(index, callback)

    def remove(self, callback: Callback) -> None:
        self._check()
        super().remove(callback)

    def clear(self) -> None:
        self._check()
        super().clear()

    def pop(self, index: Any = -1) -> Callback:
        self._check()
        return super().pop(index)  # type: ignore[no-any-return]

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check()
        super().__setitem__(index, value)

    def __delitem__(self, index: Any) -> None:
        self._check()
        super().__delitem__(index)

    def __iadd__(self, callbacks: Iterable[Callback]) -> Signal:  # type: ignore[override]
        self.extend(callbacks)
        return self

    async def send(self, *args: Any) -> None:
        for callback in self:
            await callback(*args)


_SIGNALS = (
    "on_request_start",
    "on_request_end",
    "on_request_exception",
    "on_request_redirect",
    "on_request_retry",
    "on_request_chunk_sent",
    "on_response_chunk_received",
    "on_connection_queued_start",
    "on_connection_queued_end",
    "on_connection_create_start",
    "on_connection_create_end",
    "on_connection_reuseconn",
    "on_dns_resolvehost_start",
    "on_dns_resolvehost_end",
    "on_dns_cache_hit",
    "on_dns_cache_miss",
)


class TraceConfig:
    """A set of trace signals; give it to ``ClientSession(trace_configs=[...])``.

    Signals (append async callbacks ``cb(session, trace_config_ctx, params)``):
    on_request_start, on_request_end, on_request_exception,
    on_request_redirect, on_request_chunk_sent, on_response_chunk_received,
    on_request_retry (syncwrap's: an attempt failed and is retried after ``delay``),
    on_connection_queued_start/_end, on_connection_create_start/_end,
    on_connection_reuseconn, on_dns_resolvehost_start/_end, on_dns_cache_hit,
    on_dns_cache_miss. ``trace_config_ctx_factory`` builds each request's
    context (called with ``trace_request_ctx=``).
    """

    on_request_start: Signal
    on_request_end: Signal
    on_request_exception: Signal
    on_request_redirect: Signal
    on_request_retry: Signal
    on_request_chunk_sent: Signal
    on_response_chunk_received: Signal
    on_connection_queued_start: Signal
    on_connection_queued_end: Signal
    on_connection_create_start: Signal
    on_connection_create_end: Signal
    on_connection_reuseconn: Signal
    on_dns_resolvehost_start: Signal
    on_dns_resolvehost_end: Signal
    on_dns_cache_hit: Signal
    on_dns_cache_miss: Signal

    def __init__(
        self, trace_config_ctx_factory: Callable[..., Any] = SimpleNamespace
    ) -> None:
        for name in _SIGNALS:
            setattr(self, name, Signal())
        self._trace_config_ctx_factory = trace_config_ctx_factory

    def trace_config_ctx(self, trace_request_ctx: Any = None) -> Any:
        """A new context for one request (``SimpleNamespace(trace_request_ctx=...)``)."""
        return self._trace_config_ctx_factory(trace_request_ctx=trace_request_ctx)

    def freeze(self) -> None:
        """Make every signal read-only (done by the session that uses this config)."""
        for name in _SIGNALS:
            getattr(self, name).freeze()


# -- params (aiohttp's names and fields) ----------------------------------------------

_frozen = dataclass(frozen=True, slots=True)


@_frozen
class TraceRequestStartParams:
    method: str
    url: URL
    headers: CIMultiDict[str]


@_frozen
class TraceRequestEndParams:
    method: str
    url: URL
    headers: CIMultiDict[str]
    response: Any


@_frozen
class TraceRequestExceptionParams:
    method: str
    url: URL
    headers: CIMultiDict[str]
    exception: BaseException


@_frozen
class TraceRequestRedirectParams:
    method: str
    url: URL
    headers: CIMultiDict[str]
    response: Any


@_frozen
class TraceRequestRetryParams:
    """An attempt failed and is sent again: ``attempt`` is the retry's number (1 for
    the first), ``delay`` the wait before it, ``reason`` the failure."""

    method: str
    url: URL
    headers: CIMultiDict[str]
    attempt: int
    delay: float
    reason: str


@_frozen
class TraceRequestChunkSentParams:
    method: str
    url: URL
    chunk: bytes


@_frozen
class TraceResponseChunkReceivedParams:
    method: str
    url: URL
    chunk: bytes


@_frozen
class TraceConnectionQueuedStartParams:
    pass


@_frozen
class TraceConnectionQueuedEndParams:
    pass


@_frozen
class TraceConnectionCreateStartParams:
    pass


@_frozen
class TraceConnectionCreateEndParams:
    pass


@_frozen
class TraceConnectionReuseconnParams:
    pass


@_frozen
class TraceDnsResolveHostStartParams:
    host: str


@_frozen
class TraceDnsResolveHostEndParams:
    host: str


@_frozen
class TraceDnsCacheHitParams:
    host: str


@_frozen
class TraceDnsCacheMissParams:
    host: str


# -- one request's traces -------------------------------------------------------------


class Trace:
    """One TraceConfig bound to one request: the session and the request's context."""

    __slots__ = ("_session", "_config", "_ctx")

    def __init__(self, session: Any, config: TraceConfig, ctx: Any) -> None:
        self._session = session
        self._config = config
        self._ctx = ctx

    async def send_signal(self, signal_name: str, params: Any) -> None:
        signal: Signal = getattr(self._config, signal_name)
        for callback in signal:
            await callback(self._session, self._ctx, params)

    async def send_response_chunk_received(self, method: str, url: URL, chunk: bytes) -> None:
        await self.send_signal("on_response_chunk_received",
                         TraceResponseChunkReceivedParams(method, url, chunk))


Traces = tuple[Trace, ...]

_current: contextvars.ContextVar[Traces] = contextvars.ContextVar(
    "syncwrap_traces", default=()
)


def current_traces() -> Traces:
    """The traces of the request running in this context (empty when not tracing)."""
    return _current.get()


def activate(traces: Traces) -> contextvars.Token[Traces]:
    return _current.set(traces)


def deactivate(token: contextvars.Token[Traces]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (a task switch): just clear it
        _current.set(())


async def _send_all(traces: Traces, signal_name: str, params: Any) -> None:
    for trace in traces:
        await trace.send_signal(signal_name, params)


async def request_start(
    session: Any, configs: Iterable[TraceConfig], trace_request_ctx: Any,
    method: str, url: URL, headers: CIMultiDict[str],
) -> Traces:
    traces = tuple(Trace(session, config, config.trace_config_ctx(trace_request_ctx))
                   for config in configs)
    await _send_all(traces, "on_request_start", TraceRequestStartParams(method, url, headers))
    return traces


async def request_end(traces: Traces, method: str, url: URL, headers: CIMultiDict[str],
                      response: Any) -> None:
    await _send_all(traces, "on_request_end",
                    TraceRequestEndParams(method, url, headers, response))


async def request_exception(traces: Traces, method: str, url: URL, headers: CIMultiDict[str],
                            exception: BaseException) -> None:
    await _send_all(traces, "on_request_exception",
                    TraceRequestExceptionParams(method, url, headers, exception))


async def request_redirect(traces: Traces, method: str, url: URL, headers: CIMultiDict[str],
                           response: Any) -> None:
    await _send_all(traces, "on_request_redirect",
                    TraceRequestRedirectParams(method, url, headers, response))


async def request_retry(traces: Traces, method: str, url: URL, headers: CIMultiDict[str],
                        attempt: int, delay: float, reason: str) -> None:
    await _send_all(traces, "on_request_retry",
                    TraceRequestRetryParams(method, url, headers, attempt, delay, reason))


async def connection_queued_start(traces: Traces) -> None:
    await _send_all(traces, "on_connection_queued_start", TraceConnectionQueuedStartParams())


async def connection_queued_end(traces: Traces) -> None:
    await _send_all(traces, "on_connection_queued_end", TraceConnectionQueuedEndParams())


async def connection_create_start(traces: Traces) -> None:
    await _send_all(traces, "on_connection_create_start", TraceConnectionCreateStartParams())


async def connection_create_end(traces: Traces) -> None:
    await _send_all(traces, "on_connection_create_end", TraceConnectionCreateEndParams())


async def connection_reuseconn(traces: Traces) -> None:
    await _send_all(traces, "on_connection_reuseconn", TraceConnectionReuseconnParams())


async def traced_resolve(dns: Any, traces: Traces, host: str, port: int, family: int) -> Any:
    """``dns.resolve()`` with the DNS signals (none for an IP literal, as in aiohttp)."""
    from .resolver import is_ip_address

    if is_ip_address(host):
        return await dns.resolve(host, port, family=family)
    cached = getattr(dns, "cached", None)
    if cached is not None and cached(host, port, family):
        await _send_all(traces, "on_dns_cache_hit", TraceDnsCacheHitParams(host))
        return await dns.resolve(host, port, family=family)
    if cached is not None and dns.enabled:
        await _send_all(traces, "on_dns_cache_miss", TraceDnsCacheMissParams(host))
    await _send_all(traces, "on_dns_resolvehost_start", TraceDnsResolveHostStartParams(host))
    results = await dns.resolve(host, port, family=family)
    await _send_all(traces, "on_dns_resolvehost_end", TraceDnsResolveHostEndParams(host))
    return results


# -- request body chunks ---------------------------------------------------------------


class _TracingWriter:
    __slots__ = ("_writer", "_traces", "_method", "_url")

    def __init__(self, writer: BodyWriter, traces: Traces, method: str, url: URL) -> None:
        self._writer = writer
        self._traces = traces
        self._method = method
        self._url = url

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        await self._writer.write(chunk)
        if chunk:
            await _send_all(self._traces, "on_request_chunk_sent",
                            TraceRequestChunkSentParams(self._method, self._url, bytes(chunk)))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._writer, name)


class TracedPayload(Payload):
    """A payload whose writes fire ``on_request_chunk_sent``; everything else is delegated.

    Used only when the session traces; not a BytesPayload, so even a small body
    goes through the body writer (where chunks are seen) instead of being sent
    together with the request head.
    """

    def __init__(self, inner: Payload, traces: Traces, method: str, url: URL) -> None:
        self._inner = inner
        self._traces = traces
        self._method = method
        self._url = url

    @property
    def inner(self) -> Payload:
        return self._inner

    @property  # type: ignore[override]
    def headers(self) -> Any:
        return self._inner.headers

    @property  # type: ignore[override]
    def content_type(self) -> str | None:
        return self._inner.content_type

    @property  # type: ignore[override]
    def size(self) -> int | None:
        return self._inner.size

    @property  # type: ignore[override]
    def replayable(self) -> bool:
        return self._inner.replayable

    async def write(self, writer: BodyWriter) -> None:
        await self._inner.write(_TracingWriter(writer, self._traces, self._method, self._url))

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


def traced_payload(payload: Payload | None, traces: Traces, method: str,
                   url: URL) -> Payload | None:
    """Wrap ``payload`` for this hop's method and URL (re-wrapping a wrapped one)."""
    if payload is None:
        return None
    if isinstance(payload, TracedPayload):
        payload = payload.inner
    return TracedPayload(payload, traces, method, url)
