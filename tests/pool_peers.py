"""Raw-socket HTTP/1.1 peers that treat kept-alive connections the way real servers do
(for the pool's stale-connection tests, engine and facade).

Every handler answers with a keep-alive response (no ``Connection: close``), so the
client pools the connection, and records what it saw in a :class:`Tally`:

- :func:`answer_then_close`: one answer per connection, then the server closes it;
- :func:`drop_second`: the next request on a kept-alive connection is read and the
  connection closed without an answer (FIN, or RST with ``abort=True``) -- the race a
  server's idle close runs with a request, made deterministic;
- :func:`idle_close`: the server closes a connection idle for ``idle`` seconds (FIN), sets
  ``tally.closed``, and records any byte the client still sends there (``tally.late``);
- :func:`hold_slow`: ``/slow`` is answered only once ``tally.gate`` is set.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Callable

from tests.servers import http_response, parse_request, read_request

Handler = Callable[[socket.socket], None]


class Tally:
    """What a peer saw, thread-safe: ``answered`` and ``dropped`` hold (connection number,
    method, target, body length); ``late`` the bytes sent on a connection the server had
    closed; ``connections`` how many it accepted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.answered: list[tuple[int, str, str, int]] = []
        self.dropped: list[tuple[int, str, str, int]] = []
        self.late: list[bytes] = []
        self.closed = threading.Event()  # idle_close: the server closed an idle connection
        self.arrived = threading.Event()  # hold_slow: /slow arrived
        self.gate = threading.Event()  # hold_slow: answer /slow

    def connection(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def answer(self, conn: socket.socket, number: int, raw: bytes) -> None:
        req = parse_request(raw)
        self.answered.append((number, req.method, req.target, len(req.body)))
        body = b"conn=%d answer=%d" % (number, len(self.answered))
        data = http_response(body, headers={"Connection": "keep-alive"})
        conn.sendall(data[: len(data) - len(body)] if req.method == "HEAD" else data)

    def drop(self, number: int, raw: bytes) -> None:
        req = parse_request(raw)
        self.dropped.append((number, req.method, req.target, len(req.body)))


def _abort(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def answer_then_close(tally: Tally) -> Handler:
    """Answer one request (keep-alive headers), then close the connection."""

    def handler(conn: socket.socket) -> None:
        number = tally.connection()
        if raw := read_request(conn):
            tally.answer(conn, number, raw)

    return handler


def drop_second(tally: Tally, *, abort: bool = False, fresh: int | None = None) -> Handler:
    """Answer the first request on a connection; the next one is read, recorded as dropped,
    and the connection closed unanswered (RST if ``abort``). Connections after the first
    ``fresh`` (None: all) drop even their first request."""

    def handler(conn: socket.socket) -> None:
        number = tally.connection()
        if fresh is None or number <= fresh:
            if not (raw := read_request(conn)):
                return
            tally.answer(conn, number, raw)
        if raw := read_request(conn):
            tally.drop(number, raw)
            if abort:
                _abort(conn)

    return handler


def idle_close(tally: Tally, idle: float) -> Handler:
    """Answer requests; after ``idle`` seconds without one, send FIN (``tally.closed``) and
    record in ``tally.late`` whatever still arrives before the client closes."""

    def handler(conn: socket.socket) -> None:
        number = tally.connection()
        while raw := read_request(conn):
            tally.answer(conn, number, raw)
            if not select.select([conn], [], [], idle)[0]:
                conn.shutdown(socket.SHUT_WR)
                tally.closed.set()
                while data := conn.recv(65536):  # until the client closes (conn_timeout)
                    tally.late.append(data)
                return

    return handler


def hold_slow(tally: Tally) -> Handler:
    """Keep-alive: ``/slow`` is answered once ``tally.gate`` is set (5 s at most)."""

    def handler(conn: socket.socket) -> None:
        number = tally.connection()
        while raw := read_request(conn):
            if parse_request(raw).target == "/slow":
                tally.arrived.set()
                tally.gate.wait(5)
            tally.answer(conn, number, raw)

    return handler
