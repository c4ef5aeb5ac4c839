"""Chunked bodies received by the calling thread: a streamed chunked body on plain TCP is
handed off like a large plain one (syncwrap._bridge.direct, thread mode), and its framing
stays the engine's (RawBody.framing: the connection's own ChunkedDecoder).

Checked: exact bytes by sha256 for many chunk shapes and every way of reading, the end of
the body split across receives, connection reuse after a complete body, bytes after the
end (no reuse, as on the loop), early close, sock_read and total timeouts, a server cut
mid-chunk, hostile framing (ClientPayloadError in bounded time and memory), Ctrl-C, and the
bodies that keep the pump (already whole, gzip; TLS ones are read directly too). Real servers
on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import os
import random
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable
from types import SimpleNamespace

import pytest

import syncwrap
from syncwrap._bridge.channel import ByteChannel
from syncwrap._bridge.downloads import DirectChannel
from syncwrap.engine.http1.direct import CHUNKED, RawBody
from syncwrap.engine.http1.parser import DEFAULT_LIMITS, ResponseParser
from syncwrap.engine.http1.state import State
from tests.engine._util import run
from tests.engine.test_connection_state import REQUEST, connect
from tests.facade._util import (
    WAIT,
    abandon_early,
    close_under_blocked_reader,
    interrupt_when_blocked,
    start_script,
)
from tests.facade.test_direct_read import open_sockets, pool_stats
from tests.servers import Gate, read_request, wait_client_close

KIB = 1024
MIB = 1024 * KIB
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BODY = os.urandom(3 * MIB + 4321)
DIGEST = hashlib.sha256(BODY).hexdigest()


def frame(data: bytes, sizes: Callable[[int], int], ext: bytes = b"",
          trailers: bytes = b"") -> bytes:
    """``data`` as a chunked body: chunk sizes from ``sizes(i)``, each size line followed
    by ``ext``, the last chunk by ``trailers``."""
    out = []
    pos = i = 0
    while pos < len(data):
        piece = data[pos : pos + sizes(i)]
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        pos += len(piece)
        i += 1
    return b"".join(out) + b"0\r\n" + trailers + b"\r\n"


def _random_sizes(seed: int) -> Callable[[int], int]:
    rng = random.Random(seed)
    return lambda i: rng.choice((1, 2, 3, 17, 1000, 4096, 65535, 65536, 65537, 300_000))


SHAPES: dict[str, tuple[bytes, bytes]] = {  # name: (body, its framing)
    "1-byte chunks": (BODY[:40_000], frame(BODY[:40_000], lambda i: 1)),
    "1 MiB chunks": (BODY, frame(BODY, lambda i: MIB)),
    "64 KiB chunks": (BODY, frame(BODY, lambda i: 64 * KIB)),
    "mixed sizes": (BODY, frame(BODY, _random_sizes(3))),
    "one chunk": (BODY, frame(BODY, lambda i: len(BODY))),
    "extensions": (BODY, frame(BODY, _random_sizes(4), ext=b';name="va;lue";flag')),
    "trailers": (BODY, frame(BODY, _random_sizes(5),
                             trailers=b"X-Checksum: abc\r\nX-Other: 1\r\n")),
    "upper-case hex": (BODY, frame(BODY, lambda i: 0xABCDE).replace(b"abcde", b"ABCDE")),
}


def keep_alive(answer: Callable[[socket.socket, bytes], None]) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        while raw := read_request(conn):
            answer(conn, raw)

    return handler


def gated(gate: Gate, framed: bytes, first: int = 1000) -> Callable[[socket.socket, bytes], None]:
    """Keep-alive answer: the head and ``first`` bytes of ``framed``, the gate, the rest."""

    def answer(conn: socket.socket, raw: bytes) -> None:
        gate.send(conn, CHUNKED_HEAD + framed[:first], framed[first:])

    return answer


class Stalling:
    """Handler: the head and ``framed`` (after the gate), then close or hang (``closed`` is
    set once the client closed the connection)."""

    def __init__(self, gate: Gate, framed: bytes, then: str) -> None:
        self.gate = gate
        self.framed = framed
        self.then = then
        self.closed = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        try:
            self.gate.send(conn, CHUNKED_HEAD + self.framed[:1000], self.framed[1000:])
        except ConnectionError:
            self.closed.set()
            return
        if self.then == "hang" and wait_client_close(conn, 20):
            self.closed.set()


#: Two whole 1 MiB chunks, then half of a third one.
CUT_MID_CHUNK = (frame(BODY[: 2 * MIB], lambda i: MIB)[:-5] + b"100000\r\n"
                 + BODY[2 * MIB : 2 * MIB + MIB // 2])


# -- exact bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_chunk_shape_gives_exact_bytes_and_the_connection_is_reused(raw_server, shape):
    body, framed = SHAPES[shape]
    gate = Gate()
    server = raw_server(keep_alive(gated(gate, framed)))
    with syncwrap.Session() as s:
        for _ in range(2):
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                gate.open()
                chunks = list(r.iter_content(MIB))
            assert [len(c) for c in chunks[:-1]] == [MIB] * (len(chunks) - 1)
            assert hashlib.sha256(b"".join(chunks)).hexdigest() == hashlib.sha256(body).hexdigest()
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
        gate.open()  # the same connection serves a body read whole (on the loop)
        assert s.get(server.url, timeout=WAIT).content == body
    assert server.connections == 1


@pytest.mark.parametrize("how", ["iter_content(None)", "content", "raw.read()", "raw.read(n)",
                                 "raw.readinto", "raw.read1", "iter_content(7)", "iter_lines"])
def test_every_reader_gets_exact_bytes(raw_server, how):
    body, framed = SHAPES["mixed sizes"]
    gate = Gate()
    server = raw_server(keep_alive(gated(gate, framed)))
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
                assert len(part) == 100_003 or sum(map(len, parts)) + len(part) == len(body)
                parts.append(part)
            data = b"".join(parts)
        elif how == "raw.readinto":
            buf = bytearray(len(body) + 10)
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
        elif how == "iter_lines":
            data = b"\n".join(r.iter_lines(delimiter=b"\n"))
        else:
            data = b"".join(r.iter_content(7))
    assert hashlib.sha256(data).hexdigest() == DIGEST
    assert server.connections == 1


@pytest.mark.parametrize("split", [b"0", b"0\r", b"0\r\n", b"0\r\n\r", b"0\r\nX-T: 1\r\n"])
def test_the_last_chunk_split_across_receives(raw_server, split):
    """The body's bytes are all read while its end is still on its way: the read waits
    for the rest of the last chunk (and trailers), then the connection is pooled."""
    gate = Gate()
    tail = b"0\r\nX-T: 1\r\n\r\n" if split.endswith(b"X-T: 1\r\n") else b"0\r\n\r\n"
    framed = frame(BODY, lambda i: 100_000)[: -len(b"0\r\n\r\n")]

    def answer(conn: socket.socket, raw: bytes) -> None:
        conn.sendall(CHUNKED_HEAD + framed[:1000])
        gate.send(conn, framed[1000:] + split, tail[len(split):])

    server = raw_server(keep_alive(answer))
    with syncwrap.Session() as s:
        for _ in range(2):
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                data = r.raw.read(len(BODY))  # every body byte: the framing is not done
                assert pool_stats(s)["acquired"] == 1
                gate.open()
                assert r.raw.read() == b""
            assert hashlib.sha256(data).hexdigest() == DIGEST
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.connections == 1


def test_bytes_after_the_end_prevent_reuse_as_on_the_loop(raw_server):
    gate = Gate()
    framed = frame(BODY, lambda i: 100_000)

    def answer(conn: socket.socket, raw: bytes) -> None:
        gate.send(conn, CHUNKED_HEAD + framed[:1000], framed[1000:] + b"HTTP/1.1 200 OK\r\n")

    server = raw_server(keep_alive(answer))
    with syncwrap.Session() as s:
        for _ in range(2):
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                gate.open()
                assert hashlib.sha256(r.content).hexdigest() == DIGEST
            assert pool_stats(s)["idle"] == 0
    assert server.connections == 2


# -- the hand-off itself (the engine's seam) ----------------------------------------------------


class AsyncTaker:
    """A body taker on the loop: the dup read with sock_recv, a chunked body framed through
    ``RawBody.framing``."""

    def __init__(self, raw: RawBody) -> None:
        self.raw = raw
        self.stops: list[BaseException | None] = []

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def stop(self, error: BaseException | None) -> None:
        self.stops.append(error)
        self.raw.sock.close()

    async def receive(self) -> bytes:
        raw = self.raw
        parts, left = [raw.buffered], raw.left
        while left if raw.framing is None else not raw.framing.done:
            data = await raw.loop.sock_recv(raw.sock, 256 * KIB)
            assert data, "EOF before the end of the body"
            if raw.framing is None:
                parts.append(data)
                left -= len(data)
            else:
                parts.extend(data[start:stop] for start, stop in raw.framing.feed(data))
        return b"".join(parts)


@pytest.mark.parametrize("kind", ["content-length", "chunked"])
def test_a_reader_paused_by_flow_control_stays_paused_after_the_hand_off(raw_server, kind):
    """The hand-off drains the body's reader, whose flow control then resumes reading: the
    transport must not read the body on the loop behind the taker's back."""
    body = BODY[: 2 * MIB]
    if kind == "chunked":
        data, head = frame(body, lambda i: 100_000), CHUNKED_HEAD
    else:
        data, head = body, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    gate = Gate()
    server = raw_server(keep_alive(lambda conn, raw: gate.send(conn, head + data[:300_000],
                                                               data[300_000:])))
    options = SimpleNamespace(auto_decompress=True, raw_statuses=frozenset(),
                              high_water=16 * KIB, read_timeout=None, limits=DEFAULT_LIMITS,
                              expect100=False)

    async def main() -> tuple[bytes, int, int, State]:
        protocol = await connect(server)
        protocol.start_response("GET", options)
        protocol.send(REQUEST)
        await protocol.wait_head()
        reader, _ = protocol.take_body()
        while protocol.transport.is_reading():  # until the reader's flow control pauses it
            await asyncio.sleep(0)
        taker = protocol.hand_off(AsyncTaker, min_size=1, chunked=True)
        assert (taker.raw.left == CHUNKED) is (kind == "chunked")
        assert not protocol.transport.is_reading()
        fed = reader.total_bytes
        gate.open()
        received = await taker.receive()
        assert taker.raw.complete(taker)
        state = protocol.state
        protocol.close()
        return received, fed, reader.total_bytes, state

    received, fed, total, state = run(main(), timeout=WAIT)
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()
    assert total == fed  # nothing reached the reader after the hand-off
    assert state is State.COMPLETE


def test_ctrl_c_inside_a_parser_callback_stays_keyboard_interrupt():
    """A signal can land in the parser's body callback once the reading thread (the main
    thread, off the loop) runs the framing: it must come out as itself, not as a
    malformed body (the loop and the hand-off share this parsing)."""

    def on_body(data: bytes) -> None:
        raise KeyboardInterrupt

    parser = ResponseParser(lambda head: None, on_body, lambda: None)
    with pytest.raises(KeyboardInterrupt):
        parser.feed(CHUNKED_HEAD + b"5\r\nhello\r\n")


# -- the bodies that keep the pump -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["whole", "gzip", "not streamed"])
def test_other_chunked_bodies_keep_the_loop(raw_server, kind):
    small = b"x" * 2000
    packed = gzip.compress(BODY, compresslevel=1)

    def answer(conn: socket.socket, raw: bytes) -> None:
        if kind == "whole":  # a small API response, whole with its head
            conn.sendall(CHUNKED_HEAD + frame(small, lambda i: 500))
        else:
            head = CHUNKED_HEAD
            if kind == "gzip":
                head = head[:-2] + b"Content-Encoding: gzip\r\n\r\n"
            data = frame(packed if kind == "gzip" else BODY, lambda i: 100_000)
            conn.sendall(head + data)

    server = raw_server(keep_alive(answer))
    with syncwrap.Session() as s:
        for _ in range(2):
            if kind == "not streamed":
                assert hashlib.sha256(s.get(server.url, timeout=WAIT).content).hexdigest() == DIGEST
                continue
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                if kind == "whole":  # complete before the Response existed: bytes at once
                    assert r._channel is None or isinstance(r._channel, ByteChannel)
                    assert r.content == small
                else:
                    assert isinstance(r._channel, ByteChannel)
                    assert hashlib.sha256(b"".join(r.iter_content(MIB))).hexdigest() == DIGEST
    assert server.connections == 1


def test_tls_chunked_bodies_are_read_directly_too(raw_server, server_ssl_context, ca_pem_path):
    gate = Gate()
    framed = frame(BODY, lambda i: 100_000)

    def handler(conn: socket.socket) -> None:
        with server_ssl_context.wrap_socket(conn, server_side=True) as tls:
            while read_request(tls):
                gate.send(tls, CHUNKED_HEAD + framed[:1000], framed[1000:])

    server = raw_server(handler)
    url = server.url.replace("http://", "https://")
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)  # over our TLS transport
                gate.open()
                assert hashlib.sha256(b"".join(r.iter_content(MIB))).hexdigest() == DIGEST
    assert server.connections == 1


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "break", "del"])
def test_closing_early_closes_the_connection(raw_server, capfd, how):
    gate = Gate()
    first = Stalling(gate, frame(BODY, lambda i: 100_000)[: 2 * MIB], "hang")
    fresh = Gate()

    def handler(conn: socket.socket) -> None:
        if server.connections == 1:
            first(conn)
        else:
            keep_alive(gated(fresh, frame(BODY, lambda i: 100_000)))(conn)

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
        assert hashlib.sha256(again.content).hexdigest() == DIGEST
        assert server.connections == 2  # the abandoned body's connection was not reused
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.join(WAIT)
    assert open_sockets() <= before  # no dup or connection left behind
    assert capfd.readouterr().err == ""


def test_close_from_another_thread_wakes_a_blocked_reader(raw_server):
    gate = Gate()
    handler = Stalling(gate, CUT_MID_CHUNK, "hang")
    server = raw_server(handler)
    r = syncwrap.get(server.url, stream=True, timeout=None)
    assert isinstance(r._channel, DirectChannel)
    gate.open()
    received, errors = close_under_blocked_reader(r, MIB, handler.closed)
    assert [type(e) for e in errors] == [syncwrap.ClientPayloadError]
    assert BODY[: 2 * MIB].startswith(b"".join(received))
    assert handler.closed.wait(WAIT)


@pytest.mark.parametrize("timeout", [(5, 0.3), 0.8], ids=["sock_read", "total"])
def test_server_stalling_mid_chunk_raises_read_timeout(raw_server, timeout):
    gate = Gate()
    handler = Stalling(gate, CUT_MID_CHUNK, "hang")
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=timeout)
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        started = time.monotonic()
        received = []
        with pytest.raises(syncwrap.ReadTimeout):
            for chunk in r.iter_content(64 * KIB):
                received.append(chunk)
        assert time.monotonic() - started < 3
        assert b"".join(received) == BODY[: len(b"".join(received))]
        r.close()
        assert handler.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s)["acquired"] == 0


def test_server_cut_mid_chunk_raises_payload_error(raw_server):
    gate = Gate()
    server = raw_server(Stalling(gate, CUT_MID_CHUNK, "close"))
    with syncwrap.Session() as s:
        with s.get(server.url, stream=True, timeout=WAIT) as r:
            assert isinstance(r._channel, DirectChannel)
            gate.open()
            started = time.monotonic()
            with pytest.raises(syncwrap.ClientPayloadError, match="inside a chunked body"):
                for _ in r.iter_content(MIB):
                    pass
            assert time.monotonic() - started < 3
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


class Hostile:
    """Handler: a chunk or two of good body, the gate, then ``bad``, then ``piece`` again and
    again until the client closes the connection (``closed``) or 10 s pass."""

    def __init__(self, gate: Gate, bad: bytes, piece: bytes = b"") -> None:
        self.gate = gate
        self.bad = bad
        self.piece = piece
        self.closed = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        deadline = time.monotonic() + 10
        try:
            self.gate.send(conn, CHUNKED_HEAD + b"5\r\nhello\r\n", b"6\r\n world\r\n" + self.bad)
            while self.piece and time.monotonic() < deadline:
                conn.sendall(self.piece)
            if wait_client_close(conn, 10):
                self.closed.set()
        except (BrokenPipeError, ConnectionResetError):
            self.closed.set()


HOSTILE = {  # name: (what comes after the good chunks, what then comes forever)
    "non-hex size": (b"zz\r\nhello\r\n0\r\n\r\n", b""),
    "huge size": (b"f" * 40 + b"\r\n", b"a" * 65536),
    "negative size": (b"-5\r\nhello\r\n0\r\n\r\n", b""),
    "over-long size line": (b"0" * 10, b"0" * 65536),
    "endless extension": (b"5;", b"a" * 65536),
    "endless trailers": (b"0\r\n", b"X-T: 1\r\n" * 4096),
    "missing CRLF after data": (b"5\r\nhelloXX5\r\nhello\r\n0\r\n\r\n", b""),
    "bare LF": (b"5\nhello\n0\n\n", b""),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_framing_raises_payload_error_quickly_in_bounded_memory(raw_server, name):
    gate = Gate()
    handler = Hostile(gate, *HOSTILE[name])
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=5)
        assert isinstance(r._channel, DirectChannel)
        assert r.raw.read(5) == b"hello"
        tracemalloc.start()
        started = time.monotonic()
        try:
            gate.open()
            with pytest.raises(syncwrap.ClientPayloadError) as info:
                r.raw.read()
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert elapsed < 2
        assert peak < 4 * MIB, peak  # at most one read past the parser's 64 KiB limits
        r.close()
        assert handler.closed.wait(WAIT), "the connection was never closed"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}
    _check_framing_error(info.value)


def _check_framing_error(err: BaseException) -> None:
    """The parser's own error: a ClientPayloadError and a MalformedResponseError."""
    assert isinstance(err, syncwrap.MalformedBodyError)
    assert isinstance(err, syncwrap.ClientPayloadError)
    assert isinstance(err, syncwrap.MalformedResponseError)
    assert str(err).startswith(("Malformed chunked body: ", "Chunk extensions or trailer")), err


@pytest.mark.parametrize("name", ["non-hex size", "endless extension"])
def test_hostile_framing_read_whole_raises_the_same_error_on_the_loop(raw_server, name):
    gate = Gate()
    gate.open()
    server = raw_server(Hostile(gate, *HOSTILE[name]))
    with pytest.raises(syncwrap.ClientPayloadError) as info:
        syncwrap.get(server.url, timeout=5)
    _check_framing_error(info.value)


# -- Ctrl-C --------------------------------------------------------------------------------------

def test_ctrl_c_while_receiving_closes_the_connection(raw_server):
    gate = Gate()
    handler = Stalling(gate, CUT_MID_CHUNK, "hang")
    server = raw_server(handler)
    proc = start_script("read_until_ctrl_c.py", server.url)
    interrupt_when_blocked(proc, handler.closed, "DirectChannel", gate.open)
