"""Servers for the upload tests (never imports syncwrap).

- :func:`chunked_httpbin_app`: httpbin, able to read chunked request bodies. httpbin
  refuses them (501) unless the server is gunicorn, because some servers do not
  de-chunk; werkzeug's does (it sets ``wsgi.input_terminated``), so the shim only
  presents the server as one that does.
- :class:`Sink`: a keep-alive raw-socket handler that reads request bodies
  (Content-Length or chunked) in bounded memory, undoes ``Content-Encoding``
  (gzip/deflate), hashes them, records a :class:`SinkRequest` per request and
  answers ``200`` with that record as JSON.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import threading
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from io import BytesIO
from typing import Any, BinaryIO

from tests.servers import http_response, load_httpbin_app

READ_SIZE = 1024 * 1024


def chunked_httpbin_app() -> Callable[..., Any]:
    app = load_httpbin_app()

    def shim(environ: dict[str, Any], start_response: Any) -> Any:
        environ["SERVER_SOFTWARE"] = "gunicorn/werkzeug-dechunks-too"
        return app(environ, start_response)

    return shim


@dataclass
class SinkRequest:
    """One request as the sink saw it; ``body`` is kept only when asked (small bodies)."""

    method: str
    target: str
    headers: dict[str, str]
    framing: str  # "chunked", "length" or "none"
    wire_length: int  # body bytes as sent (compressed, without chunk framing)
    length: int  # body bytes after undoing Content-Encoding
    sha256: str  # of the decoded body
    wire_sha256: str  # of the body as sent
    chunks: int = 0  # number of chunks of a chunked body
    body: bytes | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("body")
        return out


def read_head(rfile: BinaryIO) -> tuple[str, str, dict[str, str]] | None:
    """Request line and headers (lower-case names), or None on a clean EOF."""
    line = rfile.readline(65536)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := rfile.readline(65536)) not in (b"\r\n", b"\n"):
        if not line:
            raise ConnectionError("peer closed in the request head")
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return method, target, headers


def _decoder(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    if encoding in ("", "identity"):
        return None
    raise ValueError(f"sink: unsupported Content-Encoding {encoding!r}")


def read_body(rfile: BinaryIO, method: str, target: str, headers: dict[str, str],
              keep: bool) -> SinkRequest:
    """Read one request body in READ_SIZE pieces, decoding and hashing as it arrives."""
    decoder = _decoder(headers.get("content-encoding", ""))
    digest, wire_digest = hashlib.sha256(), hashlib.sha256()
    kept = bytearray() if keep else None
    wire = length = chunks = 0

    def take(data: bytes) -> None:
        nonlocal wire, length
        wire += len(data)
        wire_digest.update(data)
        if decoder is not None:
            data = decoder.decompress(data)
        length += len(data)
        digest.update(data)
        if kept is not None:
            kept.extend(data)

    def read_exact(n: int) -> None:
        while n:
            data = rfile.read(min(n, READ_SIZE))
            if not data:
                raise ConnectionError("peer closed in the request body")
            take(data)
            n -= len(data)

    if "chunked" in headers.get("transfer-encoding", "").lower():
        framing = "chunked"
        while size := int(rfile.readline(1024).split(b";")[0].strip() or b"x", 16):
            chunks += 1
            read_exact(size)
            if rfile.readline(16) != b"\r\n":
                raise ValueError("sink: bad chunk framing")
        while rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass  # trailers
    elif "content-length" in headers:
        framing = "length"
        read_exact(int(headers["content-length"]))
    else:
        framing = "none"
    if decoder is not None:
        tail = decoder.flush()
        length += len(tail)
        digest.update(tail)
        if kept is not None:
            kept.extend(tail)
        if not decoder.eof:
            raise ValueError("sink: the compressed body is truncated")
    return SinkRequest(method, target, headers, framing, wire, length, digest.hexdigest(),
                       wire_digest.hexdigest(), chunks,
                       bytes(kept) if kept is not None else None)


class Sink:
    """Keep-alive handler for ``raw_server``: records and summarises every request."""

    def __init__(self, *, keep_bodies: bool = True) -> None:
        self.keep_bodies = keep_bodies
        self.requests: list[SinkRequest] = []
        self.closed_connections = 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        self.serve(conn, None)

    def serve(self, conn: socket.socket, first: tuple[str, str, dict[str, str]] | None) -> None:
        """Serve ``conn`` until it closes; ``first``: a request head already read."""
        rfile = conn.makefile("rb", buffering=READ_SIZE)
        try:
            while (head := first or read_head(rfile)) is not None:
                first = None
                method, target, headers = head
                if headers.get("expect", "").lower() == "100-continue":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                req = read_body(rfile, method, target, headers, self.keep_bodies)
                self.requests.append(req)
                body = json.dumps(req.summary()).encode()
                conn.sendall(http_response(body, headers={"Content-Type": "application/json"}))
        except (ConnectionError, TimeoutError, OSError):
            pass
        finally:
            rfile.close()
            with self._lock:
                self.closed_connections += 1


def read_head_unbuffered(conn: socket.socket) -> tuple[str, str, dict[str, str]]:
    """A request head read one byte at a time: nothing after it is taken off the socket."""
    raw = bytearray()
    while not raw.endswith(b"\r\n\r\n"):
        byte = conn.recv(1)
        if not byte:
            raise ConnectionError("peer closed in the request head")
        raw += byte
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


class ExpectServer:
    """``raw_server`` handler for ``Expect: 100-continue``; later connections get a Sink.

    On the first connection it reads the request head, then watches the socket for
    ``quiet`` seconds: any body byte sent before an answer is recorded in ``early``.
    With ``final=None`` it then sends ``100 Continue`` and reads the body (recorded in
    ``sink.requests``). With ``final`` (a complete response such as a 417) it sends that
    instead; then it closes (``close_after_final``) or records in ``after_final``
    whatever the client sends until it closes the connection (``client_closed``).
    """

    def __init__(self, final: bytes | None = None, *, close_after_final: bool = False,
                 quiet: float = 0.3) -> None:
        self.final = final
        self.close_after_final = close_after_final
        self.quiet = quiet
        self.sink = Sink()
        self.head: tuple[str, str, dict[str, str]] | None = None
        self.early: bytes | None = None
        self.after_final: bytes | None = None
        self.client_closed = threading.Event()
        self._first = True
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        with self._lock:
            first, self._first = self._first, False
        if not first:
            self.sink(conn)
            return
        self.head = read_head_unbuffered(conn)
        # Waiting is the test here: has the client sent body bytes without the go-ahead?
        ready, _, _ = select.select([conn], [], [], self.quiet)
        self.early = conn.recv(65536, socket.MSG_PEEK) if ready else b""
        if self.final is None:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.sink.serve(conn, self.head)
            return
        conn.sendall(self.final)
        if self.close_after_final:
            return
        received = bytearray()
        while True:
            try:
                data = conn.recv(65536)
            except (ConnectionError, TimeoutError, OSError):
                break
            if not data:
                self.client_closed.set()
                break
            received += data
        self.after_final = bytes(received)


#: A caller-set Content-Length that disagrees with a body of known size, as
#: (id, body arguments, declared length, the body's size); "disk_file" stands for the
#: fixture of that name (1000 bytes).
LENGTH_MISMATCHES = [
    ("bytes", {"data": b"a" * 1000}, 500, 1000),
    ("str", {"data": "\u00e9" * 10}, 10, 20),
    ("json", {"json": {"k": "v"}}, 100, 10),
    ("form", {"data": {"k": "v", "n": "1"}}, 3, 7),
    ("file", {"data": "disk_file"}, 999, 1000),
    ("bytesio", {"data": BytesIO(b"b" * 300)}, 301, 300),
]


class WireRecorder:
    """``raw_server`` handler keeping the exact bytes a client sends, until it closes.

    ``data`` holds every byte received on the connection(s), in order; ``client_closed``
    is set once the client closed its connection (not on the server's timeout). With
    ``answer=True`` a ``200 ok`` is sent as soon as a whole request (the head and its
    Content-Length bytes) has arrived; otherwise nothing is ever answered.
    """

    def __init__(self, *, answer: bool = False) -> None:
        self.answer = answer
        self.data = bytearray()
        self.client_closed = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        answered = False
        try:
            while chunk := conn.recv(65536):
                self.data += chunk
                if self.answer and not answered and self._whole_request():
                    conn.sendall(http_response(b"ok"))
                    answered = True
        except ConnectionResetError:
            pass
        self.client_closed.set()

    def _whole_request(self) -> bool:
        if b"\r\n\r\n" not in self.data:
            return False
        length = self.headers.get("content-length")
        return length is not None and len(self.body) >= int(length)

    @property
    def head(self) -> bytes:
        return bytes(self.data).partition(b"\r\n\r\n")[0]

    @property
    def headers(self) -> dict[str, str]:
        """The request's headers, names lower-cased."""
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return {name.strip().lower(): value.strip()
                for name, sep, value in (line.partition(":") for line in lines) if sep}

    @property
    def body(self) -> bytes:
        """Everything after the head, exactly as sent."""
        return bytes(self.data).partition(b"\r\n\r\n")[2]
