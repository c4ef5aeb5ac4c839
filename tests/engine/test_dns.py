"""Custom DNS in the engine: AsyncResolver (aiodns/c-ares) against a real DNS server, the
default ThreadedResolver, AbstractResolver, the TTL cache counted at the server, NXDOMAIN
as a connection error naming the host, and IPv6 answers with happy eyeballs.
Peer: tests.dns_peers.DNSPeer (dnslib on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

import syncwrap
from syncwrap.engine import (
    AbstractResolver,
    AsyncResolver,
    ClientConnectorDNSError,
    ClientConnectorError,
    ClientSession,
    ClientTimeout,
    ConnectTimeout,
    DefaultResolver,
    TCPConnector,
    ThreadedResolver,
)
from tests.dns_peers import MISSING, DNSPeer
from tests.engine._util import SHORT, run


@pytest.fixture
def dns() -> Iterator[DNSPeer]:
    with DNSPeer() as peer:
        yield peer


async def status(session: ClientSession, url: str, **kwargs) -> int:
    async with session.get(url, **kwargs) as resp:
        await resp.read()
        return resp.status


def test_names_are_exported():
    for name in ("AsyncResolver", "AbstractResolver"):
        assert getattr(syncwrap, name) is getattr(syncwrap.engine, name)
    assert DefaultResolver is ThreadedResolver
    assert issubclass(ThreadedResolver, AbstractResolver)
    assert issubclass(AsyncResolver, AbstractResolver)
    assert issubclass(ClientConnectorDNSError, ClientConnectorError)


def test_async_resolver_asks_the_given_nameserver(dns, counting_server):
    async def main():
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
        async with ClientSession(connector=TCPConnector(resolver=resolver),
                                 timeout=SHORT) as s:
            return await status(s, f"http://v4.syncwrap.test:{counting_server.port}/")

    assert run(main()) == 200
    assert dns.queries("v4.syncwrap.test") >= 1
    assert counting_server.total_requests == 1


def test_async_resolver_results_and_ports_given_apart(dns):
    async def main():
        resolver = AsyncResolver(nameservers=["127.0.0.1"], udp_port=dns.port, tcp_port=dns.port,
                                 timeout=2, tries=1)
        try:
            return (await resolver.resolve("app.syncwrap.test", 8080),
                    await resolver.resolve("app.syncwrap.test", 80, family=socket.AF_INET))
        finally:
            await resolver.close()

    both, v4 = run(main())
    assert sorted((r["family"], r["host"], r["port"]) for r in both) == [
        (socket.AF_INET, "127.0.0.1", 8080), (socket.AF_INET6, "::1", 8080)]
    assert [(r["hostname"], r["host"]) for r in v4] == [("app.syncwrap.test", "127.0.0.1")]
    assert set(v4[0]) == {"hostname", "host", "port", "family", "proto", "flags"}


def test_dns_cache_ttl_and_disabled_counted_at_the_server(dns, counting_server):
    url = f"http://app.syncwrap.test:{counting_server.port}/"

    async def requests(connector: TCPConnector, count: int) -> int:
        async with ClientSession(connector=connector, connector_owner=False, timeout=SHORT) as s:
            for _ in range(count):
                assert await status(s, url) == 200
        return dns.queries("app.syncwrap.test")

    def resolver() -> AsyncResolver:
        return AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)

    async def main():
        # force_close: every request opens a connection, so every request needs the address
        cached = await requests(TCPConnector(resolver=resolver(), force_close=True), 4)
        uncached = await requests(TCPConnector(resolver=resolver(), force_close=True,
                                               use_dns_cache=False), 4) - cached
        connector = TCPConnector(resolver=resolver(), force_close=True, ttl_dns_cache=0.3)
        before = dns.queries("app.syncwrap.test")
        within_ttl = await requests(connector, 2) - before
        await asyncio.sleep(0.4)  # let the 0.3 s TTL expire (time passing is the subject)
        after_ttl = await requests(connector, 1) - before
        await connector.close()
        return cached, uncached, within_ttl, after_ttl

    cached, uncached, within_ttl, after_ttl = run(main())
    per_lookup = cached  # one lookup (A and AAAA questions) for four requests
    assert per_lookup in (1, 2)
    assert uncached == 4 * per_lookup
    assert within_ttl == per_lookup
    assert after_ttl == 2 * per_lookup


def test_nxdomain_is_a_connection_error_naming_the_host(dns):
    async def main():
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
        async with ClientSession(connector=TCPConnector(resolver=resolver),
                                 timeout=SHORT) as s:
            await s.get(f"http://{MISSING}:8080/")

    with pytest.raises(ClientConnectorDNSError) as info:
        run(main())
    exc = info.value
    assert isinstance(exc, syncwrap.ConnectionError)
    assert (exc.host, exc.port) == (MISSING, 8080)
    assert MISSING in str(exc)
    assert isinstance(exc.os_error, socket.gaierror)
    assert dns.queries(MISSING) >= 1


def test_system_resolver_failure_is_a_dns_error_too():
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await s.get("http://no-such-host.invalid/")

    with pytest.raises(ClientConnectorDNSError, match="no-such-host.invalid"):
        run(main())


def test_a_name_with_only_one_family(dns):
    async def main():
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
        try:
            return (await resolver.resolve("v6.syncwrap.test", 80),
                    await resolver.resolve("v4.syncwrap.test", 80))
        finally:
            await resolver.close()

    v6, v4 = run(main())
    assert [r["host"] for r in v6] == ["::1"]
    assert [r["host"] for r in v4] == ["127.0.0.1"]


# -- IPv6 answers and happy eyeballs ---------------------------------------------------------

FAMILY_HOST = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}


async def _http_server(host: str, port: int) -> asyncio.Server:
    """A real (asyncio) HTTP server answering 200 "ok" on host:port, on the test's loop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def _listener(family: int, port: int = 0, backlog: int = 64) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((FAMILY_HOST[family], port))
    sock.listen(backlog)
    return sock


def _black_hole(family: int) -> tuple[socket.socket, list[socket.socket]]:
    """A listener whose accept queue is full: a new connect() to it gets no answer."""
    listener = _listener(family, backlog=0)
    fillers = []
    for _ in range(4):
        filler = socket.socket(family, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            filler.connect(listener.getsockname()[:2])
        except BlockingIOError:
            pass
        fillers.append(filler)
    return listener, fillers


async def _first_family(dns: DNSPeer) -> int:
    resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
    try:
        return (await resolver.resolve("app.syncwrap.test", 80))[0]["family"]
    finally:
        await resolver.close()


@pytest.mark.parametrize("listening", [socket.AF_INET6, socket.AF_INET], ids=["v6", "v4"])
def test_a_and_aaaa_answer_with_one_family_listening(dns, listening):
    """app.syncwrap.test has AAAA ::1 and A 127.0.0.1; only one of them has a server."""

    async def main():
        server = await _http_server(FAMILY_HOST[listening], 0)
        port = server.sockets[0].getsockname()[1]
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
        try:
            async with ClientSession(connector=TCPConnector(resolver=resolver),
                                     timeout=SHORT) as s:
                return await status(s, f"http://app.syncwrap.test:{port}/")
        finally:
            server.close()
            await server.wait_closed()

    assert run(main()) == 200


@pytest.mark.parametrize("delay", [0.25, None])
def test_happy_eyeballs_gets_past_an_address_that_never_answers(dns, delay):
    """The first address's family never answers a SYN; the other family has the server.

    With happy eyeballs (delay 0.25 s) the second attempt starts while the first still
    hangs and wins; without it (delay None: one address after the other) the request
    waits for the first attempt until sock_connect gives up.
    """

    async def main():
        first = await _first_family(dns)
        other = socket.AF_INET if first == socket.AF_INET6 else socket.AF_INET6
        hole, fillers = _black_hole(first)
        port = hole.getsockname()[1]
        server = await _http_server(FAMILY_HOST[other], port)
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
        connector = TCPConnector(resolver=resolver, happy_eyeballs_delay=delay)
        started = time.monotonic()
        try:
            async with ClientSession(connector=connector,
                                     timeout=ClientTimeout(total=10, sock_connect=2)) as s:
                return await status(s, f"http://app.syncwrap.test:{port}/"), \
                    time.monotonic() - started
        finally:
            server.close()
            await server.wait_closed()
            for sock in (hole, *fillers):
                sock.close()

    if delay is None:
        with pytest.raises(ConnectTimeout):
            run(main())
    else:
        code, elapsed = run(main())
        assert code == 200
        assert elapsed < 1.5  # not the 2 s sock_connect: the hanging attempt was overtaken


# -- resolvers of one's own, and arguments ---------------------------------------------------


class StaticResolver(AbstractResolver):
    """A user resolver: every name is 127.0.0.1."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed = False

    async def resolve(self, host, port=0, family=socket.AF_UNSPEC):
        self.asked.append(host)
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": socket.IPPROTO_TCP, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        self.closed = True


def test_a_resolver_of_ones_own(counting_server):
    resolver = StaticResolver()

    async def main():
        connector = TCPConnector(resolver=resolver)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            return await status(s, f"http://anything.example:{counting_server.port}/")

    assert run(main()) == 200
    assert resolver.asked == ["anything.example"]
    assert not resolver.closed  # the caller's resolver: the connector does not close it


def test_abstract_resolver_needs_both_methods():
    with pytest.raises(TypeError):
        AbstractResolver()

    class NoClose(AbstractResolver):
        async def resolve(self, host, port=0, family=0):
            return []

    with pytest.raises(TypeError):
        NoClose()


def test_threaded_resolver_uses_the_system_resolver():
    results = run(ThreadedResolver().resolve("localhost", 443, family=socket.AF_INET))
    assert {(r["host"], r["port"]) for r in results} == {("127.0.0.1", 443)}


def test_one_async_resolver_shared_by_connectors_and_loops(dns, counting_server):
    """Made outside any loop, used on two loops; closing one connector leaves it usable."""
    resolver = AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
    url = f"http://v4.syncwrap.test:{counting_server.port}/"

    async def once():
        async with ClientSession(connector=TCPConnector(resolver=resolver),
                                 timeout=SHORT) as s:
            return await status(s, url)

    assert run(once()) == 200
    assert run(once()) == 200  # a second asyncio.run: another loop
    assert dns.queries("v4.syncwrap.test") >= 2
    run(resolver.close())


@pytest.mark.parametrize("kwargs, error, match", [
    ({"nameservers": "127.0.0.1"}, TypeError, "nameservers="),
    ({"nameservers": [53]}, TypeError, "nameservers="),
    ({"nameservers": ["dns.example"]}, ValueError, "nameservers="),
    ({"nameservers": ["127.0.0.1:99999"]}, ValueError, "nameservers="),
    ({"nameservers": ["[::1"]}, ValueError, "nameservers="),
    ({"timeout": -1}, ValueError, "timeout="),
    ({"udp_port": "53"}, ValueError, "udp_port="),
    ({"nameserver": ["127.0.0.1"]}, TypeError, "nameserver"),
])
def test_async_resolver_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        AsyncResolver(**kwargs)


def test_accepted_nameserver_spellings():
    resolver = AsyncResolver(nameservers=["192.0.2.53", "127.0.0.1:5353", "[::1]:53", "::1"])
    assert resolver.nameservers == ["192.0.2.53", "127.0.0.1:5353", "[::1]:53", "::1"]


def test_connector_refuses_a_resolver_without_resolve():
    with pytest.raises(TypeError, match="resolver="):
        TCPConnector(resolver=object())
