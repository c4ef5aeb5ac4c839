"""HTTP/1.1 response parsing over real sockets: framing, 1xx/204/304/HEAD, and malformed
responses that must raise a specific ClientError quickly instead of hanging (point 6)."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from syncwrap.engine import (
    ClientConnectionError,
    ClientError,
    ClientPayloadError,
    ClientSession,
    ClientTimeout,
    MalformedResponseError,
    ReadTimeout,
    ServerDisconnectedError,
)
from tests.engine._util import SHORT, canned, run
from tests.servers import (
    BAD_STATUS_LINE,
    HEADER_WITHOUT_COLON,
    HUGE_HEADER,
    SHORT_BODY,
    TRUNCATED_CHUNKED,
    ParsedRequest,
    chunked_body,
    http_response,
    keep_alive,
    never_respond,
    read_request,
    reset_connection,
    respond,
)

OK2 = http_response(b"ok")


async def _read(session: ClientSession, url: str, method: str = "GET", **kw):
    async with session.request(method, url, **kw) as resp:
        body = await resp.read()
        return resp, body


def read_twice(url: str, first_method: str = "GET"):
    """Two requests on one session (a GET second): the first response, both bodies."""

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            first, first_body = await _read(s, url, first_method)
            _, second_body = await _read(s, url)
            return first, first_body, second_body

    return run(main())


# ------------------------------------------------------------------------- well-formed framing
def test_content_length_body_then_reuse(raw_server):
    server = raw_server(canned(http_response(b"hello world"), OK2))

    r1, b1, b2 = read_twice(server.url)
    assert (r1.status, b1, b2) == (200, b"hello world", b"ok")
    assert r1.headers["Content-Length"] == "11"
    assert server.connections == 1


def test_chunked_with_trailers_then_reuse(raw_server):
    response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                + chunked_body([b"hello", b" ", b"chunked world"],
                               trailers=b"X-Checksum: abc\r\nX-Other: 1\r\n"))
    server = raw_server(canned(response, OK2))

    r1, b1, b2 = read_twice(server.url)
    assert b1 == b"hello chunked world"
    assert "X-Checksum" not in r1.headers  # trailers are not headers
    assert b2 == b"ok"
    assert server.connections == 1  # the trailers were consumed, the connection stayed usable


def test_chunked_with_extensions(raw_server):
    response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;name=value\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n")
    server = raw_server(canned(response))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return (await _read(s, server.url))[1]

    assert run(main()) == b"abcde"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until close",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nread until close",
        b"HTTP/1.1 200 OK\r\n\r\nread until close",
    ],
    ids=["http10", "http11-close", "http11-no-length"],
)
def test_read_until_close(raw_server, response):
    server = raw_server(respond(response))

    # the second request must not try to reuse the closed connection
    resp, body, body2 = read_twice(server.url)
    assert body == body2 == b"read until close"
    assert resp.version in ((1, 0), (1, 1))
    assert server.connections == 2


def test_head_with_content_length_and_no_body_then_next_request(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(keep_alive(b"x" * 1000, requests=seen))

    head, head_body, get_body = read_twice(server.url, "HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == "1000"
    assert head_body == b""
    assert get_body == b"x" * 1000
    assert [r.method for r in seen] == ["HEAD", "GET"]
    assert server.connections == 1


@pytest.mark.parametrize(
    "informational",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n",
    ],
    ids=["100", "103", "100-102-103"],
)
def test_informational_responses_are_skipped(raw_server, informational):
    final = http_response(b"final", headers={"X-Final": "1"})
    server = raw_server(canned(informational + final, OK2))

    resp, body, body2 = read_twice(server.url)
    assert resp.status == 200 and body == b"final"
    assert resp.headers["X-Final"] == "1" and "Link" not in resp.headers
    assert body2 == b"ok" and server.connections == 1


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",  # length of the cached body
    ],
    ids=["204", "204-cl0", "304", "304-with-length"],
)
def test_no_body_statuses(raw_server, response):
    server = raw_server(canned(response, OK2))

    resp, body, body2 = read_twice(server.url)
    assert resp.status in (204, 304) and body == b""
    assert body2 == b"ok"
    assert server.connections == 1


def test_content_length_zero(raw_server):
    server = raw_server(canned(http_response(b""), OK2))

    assert read_twice(server.url)[1:] == (b"", b"ok")
    assert server.connections == 1


# ------------------------------------------------------------------------- malformed responses
def _expect(raw_server, handler, exc_type, *, timeout=SHORT, read_body=True, limit=3.0, **kw):
    server = raw_server(handler)

    async def main():
        async with ClientSession(timeout=timeout) as s:
            start = time.monotonic()
            with pytest.raises(ClientError) as info:
                resp = await s.get(server.url, **kw)
                if read_body:
                    await resp.read()
            return info.value, time.monotonic() - start

    err, elapsed = run(main())
    assert isinstance(err, exc_type), repr(err)
    assert elapsed < limit
    return err


@pytest.mark.parametrize(
    ("response", "exc_type"),
    [
        (BAD_STATUS_LINE, MalformedResponseError),
        (b"HTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", MalformedResponseError),
        (b"garbage\r\n\r\n", MalformedResponseError),
        (HEADER_WITHOUT_COLON, MalformedResponseError),
        (HUGE_HEADER, MalformedResponseError),
        (b"HTTP/1.1 200 " + b"R" * 10_000 + b"\r\nContent-Length: 2\r\n\r\nok",
         MalformedResponseError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
         MalformedResponseError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", MalformedResponseError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
         (MalformedResponseError, ClientPayloadError)),
        (TRUNCATED_CHUNKED, ClientPayloadError),
        (SHORT_BODY, ClientPayloadError),
        (b"HTTP/1.1 200 OK\r\nContent-Le", MalformedResponseError),  # head cut by close
        (b"", ServerDisconnectedError),  # closed without a byte
    ],
    ids=["bad-status", "bad-version", "garbage", "no-colon", "100KiB-header", "long-status",
         "conflicting-length", "negative-length", "bad-chunk-size", "truncated-chunked",
         "short-body", "truncated-head", "empty"],
)
def test_malformed_response_raises(raw_server, response, exc_type):
    _expect(raw_server, respond(response), exc_type)


def test_many_headers_rejected(raw_server):
    head = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    response = b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 2\r\n\r\nok"
    err = _expect(raw_server, respond(response), MalformedResponseError)
    assert "header" in str(err).lower()


def test_header_count_under_limit_is_fine(raw_server):
    head = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    server = raw_server(respond(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 2\r\n\r\nok"))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await _read(s, server.url)
            return len(resp.headers), body

    assert run(main()) == (101, b"ok")


def test_max_field_size_is_configurable(raw_server):
    value = b"v" * 9000
    response = b"HTTP/1.1 200 OK\r\nX-Big: " + value + b"\r\nContent-Length: 2\r\n\r\nok"
    _expect(raw_server, respond(response), MalformedResponseError)  # default 8190
    server = raw_server(respond(response))

    async def main():
        async with ClientSession(timeout=SHORT, max_field_size=16384) as s:
            resp, body = await _read(s, server.url)
            return resp.headers["X-Big"], body

    assert run(main()) == (value.decode(), b"ok")


def test_header_without_colon_mid_stream_after_valid_headers(raw_server):
    response = b"HTTP/1.1 200 OK\r\nX-A: 1\r\n: empty-name\r\nContent-Length: 2\r\n\r\nok"
    _expect(raw_server, respond(response), MalformedResponseError)


def test_server_never_answers(raw_server):
    err = _expect(raw_server, never_respond, ReadTimeout,
                  timeout=ClientTimeout(total=0.5), limit=2.5)
    assert isinstance(err, TimeoutError)


def test_server_never_answers_sock_read(raw_server):
    _expect(raw_server, never_respond, ReadTimeout,
            timeout=ClientTimeout(total=5, sock_read=0.3), limit=2.5)


def test_headers_then_stall_body(raw_server):
    handler = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", hang=True)
    _expect(raw_server, handler, ReadTimeout,
            timeout=ClientTimeout(total=5, sock_read=0.3), limit=2.5)


def test_connection_reset(raw_server):
    _expect(raw_server, reset_connection, ClientConnectionError)


def test_reset_during_body(raw_server):
    def handler(conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    _expect(raw_server, handler, (ClientPayloadError, ClientConnectionError))


def test_closed_before_answer_on_a_fresh_connection(raw_server):
    def handler(conn):
        read_request(conn)  # then close without answering

    err = _expect(raw_server, handler, ServerDisconnectedError)
    assert isinstance(err, ClientConnectionError)


def test_stale_pooled_connection_is_retried_for_idempotent_request(raw_server):
    """The server closes a kept-alive connection after one answer; the next GET goes through."""
    server = raw_server(respond(OK2))  # keep-alive response, then the server closes
    assert read_twice(server.url)[1:] == (b"ok", b"ok")
    assert server.connections == 2


def test_bytes_after_the_body_prevent_reuse(raw_server):
    """Extra bytes past Content-Length: the response is fine, the connection is not reused."""
    server = raw_server(canned(http_response(b"ok") + b"HTTP/1.1 200 OK\r\nGARBAGE", OK2))
    assert read_twice(server.url)[1:] == (b"ok", b"ok")
    assert server.connections == 2


def test_chunked_wins_over_content_length(raw_server):
    response = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked_body([b"chunked", b"!"]))
    server = raw_server(canned(response))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return (await _read(s, server.url))[1]

    try:
        body = run(main())
    except MalformedResponseError:
        return  # refusing the ambiguous framing outright is fine too (RFC 9112 6.3)
    assert body == b"chunked!"


def test_bytes_after_a_chunked_body_arriving_late_prevent_reuse(raw_server):
    """The end of a chunked body and stray bytes arrive after the response object exists."""
    got_head = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
        if got_head.wait(5):  # the client holds its ClientResponse: send the rest
            conn.sendall(b"0\r\n\r\nHTTP/1.1 200 OK\r\nGARBAGE")
        while read_request(conn):  # answer anything else on this connection
            conn.sendall(http_response(b"reused"))

    server = raw_server(handler)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.get(server.url)
            got_head.set()
            b1 = await resp.read()
            resp.release()
            _, b2 = await _read(s, server.url)
            return b1, b2

    assert run(main()) == (b"ok", b"ok")
    assert server.connections == 2
