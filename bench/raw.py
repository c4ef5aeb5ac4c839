"""The raw floors: one blocking keep-alive socket and no HTTP library at all.

:class:`RawSocket` writes its requests by hand and parses responses just enough: the status
line, Content-Length or ``Transfer-Encoding: chunked``, and ``Content-Encoding: gzip`` (decoded
with zlib). Bodies are received with ``recv_into`` into one preallocated 1 MiB buffer, so
nothing is allocated per read; a chunked body is parsed in that buffer. For an ``https://``
URL the socket is wrapped in the standard library's ``SSLContext`` trusting only the run's CA
(hostname checked), which is the floor the https group's clients are measured against.

:class:`RawProxySocket` is the proxy group's floor: the same client through the forward proxy.
Neither is thread-safe (one connection each).
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from common import BadResponse, check_status
from tls import client_context

TIMEOUT = 120.0  # seconds; it only turns a hang into an error

Sink = Callable[[memoryview], None]


class RawSocket:
    """The floor: see the module docstring. ``ca_file``: the CA for ``https://`` URLs."""

    BUFFER = 1 << 20

    def __init__(self, pool: int, ca_file: str = "") -> None:
        self.sock: socket.socket | None = None
        self.buf = bytearray(self.BUFFER)
        self.view = memoryview(self.buf)
        self.context = client_context(ca_file) if ca_file else None

    def _connect(self, url: str) -> tuple[socket.socket, str, str]:
        parts = urlsplit(url)
        if self.sock is None:
            sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if parts.scheme == "https":
                if self.context is None:
                    raise ValueError("an https:// URL needs ca_file")
                sock = self.context.wrap_socket(sock, server_hostname=parts.hostname)
            self.sock = sock
        return self.sock, parts.path or "/", parts.netloc

    # ------------------------------------------------------------------ reading

    def _refill(self, sock: socket.socket, pos: int, filled: int) -> tuple[int, int]:
        """Move the unread bytes ``[pos, filled)`` to the front, receive more after them."""
        kept = filled - pos
        if kept == len(self.buf):
            raise BadResponse("a line longer than the buffer")
        if pos:
            self.buf[:kept] = self.buf[pos:filled]
        n = sock.recv_into(self.view[kept:])
        if not n:
            raise ConnectionError("server closed the connection")
        return 0, kept + n

    def _read_response(self, sock: socket.socket, keep_body: bool) -> tuple[int, int, bytes]:
        """Read one response; returns (status, decoded body length, body if keep_body)."""
        buf = self.buf
        pos = filled = 0
        while (end := buf.find(b"\r\n\r\n", 0, filled)) < 0:
            pos, filled = self._refill(sock, 0, filled)
        head = bytes(self.view[:end]).lower()
        status = int(head[9:12])
        body = bytearray()
        count = [0]
        inflate = None
        if b"\r\ncontent-encoding: gzip" in head:
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

        def deliver(data: bytes | memoryview) -> None:
            count[0] += len(data)
            if keep_body:
                body.extend(data)

        def sink(piece: memoryview) -> None:
            deliver(piece if inflate is None else inflate.decompress(piece))

        if b"\r\ntransfer-encoding: chunked" in head:
            self._chunked_body(sock, end + 4, filled, sink)
        else:
            self._length_body(sock, _content_length(head), end + 4, filled, sink)
        if inflate is not None:
            deliver(inflate.flush())
            if not inflate.eof:
                raise BadResponse("gzip body cut short")
        return status, count[0], bytes(body)

    def _length_body(self, sock: socket.socket, length: int, pos: int, filled: int,
                     sink: Sink) -> None:
        view = self.view
        if filled > pos:
            sink(view[pos:min(filled, pos + length)])
        left = length - (filled - pos)
        while left > 0:
            n = sock.recv_into(view, min(left, len(view)))
            if not n:
                raise ConnectionError("server closed the connection mid-body")
            sink(view[:n])
            left -= n

    def _chunked_body(self, sock: socket.socket, pos: int, filled: int, sink: Sink) -> None:
        """Parse chunk-size lines and chunk data in place; reads fill the whole buffer."""
        buf, view = self.buf, self.view
        while True:
            while (eol := buf.find(b"\r\n", pos, filled)) < 0:
                pos, filled = self._refill(sock, pos, filled)
            size = int(bytes(view[pos:eol]).split(b";", 1)[0], 16)
            pos = eol + 2
            left = size
            while left:
                if pos == filled:
                    pos, filled = self._refill(sock, pos, filled)
                n = min(left, filled - pos)
                sink(view[pos:pos + n])
                pos += n
                left -= n
            while filled - pos < 2:  # the CRLF after the data (or the end: no trailers)
                pos, filled = self._refill(sock, pos, filled)
            if buf[pos:pos + 2] != b"\r\n":
                raise BadResponse("chunk data not followed by CRLF")
            pos += 2
            if size == 0:
                return

    # ------------------------------------------------------------------ the adapter API

    def _head(self, method: str, path: str, host: str, length: int | None = None) -> bytes:
        extra = f"Content-Length: {length}\r\n" if length is not None else ""
        return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()

    def get_small(self, url: str) -> int:
        sock, path, host = self._connect(url)
        sock.sendall(self._head("GET", path, host))
        status, length, _ = self._read_response(sock, keep_body=False)
        check_status(status)
        return length

    def download(self, url: str, variant: str) -> int:
        return self.get_small(url)  # same code path: the body is drained into the buffer

    def upload(self, url: str, data: Any) -> bytes:
        """``data`` is ``(size, source)``: the raw client sends a Content-Length, so it needs
        the size up front. ``source`` is a file object (sent with socket.sendfile, zero-copy)
        or an iterable of bytes (sent with sendall)."""
        sock, path, host = self._connect(url)
        size, source = data
        sock.sendall(self._head("POST", path, host, size))
        if hasattr(source, "read"):
            sock.sendfile(source, 0, size)
        else:
            for chunk in source:
                sock.sendall(chunk)
        status, _, body = self._read_response(sock, keep_body=True)
        check_status(status)
        return body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def _content_length(head: bytes) -> int:
    pos = head.find(b"\r\ncontent-length:")
    if pos < 0:
        raise BadResponse("response with neither Content-Length nor chunked framing")
    stop = head.find(b"\r\n", pos + 2)
    return int(head[pos + 17:stop if stop >= 0 else None])


class RawProxySocket(RawSocket):
    """The proxy's own limit: the raw floor through the forward proxy.

    A plain-HTTP target gets an absolute-form request on a NEW connection every time: tinyproxy
    answers one request per client connection and then closes it (without a
    ``Connection: close``). An HTTPS target gets one CONNECT tunnel with TLS inside (the
    default context trusting ``ca_file``), kept alive like the floor's socket.
    """

    def __init__(self, pool: int, proxy: str, ca_file: str = "") -> None:
        super().__init__(pool, ca_file)
        parts = urlsplit(proxy)
        self.proxy_address = (parts.hostname, parts.port)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.proxy_address, timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _connect(self, url: str) -> tuple[socket.socket, str, str]:
        parts = urlsplit(url)
        if parts.scheme == "http":
            self.close()
            self.sock = self._open()
            return self.sock, url, parts.netloc
        if self.sock is None:
            if self.context is None:
                raise ValueError("an HTTPS target needs ca_file")
            sock = self._open()
            sock.sendall(f"CONNECT {parts.netloc} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
                         .encode())
            reply = b""
            while b"\r\n\r\n" not in reply:  # nothing follows it before our TLS hello
                chunk = sock.recv(4096)
                if not chunk or len(reply) > 65536:
                    raise BadResponse(f"bad CONNECT reply {reply[:80]!r}")
                reply += chunk
            if reply.split(None, 2)[1:2] != [b"200"]:
                raise BadResponse(f"CONNECT refused: {reply[:80]!r}")
            self.sock = self.context.wrap_socket(sock, server_hostname=parts.hostname)
        return self.sock, parts.path or "/", parts.netloc

    def close(self) -> None:
        super().close()
        self.sock = None


def raw_client(pool: int, proxy: str = "", ca_file: str = "") -> RawSocket:
    """The floor for a case: through ``proxy`` if one is given."""
    return RawProxySocket(pool, proxy, ca_file) if proxy else RawSocket(pool, ca_file)
