"""The engine's own TLS transport (http1/tls_transport.py) against real TLS servers.

Every TLS connection the connector opens from a socket runs on a TLSTransport, on both
loops: its extra info; handshake failures raise the same exceptions as before (an
untrusted certificate, a wrong name, a server that closes or says nothing); close_notify
ends a body cleanly while a connection cut without it mid-body is a ClientPayloadError,
and the transport reports a cut as connection_lost(SSLEOFError);
a server sending tiny records; a large upload under flow control (pause_writing /
resume_writing); pause_reading / resume_reading, with plaintext left inside OpenSSL;
close sending close_notify and abort not; loops without add_reader keep their own TLS.
Servers are trustme-certified ssl-wrapped sockets on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import threading

import pytest
import uvloop

from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector
from syncwrap.engine.http1.tls_reads import TLSReader
from syncwrap.engine.http1.tls_transport import TLSTransport, open_tls, own_tls_applies
from syncwrap.exceptions import (
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientPayloadError,
    ConnectTimeout,
)
from tests.servers import read_request

MIB = 1024 * 1024
BODY = os.urandom(2 * MIB + 333)
TIMEOUT = ClientTimeout(total=10)
LOOPS = ["asyncio", "uvloop"]


def run_on(loop: str, coro) -> object:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(asyncio.wait_for(coro, 20))


def https(server) -> str:
    return server.url.replace("http://", "https://")


def answer(ctx: ssl.SSLContext, pieces, *, then: str = "keep") -> object:
    """A handler: TLS, read one request, send ``pieces`` (each its own sendall), then
    ``then``: "keep" (serve more requests), "notify" (close_notify) or "cut" (close the
    TCP connection without close_notify)."""

    def handler(conn: socket.socket) -> None:
        with ctx.wrap_socket(conn.dup(), server_side=True) as tls:
            while read_request(tls):
                for piece in pieces:
                    tls.sendall(piece)
                if then == "notify":
                    tls.unwrap()
                    return
                if then == "cut":
                    conn.shutdown(socket.SHUT_RDWR)
                    return

    return handler


async def get(url: str, ctx: ssl.SSLContext, **kwargs) -> tuple[bytes, object]:
    async with ClientSession(connector=TCPConnector(ssl=ctx), timeout=TIMEOUT) as s:
        async with s.get(url, **kwargs) as resp:
            return await resp.read(), resp.connection


@pytest.mark.parametrize("loop", LOOPS)
def test_the_connector_runs_tls_on_our_transport(raw_server, server_ssl_context,
                                                 client_ssl_context, loop):
    asked = threading.Event()

    def handler(conn: socket.socket) -> None:  # the body waits for the checks
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            read_request(tls)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            if asked.wait(10):
                tls.sendall(b"ok")

    server = raw_server(handler)

    async def main() -> dict:
        async with ClientSession(connector=TCPConnector(ssl=client_ssl_context),
                                 timeout=TIMEOUT) as s:
            async with s.get(https(server)) as resp:
                transport = resp.connection.transport
                assert isinstance(transport, TLSTransport)
                assert isinstance(transport.get_protocol(), TLSReader)
                names = ("ssl_object", "peercert", "cipher", "compression", "socket",
                         "sockname", "peername", "sslcontext")
                info = {name: transport.get_extra_info(name) for name in names}
                info["der"] = info["ssl_object"].getpeercert(binary_form=True)
                asked.set()
                assert await resp.read() == b"ok"
            return info

    info = run_on(loop, main())
    assert info["sslcontext"] is client_ssl_context
    assert isinstance(info["ssl_object"], ssl.SSLSocket)
    assert info["socket"] is info["ssl_object"]
    assert info["der"]
    assert ("DNS", "localhost") in info["peercert"]["subjectAltName"]
    assert info["cipher"][1].startswith("TLS")
    assert info["compression"] is None
    assert info["peername"] == (server.host, server.port)
    assert info["sockname"][0] == "127.0.0.1"


@pytest.mark.parametrize("loop", LOOPS)
def test_handshake_failures_raise_what_they_raised(raw_server, server_ssl_context, tls_ca,
                                                   loop):
    server = raw_server(answer(server_ssl_context, [b"HTTP/1.1 204 No Content\r\n\r\n"]))
    quiet = threading.Event()
    silent = raw_server(lambda conn: quiet.wait(5))  # accepts, never answers the ClientHello
    closing = raw_server(lambda conn: conn.recv(4096))  # reads the ClientHello, closes
    untrusting = ssl.create_default_context()  # default CAs: trustme's is not one of them
    trusting = ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode("ascii"))

    async def main() -> list[BaseException]:
        errors = []
        async with ClientSession(timeout=ClientTimeout(total=10, connect=1)) as s:
            for url, ctx, hostname in [
                (https(server), untrusting, None),
                (https(server), trusting, "example.org"),  # not a name the certificate has
                (https(silent), trusting, None),
                (https(closing), trusting, None),
            ]:
                with pytest.raises((ClientConnectorError, ConnectTimeout)) as info:
                    await s.get(url, ssl=ctx, server_hostname=hostname)
                errors.append(info.value)
        return errors

    try:
        untrusted, wrong_name, silence, closed = run_on(loop, main())
    finally:
        quiet.set()
    assert isinstance(untrusted, ClientConnectorCertificateError)
    assert "certificate verify failed" in str(untrusted)
    assert isinstance(wrong_name, ClientConnectorCertificateError)
    assert isinstance(silence, ConnectTimeout)
    assert not isinstance(closed, ClientConnectorCertificateError | ConnectTimeout)


@pytest.mark.parametrize("loop", LOOPS)
def test_close_notify_ends_a_body_cleanly(raw_server, server_ssl_context, client_ssl_context,
                                          loop):
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    server = raw_server(answer(server_ssl_context, [head, BODY], then="notify"))
    data, _ = run_on(loop, get(https(server), client_ssl_context))
    assert hashlib.sha256(data).digest() == hashlib.sha256(BODY).digest()


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("then", ["cut", "notify"])
def test_a_body_cut_short_is_a_payload_error(raw_server, server_ssl_context,
                                             client_ssl_context, loop, then):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    server = raw_server(answer(server_ssl_context, [head, BODY[: MIB]], then=then))
    with pytest.raises(ClientPayloadError, match="not completed|missing"):
        run_on(loop, get(https(server), client_ssl_context))


@pytest.mark.parametrize("loop", LOOPS)
def test_tiny_records(raw_server, server_ssl_context, client_ssl_context, loop):
    body = BODY[:30_000]
    pieces = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)]
    pieces += [body[i : i + 3] for i in range(0, len(body), 3)]  # a record per 3 bytes
    server = raw_server(answer(server_ssl_context, pieces))

    async def main() -> list[bytes]:
        async with ClientSession(connector=TCPConnector(ssl=client_ssl_context),
                                 timeout=TIMEOUT) as s:
            bodies = []
            for _ in range(2):
                async with s.get(https(server)) as resp:
                    parts = [chunk async for chunk in resp.content.iter_any()]
                    assert all(type(part) is bytes for part in parts)
                    bodies.append(b"".join(parts))
            return bodies

    assert run_on(loop, main()) == [body, body]
    assert server.connections == 1


# -- the transport on its own ---------------------------------------------------------


class Recorder(asyncio.Protocol):
    """Records what the transport does to it; ``pause_at``: pause reading once that many
    bytes arrived."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pause_at: int | None = None) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.pause_at = pause_at
        self.paused = loop.create_future()
        self.lost = loop.create_future()
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    want: tuple[int, asyncio.Future] | None = None  # (size, set once that much arrived)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.want is not None and len(self.data) >= self.want[0]:
            self.want[1].set_result(None)
            self.want = None
        if self.pause_at is not None and len(self.data) >= self.pause_at:
            self.pause_at = None
            self.transport.pause_reading()
            self.paused.set_result(len(self.data))

    def eof_received(self) -> bool:
        self.events.append("eof")
        return False

    def pause_writing(self) -> None:
        self.events.append("pause_writing")
        self.writable.clear()

    def resume_writing(self) -> None:
        self.events.append("resume_writing")
        self.writable.set()

    def connection_lost(self, exc) -> None:
        self.events.append(f"lost {type(exc).__name__}" if exc else "lost")
        self.lost.set_result(exc)


class SmallBuffers(Recorder, asyncio.BufferedProtocol):
    """A BufferedProtocol taking 100 bytes per buffer: records stay partly inside OpenSSL."""

    def get_buffer(self, sizehint: int) -> bytearray:
        self.buffer = bytearray(100)
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.buffer[:nbytes]))


async def connect(server, ctx: ssl.SSLContext, protocol: Recorder) -> TLSTransport:
    loop = asyncio.get_running_loop()
    sock = socket.create_connection((server.host, server.port), timeout=5)
    transport, _ = await open_tls(loop, sock, ctx, "localhost", lambda: protocol)
    return transport


@pytest.mark.parametrize("loop", LOOPS)
def test_a_large_upload_is_flow_controlled(raw_server, server_ssl_context, client_ssl_context,
                                           loop):
    upload = os.urandom(8 * MIB + 5)
    go = threading.Event()
    digest: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            go.wait(10)  # not a byte read until the client's buffer filled up
            hasher, got = hashlib.sha256(), 0
            while got < len(upload) and (data := tls.recv(65536)):
                hasher.update(data)
                got += len(data)
            digest.append(hasher.digest())
            tls.sendall(b"done")
            tls.unwrap()

    server = raw_server(handler)

    async def main() -> Recorder:
        protocol = Recorder(asyncio.get_running_loop())
        transport = await connect(server, client_ssl_context, protocol)
        transport.set_write_buffer_limits(high=256 * 1024)
        for start in range(0, len(upload), 100_000):
            await protocol.writable.wait()
            transport.write(memoryview(upload)[start : start + 100_000])
            if not go.is_set() and not protocol.writable.is_set():
                assert transport.get_write_buffer_size() > 256 * 1024
                go.set()
        await protocol.lost
        return protocol

    protocol = run_on(loop, main())
    assert digest == [hashlib.sha256(upload).digest()]
    assert protocol.data == b"done"
    assert protocol.events[:2] == ["pause_writing", "resume_writing"]
    assert protocol.events[-2:] == ["eof", "lost"]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("kind", [Recorder, SmallBuffers])
@pytest.mark.parametrize("size", [12_000, 2 * MIB])
def test_pause_and_resume_reading(raw_server, server_ssl_context, client_ssl_context, loop,
                                  kind, size):
    # 12,000 bytes: one record. SmallBuffers pauses with most of it decrypted inside
    # OpenSSL and nothing left in the socket: resume_reading must deliver it unasked.
    payload = BODY[:size]
    sent, done = threading.Event(), threading.Event()

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            tls.sendall(payload)
            sent.set()
            if done.wait(10):
                tls.unwrap()

    server = raw_server(handler)

    async def main() -> tuple[int, int, Recorder]:
        loop = asyncio.get_running_loop()
        protocol = kind(loop, pause_at=1000)
        arrived = loop.create_future()
        protocol.want = (len(payload), arrived)
        transport = await connect(server, client_ssl_context, protocol)
        at_pause = await protocol.paused
        assert not transport.is_reading()
        await loop.run_in_executor(None, sent.wait, 10)
        for _ in range(20):  # the loop turns over; nothing more is read meanwhile
            await asyncio.sleep(0)
        still = len(protocol.data)
        transport.resume_reading()
        assert transport.is_reading()
        await arrived
        done.set()
        await protocol.lost
        return at_pause, still, protocol

    try:
        at_pause, still, protocol = run_on(loop, main())
    finally:
        done.set()
    assert still == at_pause
    assert bytes(protocol.data) == payload
    assert protocol.events == ["eof", "lost"]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("then", ["notify", "cut"])
def test_the_transport_tells_close_notify_from_a_cut(raw_server, server_ssl_context,
                                                     client_ssl_context, loop, then):
    # (The HTTP connection takes an until-close body cut without close_notify as whole,
    # as before: see tests/facade/test_tls_streaming.py; the transport tells it apart.)
    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            tls.sendall(BODY)
            if then == "notify":
                tls.unwrap()
            else:
                conn.shutdown(socket.SHUT_RDWR)

    server = raw_server(handler)

    async def main() -> tuple[Recorder, BaseException | None]:
        protocol = Recorder(asyncio.get_running_loop())
        await connect(server, client_ssl_context, protocol)
        return protocol, await protocol.lost

    protocol, exc = run_on(loop, main())
    assert bytes(protocol.data) == BODY
    if then == "notify":
        assert protocol.events == ["eof", "lost"] and exc is None
    else:
        assert protocol.events == ["lost SSLEOFError"]
        assert isinstance(exc, ssl.SSLEOFError)


@pytest.mark.parametrize("loop", LOOPS)
def test_close_sends_close_notify_and_abort_does_not(raw_server, server_ssl_context,
                                                     client_ssl_context, loop):
    seen: list[str] = []

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True,
                                            suppress_ragged_eofs=False) as tls:
            try:
                seen.append(repr(tls.recv(100)))  # b"": close_notify
            except ssl.SSLEOFError:
                seen.append("cut")

    server = raw_server(handler)

    async def main() -> None:
        for how in ("close", "abort"):
            protocol = Recorder(asyncio.get_running_loop())
            transport = await connect(server, client_ssl_context, protocol)
            getattr(transport, how)()
            assert transport.is_closing()
            await protocol.lost
            assert protocol.events == ["lost"]
            # the server's verdict on this connection before the next one
            assert await asyncio.get_running_loop().run_in_executor(None, server.join, 5)

    run_on(loop, main())
    assert seen == ["b''", "cut"]


def test_loops_without_add_reader_keep_their_own_tls():
    class NoReaders(asyncio.AbstractEventLoop):  # as Windows' proactor loop
        pass

    for factory in (asyncio.new_event_loop, uvloop.new_event_loop):
        loop = factory()
        try:
            assert own_tls_applies(loop)
        finally:
            loop.close()
    assert not own_tls_applies(NoReaders())
