"""Direct sends of the blocking WebSocket (syncwrap._bridge.ws_direct): the calling thread
writes its frame itself when nothing else is on its way to the socket.

Checked on raw servers that read every frame by hand: exact bytes (masked, whole frames,
in order) for every length encoding, frames the kernel takes only part of (the rest is
written by the loop before anything else), concurrent senders, a close while a thread
is sending (whole frames, then the close frame, nothing after it), and the paths that
keep the loop (permessage-deflate, wss).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from collections.abc import Callable

import pytest
from websockets.utils import apply_mask

import syncwrap
from syncwrap import WSMsgType
from syncwrap import loop as loop_thread
from tests.facade._util import WAIT
from tests.ws_peers import WSServer, frame, raw_handshake

SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 300_000]


class Stream:
    """A server's reading side of one connection: exact reads, and ``take(n)`` to pull
    ``n`` bytes out of the kernel now and parse them later."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = bytearray()
        self.pos = 0

    def take(self, n: int) -> None:
        while len(self.buffer) - self.pos < n:
            chunk = self.conn.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk

    def exact(self, n: int) -> bytes:
        self.take(n)
        data = bytes(self.buffer[self.pos:self.pos + n])
        self.pos += n
        return data


def read_client_frame(stream: Stream) -> tuple[int, bytes]:
    """One client frame, strictly: FIN set, no RSV bits, masked. (opcode, payload)."""
    b1, b2 = stream.exact(2)
    assert b1 & 0xF0 == 0x80, f"FIN/RSV bits {b1:#x}"
    assert b2 & 0x80, "an unmasked client frame"
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", stream.exact(2))
        assert n >= 126
    elif n == 127:
        (n,) = struct.unpack("!Q", stream.exact(8))
        assert n >= 65536
    mask = stream.exact(4)
    return b1 & 0x0F, apply_mask(stream.exact(n), mask)


def read_until_close(conn: socket.socket, stream: Stream | None = None,
                     ) -> tuple[list[tuple[int, bytes]], int | None]:
    """Data frames until the close frame (answered), then check nothing follows it."""
    frames = []
    stream = stream or Stream(conn)
    while True:
        opcode, payload = read_client_frame(stream)
        if opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if payload else None
            conn.sendall(frame(0x8, payload[:2]))
            conn.shutdown(socket.SHUT_WR)  # the server closes first; the client follows
            conn.settimeout(WAIT)
            assert conn.recv(1) == b"", "bytes after the close frame"
            return frames, code
        frames.append((opcode, payload))


def test_exact_bytes_for_every_length_and_the_direct_path_is_taken(raw_server):
    result: list = []
    messages = [os.urandom(n) for n in SIZES] + ["é" * n for n in (0, 3, 70, 40_000)]

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        result.append(read_until_close(conn))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        for message in messages:
            if isinstance(message, str):
                ws.send_str(message)
            else:
                ws.send_bytes(message)
        direct = ws._sender.direct
        assert direct is not None and direct.sent > 0
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000
    assert frames == [(0x1, m.encode()) if isinstance(m, str) else (0x2, m) for m in messages]


def test_a_frame_the_kernel_takes_in_part_is_finished_by_the_loop_in_order(raw_server):
    """The server does not read until the client has sent 24 MiB: the socket fills, the
    rest of a frame goes to the loop, later frames queue behind it; all arrive whole."""
    result: list = []
    go = threading.Event()
    messages = [struct.pack("!I", i) + os.urandom(3 * 1024 * 1024 - 4 + i) for i in range(8)]
    messages += [f"small {i}" for i in range(50)]

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        go.wait(WAIT)
        result.append(read_until_close(conn))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        sender = threading.Thread(target=lambda: [
            ws.send_bytes(m) if isinstance(m, bytes) else ws.send_str(m) for m in messages])
        sender.start()
        sender.join(0.5)  # it blocks once 4 MiB wait on the loop; let the socket fill
        go.set()
        sender.join(WAIT)
        assert not sender.is_alive()
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000
    assert frames == [(0x2, m) if isinstance(m, bytes) else (0x1, m.encode()) for m in messages]


def test_concurrent_senders_whole_frames_in_order_per_sender(raw_server):
    senders, per_sender = 6, 150
    result: list = []
    errors: list = []

    def payload(n: int, i: int) -> bytes:
        size = (i * 7919 + n * 104729) % (200_000 if i % 10 == 0 else 300)
        return f"{n}:{i}:".encode() + bytes([n]) * size

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        result.append(read_until_close(conn))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        start = threading.Barrier(senders)

        def send(n: int) -> None:
            try:
                start.wait(WAIT)
                for i in range(per_sender):
                    ws.send_bytes(payload(n, i))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads)
        assert ws._sender.direct.sent > 0
    assert errors == []
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000 and len(frames) == senders * per_sender
    seen: dict[int, list[int]] = {n: [] for n in range(senders)}
    for opcode, data in frames:
        n, i, _ = data.split(b":", 2)
        assert opcode == 0x2 and data == payload(int(n), int(i))
        seen[int(n)].append(int(i))
    assert all(seen[n] == list(range(per_sender)) for n in range(senders))


def test_close_while_a_thread_sends(raw_server):
    """Whole frames, then the close frame, nothing after it; the sender then gets
    ClientConnectionError."""
    result: list = []
    errors: list = []
    sent: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        result.append(read_until_close(conn))

    server = raw_server(handler)
    ws = syncwrap.ws_connect(server.url)
    started = threading.Event()

    def send() -> None:
        i = 0
        try:
            while True:
                message = struct.pack("!I", i) + bytes(i % 5 * 40_000 + i % 97)
                ws.send_bytes(message)
                sent.append(message)
                i += 1
                if i == 20:
                    started.set()
        except syncwrap.ClientConnectionError as exc:
            errors.append(exc)
        finally:
            started.set()

    sender = threading.Thread(target=send)
    sender.start()
    assert started.wait(WAIT)
    assert ws.close() is True
    sender.join(WAIT)
    assert not sender.is_alive() and len(errors) == 1
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000 and len(frames) >= 20
    assert [data for _, data in frames] == sent[:len(frames)]


@pytest.mark.parametrize("compression", ["deflate", None])
def test_permessage_deflate_keeps_the_loop_path(compression):
    server = WSServer(compression=compression)
    try:
        with syncwrap.ws_connect(server.url + "/echo",
                                 compress=15 if compression else 0) as ws:
            assert (ws._sender.direct is None) is bool(compression)
            for i in range(20):
                ws.send_str(f"hello {i}" * i)
                assert ws.receive(timeout=WAIT).data == f"hello {i}" * i
    finally:
        server.close()


def freeze_loop(then: Callable[[], object] = lambda: None) -> threading.Event:
    """Block syncwrap's loop thread until the returned event is set (at most WAIT s),
    then call ``then`` there."""
    frozen, thaw = threading.Event(), threading.Event()

    def block() -> None:
        frozen.set()
        thaw.wait(WAIT)
        then()

    loop_thread.call_soon(block)
    assert frozen.wait(WAIT)
    return thaw


@pytest.mark.parametrize("waiting", ["tail", "transport buffer"])
def test_no_direct_send_while_bytes_wait_for_the_loop(raw_server, waiting):
    """The kernel has room again but part of a frame still waits for the loop (the tail
    of a direct send, or the transport's buffer): a new frame must queue behind it."""
    big = os.urandom(8 * 1024 * 1024)
    result: list = []
    take, taken = threading.Event(), threading.Event()
    accepted: list[int] = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        stream = Stream(conn)
        take.wait(WAIT)
        stream.take(accepted[0])  # the kernel's buffers are empty again
        taken.set()
        result.append(read_until_close(conn, stream))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        direct = ws._sender.direct
        transport = ws._ws.connection.transport
        frame_size = len(big) + 14
        if waiting == "tail":
            thaw = freeze_loop()
            ws.send_bytes(big)
            assert direct._tail is not None  # the kernel took part of it
            accepted.append(frame_size - len(direct._tail))
        else:
            ws.send_bytes(big)
            loop_thread.run(asyncio.sleep(0))  # the loop has moved the tail to the transport
            thaw = freeze_loop()
            assert direct._tail is None and transport.get_write_buffer_size() > 0
            accepted.append(frame_size - transport.get_write_buffer_size())
        take.set()
        assert taken.wait(WAIT)
        ws.send_str("after the big one")
        thaw.set()
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000
    assert frames == [(0x2, big), (0x1, b"after the big one")]


def test_a_loop_write_after_a_partial_direct_send_goes_after_its_tail(raw_server):
    """The loop writes (here a ping) before its callback for the tail has run: the tail
    goes first."""
    big = os.urandom(8 * 1024 * 1024)
    result: list = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        result.append(read_until_close(conn))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        engine_ws = ws._ws
        thaw = freeze_loop(lambda: engine_ws.send_frame_nowait(b"ping!", WSMsgType.PING))
        ws.send_bytes(big)
        assert ws._sender.direct._tail is not None
        thaw.set()
    assert server.join(WAIT)
    frames, code = result[0]
    assert code == 1000
    assert frames == [(0x2, big), (0x9, b"ping!")]


def test_no_direct_send_once_the_close_frame_went_out(raw_server):
    """A send that got past the facade's own check as the server's close came in: the
    frame must not follow the close frame on the wire."""
    late_sent = threading.Event()
    after_close: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x8, struct.pack("!H", 1000)))
        stream = Stream(conn)
        assert read_client_frame(stream)[0] == 0x8  # the client's answer
        late_sent.wait(WAIT)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(WAIT)
        data = conn.recv(1 << 16)
        while data:
            after_close.append(data)
            data = conn.recv(1 << 16)

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        assert ws.receive(timeout=WAIT).type is WSMsgType.CLOSE
        assert ws.closed
        ws._sender.send(WSMsgType.TEXT, b"late")  # what a racing send_str() would do
        late_sent.set()
    assert server.join(WAIT)
    assert after_close == []
