"""TLS reads into the connection's own buffers (TLSReader, http1/tls_reads.py).

asyncio's and uvloop's SSL transports decrypt straight into buffers the connection hands
out; a plain body's chunks then travel as memoryviews of them. Checked on both loops:
every StreamReader method still returns bytes with the exact body (by sha256), for
Content-Length, read-until-close, chunked and gzip bodies; ``read_views`` hands the
views on uncopied for large reads and bytes for short ones (a view never holds much
more than its bytes); the connection is pooled after a complete body.
Real ssl-wrapped servers on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import ssl
import threading
from collections.abc import Callable

import pytest

from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector
from syncwrap.engine.http1.tls_reads import TLSReader
from tests.engine._util import run_on
from tests.servers import chunked_body, read_request

MIB = 1024 * 1024
BODY = os.urandom(3 * MIB + 777)
DIGEST = hashlib.sha256(BODY).digest()
LINES = b"".join(b"line %d %s\n" % (i, b"x" * (i % 300)) for i in range(20000))
TIMEOUT = ClientTimeout(total=10)


def tls_server(raw_server, ctx: ssl.SSLContext, wire: Callable[[], list[bytes]],
               *, close: bool = False):
    """Keep-alive TLS server sending the pieces of ``wire()`` per request (each its
    own sendall); with ``close`` it sends close_notify after the first answer."""

    def handler(conn: socket.socket) -> None:
        with ctx.wrap_socket(conn.dup(), server_side=True) as tls:
            while read_request(tls):
                for piece in wire():
                    tls.sendall(piece)
                if close:
                    tls.unwrap()
                    return

    server = raw_server(handler)
    return server, server.url.replace("http://", "https://")


def plain(body: bytes = BODY) -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body]


async def read_with(how: str, content) -> bytes:
    parts = []
    if how == "read()":
        return await content.read()
    if how == "readany":
        while chunk := await content.readany():
            assert type(chunk) is bytes
            parts.append(chunk)
    elif how == "iter_any":
        async for chunk in content.iter_any():
            assert type(chunk) is bytes
            parts.append(chunk)
    elif how == "iter_chunked":
        async for chunk in content.iter_chunked(100_003):
            assert type(chunk) is bytes
            parts.append(chunk)
    elif how == "readline":
        while line := await content.readline():
            assert type(line) is bytes
            parts.append(line)
    elif how == "readexactly+read_nowait":
        head = await content.readexactly(5)
        assert type(head) is bytes
        parts.append(head)
        while not content.at_eof():
            await content.readexactly(0)
            data = content.read_nowait(70_001)
            if not data:
                data = await content.read(70_001)
            assert type(data) is bytes
            parts.append(data)
    elif how == "readchunk":
        while True:
            data, _ = await content.readchunk()
            if not data and content.at_eof():
                break
            assert type(data) is bytes
            parts.append(data)
    return b"".join(parts)


HOWS = ["read()", "readany", "iter_any", "iter_chunked", "readline",
        "readexactly+read_nowait", "readchunk"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("how", HOWS)
def test_every_reader_gets_bytes_and_the_exact_body(raw_server, server_ssl_context,
                                                    client_ssl_context, loop, how):
    body = LINES if how == "readline" else BODY
    server, url = tls_server(raw_server, server_ssl_context, lambda: plain(body))

    async def main() -> tuple[bytes, dict]:
        async with ClientSession(connector=TCPConnector(ssl=client_ssl_context),
                                 timeout=TIMEOUT) as s:
            for _ in range(2):
                async with s.get(url) as resp:
                    data = await read_with(how, resp.content)
            return data, s.connector.stats()

    data, stats = run_on(loop, main())
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    assert stats == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.connections == 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("framing", ["until close", "chunked", "gzip", "small"])
def test_other_framings_exact(raw_server, server_ssl_context, client_ssl_context, loop,
                              framing):
    expected = BODY[:1000] if framing == "small" else BODY
    if framing == "until close":
        wire = [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", BODY]
    elif framing == "chunked":
        pieces = [BODY[i : i + 70_000] for i in range(0, len(BODY), 70_000)]
        wire = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunked_body(pieces)]
    elif framing == "gzip":
        packed = gzip.compress(BODY, compresslevel=1)
        wire = [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                b"Content-Length: %d\r\n\r\n" % len(packed), packed]
    else:
        wire = plain(expected)
    server, url = tls_server(raw_server, server_ssl_context, lambda: wire,
                             close=framing == "until close")

    async def main() -> tuple[bytes, bytes]:
        async with ClientSession(connector=TCPConnector(ssl=client_ssl_context),
                                 timeout=TIMEOUT) as s:
            async with s.get(url) as resp:
                whole = await resp.read()
                assert type(whole) is bytes
            async with s.get(url) as resp:
                parts = []
                async for chunk in resp.content.iter_any():
                    assert type(chunk) is bytes
                    parts.append(chunk)
            return whole, b"".join(parts)

    whole, streamed = run_on(loop, main())
    assert whole == expected
    assert streamed == expected


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_views_for_large_reads_bytes_for_short_ones(raw_server, server_ssl_context,
                                                    client_ssl_context, loop):
    # First the head and 1 MiB in one go (large reads: views of the TLS buffers), then
    # 20 records of 100 bytes, each sent when the client asks for it (short reads: copied
    # out, so that a dribbling server cannot make each byte hold a whole buffer).
    body = BODY[: MIB + 2000]
    asks = threading.Semaphore(0)

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            read_request(tls)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body[:MIB])
            for start in range(MIB, len(body), 100):
                if not asks.acquire(timeout=10):
                    return
                tls.sendall(body[start : start + 100])

    url = raw_server(handler).url.replace("http://", "https://")

    async def main() -> tuple[list[tuple[str, int]], bytes]:
        async with ClientSession(connector=TCPConnector(ssl=client_ssl_context),
                                 timeout=TIMEOUT) as s:
            async with s.get(url) as resp:
                assert isinstance(resp.connection.transport.get_protocol(), TLSReader)
                kinds = []
                parts = []
                received = 0
                while chunks := await resp.content.read_views():
                    for chunk in chunks:
                        kinds.append((type(chunk).__name__, len(chunk)))
                        parts.append(bytes(chunk))
                        received += len(chunk)
                        if received >= MIB:
                            asks.release()  # the next record
            return kinds, b"".join(parts)

    kinds, data = run_on(loop, main())
    assert data == body
    assert any(kind == "memoryview" and n >= 64 * 1024 for kind, n in kinds), kinds
    assert kinds[-20:] == [("bytes", 100)] * 20
