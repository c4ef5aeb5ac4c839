"""TCPConnector: keep-alive reuse, limits, waiting, keepalive_timeout, force_close, DNS cache,
IPv6, and never reusing a half-read connection (point 5)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector, ThreadedResolver
from tests.engine._util import SHORT, Event, canned, run
from tests.servers import (
    CountingServer,
    ParsedRequest,
    chunked_body,
    http_response,
    keep_alive,
    parse_request,
    read_request,
    serve_http,
    wait_client_close,
)


async def fetch(session: ClientSession, url: str, **kwargs) -> tuple[int, bytes, str]:
    async with session.get(url, **kwargs) as resp:
        body = await resp.read()
        return resp.status, body, resp.headers.get("X-Connection-Id", "")


def test_sequential_requests_reuse_one_connection(counting_server):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return [await fetch(s, counting_server.url + f"/{i}") for i in range(5)]

    results = run(main())
    assert [r[0] for r in results] == [200] * 5
    assert {r[2] for r in results} == {"1"}
    assert counting_server.total_connections == 1
    assert counting_server.total_requests == 5


def test_default_limits():
    async def main():
        connector = TCPConnector()
        assert connector.limit == 100
        assert connector.limit_per_host == 0
        assert not connector.force_close
        await connector.close()
        assert connector.closed

    run(main())


def test_limit_caps_concurrent_connections(counting_server):
    async def main():
        async with ClientSession(connector=TCPConnector(limit=2), timeout=SHORT) as s:
            return await asyncio.gather(
                *(fetch(s, counting_server.url + "/?delay=0.05") for _ in range(20))
            )

    results = run(main())
    assert [r[0] for r in results] == [200] * 20
    assert counting_server.total_requests == 20
    assert counting_server.max_concurrent == 2  # used both slots, never a third
    assert counting_server.total_connections == 2  # the 18 waiters reused them


def test_limit_per_host_is_per_host():
    a, b = CountingServer(), CountingServer()
    try:

        async def main():
            connector = TCPConnector(limit=100, limit_per_host=2)
            async with ClientSession(connector=connector, timeout=SHORT) as s:
                jobs = [fetch(s, srv.url + "/?delay=0.05") for srv in (a, b) for _ in range(8)]
                return await asyncio.gather(*jobs)

        results = run(main())
        assert [r[0] for r in results] == [200] * 16
        assert a.max_concurrent == 2 and b.max_concurrent == 2
        assert a.total_requests == 8 and b.total_requests == 8
    finally:
        a.close()
        b.close()


def _barrier_server(raw_server, parties: int):
    """Every connection answers only once ``parties`` connections are open at the same time."""
    barrier = threading.Barrier(parties, timeout=5)

    def handler(conn: socket.socket) -> None:
        raw = read_request(conn)
        barrier.wait()  # raises BrokenBarrierError after 5 s: the client never got there
        conn.sendall(http_response(parse_request(raw).target.encode()))
        wait_client_close(conn, 5)

    return raw_server(handler), barrier


@pytest.mark.parametrize("limit", [None, 0])
def test_no_limit(raw_server, limit):
    n = 120  # more than the default limit of 100
    server, barrier = _barrier_server(raw_server, n)

    async def main():
        async with ClientSession(connector=TCPConnector(limit=limit), timeout=SHORT) as s:
            return await asyncio.gather(*(fetch(s, server.url + f"/{i}") for i in range(n)))

    results = run(main())
    assert sorted(r[1] for r in results) == sorted(f"/{i}".encode() for i in range(n))
    assert server.connections == n
    assert not barrier.broken


def test_waiting_for_a_free_connection(counting_server):
    async def main():
        connector = TCPConnector(limit=1)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            first = asyncio.ensure_future(fetch(s, counting_server.url + "/?delay=0.3"))
            others = [asyncio.ensure_future(fetch(s, counting_server.url + f"/{i}"))
                      for i in range(3)]
            # let every task reach the connector, then look at its state
            while connector.stats()["waiting"] < 3 and not first.done():
                await asyncio.sleep(0)
            stats = connector.stats()
            results = await asyncio.gather(first, *others)
            return stats, results, connector.stats()

    during, results, after = run(main())
    assert during == {"acquired": 1, "idle": 0, "waiting": 3}
    assert [r[0] for r in results] == [200] * 4
    assert counting_server.max_concurrent == 1
    assert counting_server.total_connections == 1
    assert after == {"acquired": 0, "idle": 1, "waiting": 0}


def test_keepalive_timeout_closes_idle_connection(raw_server):
    closed = Event()
    timing: dict[str, float] = {}

    def handler(conn: socket.socket) -> None:
        assert read_request(conn)
        conn.sendall(http_response(b"ok"))
        timing["sent"] = time.monotonic()
        if wait_client_close(conn, 5):
            timing["closed"] = time.monotonic()
            closed.set()

    server = raw_server(handler)

    async def main():
        connector = TCPConnector(keepalive_timeout=0.3)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            status, body, _ = await fetch(s, server.url)
            assert connector.stats()["idle"] == 1
            seen_close = await closed.wait_async(5)
            return status, body, seen_close, connector.stats()

    status, body, seen_close, stats = run(main())
    assert (status, body) == (200, b"ok")
    assert seen_close, "the idle connection was not closed after keepalive_timeout"
    idle_for = timing["closed"] - timing["sent"]
    assert 0.25 <= idle_for < 3.0
    assert stats["idle"] == 0


def test_force_close_uses_a_new_connection_per_request(counting_server):
    async def main():
        connector = TCPConnector(force_close=True)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            results = [await fetch(s, counting_server.url) for _ in range(3)]
            return results, connector.stats()

    results, stats = run(main())
    assert [r[2] for r in results] == ["1", "2", "3"]
    assert counting_server.total_connections == 3
    assert stats["idle"] == 0


def test_force_close_sends_connection_close(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(keep_alive(requests=seen))

    async def main():
        async with ClientSession(connector=TCPConnector(force_close=True), timeout=SHORT) as s:
            await fetch(s, server.url)

    run(main())
    assert seen[0].headers["connection"] == "close"


class CountingResolver(ThreadedResolver):
    """The engine's resolver extension point, counting real getaddrinfo lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_UNSPEC):
        self.calls.append(host)
        return await super().resolve(host, port, family)


def _localhost_url(server) -> str:
    return f"http://localhost:{server.port}"


def test_dns_cache_is_hit(counting_server):
    resolver = CountingResolver()

    async def main():
        connector = TCPConnector(resolver=resolver, force_close=True)  # connect every time
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            for _ in range(3):
                assert (await fetch(s, _localhost_url(counting_server)))[0] == 200
            await asyncio.gather(*(fetch(s, _localhost_url(counting_server)) for _ in range(3)))

    run(main())
    assert counting_server.total_connections == 6
    assert resolver.calls == ["localhost"]


def test_dns_cache_disabled_and_ttl(counting_server):
    uncached, short_ttl = CountingResolver(), CountingResolver()

    async def main():
        url = _localhost_url(counting_server)
        connector = TCPConnector(resolver=uncached, use_dns_cache=False, force_close=True)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            for _ in range(3):
                await fetch(s, url)
        connector = TCPConnector(resolver=short_ttl, ttl_dns_cache=0.2, force_close=True)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            await fetch(s, url)
            await fetch(s, url)
            assert short_ttl.calls == ["localhost"]
            await asyncio.sleep(0.3)  # let the 0.2 s TTL expire (time passing is the subject)
            await fetch(s, url)
            connector.clear_dns_cache()
            await fetch(s, url)

    run(main())
    assert uncached.calls == ["localhost"] * 3
    assert short_ttl.calls == ["localhost"] * 3


def test_ip_literal_needs_no_resolver(counting_server):
    resolver = CountingResolver()

    async def main():
        async with ClientSession(connector=TCPConnector(resolver=resolver), timeout=SHORT) as s:
            return await fetch(s, counting_server.url)

    assert run(main())[0] == 200
    assert resolver.calls == []


def test_ipv6_loopback():
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    port = listener.getsockname()[1]
    seen: list[ParsedRequest] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            serve_http(conn, lambda req: (seen.append(req) or b"six", {}))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:

        async def main():
            async with ClientSession(timeout=SHORT) as s:
                return await fetch(s, f"http://[::1]:{port}/v6")

        status, body, _ = run(main())
    finally:
        listener.close()
        thread.join(5)
    assert (status, body) == (200, b"six")
    assert seen[0].headers["host"] == f"[::1]:{port}"


def test_half_read_response_is_never_reused(raw_server):
    big = b"x" * (8 * 1024 * 1024)
    server = raw_server(keep_alive(big))

    async def main():
        async with ClientSession(timeout=SHORT, read_bufsize=64 * 1024) as s:
            resp = await s.get(server.url)
            first_protocol = resp.connection.protocol
            assert await resp.content.readexactly(10) == b"x" * 10
            assert not first_protocol.response_complete
            resp.release()  # body not read to its end: the connection must be closed
            assert first_protocol.should_close
            async with s.get(server.url) as resp2:
                body = await resp2.read()
                second_protocol = resp2.connection.protocol if resp2.connection else None
            return body, first_protocol, second_protocol, s.connector.stats()

    body, first, second, stats = run(main())
    assert body == big
    assert first is not second
    assert first.closed or first.transport is None or first.transport.is_closing()
    assert server.connections == 2
    assert stats["idle"] == 1  # the fully read one went back to the pool


def test_fully_read_response_is_reused(raw_server):
    server = raw_server(keep_alive(b"y" * 100_000))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(3):
                resp = await s.get(server.url)
                assert len(await resp.read()) == 100_000
                resp.release()

    run(main())
    assert server.connections == 1


def test_connection_refused_is_a_connector_error():
    from syncwrap.engine import ClientConnectorError

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=5)) as s:
            with pytest.raises(ClientConnectorError) as info:
                await s.get(f"http://127.0.0.1:{port}/")
            return info.value

    err = run(main())
    assert err.port == port and err.host == "127.0.0.1"


def test_cancelled_request_frees_its_slot(raw_server, counting_server):
    stuck = raw_server(lambda conn: wait_client_close(conn, 10) if read_request(conn) else None)

    async def main():
        connector = TCPConnector(limit=1)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            task = asyncio.ensure_future(s.get(stuck.url))
            while connector.stats()["acquired"] < 1:
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after_cancel = connector.stats()
            # a timed-out request frees its slot too
            with pytest.raises(TimeoutError):
                await s.get(stuck.url, timeout=ClientTimeout(total=0.2))
            after_timeout = connector.stats()
            status = (await fetch(s, counting_server.url))[0]
            return after_cancel, after_timeout, status

    after_cancel, after_timeout, status = run(main())
    assert after_cancel["acquired"] == 0 and after_timeout["acquired"] == 0
    assert status == 200
    assert stuck.join(5)  # both stuck connections were closed by the client


def test_closing_the_session_closes_pooled_connections(raw_server):
    closed = Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(http_response(b"ok"))
        if wait_client_close(conn, 5):
            closed.set()

    server = raw_server(handler)

    async def main():
        s = ClientSession(timeout=SHORT)
        await fetch(s, server.url)
        assert s.connector.stats()["idle"] == 1 and not closed.is_set()
        await s.close()
        return await closed.wait_async(5), s.closed, s.connector.closed

    assert run(main()) == (True, True, True)


def test_module_level_request(counting_server):
    from syncwrap.engine import request

    async def main():
        async with request("GET", counting_server.url + "/x") as resp:
            return resp.status, await resp.read()

    status, body = run(main())
    assert status == 200 and body.startswith(b'{"connection": 1')
    assert counting_server.wait_idle(5)  # its private session closed the connection


def test_one_connection_serves_every_kind_of_response(raw_server):
    """The connection's parser is reused from response to response: whatever the last one
    was (HEAD with a Content-Length, chunked with trailers, 204, 304, 1xx first, a body
    larger than one read), the next response on the same connection parses correctly."""
    big = bytes(range(256)) * 4096  # 1 MiB: arrives over several reads
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunked_body([b"chu", b"nked"], trailers=b"X-Trailer: 1\r\n"))
    script = [
        ("GET", http_response(b"first")),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
        ("GET", chunked),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
        ("GET", b"HTTP/1.1 100 Continue\r\n\r\n" + http_response(b"after 100")),
        ("GET", http_response(big)),
        ("GET", http_response(b"last")),
    ]
    server = raw_server(canned(*(data for _, data in script)))

    async def main():
        bodies = []
        async with ClientSession(timeout=SHORT) as s:
            for method, _ in script:
                async with s.request(method, server.url) as resp:
                    bodies.append((resp.status, await resp.read()))
        return bodies

    assert run(main()) == [(200, b"first"), (200, b""), (200, b"chunked"), (204, b""),
                           (304, b""), (200, b"after 100"), (200, big), (200, b"last")]
    assert server.connections == 1
