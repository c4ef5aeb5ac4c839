"""Hostile framing around the body (issue 9): endless interim (1xx) responses, endless chunk
extensions and trailer sections. Each is refused with MalformedResponseError within moments
and in bounded memory; the legitimate shapes (a few 1xx, 103 Early Hints, short extensions,
trailers, many tiny chunks in one read, one huge chunk) still work."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest

import syncwrap
from syncwrap.engine import ClientSession, MalformedResponseError
from syncwrap.engine.http1.parser import HeaderLimits, ResponseParser
from tests.engine._util import SHORT, canned, run
from tests.servers import chunked_body, http_response, read_request

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#: What an endless response may cost the client, measured with tracemalloc over the whole
#: request (loop, session, connection, parser; the server thread too): it is refused after
#: 32 interim responses, or one read (256 KiB) past the 64 KiB extension/trailer limit.
MEMORY_LIMIT = 2 * 1024 * 1024
#: Refused "quickly": the server writes as fast as it can, the client stops it long before
#: the request's 5 s timeout.
QUICK = 2.0


class Endless:
    """Handler: read the request, send ``prefix``, then ``piece`` again and again until the
    client closes the connection (``client_closed`` is set) or 10 s pass."""

    def __init__(self, prefix: bytes, piece: bytes) -> None:
        self.prefix = prefix
        self.piece = piece
        self.client_closed = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        deadline = time.monotonic() + 10
        try:
            conn.sendall(self.prefix)
            while time.monotonic() < deadline:
                conn.sendall(self.piece)
        except (BrokenPipeError, ConnectionResetError):
            self.client_closed.set()


def _refused(url: str) -> tuple[MalformedResponseError, float, int]:
    """GET ``url`` and read the body: the error, the seconds it took, tracemalloc's peak."""

    async def main() -> None:
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(url) as resp:
                await resp.read()

    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(MalformedResponseError) as info:
            run(main())
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value, elapsed, peak


def _get(url: str) -> tuple[int, bytes]:
    async def main() -> tuple[int, bytes]:
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(url) as resp:
                return resp.status, await resp.read()

    return run(main())


# ------------------------------------------------------------------------------- 1xx responses
def test_endless_interim_responses_are_refused_quickly_in_bounded_memory(raw_server):
    server = Endless(b"", CONTINUE)
    srv = raw_server(server)

    err, elapsed, peak = _refused(srv.url)
    assert "More than 32 interim (1xx) responses" in str(err)
    assert elapsed < QUICK
    assert peak < MEMORY_LIMIT, peak
    assert server.client_closed.wait(5)  # the client closed the connection: the server stops


def test_endless_interim_responses_in_the_blocking_api(raw_server):
    server = Endless(b"", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
    srv = raw_server(server)

    start = time.monotonic()
    with pytest.raises(syncwrap.MalformedResponseError, match="32 interim"):
        syncwrap.get(srv.url, timeout=5)
    assert time.monotonic() - start < QUICK
    assert server.client_closed.wait(5)


@pytest.mark.parametrize("count", [1, 5, 32])
def test_up_to_32_interim_responses_then_the_final_one(raw_server, count):
    interim = CONTINUE * (count - 1) + b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>\r\n\r\n"
    srv = raw_server(canned(interim + http_response(b"final")))

    assert _get(srv.url) == (200, b"final")


def test_33_interim_responses_are_refused(raw_server):
    srv = raw_server(canned(CONTINUE * 33 + http_response(b"final")))

    with pytest.raises(MalformedResponseError, match="More than 32 interim"):
        _get(srv.url)


def test_interim_responses_are_dropped_as_they_are_parsed():
    """With the cap raised out of the way, 1 MiB of 100 Continue fed in 64 KiB reads (as a
    socket delivers them) costs the parser no more than a read or two: each interim
    response leaves its buffer once parsed. Then the final response parses normally."""
    heads, bodies, done = [], [], []
    parser = ResponseParser(heads.append, bodies.append, lambda: done.append(True))
    parser.start("GET", HeaderLimits(max_interim=10**9))
    read = CONTINUE * (65536 // len(CONTINUE)) + CONTINUE[:7]  # ends inside a head
    rest = CONTINUE[7:]

    tracemalloc.start()
    try:
        for _ in range(16):
            parser.feed(read)
            parser.feed(rest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    parser.feed(http_response(b"final"))

    assert peak < 3 * len(read), peak  # kept whole it would be 1 MiB
    assert [h.status for h in heads] == [200] and b"".join(bodies) == b"final" and done


# ---------------------------------------------------------------- chunk extensions, trailers
@pytest.mark.parametrize(
    ("prefix", "piece"),
    [
        (CHUNKED_HEAD + b"5;", b"a" * 4096),  # one chunk extension that never ends
        (CHUNKED_HEAD + b"5;", b"n=v;" * 1024),  # ever more extensions on one chunk
        (CHUNKED_HEAD + b"3\r\nabc\r\n0\r\nX-Trailer: ", b"v" * 4096),  # an endless trailer
        (CHUNKED_HEAD + b"3\r\nabc\r\n0\r\n", b"X-T: 1\r\n" * 512),  # endless trailer fields
    ],
    ids=["extension", "extensions", "trailer-value", "trailer-fields"],
)
def test_endless_chunk_overhead_is_refused_quickly_in_bounded_memory(raw_server, prefix, piece):
    server = Endless(prefix, piece)
    srv = raw_server(server)

    err, elapsed, peak = _refused(srv.url)
    assert "Chunk extensions or trailer section longer than 65536 bytes" in str(err)
    assert elapsed < QUICK
    assert peak < MEMORY_LIMIT, peak
    assert server.client_closed.wait(5)


def test_endless_chunk_extension_in_the_blocking_api(raw_server):
    server = Endless(CHUNKED_HEAD + b"5;", b"a" * 4096)
    srv = raw_server(server)

    with pytest.raises(syncwrap.MalformedResponseError, match="Chunk extensions"):
        syncwrap.get(srv.url, timeout=5)
    assert server.client_closed.wait(5)


def test_long_but_bounded_extension_and_trailers_are_accepted(raw_server):
    ext = b";k=" + b"v" * 60_000
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 900) for i in range(60))  # ~55 KiB
    body = b"5" + ext + b"\r\nhello\r\n0\r\n" + trailers + b"\r\n"
    srv = raw_server(canned(CHUNKED_HEAD + body))

    assert _get(srv.url) == (200, b"hello")


def test_many_tiny_chunks_with_extensions_in_one_read(raw_server):
    """600 KB of 1-byte chunks with extensions, sent in one write: the client's reads are
    mostly framing, yet every chunk is progress (no false positive)."""
    pieces = [bytes([65 + i % 26]) for i in range(40_000)]
    framed = b"".join(b"1;ext=val\r\n%s\r\n" % p for p in pieces) + b"0\r\n\r\n"
    srv = raw_server(canned(CHUNKED_HEAD + framed))

    assert _get(srv.url) == (200, b"".join(pieces))


def test_one_huge_chunk_is_body_not_overhead(raw_server):
    """A 4 MiB chunk spans many reads with no chunk event in between: body data is progress."""
    data = bytes(range(256)) * (4 * 4096)
    srv = raw_server(canned(CHUNKED_HEAD + chunked_body([data])))

    assert _get(srv.url) == (200, data)
