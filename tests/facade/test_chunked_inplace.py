"""Chunked bodies read with one copy fewer (syncwrap._bridge.direct's chunked reads and
syncwrap._bridge.inplace): chunk data received straight into the caller's result.

Checked: InPlaceBytes on its own (a result, dropped or kept, is never written again
changes); exact bytes by sha256 for chunk sizes around the thresholds (FRAMING_READ,
DIRECT_CHUNK) and read sizes around them and past MAX_IN_PLACE, whether the caller keeps
its chunks or drops them; reads of every kind mixed on one body; a bad byte at every
framing position of a body whose chunks come straight into place (MalformedBodyError,
the connection closed); a server stalling between chunks (ReadTimeout), a close from
another thread and Ctrl-C while a framing read waits; early close after a direct read.
Real servers on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import random
import socket
import sys
import threading
import time

import pytest

import syncwrap
from syncwrap._bridge.direct import DIRECT_CHUNK, FRAMING_READ, MAX_IN_PLACE
from syncwrap._bridge.downloads import DirectChannel
from syncwrap._bridge.inplace import UNINITIALISED, InPlaceBytes
from tests.facade._util import (
    WAIT,
    close_under_blocked_reader,
    interrupt_when_blocked,
    start_script,
)
from tests.facade.test_direct_chunked import (
    BODY,
    CHUNKED_HEAD,
    DIGEST,
    MIB,
    Stalling,
    frame,
    gated,
    keep_alive,
)
from tests.facade.test_direct_read import pool_stats
from tests.servers import Gate, read_request, wait_client_close

# -- InPlaceBytes ------------------------------------------------------------------------------


def _fill(builder: InPlaceBytes, data: bytes) -> bytes:
    buffer, view = builder.start(len(data))
    view[:] = data
    return builder.finish(buffer, view, len(data))


def test_a_dropped_result_is_never_written_again():
    # A reused object would keep the hash cached while it held the old bytes: equal to
    # its new contents, yet a different hash (a set or dict lookup would miss it).
    builder = InPlaceBytes()
    for i in range(6):
        result = _fill(builder, bytes([i]) * 100_000)
        assert result == bytes([i]) * 100_000 and type(result) is bytes
        assert hash(result) == hash(bytes([i]) * 100_000)
        assert result in {bytes([i]) * 100_000}
        del result  # dropped: its memory may come back, never the object with its hash


def test_kept_results_never_change():
    builder = InPlaceBytes()
    kept = [_fill(builder, bytes([i]) * 1000) for i in range(8)]
    assert kept == [bytes([i]) * 1000 for i in range(8)]
    held = memoryview(_fill(builder, b"x" * 1000))  # a view holds its bytes too
    for i in range(4):
        _fill(builder, bytes([i]) * 1000)
    assert held == b"x" * 1000


def test_a_short_result_and_tiny_sizes():
    builder = InPlaceBytes()
    buffer, view = builder.start(10)
    view[:3] = b"abc"
    assert builder.finish(buffer, view, 3) == b"abc"
    for n in (1, 2, 3):
        assert _fill(builder, b"z" * n) == b"z" * n


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's C API")
def test_results_are_allocated_without_a_zero_fill_on_cpython():
    assert UNINITIALISED


def test_only_the_bytes_written_are_ever_seen():
    # Without a zero-fill a result's memory holds whatever was there: a short result
    # keeps exactly what was written, and a full one is all written.
    builder = InPlaceBytes()
    for i in range(8):
        buffer, view = builder.start(MIB)
        view[: 1000 + i] = bytes([i + 1]) * (1000 + i)
        assert builder.finish(buffer, view, 1000 + i) == bytes([i + 1]) * (1000 + i)
        assert _fill(builder, bytes([i]) * MIB) == bytes([i]) * MIB


# -- exact bytes ---------------------------------------------------------------------------------

CHUNK_SIZES = [FRAMING_READ - 1, FRAMING_READ + 1, DIRECT_CHUNK - 1, DIRECT_CHUNK,
               DIRECT_CHUNK + 1, 65536, 100_003, "random"]
READ_SIZES = [DIRECT_CHUNK - 1, DIRECT_CHUNK, 100_000, MIB, MAX_IN_PLACE + 3, len(BODY) + 1]


def _sizes(spec: int | str):
    if spec == "random":
        rng = random.Random(7)
        return lambda i: rng.choice((1, 9, 4095, 4097, 16383, 16385, 70_000, 300_001))
    return lambda i: spec


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
@pytest.mark.parametrize("n", READ_SIZES)
def test_exact_reads_give_exact_bytes(raw_server, chunk, n):
    gate = Gate()
    server = raw_server(keep_alive(gated(gate, frame(BODY, _sizes(chunk)))))
    with syncwrap.Session() as s:
        for keep in (True, False):  # kept chunks, or dropped ones (their memory reused)
            digest = hashlib.sha256()
            lengths = []
            kept = []
            with s.get(server.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                gate.open()
                for piece in r.iter_content(n):
                    digest.update(piece)
                    lengths.append(len(piece))
                    if keep:
                        kept.append(piece)
            assert digest.hexdigest() == DIGEST
            assert lengths[:-1] == [n] * (len(lengths) - 1)
            if keep:  # nothing kept was overwritten by a later read
                assert hashlib.sha256(b"".join(kept)).hexdigest() == DIGEST
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert server.connections == 1


@pytest.mark.parametrize("seed", range(6))
def test_reads_of_every_kind_mixed_on_one_body(raw_server, seed):
    rng = random.Random(seed)
    framed = frame(BODY, lambda i: rng.choice((7, 4096, 16384, 40_000, 65536, 200_000)))
    gate = Gate()
    server = raw_server(keep_alive(gated(gate, framed)))
    with syncwrap.Session() as s, s.get(server.url, stream=True, timeout=WAIT) as r:
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        parts = []
        while True:
            how = rng.choice(("read", "read1", "readinto"))
            n = rng.choice((1, 100, 4095, 16384, 16385, 65536, 300_000, MIB))
            if how == "read":
                part = r.raw.read(n)
                assert len(part) == n or sum(map(len, parts)) + len(part) == len(BODY)
            elif how == "read1":
                part = r.raw.read1(n)
                assert len(part) <= n
            else:
                buf = bytearray(n)
                part = bytes(buf[: r.raw.readinto(buf)])
            if not part:
                break
            parts.append(part)
    assert hashlib.sha256(b"".join(parts)).hexdigest() == DIGEST


# -- malformed framing ---------------------------------------------------------------------------

PIECES = [bytes([65 + i]) * (DIRECT_CHUNK + 5000 * i) for i in range(3)]
GOOD = (b"".join(b"%x;e=\"v\"\r\n%s\r\n" % (len(p), p) for p in PIECES)
        + b"0\r\nX-T: 1\r\n\r\n")


def _framing_positions() -> list[int]:
    data = set()
    pos = 0
    for piece in PIECES:
        start = GOOD.index(piece, pos)
        data.update(range(start, start + len(piece)))
        pos = start + len(piece)
    return [i for i in range(len(GOOD)) if i not in data]


class Corrupting:
    """Handler: answers ``GET /<k>`` with GOOD whose byte ``k`` is a NUL, sending its head
    and first 100 bytes, then the rest once the test opened the gate, then an EOF."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.closed = 0
        self.lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        raw = read_request(conn)
        position = int(raw.split(b" ", 2)[1][1:])
        bad = GOOD[:position] + b"\0" + GOOD[position + 1:]
        try:
            self.gate.send(conn, CHUNKED_HEAD + bad[:100], bad[100:])
            conn.shutdown(socket.SHUT_WR)  # all sent: an EOF follows
        except OSError:
            pass
        if wait_client_close(conn, WAIT):
            with self.lock:
                self.closed += 1


def test_a_bad_byte_at_every_framing_position_is_refused(raw_server):
    handler = Corrupting()
    server = raw_server(handler)
    positions = [p for p in _framing_positions() if p >= 100]  # after the hand-off
    assert len(positions) > 30
    with syncwrap.Session() as s:
        for position in positions:
            with s.get(f"{server.url.rstrip('/')}/{position}", stream=True, timeout=5) as r:
                assert isinstance(r._channel, DirectChannel)
                handler.gate.open()
                started = time.monotonic()
                with pytest.raises(syncwrap.ClientPayloadError) as info:
                    for _ in r.iter_content(MIB):
                        pass
                assert time.monotonic() - started < 2
            if position == len(GOOD) - 1:  # the last LF: a line that never ends, then EOF
                assert "inside a chunked body" in str(info.value)
            else:
                assert isinstance(info.value, syncwrap.MalformedBodyError), (position, info.value)
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}
    deadline = time.monotonic() + WAIT
    while handler.closed < len(positions) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a counter the server threads update
    assert handler.closed == len(positions)  # no broken connection was kept


# -- stalls, close, Ctrl-C between chunks -------------------------------------------------------

#: Two whole 200,000-byte chunks, then nothing: the next size line never comes.
CUT_AFTER_CHUNK = frame(BODY[:400_000], lambda i: 200_000)[: -len(b"0\r\n\r\n")]


def test_server_stalling_between_chunks_raises_read_timeout(raw_server):
    gate = Gate()
    handler = Stalling(gate, CUT_AFTER_CHUNK, "hang")
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=(5, 0.3))
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        received = []
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout):
            for chunk in r.iter_content(MIB):
                received.append(chunk)
        assert time.monotonic() - started < 3
        assert received == []  # the exact read never completed
        r.close()
        assert handler.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s)["acquired"] == 0


def test_close_from_another_thread_wakes_a_reader_waiting_for_framing(raw_server):
    gate = Gate()
    handler = Stalling(gate, CUT_AFTER_CHUNK, "hang")
    server = raw_server(handler)
    r = syncwrap.get(server.url, stream=True, timeout=None)
    assert isinstance(r._channel, DirectChannel)
    gate.open()
    received, errors = close_under_blocked_reader(r, 300_000, handler.closed)
    assert [type(e) for e in errors] == [syncwrap.ClientPayloadError]
    assert received == [BODY[:300_000]]
    assert handler.closed.wait(WAIT)


def test_closing_after_a_direct_read_closes_the_connection(raw_server):
    gate = Gate()
    handler = Stalling(gate, frame(BODY, lambda i: 500_000), "hang")
    server = raw_server(handler)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=WAIT)
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        assert r.raw.read(MIB) == BODY[:MIB]
        r.close()
        assert handler.closed.wait(WAIT), "the server never saw the connection close"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


def test_ctrl_c_while_waiting_for_framing_closes_the_connection(raw_server):
    gate = Gate()
    handler = Stalling(gate, CUT_AFTER_CHUNK, "hang")
    server = raw_server(handler)
    proc = start_script("read_until_ctrl_c.py", server.url)
    interrupt_when_blocked(proc, handler.closed, "DirectChannel", gate.open)
