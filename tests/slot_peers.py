"""A raw-socket HTTP/1.1 peer for the pool-slot tests (engine and facade): a streamed
response torn down mid-body must give its pool slot back at once.

Targets, on keep-alive connections (plain, or TLS with ``ssl_context``):

- ``/part/<framing>/<size>/<then>``: a head announcing ``size`` body bytes
  (``framing``: ``length`` for a Content-Length, ``chunked``), a first piece of the
  body, then ``then``: ``stall`` (nothing more, until the client closes: then
  ``peer.client_closed`` is set), ``cut`` (FIN) or ``reset`` (RST);
- ``/ok``: ``200 ok`` at once;
- ``/slow``: ``200 slow`` once the test opens ``peer.gate`` (``peer.slow_arrived`` is set,
  and ``peer.slow_now``/``peer.slow_most`` count the /slow requests in flight).
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading

from tests.servers import http_response, parse_request, read_request, wait_client_close

#: The body bytes sent before a /part response stops.
FIRST = 1000


def part_url(base: str, framing: str, size: int, then: str) -> str:
    return f"{base}/part/{framing}/{size}/{then}"


class SlotPeer:
    """The handler (``peer.handler``) and what it saw, thread-safe."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.gate = threading.Event()
        self.slow_arrived = threading.Event()
        self.client_closed = threading.Event()
        self._lock = threading.Lock()
        self.slow_now = 0
        self.slow_most = 0

    def handler(self, conn: socket.socket) -> None:
        if self.ssl_context is None:
            self._serve(conn, conn)
            return
        with self.ssl_context.wrap_socket(conn.dup(), server_side=True) as tls:
            self._serve(tls, conn)

    def _serve(self, stream: socket.socket, raw: socket.socket) -> None:
        while data := read_request(stream):
            target = parse_request(data).target
            if target.startswith("/part/"):
                _, _, framing, size, then = target.split("/")
                self._part(stream, raw, framing, int(size), then)
                return
            if target == "/slow":
                self._slow(stream)
            else:
                stream.sendall(http_response(b"ok"))

    def _part(self, stream: socket.socket, raw: socket.socket, framing: str, size: int,
              then: str) -> None:
        if framing == "chunked":
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            first = b"%x\r\n%s" % (size, b"x" * FIRST)  # one chunk of ``size``, begun
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
            first = b"x" * FIRST
        stream.sendall(head + first)
        if then == "stall":
            if wait_client_close(raw, 10):
                self.client_closed.set()
        elif then == "reset":
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:  # cut: FIN (the handler's return closes the socket)
            raw.shutdown(socket.SHUT_RDWR)

    def _slow(self, stream: socket.socket) -> None:
        with self._lock:
            self.slow_now += 1
            self.slow_most = max(self.slow_most, self.slow_now)
        self.slow_arrived.set()
        try:
            if not self.gate.wait(10):
                raise TimeoutError("the test never opened the gate")
        finally:
            with self._lock:
                self.slow_now -= 1
        stream.sendall(http_response(b"slow"))
