"""Direct body reads in the facade: a large plain streamed body is received by the calling
thread straight from the socket (syncwrap._bridge.direct, thread mode; DirectChannel).

Checked: exact bytes for every way of reading, the hand-over from bytes received before the
take-over to bytes read from the socket, connection reuse afterwards, errors (short body,
sock_read and total timeouts, Ctrl-C), early close and garbage collection (connection closed,
nothing leaked or printed), and the paths that keep the pump (gzip, small); TLS bodies are
read directly too (their own tests: tests/facade/test_tls_direct.py).
Real servers on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import os
import random
import socket
import threading
import time
from collections.abc import Callable

import pytest

import syncwrap
from syncwrap._bridge.channel import ByteChannel as BodyChannel
from syncwrap._bridge.downloads import DirectChannel
from syncwrap.engine.http1.direct import MIN_BODY
from tests.facade._util import (
    WAIT,
    abandon_early,
    close_under_blocked_reader,
    interrupt_when_blocked,
    start_script,
)
from tests.servers import Gate, read_request, wait_client_close

MIB = 1024 * 1024
BODY = os.urandom(3 * MIB + 4321)
DIGEST = hashlib.sha256(BODY).digest()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


def _lines_body() -> bytes:
    rng = random.Random(7)
    lines = []
    size = 0
    while size < 2 * MIB:
        text = bytes(rng.choice(b"abcdefgh ") for _ in range(rng.randrange(90)))
        line = b"%d:" % len(lines) + text
        lines.append(line + (b"\r\n" if rng.random() < 0.3 else b"\n"))
        size += len(lines[-1])
    return b"".join(lines) + b"last line, no ending"


LINES = _lines_body()
FIRST = 1500  # bytes of LINES sent before the gate: the take-over point falls mid-line


def open_sockets() -> set[str]:
    """This process's socket file descriptors ("fd:socket:[inode]")."""
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            fds.add(f"{fd}:{target}")
    return fds


def pool_stats(s: syncwrap.Session) -> dict[str, int]:
    """The session's pool, seen from the loop thread: after every hand-back posted so far."""

    async def stats() -> dict[str, int]:
        return s.connector.stats()

    return syncwrap.run(stats(), timeout=WAIT)


def keep_alive(answer: Callable[[socket.socket, bytes], None]) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        while raw := read_request(conn):
            answer(conn, raw)

    return handler


def gated(gate: Gate, body: bytes = BODY, first: int = 1000, head: bytes | None = None):
    """Keep-alive answer: ``head`` (Content-Length by default) + first bytes, gate, the rest."""

    def answer(conn: socket.socket, raw: bytes) -> None:
        start = head if head is not None else HEAD % len(body)
        gate.send(conn, start + body[:first], body[first:])

    return answer


class Partial:
    """Handler: head announcing BODY, 2 MiB of it (after the gate), then close or hang.

    ``closed`` is set once the client has closed the connection.
    """

    def __init__(self, gate: Gate, then: str) -> None:
        self.gate = gate
        self.then = then
        self.closed = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        try:
            self.gate.send(conn, HEAD % len(BODY) + BODY[:1000], BODY[1000 : 2 * MIB])
        except ConnectionError:
            self.closed.set()
            return
        if self.then == "hang" and wait_client_close(conn, 20):
            self.closed.set()


# -- the fast path delivers exact bytes and pools the connection -------------------------------


@pytest.mark.parametrize("api", ["session", "module"])
def test_iter_content_gets_exact_chunks_and_the_connection_is_reused(raw_server, api):
    gate = Gate()
    server = raw_server(keep_alive(gated(gate)))
    with syncwrap.Session() as s:
        get = s.get if api == "session" else syncwrap.get
        for _ in range(3):
            with get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                gate.open()
                chunks = list(r.iter_content(MIB))
            assert [len(c) for c in chunks[:-1]] == [MIB] * (len(chunks) - 1)
            assert hashlib.sha256(b"".join(chunks)).digest() == DIGEST
        if api == "session":
            gate.open()  # a last, non-streamed request goes through the pooled connection
            assert hashlib.sha256(s.get(server.url, timeout=WAIT).content).digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.connections == 1


@pytest.mark.parametrize("how", ["iter_content(None)", "content", "raw.read()", "raw.read(n)",
                                 "raw.readinto", "raw.read1", "iter_content(7)"])
def test_every_reader_gets_exact_bytes(raw_server, how):
    gate = Gate()
    server = raw_server(keep_alive(gated(gate)))
    with syncwrap.Session() as s, s.get(server.url, stream=True, timeout=WAIT) as r:
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        if how == "iter_content(None)":
            data = b"".join(r.iter_content(None))
        elif how == "content":
            data = r.content
        elif how == "raw.read()":
            data = r.raw.read()
        elif how == "raw.read(n)":
            parts = []
            while part := r.raw.read(100_003):
                assert len(part) == 100_003 or len(b"".join(parts)) + len(part) == len(BODY)
                parts.append(part)
            data = b"".join(parts)
        elif how == "raw.readinto":
            buf = bytearray(BODY.__len__() + 10)
            view = memoryview(buf)
            got = 0
            while n := r.raw.readinto(view[got : got + 65536]):
                got += n
            data = bytes(buf[:got])
        elif how == "raw.read1":
            parts = []
            while part := r.raw.read1(300_000):
                assert len(part) <= 300_000
                parts.append(part)
            data = b"".join(parts)
        else:
            data = b"".join(r.iter_content(7))
    assert hashlib.sha256(data).digest() == DIGEST
    assert server.connections == 1


_PACED = """
import hashlib, os, resource, socket, sys, threading
import syncwrap
from tests.servers import read_request

PIECE = 64 * 1024
BODY = os.urandom(128 * PIECE)
received = 0
cond = threading.Condition()

def got(n):
    global received
    with cond:
        received += n
        cond.notify()

def serve(listener):
    # each piece once the client has received the previous ones
    global received
    conn, _ = listener.accept()
    with conn:
        while read_request(conn):
            with cond:
                received = 0
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(BODY))
            for end in range(PIECE, len(BODY) + 1, PIECE):
                conn.sendall(BODY[end - PIECE : end])
                with cond:
                    if not cond.wait_for(lambda: received >= end, 10):
                        return

listener = socket.create_server(("127.0.0.1", 0))
threading.Thread(target=serve, args=(listener,), daemon=True).start()
url = "http://127.0.0.1:%d/" % listener.getsockname()[1]
with syncwrap.Session() as s:
    for _ in range(2):
        with s.get(url, stream=True, timeout=10) as r:
            channel = type(r._channel).__name__
            if sys.argv[1] == "iter_content(None)":
                chunks = r.iter_content(None)
            else:
                chunks = iter(lambda: r.raw.read1(1 << 20), b"")
            digest, largest = hashlib.sha256(), 0
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for chunk in chunks:
                digest.update(chunk)
                largest = max(largest, len(chunk))
                got(len(chunk))
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            print(channel, digest.digest() == hashlib.sha256(BODY).digest(),
                  largest <= PIECE, faults, flush=True)
    print(s.connector.stats()["idle"], flush=True)
"""


@pytest.mark.parametrize("how", ["iter_content(None)", "raw.read1"])
def test_reads_of_what_arrived_are_exact_sized(tmp_path, how):
    # 64 KiB at a time, in a fresh process (malloc's thresholds not yet raised by others):
    # a 1 MiB recv() returning 64 KiB leaves a shrunk bytes that keeps glibc's malloc on
    # fresh mmaps (a page fault per 4 KiB, ~290 per MiB); reads sized to what is waiting
    # reuse memory. Exact bytes, and the connection pooled after each whole body.
    script = tmp_path / "paced.py"
    script.write_text(_PACED)
    proc = start_script(str(script), how)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert err == ""
    *bodies, idle = out.split("\n")[:-1]
    assert idle == "1"
    for line in bodies:
        channel, exact, small, faults = line.split()
        assert (channel, exact, small) == ("DirectChannel", "True", "True")
        assert int(faults) / 8 < 64, f"{faults} page faults for 8 MiB"


@pytest.mark.parametrize("how", ["iter_lines", "raw.readline", "raw iteration"])
def test_lines_across_the_hand_over_point(raw_server, how):
    gate = Gate()
    server = raw_server(keep_alive(gated(gate, LINES, first=FIRST)))
    with syncwrap.Session() as s:
        with s.get(server.url, stream=True, timeout=WAIT) as r:
            channel = r._channel
            assert isinstance(channel, DirectChannel)
            # What arrived with the head is served first, the rest comes from the socket.
            assert 0 < channel._pending.buffered <= FIRST
            gate.open()
            if how == "iter_lines":
                lines = list(r.iter_lines())
                assert lines == LINES.splitlines()
            else:
                lines = list(r.raw) if how == "raw iteration" else iter(r.raw.readline, b"")
                assert b"".join(lines) == LINES
        gate.open()
        assert s.get(server.url, timeout=WAIT).content == LINES  # the same connection
    assert server.connections == 1


def test_until_close_body(raw_server):
    gate = Gate()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        gate.send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY[:1000],
                  BODY[1000:])

    server = raw_server(handler)
    with syncwrap.Session() as s:
        with s.get(server.url, stream=True, timeout=WAIT) as r:
            assert isinstance(r._channel, DirectChannel)
            gate.open()
            data = b"".join(r.iter_content(MIB))
        assert hashlib.sha256(data).digest() == DIGEST
        assert pool_stats(s)["idle"] == 0


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MIB, None], ids=["iter_content(MIB)", "iter_content(None)"])
def test_body_cut_short_raises_payload_error(raw_server, size):
    gate = Gate()
    server = raw_server(Partial(gate, "close"))
    with syncwrap.get(server.url, stream=True, timeout=WAIT) as r:
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        started = time.monotonic()
        with pytest.raises(syncwrap.ClientPayloadError, match="bytes missing"):
            for _ in r.iter_content(size):
                pass
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("read", ["iter_content", "raw.read", "iter_lines", "content"])
@pytest.mark.parametrize("timeout", [(5, 0.3), 0.8], ids=["sock_read", "total"])
def test_server_stalling_mid_body_raises_read_timeout(raw_server, read, timeout):
    gate = Gate()
    handler = Partial(gate, "hang")
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=timeout)
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout):
            if read == "iter_content":
                list(r.iter_content(MIB))
            elif read == "raw.read":
                r.raw.read()
            elif read == "iter_lines":
                list(r.iter_lines())
            else:
                r.content  # noqa: B018
        assert time.monotonic() - started < 3
        r.close()
        assert handler.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s)["acquired"] == 0


@pytest.mark.parametrize("how", ["close", "break", "del", "raw.close"])
def test_closing_early_closes_the_connection_quietly(raw_server, capfd, how):
    gate = Gate()
    first = Partial(gate, "hang")
    fresh = Gate()

    def handler(conn: socket.socket) -> None:
        if server.connections == 1:
            first(conn)
        else:
            keep_alive(gated(fresh))(conn)

    server = raw_server(handler)
    before = open_sockets()
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=WAIT)
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        abandon_early(r, how)
        del r  # for "del", the last reference
        gc.collect()
        assert first.closed.wait(WAIT), "the server never saw the connection close"
        fresh.open()
        again = s.get(server.url, timeout=WAIT)
        assert hashlib.sha256(again.content).digest() == DIGEST
        assert server.connections == 2  # the closed stream's connection was not reused
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.join(WAIT)
    assert open_sockets() <= before  # no dup or connection left behind
    out, err = capfd.readouterr()
    assert err == "", err


def test_close_from_another_thread_wakes_a_blocked_reader(raw_server):
    gate = Gate()
    handler = Partial(gate, "hang")
    server = raw_server(handler)
    r = syncwrap.get(server.url, stream=True, timeout=None)
    assert isinstance(r._channel, DirectChannel)
    gate.open()
    received, errors = close_under_blocked_reader(r, MIB, handler.closed)
    assert [type(e) for e in errors] == [syncwrap.ClientPayloadError]
    assert sum(map(len, received)) < len(BODY)
    assert handler.closed.wait(WAIT)


# -- the paths that keep the pump ----------------------------------------------------------------


# (A streamed chunked body is received directly too: tests/facade/test_direct_chunked.py.)
@pytest.mark.parametrize("kind", ["gzip", "small"])
def test_other_bodies_keep_the_pump(raw_server, kind):
    gate = Gate()
    expected = BODY[: MIN_BODY // 2] if kind == "small" else BODY

    def answer(conn: socket.socket, raw: bytes) -> None:
        if kind == "gzip":
            packed = gzip.compress(BODY, compresslevel=1)
            data = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(packed) + packed)
        else:
            data = HEAD % len(expected) + expected
        gate.send(conn, data[:1000], data[1000:])

    server = raw_server(keep_alive(answer))
    with syncwrap.Session() as s:
        for _ in range(2):
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, BodyChannel)
                gate.open()
                assert b"".join(r.iter_content(MIB)) == expected
    assert server.connections == 1


def test_tls_bodies_are_read_directly_too(raw_server, server_ssl_context, ca_pem_path):
    gate = Gate()

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn, server_side=True) as tls:
            while read_request(tls):
                gate.send(tls, HEAD % len(BODY) + BODY[:1000], BODY[1000:])

    server = raw_server(handler)
    url = server.url.replace("http://", "https://")
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)  # over our TLS transport
                gate.open()
                assert hashlib.sha256(b"".join(r.iter_content(MIB))).digest() == DIGEST
    assert server.connections == 1


# -- other processes: Ctrl-C, and the loop thread on asyncio's own loop ------------------------

@pytest.mark.parametrize("size", [1 << 20, 0], ids=["iter_content(MIB)", "iter_content(None)"])
def test_ctrl_c_while_receiving_closes_the_connection(raw_server, size):
    gate = Gate()
    handler = Partial(gate, "hang")
    server = raw_server(handler)
    proc = start_script("read_until_ctrl_c.py", server.url, "--size", str(size))
    interrupt_when_blocked(proc, handler.closed, "DirectChannel", gate.open)


_ON_ASYNCIO = """
import hashlib, sys
import syncwrap
from syncwrap import loop as loop_thread

with syncwrap.Session() as s:
    for _ in range(2):
        with s.get(sys.argv[1], stream=True, timeout=10) as r:
            kind = type(r._channel).__name__
            print(kind, hashlib.sha256(b"".join(r.iter_content(1 << 20))).hexdigest(),
                  type(loop_thread.get_loop()).__module__, flush=True)
"""


def test_direct_reads_with_the_loop_thread_on_asyncio(raw_server, tmp_path):
    def answer(conn: socket.socket, raw: bytes) -> None:
        conn.sendall(HEAD % len(BODY) + BODY)

    server = raw_server(keep_alive(answer))
    script = tmp_path / "on_asyncio.py"
    script.write_text(_ON_ASYNCIO)
    proc = start_script(str(script), server.url, SYNCWRAP_NO_UVLOOP="1")
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert err == ""
    line = f"DirectChannel {hashlib.sha256(BODY).hexdigest()} asyncio.unix_events"
    assert out.splitlines() == [line, line]
    assert server.connections == 1
