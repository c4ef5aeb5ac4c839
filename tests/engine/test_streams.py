"""ClientResponse metadata and body helpers; ``content`` as a StreamReader with bounded
memory (point 8)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket

import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from syncwrap.engine import (
    ClientPayloadError,
    ClientResponse,
    ClientResponseError,
    ClientSession,
    ClientTimeout,
    ContentTypeError,
    HTTPError,
    RequestInfo,
    StreamReader,
)
from syncwrap.engine.http1 import connection as protocol_module
from tests.engine._util import SHORT, canned, run
from tests.servers import chunked_body, http_response, read_request

HEADERS_RESPONSE = (
    b"HTTP/1.1 201 Created Just Now\r\n"
    b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
    b"X-Dup: one\r\n"
    b"x-dup: two\r\n"
    b"Link: <https://example.com/page/2>; rel=\"next\", </page/9>; rel=last; title=\"End\"\r\n"
    b"Content-Length: 6\r\n\r\n"
    b"caf\xe9 !"
)


def test_response_metadata(raw_server):
    server = raw_server(canned(HEADERS_RESPONSE))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url + "/path?q=1#frag", headers={"X-Req": "r"}) as resp:
                text = await resp.text()
                return resp, text

    resp, text = run(main())
    assert isinstance(resp, ClientResponse)
    assert resp.status == 201 and resp.reason == "Created Just Now"
    assert resp.ok is True
    assert resp.version == (1, 1)
    assert resp.method == "GET"
    assert resp.url == URL(server.url + "/path?q=1")
    assert resp.real_url == URL(server.url + "/path?q=1#frag")  # the fragment is kept here
    assert resp.request_info.real_url == resp.real_url
    assert isinstance(resp.headers, CIMultiDictProxy)
    assert resp.headers.getall("X-DUP") == ["one", "two"]
    assert (b"X-Dup", b"one") in resp.raw_headers and (b"x-dup", b"two") in resp.raw_headers
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in resp.raw_headers)
    assert resp.content_type == "text/plain"
    assert resp.charset == "ISO-8859-1"
    assert resp.history == ()
    assert isinstance(resp.request_info, RequestInfo)
    assert resp.request_info.method == "GET"
    assert resp.request_info.url == resp.url
    assert resp.request_info.headers["X-Req"] == "r"
    assert text == "café !"
    links = resp.links
    assert links["next"]["url"] == URL("https://example.com/page/2")
    assert links["last"]["url"] == URL(server.url + "/page/9")
    assert links["last"]["title"] == "End"


def test_ok_false_and_raise_for_status(raw_server):
    server = raw_server(canned(http_response(b"missing", status=404, reason="Not Found")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.get(server.url)
            assert not resp.ok
            with pytest.raises(HTTPError) as info:
                resp.raise_for_status()
            return info.value, resp

    err, resp = run(main())
    assert isinstance(err, ClientResponseError)
    assert err.status == 404 and err.message == "Not Found"
    assert err.response is resp and err.request_info == resp.request_info


def test_read_text_json_variants(raw_server):
    js = json.dumps({"a": "é"}).encode()
    responses = [
        http_response(js, headers={"Content-Type": "application/json"}),
        http_response(js, headers={"Content-Type": "text/html"}),
        http_response("héllo".encode("utf-16"), headers={"Content-Type": "text/plain"}),
        http_response(b"\xff\xfeab", headers={"Content-Type": "text/plain; charset=utf-8"}),
        http_response(b"abc", headers={"Content-Type": "application/vnd.api+json"}),
    ]
    server = raw_server(canned(*responses))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:
                read1 = await r.read()
                read2 = await r.read()  # cached
                data = await r.json()
                custom = await r.json(loads=lambda text: ("custom", text))
            async with s.get(server.url) as r:
                with pytest.raises(ContentTypeError):
                    await r.json()
                relaxed = await r.json(content_type=None)
                explicit = await r.json(content_type="text/html")
            async with s.get(server.url) as r:
                utf16 = await r.text(encoding="utf-16")
            async with s.get(server.url) as r:
                with pytest.raises(UnicodeDecodeError):
                    await r.text()
                replaced = await r.text(errors="replace")
            async with s.get(server.url) as r:
                plus_json = await r.json(loads=lambda t: t)
            return read1, read2, data, custom, relaxed, explicit, utf16, replaced, plus_json

    read1, read2, data, custom, relaxed, explicit, utf16, replaced, plus_json = run(main())
    assert read1 == read2 == js
    assert data == {"a": "é"} == relaxed == explicit
    assert custom == ("custom", js.decode())
    assert utf16 == "héllo"
    assert replaced == "\ufffd\ufffdab"
    assert plus_json == "abc"


def test_release_returns_connection_and_is_idempotent(raw_server):
    server = raw_server(canned(http_response(b"one"), http_response(b"two")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            r1 = await s.get(server.url)
            await r1.read()
            r1.release()
            r1.release()
            assert s.connector.stats() == {"acquired": 0, "idle": 1, "waiting": 0}
            r2 = await s.get(server.url)
            return await r2.read(), r1.closed

    assert run(main()) == (b"two", True)
    assert server.connections == 1


BODY = bytes(range(256)) * 64  # 16 KiB
LINES = b"line one\nline two\r\n\nlast without newline"


def _chunked(pieces):
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body(pieces)


def test_stream_reader_methods(raw_server):
    server = raw_server(canned(
        http_response(BODY), http_response(LINES), http_response(BODY), http_response(BODY),
        _chunked([b"abc", b"defg", b"h"]), http_response(b"12345")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:
                c = r.content
                assert isinstance(c, StreamReader)
                parts = [await c.read(10), await c.readexactly(100)]
                any_part = await c.readany()
                assert 0 < len(any_part) <= len(BODY) - 110
                parts.append(any_part)
                parts.append(await c.read())
                assert c.at_eof()
                assert await c.read() == b"" and await c.readany() == b""
                assert b"".join(parts) == BODY and len(parts[0]) == 10
            async with s.get(server.url) as r:
                lines = [await r.content.readline() for _ in range(5)]
                assert r.content.at_eof()
            async with s.get(server.url) as r:
                chunks = [chunk async for chunk in r.content.iter_chunked(1000)]
            async with s.get(server.url) as r:
                anys = [chunk async for chunk in r.content.iter_any()]
            async with s.get(server.url) as r:
                http_chunks = [pair async for pair in r.content.iter_chunks()]
            async with s.get(server.url) as r:
                with pytest.raises(asyncio.IncompleteReadError) as info:
                    await r.content.readexactly(6)
                partial = info.value.partial
            return lines, chunks, anys, http_chunks, partial

    lines, chunks, anys, http_chunks, partial = run(main())
    assert lines == [b"line one\n", b"line two\r\n", b"\n", b"last without newline", b""]
    assert [len(c) for c in chunks] == [1000] * 16 + [384] and b"".join(chunks) == BODY
    assert b"".join(anys) == BODY
    assert http_chunks == [(b"abc", True), (b"defg", True), (b"h", True)]
    assert partial == b"12345"


def test_async_iteration_yields_lines(raw_server):
    server = raw_server(canned(http_response(LINES)))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:
                return [line async for line in r.content]

    assert run(main()) == [b"line one\n", b"line two\r\n", b"\n", b"last without newline"]


def test_truncated_body_raises_from_stream(raw_server):
    server = raw_server(canned(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
                               linger=0))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:
                first = await r.content.readexactly(4)
                with pytest.raises(ClientPayloadError):
                    async for _ in r.content.iter_any():
                        pass
                return first

    assert run(main()) == b"only"


# ------------------------------------------------------------------------- backpressure
TOTAL = 64 * 1024 * 1024
PIECE = 1024 * 1024


def _pattern(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).digest() * (PIECE // 32)


def _big_server(raw_server, chunked: bool):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        if chunked:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TOTAL)
        for i in range(TOTAL // PIECE):
            data = _pattern(i)
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            conn.sendall(b"0\r\n\r\n")

    return raw_server(handler, conn_timeout=20)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_buffer_is_bounded_for_a_slow_reader(raw_server, chunked):
    server = _big_server(raw_server, chunked)
    high_water = 128 * 1024
    one_socket_read = protocol_module.READ_SIZE  # the most one read hands over

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=30), read_bufsize=high_water) as s:
            async with s.get(server.url) as resp:
                protocol = resp.connection.protocol
                digest = hashlib.sha256()
                max_buffered = 0
                paused_seen = 0
                received = 0
                while True:
                    for _ in range(4):  # a slow consumer: let the loop run before each read
                        await asyncio.sleep(0)
                    max_buffered = max(max_buffered, resp.content.buffered)
                    paused_seen += protocol._reading_paused
                    data = await resp.content.read(32 * 1024)
                    if not data:
                        break
                    received += len(data)
                    digest.update(data)
                return received, digest.hexdigest(), max_buffered, paused_seen

    received, hexdigest, max_buffered, paused_seen = run(main(), timeout=40)
    expected = hashlib.sha256(b"".join(_pattern(i) for i in range(TOTAL // PIECE))).hexdigest()
    assert received == TOTAL and hexdigest == expected
    assert max_buffered <= high_water + one_socket_read, max_buffered
    assert max_buffered > high_water // 2  # the reader really was slower than the socket
    assert paused_seen > 0  # the transport was paused at least once


def test_stream_reader_standalone_flow_control():
    """The reader asks its flow-control owner to pause above high water, resume below low."""

    class Flow:
        def __init__(self):
            self.events = []

        def pause_reading(self):
            self.events.append("pause")

        def resume_reading(self):
            self.events.append("resume")

    async def main():
        flow = Flow()
        reader = StreamReader(flow, high_water=100)
        reader.feed_data(b"x" * 60)
        assert flow.events == []
        reader.feed_data(b"x" * 60)
        assert flow.events == ["pause"] and reader.buffered == 120
        await reader.read(50)
        assert flow.events == ["pause"]  # 70 left: still above low water (25)
        await reader.read(60)
        assert flow.events == ["pause", "resume"]
        reader.feed_eof()
        assert await reader.read() == b"x" * 10 and reader.at_eof()

    run(main())


def test_partial_reads_across_chunks_return_the_exact_stream():
    """Reads smaller than the buffered chunks keep an offset into the first chunk; every
    reading method must still see the exact byte stream, in order."""
    stream = bytes(range(256)) * 40  # 10240 bytes, fed as uneven chunks
    cuts = [0, 7, 4000, 4001, 9000, 10240]
    pieces = [stream[i:j] for i, j in zip(cuts, cuts[1:], strict=False)]

    async def main():
        reader = StreamReader()
        for piece in pieces:
            reader.feed_data(piece)
        reader.feed_eof()
        got = [await reader.read(3), await reader.read(5),  # inside, then across, chunk 1
               await reader.readexactly(3000), reader.read_nowait(1500),
               await reader.readany(), await reader.readuntil(bytes([0])),
               await reader.read(2), await reader.readline()]
        got += [chunk async for chunk in reader.iter_chunked(777)]
        return got

    got = run(main())
    assert b"".join(got) == stream
    assert [len(part) for part in got[:4]] == [3, 5, 3000, 1500]


def test_a_cancelled_wait_leaves_the_stream_readable():
    # A reader awaits the StreamReader's future itself (no coroutine per wait): cancelling
    # it leaves a cancelled waiter behind, which the next feed and the next wait replace.
    async def main():
        reader = StreamReader(high_water=8)
        waiting = asyncio.ensure_future(reader.read(5))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        reader.feed_data(b"abc")
        assert await reader.read(5) == b"abc"
        chunks = asyncio.ensure_future(anext(reader.iter_any()))
        await asyncio.sleep(0)
        chunks.cancel()
        with pytest.raises(asyncio.CancelledError):
            await chunks
        reader.feed_data(b"0123456789")  # above the high water: reading pauses
        reader.feed_eof()
        assert [chunk async for chunk in reader.iter_any()] == [b"0123456789"]

    run(main())


def test_a_timer_wraps_every_wait_and_only_waits():
    events = []

    class Timer:
        def __enter__(self):
            events.append("enter")

        def __exit__(self, *exc_info):
            events.append("exit")
            return False

    async def main():
        reader = StreamReader(timer=Timer())
        reader.feed_data(b"ab")
        assert await reader.read(2) == b"ab"  # there already: no wait, no timer
        assert events == []
        asyncio.get_running_loop().call_soon(reader.feed_data, b"cd")
        assert await reader.read(2) == b"cd"
        assert events == ["enter", "exit"]
        asyncio.get_running_loop().call_soon(reader.feed_eof)
        assert [chunk async for chunk in reader.iter_any()] == []
        assert events == ["enter", "exit"] * 2

    run(main())
