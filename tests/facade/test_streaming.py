"""Streamed responses (issue point 9): stream=True, iter_content, iter_lines, r.raw as a file,
bounded memory, and releasing the connection when a stream is closed early or dropped."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import os
import select
import shutil
import socket
import tarfile
import threading
import time
import tracemalloc

import pytest

import syncwrap
from tests.facade._util import WAIT
from tests.servers import (
    dribble,
    http_response,
    read_request,
    respond,
    serve_http,
    wait_client_close,
)


def _chunked(pieces: list[bytes], headers: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + headers + b"\r\n"
            + body + b"0\r\n\r\n")


def _keep_alive_raw(data: bytes):
    """Keep-alive handler answering every request with the raw response ``data``."""

    def handler(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(data)

    return handler


# -- stream=True returns after the headers ---------------------------------------------------------


@pytest.mark.parametrize("api", ["session", "module"])
def test_stream_returns_once_headers_arrive(raw_server, api):
    release = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        if release.wait(WAIT):
            conn.sendall(b"hello")
        wait_client_close(conn, WAIT)

    server = raw_server(handler)
    with syncwrap.Session() as s:
        get = s.get if api == "session" else syncwrap.get
        r = get(server.url, stream=True, timeout=WAIT)
        assert not release.is_set()  # returned although the body was not sent yet
        assert r.status_code == 200 and r.headers["Content-Length"] == "5"
        release.set()
        assert r.content == b"hello"


# -- iter_content ---------------------------------------------------------------------------------


def test_iter_content_exact_chunk_sizes_except_last(raw_server):
    body = os.urandom(10007)
    cuts = [0, 1, 8, 341, 4096, 4099, 9000, 10007]
    pieces = [body[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    server = raw_server(_keep_alive_raw(_chunked(pieces)))
    with syncwrap.Session() as s:
        for size in (1000, 1, 4096, 20000):
            with s.get(server.url, stream=True) as r:
                chunks = list(r.iter_content(size))
            assert b"".join(chunks) == body
            assert all(len(c) == size for c in chunks[:-1])
            assert 0 < len(chunks[-1]) <= size
            assert len(chunks[-1]) == (len(body) % size or size)
        with s.get(server.url, stream=True) as r:
            assert b"".join(r.iter_content(None)) == body
        # Non-streamed responses slice the same way.
        chunks = list(s.get(server.url).iter_content(1000))
        assert [len(c) for c in chunks] == [1000] * 10 + [7]
        with pytest.raises(ValueError):
            list(s.get(server.url).iter_content(0))


def test_iter_content_and_raw_are_decoded(raw_server):
    body = b"compress me " * 5000
    data = http_response(gzip.compress(body), headers={"Content-Encoding": "gzip"})
    server = raw_server(_keep_alive_raw(data))
    with syncwrap.Session() as s:
        with s.get(server.url, stream=True) as r:
            assert b"".join(r.iter_content(777)) == body
        with s.get(server.url, stream=True) as r:
            assert r.raw.read() == body


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 4096])
def test_iter_content_decode_unicode(raw_server, chunk_size):
    text = "héllo wörld ☃ 𝄞 " * 100
    data = http_response(text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    plain = http_response(text.encode())  # no charset: UTF-8
    with syncwrap.Session() as s:
        for payload in (data, plain):
            server = raw_server(_keep_alive_raw(payload))
            with s.get(server.url, stream=True) as r:
                parts = list(r.iter_content(chunk_size, decode_unicode=True))
            assert all(isinstance(p, str) for p in parts)
            assert "".join(parts) == text


# -- iter_lines -----------------------------------------------------------------------------------

LINES_BODY = b"a\r\nbb\nccc\r\n\r\n\nlast\r\n\r\nx"


def test_iter_lines_at_every_chunk_boundary(raw_server):
    server = raw_server(_keep_alive_raw(http_response(LINES_BODY)))
    expected = [b"a", b"bb", b"ccc", b"", b"", b"last", b"", b"x"]
    assert LINES_BODY.splitlines() == expected
    with syncwrap.Session() as s:
        for size in range(1, len(LINES_BODY) + 2):
            with s.get(server.url, stream=True) as r:
                assert list(r.iter_lines(chunk_size=size)) == expected, size
        with s.get(server.url, stream=True) as r:
            assert list(r.iter_lines()) == expected


def test_iter_lines_crlf_split_across_network_chunks(raw_server):
    """The server sends each piece as its own HTTP chunk, cutting \\r\\n in two."""
    pieces = [b"one\r", b"\ntwo\r", b"\n\r", b"\nthree\n", b"\r", b"\n", b"four"]
    server = raw_server(_keep_alive_raw(_chunked(pieces)))
    with syncwrap.Session() as s, s.get(server.url, stream=True) as r:
        assert list(r.iter_lines(chunk_size=None)) == [b"one", b"two", b"", b"three", b"",
                                                       b"four"]


def test_iter_lines_decode_unicode_and_delimiter(raw_server):
    text = "ünï\r\ncødé\n\nend"
    server = raw_server(_keep_alive_raw(http_response(
        text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})))
    with syncwrap.Session() as s:
        for size in (1, 3, 64):
            with s.get(server.url, stream=True) as r:
                assert list(r.iter_lines(size, decode_unicode=True)) == text.splitlines()
        for size in (1, 2, 5):
            with s.get(server.url, stream=True) as r:
                got = list(r.iter_lines(size, delimiter=b"\n"))
            assert got == text.encode().split(b"\n")


@pytest.mark.parametrize("read", ["content", "iter_content", "raw.read", "iter_lines"])
@pytest.mark.parametrize("timeout", [(5, 0.3), 0.5], ids=["read", "total"])
def test_streamed_body_stalling_mid_way_raises_read_timeout(raw_server, read, timeout):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial\n"
    server = raw_server(respond(head, hang=True))
    started = time.monotonic()
    r = syncwrap.get(server.url, stream=True, timeout=timeout)
    with pytest.raises(syncwrap.ReadTimeout):
        if read == "content":
            r.content  # noqa: B018
        elif read == "iter_content":
            list(r.iter_content(10))
        elif read == "raw.read":
            r.raw.read()
        else:
            list(r.iter_lines())
    assert time.monotonic() - started < 3
    r.close()


# -- r.raw as a file object ----------------------------------------------------------------------


def test_raw_read_n_returns_n_bytes_unless_eof(raw_server):
    body = b"0123456789" * 10
    server = raw_server(dribble(body, interval=0.005, piece=7))  # slow server
    with syncwrap.get(server.url, stream=True, timeout=WAIT) as r:
        parts = [r.raw.read(10) for _ in range(10)]
        assert parts == [b"0123456789"] * 10
        assert r.raw.read(10) == b""
    with syncwrap.get(server.url, stream=True, timeout=WAIT) as r:
        first = r.raw.read1(1000)  # read1: whatever is there, without waiting for more
        assert 0 < len(first) <= len(body) and body.startswith(first)
        assert first + r.raw.read() == body


def test_raw_readinto_readline_and_iteration(raw_server):
    body = b"first\nsecond\r\nthird line\n\nlast"
    server = raw_server(_keep_alive_raw(http_response(body)))
    with syncwrap.Session() as s:
        with s.get(server.url, stream=True) as r:
            raw = r.raw
            assert raw.readable() and not raw.writable() and not raw.closed
            buf = bytearray(3)
            assert raw.readinto(buf) == 3 and bytes(buf) == b"fir"
            assert raw.readline() == b"st\n"
            assert raw.readline(3) == b"sec"
            assert raw.readline() == b"ond\r\n"
            assert raw.read(5) == b"third"
            assert list(raw) == [b" line\n", b"\n", b"last"]
            assert raw.readline() == b"" and raw.read() == b""
        with s.get(server.url, stream=True) as r:
            assert r.raw.readlines() == body.splitlines(keepends=True)
        with s.get(server.url, stream=True) as r:
            reader = io.BufferedReader(r.raw, 4)
            assert reader.read() == body
        whole = s.get(server.url)  # not streamed: .raw serves the buffered body
        assert whole.raw.readline() == b"first\n" and whole.raw.read() == body[6:]


def test_raw_with_shutil_copyfileobj(raw_server):
    body = os.urandom(3 * 1024 * 1024 + 17)
    server = raw_server(_keep_alive_raw(http_response(body)))
    out = io.BytesIO()
    with syncwrap.get(server.url, stream=True) as r:
        shutil.copyfileobj(r.raw, out, 65536)
    assert out.getvalue() == body


def test_raw_with_tarfile_stream_mode(raw_server):
    members = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(200_000), "empty": b""}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    pieces = [archive.getvalue()[i:i + 9999] for i in range(0, len(archive.getvalue()), 9999)]
    server = raw_server(_keep_alive_raw(_chunked(pieces)))
    seen = {}
    with syncwrap.get(server.url, stream=True) as r:
        with tarfile.open(fileobj=r.raw, mode="r|") as tar:
            for member in tar:
                f = tar.extractfile(member)
                seen[member.name] = f.read() if f is not None else None
    assert seen == members


def test_raw_with_csv_through_textiowrapper(raw_server):
    rows = [["name", "city"], ["Zoë", "Zürich"], ["Ana, María", "São Paulo"], ["x", 'q"uote']]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    payload = text.getvalue().encode()
    pieces = [payload[i:i + 5] for i in range(0, len(payload), 5)]  # splits UTF-8 sequences
    server = raw_server(_keep_alive_raw(_chunked(pieces)))
    with syncwrap.get(server.url, stream=True) as r:
        wrapper = io.TextIOWrapper(r.raw, encoding="utf-8", newline="")
        assert list(csv.reader(wrapper)) == rows


# -- bounded memory -------------------------------------------------------------------------------

BIG = 256 * 1024 * 1024
BLOCK = 1024 * 1024
PATTERN = bytes(range(256)) * (BLOCK // 256 + 1)


class _Generator:
    """Handler sending a BIG body generated on the fly; records where the client stalled it."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.sent_at_stall = -1
        self.sent = 0

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
        conn.setblocking(False)
        block = memoryview(PATTERN)[:BLOCK]
        while self.sent < BIG:
            _, writable, _ = select.select([], [conn], [], 0.5)
            if not writable:  # the client stopped taking data: its buffers are full
                if not self.stalled.is_set():
                    self.sent_at_stall = self.sent
                    self.stalled.set()
                _, writable, _ = select.select([], [conn], [], 20)
                if not writable:
                    return
            start = self.sent % BLOCK
            try:
                self.sent += conn.send(block[start:])
            except BlockingIOError:
                continue


def test_streaming_256_mib_keeps_memory_bounded(raw_server):
    gen = _Generator()
    server = raw_server(gen, conn_timeout=60)
    tracemalloc.start()
    try:
        with syncwrap.Session() as s:
            r = s.get(server.url, stream=True, timeout=60)
            # Slow at first: read nothing until the server can no longer send.
            assert gen.stalled.wait(20), "the server never stalled: nothing paused the socket"
            assert gen.sent_at_stall < 64 * 1024 * 1024, gen.sent_at_stall
            received = 0
            for chunk in r.iter_content(BLOCK):
                offset = received % 256
                if chunk != PATTERN[offset:offset + len(chunk)]:
                    raise AssertionError(f"corrupt data at offset {received}")
                received += len(chunk)
            assert received == BIG
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"stalled after {gen.sent_at_stall / 2**20:.1f} MiB; peak {peak / 2**20:.1f} MiB")
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# -- closing early releases the connection ------------------------------------------------------


class _FirstHangs:
    """First connection: a large body, partly sent, then wait for the client to close it.

    Later connections: keep-alive "fresh".  ``closed`` is set when the first one closes.
    """

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        with self._lock:
            self.count += 1
            first = self.count == 1
        if not first:
            serve_http(conn, lambda req: (b"fresh", {}))
            return
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 65536)
        if wait_client_close(conn, 20):
            self.closed.set()


@pytest.mark.parametrize("how", ["close", "with", "raw.close", "break", "del"])
def test_closing_or_dropping_a_stream_releases_its_connection(raw_server, how):
    handler = _FirstHangs()
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=WAIT)
        if how == "close":
            assert r.raw.read(100) == b"x" * 100
            r.close()
        elif how == "with":
            with r:
                assert next(r.iter_content(10)) == b"x" * 10
        elif how == "raw.close":
            r.raw.read(10)
            r.raw.close()
        elif how == "break":
            for chunk in r.iter_content(1000):
                assert chunk
                break
            gc.collect()  # the abandoned generator's finally closes the response
        else:
            r.raw.read(10)
            del r
            gc.collect()
        assert handler.closed.wait(WAIT), "the server never saw the connection close"
        again = s.get(server.url, timeout=WAIT)
        assert again.content == b"fresh"
        assert server.connections == 2  # the closed stream's connection was not reused
        assert s.connector.stats()["acquired"] == 0


def test_fully_read_stream_returns_its_connection_to_the_pool(counting_server):
    with syncwrap.Session() as s:
        with s.get(counting_server.url, stream=True) as r:
            first = r.headers["X-Connection-Id"]
            assert list(r.iter_content(3))
        assert s.get(counting_server.url).headers["X-Connection-Id"] == first
    assert counting_server.total_connections == 1


def test_unread_stream_on_module_verb_is_not_reused(raw_server):
    handler = _FirstHangs()
    server = raw_server(handler)
    r = syncwrap.get(server.url, stream=True, timeout=WAIT)
    r.close()
    assert handler.closed.wait(WAIT)
    assert syncwrap.get(server.url, timeout=WAIT).content == b"fresh"
    assert server.connections == 2

