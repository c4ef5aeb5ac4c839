"""Self-tests for the shared server fixtures, using only stdlib clients."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import queue
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.servers import (
    BAD_STATUS_LINE,
    HEADER_WITHOUT_COLON,
    HUGE_HEADER,
    SHORT_BODY,
    TRUNCATED_CHUNKED,
    RawServer,
    dribble,
    keep_alive,
    never_respond,
    parse_request,
    read_request,
    reset_connection,
    respond,
    wait_client_close,
)


def _get(url: str, **kwargs) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10, **kwargs) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def _exchange(address, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes and read until the server closes."""
    with socket.create_connection(tuple(address), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


# --------------------------------------------------------------------------- httpbin


@pytest.mark.parametrize(
    "path",
    [
        "/get",
        "/redirect/3",
        "/stream/5",
        "/bytes/100",
        "/drip?duration=0.1&numbytes=4",
        "/cookies/set?a=b",
        "/status/204",
    ],
)
def test_httpbin_plain_endpoints(httpbin_url: str, path: str) -> None:
    assert not httpbin_url.endswith("/")
    status, _, _ = _get(httpbin_url + path)
    assert status in (200, 204)


@pytest.mark.parametrize(
    ("name", "encoding"), [("gzip", "gzip"), ("deflate", "deflate"), ("brotli", "br")]
)
def test_httpbin_compressed(httpbin_url: str, name: str, encoding: str) -> None:
    status, headers, body = _get(httpbin_url + "/" + name)
    assert status == 200
    assert headers["Content-Encoding"] == encoding
    if name == "gzip":
        body = gzip.decompress(body)
    elif name == "deflate":
        body = zlib.decompress(body)
    else:
        body = pytest.importorskip("brotli").decompress(body)
    assert json.loads(body)[{"gzip": "gzipped", "deflate": "deflated"}.get(name, name)] is True


def test_httpbin_closes_every_connection(httpbin_url: str) -> None:
    # werkzeug 3 always sends "Connection: close": httpbin cannot test connection reuse.
    status, headers, _ = _get(httpbin_url + "/get")
    assert status == 200 and headers["Connection"] == "close"


def test_httpbin_basic_auth(httpbin_url: str) -> None:
    assert _get(httpbin_url + "/basic-auth/u/p")[0] == 401
    token = base64.b64encode(b"u:p").decode()
    req = urllib.request.Request(
        httpbin_url + "/basic-auth/u/p", headers={"Authorization": f"Basic {token}"}
    )
    assert _get(req)[0] == 200  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512"])
def test_httpbin_digest_auth(httpbin_url: str, algorithm: str) -> None:
    path = f"/digest-auth/auth/u/p/{algorithm}"
    status, headers, _ = _get(httpbin_url + path)
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert f"algorithm={algorithm}" in challenge
    params = dict(part.strip().split("=", 1) for part in challenge[len("Digest ") :].split(","))
    params = {k: v.strip('"') for k, v in params.items()}
    hname = {"MD5": "md5", "SHA-256": "sha256", "SHA-512": "sha512"}[algorithm]

    def h(text: str) -> str:
        return hashlib.new(hname, text.encode()).hexdigest()

    cnonce, nc = os.urandom(8).hex(), "00000001"
    ha1, ha2 = h(f"u:{params['realm']}:p"), h(f"GET:{path}")
    answer = h(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    auth = (
        f'Digest username="u", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{path}", algorithm={algorithm}, qop=auth, nc={nc}, cnonce="{cnonce}", '
        f'response="{answer}", opaque="{params["opaque"]}"'
    )
    req = urllib.request.Request(httpbin_url + path, headers={"Authorization": auth})
    status, _, body = _get(req)  # type: ignore[arg-type]
    assert status == 200
    assert json.loads(body) == {"authenticated": True, "user": "u"}


# --------------------------------------------------------------------------- TLS


def test_httpbin_tls(httpbin_tls_url: str, client_ssl_context: ssl.SSLContext) -> None:
    assert httpbin_tls_url.startswith("https://127.0.0.1:")
    status, _, body = _get(httpbin_tls_url + "/get", context=client_ssl_context)
    assert status == 200
    assert json.loads(body)["url"].startswith("https://")
    port = urlsplit(httpbin_tls_url).port
    status, _, _ = _get(f"https://localhost:{port}/get", context=client_ssl_context)
    assert status == 200


def test_ca_pem_path(httpbin_tls_url: str, ca_pem_path: str) -> None:
    ctx = ssl.create_default_context(cafile=ca_pem_path)
    assert _get(httpbin_tls_url + "/get", context=ctx)[0] == 200


def test_tls_untrusted_rejected(httpbin_tls_url: str) -> None:
    ctx = ssl.create_default_context()  # system CAs only: must not trust the test CA
    with pytest.raises(urllib.error.URLError) as info:
        _get(httpbin_tls_url + "/get", context=ctx)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)


def test_tls_silent_client_does_not_block_server(
    httpbin_tls_url: str, client_ssl_context: ssl.SSLContext
) -> None:
    netloc = urlsplit(httpbin_tls_url)
    with socket.create_connection((netloc.hostname, netloc.port)):  # never handshakes
        assert _get(httpbin_tls_url + "/get", context=client_ssl_context)[0] == 200


# --------------------------------------------------------------------------- raw_server


def test_raw_server_handler_sees_request(raw_server) -> None:
    seen: queue.Queue[bytes] = queue.Queue()

    def handler(conn: socket.socket) -> None:
        seen.put(read_request(conn))
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    server = raw_server(handler)
    host, port = server
    assert server.url == f"http://{host}:{port}" and host == "127.0.0.1"
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("POST", "/upload?x=1", body=b"payload", headers={"X-Test": "yes"})
    assert conn.getresponse().status == 201
    conn.close()
    req = parse_request(seen.get(timeout=5))
    assert (req.method, req.target, req.version) == ("POST", "/upload?x=1", "HTTP/1.1")
    assert req.headers["x-test"] == "yes" and req.body == b"payload"
    assert server.connections == 1
    assert server.join(5) and server.errors == []


def test_read_request_chunked_and_expect_continue(raw_server) -> None:
    seen: queue.Queue[bytes] = queue.Queue()

    def handler(conn: socket.socket) -> None:
        seen.put(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = raw_server(handler)
    with socket.create_connection(tuple(server), timeout=5) as sock:
        sock.sendall(
            b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")
    req = parse_request(seen.get(timeout=5))
    assert req.body == b"abcde" and req.headers["transfer-encoding"] == "chunked"


@pytest.mark.parametrize(
    "canned", [BAD_STATUS_LINE, HEADER_WITHOUT_COLON, HUGE_HEADER, TRUNCATED_CHUNKED, SHORT_BODY]
)
def test_canned_responses_sent_verbatim_then_closed(raw_server, canned: bytes) -> None:
    server = raw_server(respond(canned))
    assert _exchange(server, GET) == canned


def test_bad_status_line_breaks_stdlib_client(raw_server) -> None:
    host, port = raw_server(respond(BAD_STATUS_LINE))
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/")
    with pytest.raises(http.client.HTTPException):
        conn.getresponse()
    conn.close()


def test_reset_connection(raw_server) -> None:
    server = raw_server(reset_connection)
    with pytest.raises(ConnectionResetError):
        _exchange(server, GET)


def test_never_respond_until_client_closes(raw_server) -> None:
    server = raw_server(never_respond)
    with socket.create_connection(tuple(server), timeout=0.2) as sock:
        sock.sendall(GET)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    assert server.join(5)  # the handler noticed the client close and returned


def test_teardown_wakes_hanging_handlers() -> None:
    server = RawServer(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", hang=True))
    with socket.create_connection(tuple(server), timeout=5) as sock:
        sock.sendall(GET)
        assert sock.recv(100).endswith(b"\r\n\r\n")
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 3
        assert not any(t.is_alive() for t in server._threads)
        assert sock.recv(100) == b""  # server side closed: EOF mid-body


def test_wait_client_close(raw_server) -> None:
    results: queue.Queue[bool] = queue.Queue()
    idle_checked = threading.Event()

    def handler(conn: socket.socket) -> None:
        results.put(wait_client_close(conn, 0.1))
        idle_checked.set()
        results.put(wait_client_close(conn, 5))

    server = raw_server(handler)
    sock = socket.create_connection(tuple(server), timeout=5)
    assert idle_checked.wait(5)
    sock.close()
    assert results.get(timeout=5) is False
    assert results.get(timeout=5) is True


def test_keep_alive_handler(raw_server) -> None:
    requests: list = []
    server = raw_server(keep_alive(b"hello", requests=requests))
    conn = http.client.HTTPConnection(*server, timeout=5)
    for _ in range(3):
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"hello"
    conn.close()
    assert server.join(5)
    assert server.connections == 1 and len(requests) == 3


def test_dribble(raw_server) -> None:
    server = raw_server(dribble(b"abcd", interval=0.01, piece=2))
    conn = http.client.HTTPConnection(*server, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.read(2) == b"ab" and resp.read() == b"cd"
    conn.close()


def test_handler_errors_recorded(raw_server) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        raise RuntimeError("boom")

    server = raw_server(handler)
    assert _exchange(server, GET) == b""
    assert server.join(5)
    assert [str(e) for e in server.errors] == ["boom"]


# --------------------------------------------------------------------------- counting_server


def test_counting_server_max_concurrent(counting_server) -> None:
    netloc = urlsplit(counting_server.url).netloc
    conns = [http.client.HTTPConnection(netloc, timeout=5) for _ in range(3)]
    for conn in conns:  # all three requests in flight before any response is read
        conn.request("GET", "/x?delay=0.05")
    bodies = [json.loads(c.getresponse().read()) for c in conns]
    assert sorted(b["connection"] for b in bodies) == [1, 2, 3]
    assert counting_server.total_connections == 3
    assert counting_server.max_concurrent == 3
    for conn in conns:
        conn.close()
    assert counting_server.wait_idle(5)
    assert counting_server.open_connections == 0


def test_counting_server_keep_alive_and_reset(counting_server) -> None:
    conn = http.client.HTTPConnection(urlsplit(counting_server.url).netloc, timeout=5)
    for number in (1, 2, 3):
        conn.request("POST", "/", body=b"ignored")
        resp = conn.getresponse()
        assert json.loads(resp.read()) == {"connection": 1, "request": number}
    assert counting_server.total_connections == 1 and counting_server.total_requests == 3
    counting_server.reset()
    assert counting_server.total_requests == 0 and counting_server.max_concurrent == 1
    conn.close()


def test_counting_server_parallel_pool(counting_server) -> None:
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: _get(counting_server.url)[0], range(8)))
    assert statuses == [200] * 8
    assert counting_server.total_requests == 8
    assert 1 <= counting_server.max_concurrent <= 4
