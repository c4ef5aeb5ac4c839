"""The receive window opened for large direct body reads over a short path
(syncwrap/engine/http1/window.py), against real servers on 127.0.0.1.

Loopback is a short path (a round trip of microseconds): a large body read directly (loop
mode, thread mode) gets the receive buffer ``window.WINDOW`` asks for; a small body, a path
whose round trip is not short, and a buffer already as large keep what they had.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from syncwrap._bridge.direct import SocketBody, take_body
from syncwrap.engine import ClientSession, ClientTimeout
from syncwrap.engine.http1 import window
from syncwrap.engine.http1.direct import LoopReader
from tests.engine._util import SHORT, run_on
from tests.servers import Gate, chunk_framed, read_request, wait_client_close

uvloop = pytest.importorskip("uvloop")

LOOPS = ["asyncio", "uvloop"]
BODY = os.urandom(3 * 1024 * 1024 + 77)
DIGEST = hashlib.sha256(BODY).digest()
SMALL = os.urandom(200 * 1024)
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def rmem_max() -> int:
    with open("/proc/sys/net/core/rmem_max") as f:
        return int(f.read())


pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/sys/net/core/rmem_max") or rmem_max() < window.WINDOW,
    reason="Linux with net.core.rmem_max >= window.WINDOW (otherwise no window is opened)")

OPENED = 2 * window.WINDOW  # the kernel doubles what SO_RCVBUF asks for


def serve(gate: Gate, *bodies: bytes):
    """Keep-alive handler: answers the n-th request with ``bodies[n]``, all but its first
    1,000 bytes once the test opens ``gate``."""

    def handler(conn: socket.socket) -> None:
        for body in bodies:
            if not read_request(conn):
                return
            gate.send(conn, HEAD % len(body) + body[:1000], body[1000:])
        wait_client_close(conn, 5)

    return handler


def rcvbuf(protocol) -> int:
    sock = protocol.transport.get_extra_info("socket")
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_loop_mode_opens_the_window_and_the_connection_keeps_it(raw_server, loop_name):
    gate = Gate()
    server = raw_server(serve(gate, SMALL, BODY, BODY))

    async def main():
        buffers = []
        async with ClientSession(timeout=SHORT) as s:
            for expected in (SMALL, BODY, BODY):
                async with s.get(server.url) as resp:
                    protocol = resp.connection.protocol
                    await asyncio.sleep(0)  # loop mode starts with the head
                    buffers.append(rcvbuf(protocol))
                    assert isinstance(protocol._direct, LoopReader) is (expected is BODY)
                    gate.open()
                    body = await resp.read()
                    assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()
        return buffers

    small, first, second = run_on(loop_name, main())
    assert small < OPENED  # autotuning's buffer
    assert first == second == OPENED  # opened for the first large body, then kept
    assert server.connections == 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_thread_mode_opens_the_window_for_a_chunked_body(raw_server, loop_name):
    # Loop mode never takes a chunked body: thread mode makes the dup, and opens the window.
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunk_framed(BODY, 100_000))
        wait_client_close(conn, 5)

    server = raw_server(handler)

    def receive(body: SocketBody) -> bytes:
        parts = [body.buffered]
        while chunk := body.recv(1 << 20):
            parts.append(chunk)
        body.close()
        return b"".join(parts)

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=5, sock_read=2)) as s:
            resp = await s.get(server.url)
            protocol = resp.connection.protocol
            await asyncio.sleep(0)
            before = rcvbuf(protocol)
            body = take_body(resp)
            assert body is not None
            data = await asyncio.to_thread(receive, body)
            return before, rcvbuf(protocol), data

    before, after, data = run_on(loop_name, main())
    assert hashlib.sha256(data).digest() == DIGEST
    assert before < OPENED == after


@pytest.fixture
def loopback_pair():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
        with client, server:
            yield client


def test_the_round_trip_is_read_from_the_kernel(loopback_pair):
    rtt = window.smoothed_rtt(loopback_pair)
    # Microseconds; loopback's are tens (the neighbouring fields hold e.g. 65,495 or 0).
    assert rtt is not None and 0 < rtt < window.SHORT_PATH_RTT


def test_a_path_that_is_not_short_keeps_autotuning(loopback_pair, monkeypatch):
    before = loopback_pair.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    monkeypatch.setattr(window, "SHORT_PATH_RTT", 0)  # every round trip counts as long
    assert window.open_window(loopback_pair) is False
    assert loopback_pair.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == before
    monkeypatch.undo()
    assert window.open_window(loopback_pair) is True
    assert loopback_pair.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == OPENED


def test_a_larger_buffer_is_never_shrunk(loopback_pair):
    loopback_pair.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window.WINDOW * 2)
    larger = loopback_pair.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if larger <= OPENED:
        pytest.skip("net.core.rmem_max caps SO_RCVBUF at window.WINDOW here")
    assert window.open_window(loopback_pair) is False
    assert loopback_pair.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == larger


def test_unix_sockets_are_left_alone():
    left, right = socket.socketpair()
    with left, right:
        before = left.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert window.open_window(left) is False
        assert left.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == before
