"""Real servers for the tests on 127.0.0.1 ephemeral ports (never imports syncwrap).

WSGIServerThread runs httpbin (HTTP/HTTPS); RawServer hands each accepted socket to a scripted
``handler(conn)`` (canned handlers below); CountingServer is a keep-alive RawServer that counts
connections.  All bounded in time: accepted sockets have a timeout, threads are daemons, and
``close()`` shuts open connections down so blocked handler threads wake up at once.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
CONN_TIMEOUT = 10.0  # socket timeout on every accepted connection
HANG_LIMIT = 30.0  # upper bound for handlers that "never" answer
MAX_HEAD = 256 * 1024  # refuse request heads larger than this

Handler = Callable[[socket.socket], object]


# --------------------------------------------------------------------------- WSGI / httpbin
class WSGIServerThread:
    """Threaded werkzeug server in a daemon thread; ``url`` is its base URL.

    TLS handshakes run lazily in the per-connection threads (do_handshake_on_connect=False):
    a client that never handshakes cannot stall the accept loop, as werkzeug's wrapping would.
    """

    def __init__(self, app, ssl_context: ssl.SSLContext | None = None) -> None:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = make_server(HOST, 0, app, threaded=True)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self._server.ssl_context = ssl_context  # werkzeug derives wsgi.url_scheme from it
        self.url = f"http{'s' if ssl_context else ''}://{HOST}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()  # returns once serve_forever has left its loop
        self._server.server_close()
        self._thread.join(5)


def load_httpbin_app():
    """Import the httpbin Flask app, silencing its 'flasgger is not installed' warning."""
    logging.getLogger("httpbin.core").setLevel(logging.ERROR)
    from httpbin import app

    return app


# --------------------------------------------------------------------------- raw sockets
def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(n - len(buf), 65536))
        if not chunk:
            raise ConnectionError(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _recv_line(conn: socket.socket) -> bytes:
    """Read up to and including b"\\n", one byte at a time so nothing is over-read."""
    buf = bytearray()
    while not buf.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            if buf:
                raise ConnectionError("peer closed in the middle of a line")
            return b""
        buf += byte
        if len(buf) > MAX_HEAD:
            raise ValueError("line too long")
    return bytes(buf)


def _header_map(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        key, value = name.strip().lower(), value.strip()
        if sep:
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def read_request(conn: socket.socket, *, send_continue: bool = True) -> bytes:
    """Read one request (head + Content-Length or raw chunked body) and return its bytes.

    Returns b"" if the peer closed before sending anything (idle keep-alive close).  Answers
    ``Expect: 100-continue`` with a 100 if ``send_continue``.  Never reads past the request.
    """
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        line = _recv_line(conn)
        if not line:
            if head:
                raise ConnectionError("peer closed in the middle of the request head")
            return b""
        head += line
        if len(head) > MAX_HEAD:
            raise ValueError("request head too large")
    headers = _header_map(bytes(head))
    if send_continue and headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = head  # keep the chunked framing as sent
        while size := int((line := _recv_line(conn)).split(b";")[0].strip() or b"0", 16):
            raw += line + _recv_exact(conn, size + 2)
        raw += line
        while (line := _recv_line(conn)) not in (b"\r\n", b"\n", b""):
            raw += line  # trailer fields
        return bytes(raw + b"\r\n")
    length = int(headers.get("content-length", "0") or 0)
    return bytes(head) + _recv_exact(conn, length)


class ParsedRequest(NamedTuple):
    """A request split into parts; ``headers`` has lower-case names, ``body`` is de-chunked."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


def parse_request(raw: bytes) -> ParsedRequest:
    """Parse the bytes returned by :func:`read_request`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    headers = _header_map(head)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        decoded = bytearray()
        while size := int((parts := body.split(b"\r\n", 1))[0].split(b";")[0] or b"0", 16):
            decoded, body = decoded + parts[1][:size], parts[1][size + 2 :]
        body = bytes(decoded)
    return ParsedRequest(method, target, version, headers, body)


def wait_client_close(conn: socket.socket, timeout: float = 5.0) -> bool:
    """Discard input until the peer (or fixture teardown) closes: True; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            conn.settimeout(remaining)
            if not conn.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True


class RawServer:
    """Listener on ``host`` (127.0.0.1 by default) passing each accepted connection to
    ``handler(conn)`` in a daemon thread.

    The connection is closed when the handler returns.  Unpacks as ``host, port``; has ``url``,
    ``connections`` (accepted count), ``errors`` (handler exceptions), ``stopping`` (set at
    teardown) and ``join(timeout)`` (wait until every handler started so far has returned).
    """

    def __init__(self, handler: Handler, conn_timeout: float = CONN_TIMEOUT,
                 host: str = HOST) -> None:
        self.handler = handler
        self.conn_timeout = conn_timeout
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((host, 0), backlog=64)
        self.host, self.port = self._listener.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def __iter__(self):
        return iter((self.host, self.port))

    @property
    def connections(self) -> int:
        return len(self._conns)

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self.stopping.is_set():
                conn.close()
                return
            conn.settimeout(self.conn_timeout)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except BaseException as exc:  # recorded for the test to inspect, never raised here
            self.errors.append(exc)
        finally:
            conn.close()

    def join(self, timeout: float = 5.0) -> bool:
        """Wait until all handlers started so far have returned; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def close(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        try:  # wake the blocking accept(); the loop sees `stopping` and exits
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError:
            pass
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wakes handler threads blocked in recv()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(5)
        for conn in conns:
            conn.close()


# Canned responses for malformed-response tests (send with ``respond(...)``).
BAD_STATUS_LINE = b"HTTP/1.1 TWO-HUNDRED OK\r\nContent-Length: 2\r\n\r\nok"
HEADER_WITHOUT_COLON = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nNo-Colon-Here\r\n\r\nok"
HUGE_HEADER = b"HTTP/1.1 200 OK\r\nX-Huge: %s\r\nContent-Length: 2\r\n\r\nok" % (b"a" * 102400)
TRUNCATED_CHUNKED = (  # a 5-byte chunk, then 7 of the 16 bytes announced, then FIN
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\npartial"
)
SHORT_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes..."


def chunked_body(pieces: Iterable[bytes], trailers: bytes = b"") -> bytes:
    """Frame ``pieces`` as a chunked body (with optional raw trailer lines)."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return out + b"0\r\n" + trailers + b"\r\n"


def chunk_framed(data: bytes, size: int) -> bytes:
    """``data`` framed as a chunked body, in chunks of ``size`` bytes (the last shorter)."""
    return chunked_body(data[i : i + size] for i in range(0, len(data), size))


def http_response(body: bytes = b"ok", status=200, reason="OK", headers=None) -> bytes:
    """Build a well-formed HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def respond(data: bytes, *, hang: bool = False) -> Handler:
    """Handler: read one request, send ``data`` verbatim, then close (FIN).

    With ``hang=True`` it keeps the connection open instead, until the client closes it,
    the fixture tears down, or HANG_LIMIT passes (e.g. headers sent, body never comes).
    """

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        if data:
            conn.sendall(data)
        if hang:
            wait_client_close(conn, HANG_LIMIT)

    return handler


# Handler: read the request, never answer (ends on client close, teardown or HANG_LIMIT).
never_respond = respond(b"", hang=True)


def reset_connection(conn: socket.socket) -> None:
    """Handler: read the request, then abort with a TCP RST (SO_LINGER 0 then close)."""
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def serve_http(conn: socket.socket, answer: Callable[[ParsedRequest], tuple]) -> None:
    """Answer each request on ``conn`` with 200 and ``answer(request) -> (body, headers)``.

    Keeps the connection alive until the client closes it or sends ``Connection: close``.
    """
    while raw := read_request(conn):
        req = parse_request(raw)
        body, headers = answer(req)
        closing = "close" in req.headers.get("connection", "").lower()
        if closing:
            headers = {**headers, "Connection": "close"}
        data = http_response(body, headers=headers)
        conn.sendall(data[: len(data) - len(body)] if req.method == "HEAD" else data)
        if closing:
            return


def keep_alive(body: bytes = b"ok", *, requests: list[ParsedRequest] | None = None) -> Handler:
    """Handler: keep-alive responder answering every request with 200 ``body``.

    Each parsed request is appended to ``requests`` if given (list.append is thread-safe).
    """

    def answer(req: ParsedRequest) -> tuple[bytes, dict]:
        if requests is not None:
            requests.append(req)
        return body, {}

    return lambda conn: serve_http(conn, answer)


class Gate:
    """Lets a handler send a response's head and first bytes, then wait until the test opens
    the gate before it sends the rest: the test sees the response while its body is not whole.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._sem = threading.Semaphore(0)
        self._timeout = timeout

    def open(self) -> None:
        self._sem.release()

    def send(self, conn: socket.socket, first: bytes, rest: bytes) -> None:
        conn.sendall(first)
        if not self._sem.acquire(timeout=self._timeout):
            raise TimeoutError("the test never opened the gate")
        conn.sendall(rest)


def dribble(body: bytes, interval: float = 0.05, piece: int = 1) -> Handler:
    """Handler: send headers at once, then the body ``piece`` bytes every ``interval`` s."""

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), piece):
            time.sleep(interval)  # simulated slow producer, not synchronisation
            conn.sendall(body[start : start + piece])

    return handler


# --------------------------------------------------------------------------- counting server
class CountingServer(RawServer):
    """Keep-alive server: 200 + ``{"connection": N, "request": M}`` (and X-Connection-Id).

    ``?delay=SECONDS`` (max 10) delays the answer.  Thread-safe counters ``total_connections``,
    ``open_connections``, ``max_concurrent``, ``total_requests``; ``reset()`` zeroes them and
    ``wait_idle()`` waits until the server has seen every connection close.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_id = 0
        self.total_connections = self.open_connections = 0
        self.max_concurrent = self.total_requests = 0
        super().__init__(self._serve)

    def _serve(self, conn: socket.socket) -> None:
        with self._cond:
            self._next_id += 1
            conn_id = self._next_id
            self.total_connections += 1
            self.open_connections += 1
            self.max_concurrent = max(self.max_concurrent, self.open_connections)
        number = 0

        def answer(req: ParsedRequest) -> tuple[bytes, dict]:
            nonlocal number
            number += 1
            delay = min(float(parse_qs(urlsplit(req.target).query).get("delay", ["0"])[0]), 10)
            if delay > 0:
                time.sleep(delay)  # simulated work in the server, not synchronisation
            with self._cond:
                self.total_requests += 1
            body = b'{"connection": %d, "request": %d}' % (conn_id, number)
            return body, {"Content-Type": "application/json", "X-Connection-Id": conn_id}

        try:
            serve_http(conn, answer)
        finally:
            with self._cond:
                self.open_connections -= 1
                self._cond.notify_all()

    def reset(self) -> None:
        """Zero the totals; ``max_concurrent`` restarts from the currently open count."""
        with self._cond:
            self.total_connections = self.total_requests = 0
            self.max_concurrent = self.open_connections

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no connection is open on the server side; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.open_connections == 0, timeout)
