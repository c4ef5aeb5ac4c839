"""Trace signals in the engine (issue 4 point 5): aiohttp's TraceConfig, per-request
context, connection / DNS / body events, and no cost or leakage when unused."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from syncwrap.engine import (
    ClientConnectorError,
    ClientResponseError,
    ClientSession,
    TCPConnector,
    TraceConfig,
    TraceConnectionCreateEndParams,
    TraceDnsResolveHostStartParams,
    TraceRequestChunkSentParams,
    TraceRequestEndParams,
    TraceRequestExceptionParams,
    TraceRequestRedirectParams,
    TraceRequestStartParams,
    TraceResponseChunkReceivedParams,
    tracing,
)
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response, read_request

SIGNALS = [
    "on_request_start", "on_request_end", "on_request_exception", "on_request_redirect",
    "on_request_chunk_sent", "on_response_chunk_received",
    "on_connection_queued_start", "on_connection_queued_end",
    "on_connection_create_start", "on_connection_create_end", "on_connection_reuseconn",
    "on_dns_resolvehost_start", "on_dns_resolvehost_end",
    "on_dns_cache_hit", "on_dns_cache_miss",
]


def recorder(*, ctx_factory=SimpleNamespace):
    """A TraceConfig whose every signal appends (name, ctx, params) to ``events``."""
    config = TraceConfig(trace_config_ctx_factory=ctx_factory)
    events: list[tuple[str, object, object]] = []
    for name in SIGNALS:
        async def callback(session, ctx, params, name=name):
            events.append((name, ctx, params))
        getattr(config, name).append(callback)
    return config, events


def names(events) -> list[str]:
    return [name for name, _, _ in events]


def redirecting(req: ParsedRequest) -> bytes:
    if req.target == "/start":
        return http_response(b"", status=302, reason="Found", headers={"Location": "/end"})
    return http_response(b"final body")


def test_request_lifecycle_with_redirect_and_context(raw_server):
    server = raw_server(recording(redirecting, []))
    config, events = recorder()

    async def main():
        async with ClientSession(trace_configs=[config], timeout=SHORT) as s:
            async with s.get(server.url + "/start", trace_request_ctx={"id": 7}) as r:
                body = await r.read()
            return s, r, body

    session, resp, body = run(main())
    assert body == b"final body"
    assert names(events) == [
        "on_request_start",
        "on_connection_create_start", "on_connection_create_end",
        "on_request_redirect",
        "on_connection_reuseconn",  # keep-alive: the second hop reuses the connection
        "on_request_end",
        "on_response_chunk_received",
    ]
    ctxs = {id(ctx) for _, ctx, _ in events}
    assert len(ctxs) == 1  # one context for the whole request
    ctx = events[0][1]
    assert ctx.trace_request_ctx == {"id": 7}
    start, redirect, end, chunk = (events[0][2], events[3][2], events[5][2], events[6][2])
    assert isinstance(start, TraceRequestStartParams)
    assert (start.method, str(start.url)) == ("GET", server.url + "/start")
    assert isinstance(redirect, TraceRequestRedirectParams)
    assert redirect.response.status == 302 and str(redirect.url).endswith("/start")
    assert isinstance(end, TraceRequestEndParams)
    assert end.response is resp and str(end.url).endswith("/end")
    assert isinstance(chunk, TraceResponseChunkReceivedParams)
    assert chunk.chunk == b"final body"
    assert isinstance(events[2][2], TraceConnectionCreateEndParams)


def test_each_request_and_each_config_gets_its_own_context(raw_server):
    server = raw_server(recording(http_response(b"ok"), []))
    first, first_events = recorder()
    second, second_events = recorder()

    async def main():
        async with ClientSession(trace_configs=[first, second], timeout=SHORT) as s:
            for n in range(2):
                async with s.get(server.url + "/", trace_request_ctx=n) as r:
                    await r.read()

    run(main())
    for events in (first_events, second_events):
        starts = [ctx for name, ctx, _ in events if name == "on_request_start"]
        assert [ctx.trace_request_ctx for ctx in starts] == [0, 1]
        assert starts[0] is not starts[1]
    assert {id(c) for _, c, _ in first_events}.isdisjoint({id(c) for _, c, _ in second_events})


def test_request_start_can_add_headers(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"ok"), seen))
    config = TraceConfig()

    async def inject(session, ctx, params):
        params.headers["traceparent"] = "00-abc-def-01"

    config.on_request_start.append(inject)

    async def main():
        async with ClientSession(trace_configs=[config], timeout=SHORT) as s:
            async with s.get(server.url + "/") as r:
                await r.read()

    run(main())
    assert seen[0].headers["traceparent"] == "00-abc-def-01"


def test_request_chunks_are_reported(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"ok"), seen))
    config, events = recorder()

    async def stream():
        yield b"one,"
        yield b"two"

    async def main():
        async with ClientSession(trace_configs=[config], timeout=SHORT) as s:
            async with s.post(server.url + "/small", data=b"abc") as r:
                await r.read()
            async with s.post(server.url + "/gen", data=stream()) as r:
                await r.read()

    run(main())
    chunks = [(str(p.url).rsplit("/", 1)[1], p.method, p.chunk)
              for name, _, p in events if name == "on_request_chunk_sent"]
    assert all(isinstance(p, TraceRequestChunkSentParams)
               for name, _, p in events if name == "on_request_chunk_sent")
    assert chunks == [("small", "POST", b"abc"), ("gen", "POST", b"one,"),
                      ("gen", "POST", b"two")]
    assert [r.body for r in seen] == [b"abc", b"one,two"]  # what was sent is unchanged


def test_exceptions_are_reported(raw_server):
    server = raw_server(recording(http_response(b"no", status=500, reason="Oops"), []))
    config, events = recorder()
    refused = socket_port_refusing()

    async def main():
        async with ClientSession(trace_configs=[config], timeout=SHORT) as s:
            with pytest.raises(ClientConnectorError) as refused_info:
                await s.get(f"http://127.0.0.1:{refused}/")
            with pytest.raises(ClientResponseError) as status_info:
                await s.get(server.url + "/", raise_for_status=True)
            return refused_info.value, status_info.value

    refused_exc, status_exc = run(main())
    failures = [p for name, _, p in events if name == "on_request_exception"]
    assert all(isinstance(p, TraceRequestExceptionParams) for p in failures)
    assert [p.exception for p in failures] == [refused_exc, status_exc]
    assert "on_request_end" not in names(events)


def socket_port_refusing() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: connecting is refused


def test_dns_events_for_a_host_name(httpserver):
    httpserver.expect_request("/").respond_with_data("ok")
    config, events = recorder()

    async def main():
        connector = TCPConnector(force_close=True)  # a new connection (and lookup) each time
        async with ClientSession(connector=connector, trace_configs=[config],
                                 timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(httpserver.url_for("/")) as r:
                    await r.read()

    run(main())
    dns = [(name, p.host) for name, _, p in events if name.startswith("on_dns")]
    assert dns == [
        ("on_dns_cache_miss", "localhost"),
        ("on_dns_resolvehost_start", "localhost"),
        ("on_dns_resolvehost_end", "localhost"),
        ("on_dns_cache_hit", "localhost"),
    ]
    first = names(events)[: names(events).index("on_connection_create_end") + 1]
    assert first == ["on_request_start", "on_connection_create_start", "on_dns_cache_miss",
                     "on_dns_resolvehost_start", "on_dns_resolvehost_end",
                     "on_connection_create_end"]
    assert isinstance(events[3][2], TraceDnsResolveHostStartParams)


def test_queued_events_when_the_pool_is_full(raw_server):
    release = threading.Event()

    def handler(conn):
        while read_request(conn):
            release.wait(10)  # the first answer waits until the second request is queued
            conn.sendall(http_response(b"ok"))

    server = raw_server(handler)
    config = TraceConfig()
    order: list[str] = []

    async def queued_start(session, ctx, params):
        order.append(f"queued_start {ctx.trace_request_ctx}")
        release.set()

    async def queued_end(session, ctx, params):
        order.append(f"queued_end {ctx.trace_request_ctx}")

    async def request_end(session, ctx, params):
        order.append(f"end {ctx.trace_request_ctx}")

    async def create_start(session, ctx, params):
        if ctx.trace_request_ctx == 1:
            first_connecting.set()

    first_connecting = asyncio.Event()
    config.on_connection_queued_start.append(queued_start)
    config.on_connection_queued_end.append(queued_end)
    config.on_connection_create_start.append(create_start)
    config.on_request_end.append(request_end)

    async def one(s, n):
        async with s.get(server.url + f"/{n}", trace_request_ctx=n) as r:
            return await r.read()

    async def main():
        async with ClientSession(connector=TCPConnector(limit=1), trace_configs=[config],
                                 timeout=SHORT) as s:
            first = asyncio.ensure_future(one(s, 1))
            await first_connecting.wait()  # the first request holds the only slot
            return await asyncio.gather(first, one(s, 2))

    assert run(main()) == [b"ok", b"ok"]
    assert order == ["queued_start 2", "end 1", "queued_end 2", "end 2"]


def test_signals_are_frozen_once_a_session_uses_the_config():
    config = TraceConfig()

    async def callback(session, ctx, params):
        pass

    config.on_request_start.append(callback)

    async def main():
        async with ClientSession(trace_configs=[config]) as s:
            return s.trace_configs

    assert run(main()) == [config]
    with pytest.raises(RuntimeError):
        config.on_request_start.append(callback)
    with pytest.raises(RuntimeError):
        config.on_request_end.clear()


def test_no_trace_state_without_trace_configs_and_none_leaks(raw_server):
    """A shared connector serves a traced and an untraced session in the same task: only
    the traced requests fire, and nothing stays active after a traced request."""
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"ok"), seen))
    config, events = recorder()

    async def main():
        connector = TCPConnector()
        traced = ClientSession(connector=connector, connector_owner=False,
                               trace_configs=[config], timeout=SHORT)
        plain = ClientSession(connector=connector, connector_owner=False, timeout=SHORT)
        try:
            async with traced.post(server.url + "/t", data=b"x") as r:
                await r.read()
            after_traced = tracing.current_traces()
            async with plain.post(server.url + "/p", data=b"y") as r:
                plain_resp = r
                await r.read()
            return after_traced, plain_resp
        finally:
            await traced.close()
            await plain.close()
            await connector.close()

    after_traced, plain_resp = run(main())
    assert after_traced == ()
    assert plain_resp._traces == ()
    assert [str(p.url).rsplit("/", 1)[1] for _, _, p in events
            if hasattr(p, "url")] == ["t", "t", "t", "t"]  # start, chunk, end, body
    assert "on_connection_reuseconn" not in names(events)  # the reuse was the plain one's
    assert [r.body for r in seen] == [b"x", b"y"]
