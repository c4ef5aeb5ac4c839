"""Direct body reads (syncwrap/engine/http1/direct.py, syncwrap/_bridge/direct.py) on asyncio's
loop and on uvloop.

Loop mode (every POSIX loop): a large plain body is received from a dup of the socket by the
loop itself. Thread mode (``take_body``): a caller thread receives it. Both must deliver the exact
bytes, give the connection back to the pool, and fail exactly as the normal path does.
Everything talks to real servers on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import resource
import select
import socket
import threading
import time
from collections.abc import Callable

import pytest

from syncwrap._bridge.direct import SocketBody, take_body
from syncwrap.engine import (
    ClientPayloadError,
    ClientSession,
    ClientTimeout,
    ReadTimeout,
    TCPConnector,
    TraceConfig,
)
from syncwrap.engine.http1.direct import MIN_BODY, LoopReader
from tests.engine._util import SHORT, run_on
from tests.servers import Gate, chunk_framed, read_request, wait_client_close

uvloop = pytest.importorskip("uvloop")

LOOPS = ["asyncio", "uvloop"]
BODY = os.urandom(3 * 1024 * 1024 + 4321)  # above the take-over threshold, odd-sized
DIGEST = hashlib.sha256(BODY).digest()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def open_sockets() -> set[str]:
    """This process's socket file descriptors ("fd:socket:[inode]")."""
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the directory's own fd
            continue
        if target.startswith("socket:"):
            fds.add(f"{fd}:{target}")
    return fds


def keep_alive(answer: Callable[[socket.socket, bytes], bool]) -> Callable[[socket.socket], None]:
    """Handler: for each request, ``answer(conn, request)``; False ends the connection."""

    def handler(conn: socket.socket) -> None:
        while raw := read_request(conn):
            if not answer(conn, raw):
                return
        wait_client_close(conn, 5)

    return handler


def send_body(gate: Gate) -> Callable[[socket.socket, bytes], bool]:
    def answer(conn: socket.socket, raw: bytes) -> bool:
        gate.send(conn, HEAD % len(BODY) + BODY[:1000], BODY[1000:])
        return True

    return answer


def partial_then(action: str, gate: Gate, closed: threading.Event | None = None):
    """Handler: headers announce BODY, 2 MiB of it follow (after the gate opens), then
    ``close`` or ``hang``."""

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        try:
            gate.send(conn, HEAD % len(BODY) + BODY[:1000], BODY[1000 : 2 * 1024 * 1024])
        except ConnectionError:  # the client closed before taking it all
            if closed is not None:
                closed.set()
            return
        if action == "hang" and wait_client_close(conn, 10) and closed is not None:
            closed.set()

    return handler


async def expect_mode(resp, loop_name: str) -> None:
    """Assert that loop mode took the body over (on both loops, from the head on)."""
    direct = resp.connection.protocol._direct
    assert isinstance(direct, LoopReader), loop_name


async def read_body(resp, how: str) -> bytes:
    if how == "read":
        return await resp.read()
    parts = []
    chunks = resp.content.iter_any() if how == "iter_any" else resp.content.iter_chunked(65536)
    async for chunk in chunks:
        parts.append(chunk)
    return b"".join(parts)


# -- loop mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["iter_any", "iter_chunked", "read"])
@pytest.mark.parametrize("loop_name", LOOPS)
def test_plain_body_is_exact_and_its_connection_reused(raw_server, loop_name, how):
    gate = Gate()
    server = raw_server(keep_alive(send_body(gate)))

    async def main():
        modes = []
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(server.url) as resp:
                    await asyncio.sleep(0)  # the take-over, scheduled with the head
                    modes.append(type(resp.connection.protocol._direct).__name__)
                    gate.open()
                    body = await read_body(resp, how)
                    assert hashlib.sha256(body).digest() == DIGEST
            assert s.connector.stats() == {"acquired": 0, "idle": 1, "waiting": 0}
        return modes

    modes = run_on(loop_name, main())
    # Loop mode on both loops (the selector transport's fixed-size reads fault in fresh pages).
    assert modes == ["LoopReader"] * 2
    assert server.connections == 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_until_close_body_is_exact(raw_server, loop_name):
    gate = Gate()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        gate.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY[:1000],
                  BODY[1000:])

    server = raw_server(handler)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                await asyncio.sleep(0)
                mode = type(resp.connection.protocol._direct).__name__
                gate.open()
                body = await read_body(resp, "iter_any")
            return mode, body, s.connector.stats()

    mode, body, stats = run_on(loop_name, main())
    assert mode == "LoopReader"
    assert hashlib.sha256(body).digest() == DIGEST
    assert stats["idle"] == 0 and stats["acquired"] == 0  # never pooled: it ended by closing


@pytest.mark.parametrize("loop_name", LOOPS)
def test_body_cut_short_by_close_raises_payload_error(raw_server, loop_name):
    gate = Gate()
    server = raw_server(partial_then("close", gate))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                await expect_mode(resp, loop_name)
                gate.open()
                started = time.monotonic()
                with pytest.raises(ClientPayloadError, match="bytes missing"):
                    await read_body(resp, "iter_any")
                return time.monotonic() - started

    assert run_on(loop_name, main()) < 3


@pytest.mark.parametrize("timeout", [ClientTimeout(total=5, sock_read=0.3),
                                     ClientTimeout(total=0.6)], ids=["sock_read", "total"])
@pytest.mark.parametrize("loop_name", LOOPS)
def test_server_stalling_mid_body_raises_read_timeout(raw_server, loop_name, timeout):
    closed = threading.Event()
    gate = Gate()
    server = raw_server(partial_then("hang", gate, closed))

    async def main():
        async with ClientSession(timeout=timeout) as s:
            async with s.get(server.url) as resp:
                await expect_mode(resp, loop_name)
                gate.open()
                started = time.monotonic()
                with pytest.raises(ReadTimeout):
                    await read_body(resp, "iter_any")
                return time.monotonic() - started

    assert run_on(loop_name, main()) < 3
    assert closed.wait(5), "the stalled connection was never closed"


@pytest.mark.parametrize("loop_name", LOOPS)
def test_extra_bytes_after_the_body_close_the_connection(raw_server, loop_name):
    def answer(conn: socket.socket, raw: bytes) -> bool:
        conn.sendall(HEAD % len(BODY) + BODY + b"HTTP/1.1 200 OK\r\n")  # unasked-for bytes
        return True

    server = raw_server(keep_alive(answer))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(server.url) as resp:
                    assert hashlib.sha256(await resp.read()).digest() == DIGEST

    run_on(loop_name, main())
    assert server.connections == 2


@pytest.mark.parametrize("loop_name", LOOPS)
def test_release_mid_body_closes_the_connection_and_the_dup(raw_server, loop_name):
    closed = threading.Event()
    gate = Gate()
    server = raw_server(partial_then("hang", gate, closed))
    before = open_sockets()

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.get(server.url)
            await expect_mode(resp, loop_name)
            gate.open()
            assert await resp.content.readany()
            resp.release()
            assert await asyncio.to_thread(closed.wait, 5), "the server never saw the close"
            for _ in range(3):  # connection_lost callbacks
                await asyncio.sleep(0)
            return s.connector.stats()

    stats = run_on(loop_name, main())
    assert stats == {"acquired": 0, "idle": 0, "waiting": 0}
    assert server.join(5)  # the server's side of the connection is closed too
    assert open_sockets() == before  # the client's socket and its dup are gone


class _StallingSender:
    """Handler sending SIZE bytes of a pattern; records when the client stopped taking data."""

    SIZE = 32 * 1024 * 1024
    PATTERN = bytes(range(256)) * 256

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.sent_at_stall = -1

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        self.send(conn)

    def send(self, conn: socket.socket) -> None:
        conn.sendall(HEAD % self.SIZE)
        conn.setblocking(False)
        sent = 0
        view = memoryview(self.PATTERN)
        while sent < self.SIZE:
            _, writable, _ = select.select([], [conn], [], 0.5)
            if not writable:  # the client stopped taking data: its buffers are full
                if not self.stalled.is_set():
                    self.sent_at_stall = sent
                    self.stalled.set()
                if not select.select([], [conn], [], 10)[1]:
                    return
            try:
                sent += conn.send(view[: min(len(view), self.SIZE - sent)])
            except BlockingIOError:
                continue


@pytest.mark.parametrize("loop_name", LOOPS)
def test_loop_mode_follows_the_stream_readers_flow_control(raw_server, loop_name):
    sender = _StallingSender()
    server = raw_server(sender)

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=15), read_bufsize=256 * 1024) as s:
            async with s.get(server.url) as resp:
                protocol = resp.connection.protocol
                direct = protocol._direct
                assert isinstance(direct, LoopReader)
                assert await asyncio.to_thread(sender.stalled.wait, 10), "never paused"
                assert protocol._reading_paused and not direct._watching
                assert resp.content.buffered < 2 * 1024 * 1024
                digest = hashlib.sha256()
                async for chunk in resp.content.iter_chunked(1 << 20):
                    digest.update(chunk)
                return digest.digest()

    expected = hashlib.sha256(
        _StallingSender.PATTERN * (_StallingSender.SIZE // len(_StallingSender.PATTERN))
    ).digest()
    assert run_on(loop_name, main()) == expected


class Paced:
    """Handler: a head announcing ``pieces`` pieces of ``piece`` bytes, then each piece once
    the client has received the previous ones (the client reports through :meth:`got`)."""

    def __init__(self, pieces: int, piece: int = 64 * 1024) -> None:
        self.body = os.urandom(pieces * piece)
        self.piece = piece
        self._received = 0
        self._cond = threading.Condition()

    def got(self, n: int) -> None:
        with self._cond:
            self._received += n
            self._cond.notify()

    def wait_received(self, n: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._received >= n, 10)

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(HEAD % len(self.body))
        view = memoryview(self.body)
        for start in range(0, len(self.body), self.piece):
            conn.sendall(view[start : start + self.piece])
            if not self.wait_received(start + self.piece):
                return
        wait_client_close(conn, 5)


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.mark.parametrize("loop_name", LOOPS)
def test_loop_mode_reads_what_is_waiting_without_faulting_in_fresh_pages(raw_server, loop_name):
    # 64 KiB at a time: a fixed 256 KiB recv() would shrink every fresh bytes, keeping glibc's
    # malloc on fresh mmaps, one page fault per 4 KiB (~290 per MiB); exact sizes reuse memory.
    paced = Paced(pieces=128)
    server = raw_server(paced)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                await expect_mode(resp, loop_name)
                digest = hashlib.sha256()
                sizes = set()
                faults = minor_faults()
                async for chunk in resp.content.iter_any():
                    sizes.add(len(chunk))
                    digest.update(chunk)
                    paced.got(len(chunk))
                return minor_faults() - faults, max(sizes), digest.digest()

    faults, largest, digest = run_on(loop_name, main())
    assert digest == hashlib.sha256(paced.body).digest()
    assert largest <= paced.piece
    assert faults / (len(paced.body) / (1 << 20)) < 64, f"{faults} page faults for 8 MiB"


class _EagerSender(_StallingSender):
    """Keep-alive: a first body (the client's receive buffer grows as it reads it); then,
    from the second request's head on (its body is left unread), a response sent until
    the client's buffers are full (``stalled``), then the rest."""

    SIZE = 16 * 1024 * 1024
    WARM = os.urandom(8 * 1024 * 1024)

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(HEAD % len(self.WARM) + self.WARM)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = conn.recv(1)
            if not byte:
                return
            head += byte
        self.send(conn)
        conn.setblocking(True)  # the rest of the request, read (a close with it unread resets)
        rest = b""
        while not rest.endswith(b"0\r\n\r\n") and (data := conn.recv(4096)):
            rest += data
        wait_client_close(conn, 5)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_loop_mode_starts_at_the_head(raw_server, loop_name):
    # The client's buffers are full when it reads the head: uvloop's transport reads on
    # while its reads come full, up to the StreamReader's high water (4 MiB), unless
    # loop mode starts from the head's own read.
    sender = _EagerSender()
    server = raw_server(sender)
    trace = TraceConfig()

    async def sent(session, ctx, params):
        # Hold the loop (nothing is read meanwhile) until the server's sends stall. A spin
        # on the flag: the engine's blocking-call detector refuses a blocking wait here.
        deadline = time.monotonic() + 10
        while not sender.stalled.is_set():
            assert time.monotonic() < deadline, "the server never filled the buffers"

    trace.on_request_chunk_sent.append(sent)

    async def upload():
        yield b"x"

    async def main():
        async with ClientSession(timeout=SHORT, trace_configs=[trace]) as s:
            async with s.get(server.url) as resp:
                assert await resp.read() == _EagerSender.WARM
            async with s.post(server.url, data=upload()) as resp:
                await expect_mode(resp, loop_name)
                early = resp.content.total_bytes  # what the transport read: one read (or two)
                digest = hashlib.sha256()
                async for chunk in resp.content.iter_chunked(1 << 20):
                    digest.update(chunk)
            return early, digest.digest()

    early, digest = run_on(loop_name, main())
    assert early <= 2 * 1024 * 1024  # the old way: the high water (4 MiB) and more
    pattern = _StallingSender.PATTERN
    assert digest == hashlib.sha256(pattern * (_EagerSender.SIZE // len(pattern))).digest()


@pytest.mark.parametrize("loop_name", LOOPS)
def test_head_responses_never_start_loop_mode(raw_server, loop_name, monkeypatch):
    # A HEAD response announces a large body that never comes: no dup for it.
    from syncwrap.engine.http1 import connection

    def answer(conn: socket.socket, raw: bytes) -> bool:
        conn.sendall(HEAD % (8 * 1024 * 1024))
        return True

    server = raw_server(keep_alive(answer))
    dups = []
    real_dup = connection.body_socket
    monkeypatch.setattr(connection, "body_socket", lambda t: dups.append(t) or real_dup(t))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(2):
                async with s.head(server.url) as resp:
                    assert resp.content_length == 8 * 1024 * 1024
                    assert await resp.read() == b""
            return s.connector.stats()

    assert run_on(loop_name, main()) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert dups == []
    assert server.connections == 1


# -- the paths that keep the transport -----------------------------------------------------------


def _chunked(data: bytes) -> bytes:
    return chunk_framed(data, 100_000)


@pytest.mark.parametrize("kind", ["gzip", "chunked"])
@pytest.mark.parametrize("loop_name", LOOPS)
def test_transformed_or_chunked_bodies_keep_the_transport(raw_server, loop_name, kind):
    gate = Gate()

    def answer(conn: socket.socket, raw: bytes) -> bool:
        if kind == "gzip":
            packed = gzip.compress(BODY, compresslevel=1)
            data = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(packed) + packed)
        else:
            data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + _chunked(BODY))
        gate.send(conn, data[:1000], data[1000:])
        return True

    server = raw_server(keep_alive(answer))

    async def main():
        modes = []
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(server.url) as resp:
                    await asyncio.sleep(0)
                    modes.append(resp.connection.protocol._direct)
                    gate.open()
                    body = await read_body(resp, "iter_any")
                    assert hashlib.sha256(body).digest() == DIGEST
        return modes

    assert run_on(loop_name, main()) == [None, None]
    assert server.connections == 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_tls_bodies_keep_the_transport(raw_server, loop_name, server_ssl_context,
                                       client_ssl_context):
    gate = Gate()

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn, server_side=True) as tls:
            while read_request(tls):
                gate.send(tls, HEAD % len(BODY) + BODY[:1000], BODY[1000:])

    server = raw_server(handler)
    url = server.url.replace("http://", "https://")

    async def main():
        connector = TCPConnector(ssl=client_ssl_context)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(url) as resp:
                    await asyncio.sleep(0)
                    assert resp.connection.protocol._direct is None
                    gate.open()
                    body = await read_body(resp, "iter_any")
                    assert hashlib.sha256(body).digest() == DIGEST

    run_on(loop_name, main())
    assert server.connections == 1


# -- thread mode ---------------------------------------------------------------------------------


def _receive_all(body: SocketBody, size: int) -> bytes:
    parts = [body.buffered]
    while chunk := body.recv(size, exact=True):
        parts.append(chunk)
    body.close()
    return b"".join(parts)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_thread_mode_delivers_the_body_and_pools_the_connection(raw_server, loop_name):
    gate = Gate()
    server = raw_server(keep_alive(send_body(gate)))

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=5, sock_read=2)) as s:
            for _ in range(2):
                resp = await s.get(server.url)
                protocol = resp.connection.protocol
                body = take_body(resp)
                assert body is not None and protocol._direct is body
                gate.open()
                data = await asyncio.to_thread(_receive_all, body, 1 << 20)
                assert hashlib.sha256(data).digest() == DIGEST
                await asyncio.sleep(0)  # the hand-back posted by the reading thread
                assert resp.connection is None  # released...
                # ...with the socket as the loop needs it: non-blocking, no receive timeout.
                fd = protocol.transport.get_extra_info("socket").fileno()
                assert os.get_blocking(fd) is False
                with socket.socket(fileno=os.dup(fd)) as probe:
                    timeo = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
                assert timeo == bytes(16)
            return s.connector.stats()  # ...into the pool

    assert run_on(loop_name, main()) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.connections == 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_thread_mode_refuses_small_and_transformed_bodies(raw_server, loop_name):
    small = os.urandom(MIN_BODY // 2)

    def answer(conn: socket.socket, raw: bytes) -> bool:
        if b"gzip" in raw.split(b"\r\n", 1)[0]:
            packed = gzip.compress(BODY, compresslevel=1)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(packed) + packed)
        else:
            conn.sendall(HEAD % len(small) + small)
        return True

    server = raw_server(keep_alive(answer))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for path, expected in (("/small", small), ("/gzip", BODY)):
                async with s.get(server.url + path) as resp:
                    assert take_body(resp) is None
                    assert await resp.read() == expected

    run_on(loop_name, main())
    assert server.connections == 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_thread_mode_short_body_and_stall(raw_server, loop_name):
    gate = Gate()
    short = raw_server(partial_then("close", gate))
    closed = threading.Event()
    stalled = raw_server(partial_then("hang", gate, closed))

    async def main():
        timeout = ClientTimeout(total=5, sock_read=0.3)
        async with ClientSession(timeout=timeout) as s:
            for url, error, match in ((short.url, ClientPayloadError, "bytes missing"),
                                      (stalled.url, ReadTimeout, "sock_read")):
                resp = await s.get(url)
                body = take_body(resp)
                assert body is not None
                gate.open()
                started = time.monotonic()
                with pytest.raises(error, match=match):
                    await asyncio.to_thread(_receive_all, body, 1 << 20)
                assert time.monotonic() - started < 3
                await asyncio.sleep(0)
                assert resp.connection is None and resp.closed
            return s.connector.stats()

    assert run_on(loop_name, main()) == {"acquired": 0, "idle": 0, "waiting": 0}
    assert closed.wait(5)
