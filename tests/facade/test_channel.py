"""The one bounded channel between the loop thread and a calling thread (issue 10,
syncwrap._bridge.channel): bounded by bytes or items, both directions, errors after the
data, close from either side; and the same channel under real streamed downloads.

The loop side runs on syncwrap's loop thread (``syncwrap.run``); every wait is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
import zlib

import pytest

import syncwrap
from syncwrap._bridge.channel import HIGH_WATER, ByteChannel, ByteReader, Channel
from syncwrap._bridge.downloads import DirectChannel
from tests.facade._util import WAIT, wait_until_blocked_in
from tests.servers import read_request, wait_client_close

MIB = 1024 * 1024


def poll_until(predicate, timeout: float = WAIT) -> bool:
    """True once ``predicate()`` holds (checked every 5 ms), False after ``timeout``."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.005)
    return True


def on_loop(coro):
    return syncwrap.run(coro, timeout=WAIT)


def in_background(fn):
    """Start ``fn()`` in a thread; returns (thread, results list, errors list)."""
    results: list = []
    errors: list = []

    def run():
        try:
            results.append(fn())
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results, errors


# ------------------------------------------------------------------- loop → calling thread


def test_loop_producer_is_bounded_by_bytes_and_woken_by_the_reader():
    channel = ByteChannel(high_water=100)
    waits: list[int] = []

    async def produce():
        for _ in range(50):
            if not channel.put_nowait(b"x" * 10):
                waits.append(channel.buffered)
                await channel.wait_space()
        channel.finish()

    producer, _, errors = in_background(lambda: on_loop(produce()))
    data = b""
    most = 0
    while chunk := channel.get(7):
        most = max(most, channel.buffered + len(chunk))
        data += chunk
    producer.join(WAIT)
    assert not errors and data == b"x" * 500
    assert waits and all(size == 100 for size in waits) and most <= 100


def voluntary_switches() -> int:
    """The calling thread's voluntary context switches so far (each wait that slept)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


@pytest.mark.skipif(not hasattr(threading, "get_native_id")
                    or not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.parametrize("batch", [False, True], ids=["put_nowait", "put_many_nowait"])
def test_a_reader_waiting_for_n_bytes_is_woken_once_they_are_there(batch):
    channel = ByteChannel()
    piece = b"x" * (16 * 1024)

    def read() -> tuple[int, bytes]:
        before = voluntary_switches()
        data = channel.get_exact(MIB)
        return voluntary_switches() - before, data

    thread, results, errors = in_background(read)
    assert wait_until_blocked_in(thread.ident, "get_exact", "channel.py")

    async def produce() -> None:
        for _ in range(MIB // len(piece)):  # 64 pieces, paced like a network
            if batch:
                channel.put_many_nowait([piece[:1024]] * 16)
            else:
                channel.put_nowait(piece)
            await asyncio.sleep(0.002)  # simulated arrival rate, not synchronisation

    on_loop(produce())
    thread.join(WAIT)
    assert not errors
    switches, data = results[0]
    assert data == b"x" * MIB
    assert switches < 16, f"the reader woke {switches} times for 64 pieces"


def test_the_producers_error_comes_after_the_data():
    channel = ByteChannel()
    boom = ConnectionResetError("cut")

    async def produce():
        channel.put_nowait(b"abc")
        channel.put_nowait(b"def")
        channel.finish(boom)

    on_loop(produce())
    assert channel.get(4) == b"abcd" and channel.get(-1) == b"ef"
    for _ in range(2):
        with pytest.raises(ConnectionResetError) as info:
            channel.get(1)
        assert info.value is boom


def test_closing_from_the_reader_releases_a_waiting_producer():
    channel = ByteChannel(high_water=10)

    async def produce():
        while channel.put_nowait(b"12345"):
            pass
        await channel.wait_space()  # full: returns once the reader closes
        return channel.put_nowait(b"more")

    producer, results, errors = in_background(lambda: on_loop(produce()))
    assert channel.get(5) == b"12345"
    channel.close()
    producer.join(WAIT)
    assert not errors and results == [False] and channel.closed and channel.buffered == 0


def test_closing_from_the_loop_wakes_a_blocked_reader_with_the_error():
    channel = ByteChannel()
    reader, _, errors = in_background(lambda: channel.get(10))
    assert wait_until_blocked_in(reader.ident, "get", "channel.py")
    timeout = syncwrap.ReadTimeout("total timeout")

    async def close():
        channel.close(timeout)

    on_loop(close())
    reader.join(WAIT)
    assert len(errors) == 1 and errors[0] is timeout


def test_an_empty_channel_times_out_and_refuses_to_wait_on_the_loop():
    channel = ByteChannel()
    with pytest.raises(syncwrap.ReadTimeout):
        channel.get(1, timeout=0.01)

    async def read_on_the_loop():
        with pytest.raises(RuntimeError, match="deadlock"):
            channel.get(1)

    on_loop(read_on_the_loop())


# ------------------------------------------------------------------- calling thread → loop


def test_thread_producer_blocks_when_full_and_the_loop_takes_in_order():
    channel = ByteChannel(high_water=8)
    items = [bytes([i]) * 4 for i in range(10)]

    def produce():
        for item in items:
            assert channel.put(item)
        channel.finish()

    producer, _, errors = in_background(produce)

    async def consume():
        taken, most = [], 0
        while (item := await channel.take()) is not None:
            most = max(most, channel.buffered + len(item))
            taken.append(item)
            await asyncio.sleep(0)  # let the producer refill
        return taken, most

    taken, most = on_loop(consume())
    producer.join(WAIT)
    assert not errors and taken == items and most <= 8


def test_closing_from_the_loop_releases_a_blocked_thread_producer():
    channel = ByteChannel(high_water=4)
    assert channel.put(b"full")
    producer, results, _ = in_background(lambda: channel.put(b"blocked"))
    assert wait_until_blocked_in(producer.ident, "put", "channel.py")

    async def abandon():
        channel.close()
        with pytest.raises(syncwrap.ClientPayloadError):
            await channel.take()

    on_loop(abandon())
    producer.join(WAIT)
    assert results == [False]


# --------------------------------------------------------------- bounded by items (messages)


def test_a_channel_of_items_bounded_by_count():
    channel: Channel[dict] = Channel(high_water=2, low_water=1, weigh=lambda item: 1)

    async def produce():
        sent = 0
        for n in range(5):
            if not channel.put_nowait({"n": n}):
                await channel.wait_space()  # until the reader has taken both
            sent += 1
        channel.finish()
        return sent

    producer, results, errors = in_background(lambda: on_loop(produce()))
    received = []
    while (item := channel.get_item(timeout=WAIT)) is not None:
        assert channel.buffered <= 2
        received.append(item["n"])
    producer.join(WAIT)
    assert not errors and results == [5] and received == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------ real transfers


#: A chunked body the pump carries: gzip-encoded (a plain chunked body is received by the
#: calling thread itself, tests/facade/test_direct_chunked.py). Stored blocks (level 0):
#: as many bytes on the wire as decoded.
PUMPED_HEAD = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Encoding: gzip\r\n\r\n")


def stored_gzip_chunks():
    """``chunk(data)``: the next chunk of a gzip stream; ``chunk(None)``: its end."""
    packer = zlib.compressobj(0, zlib.DEFLATED, 31)

    def chunk(data: bytes | None) -> bytes:
        out = packer.flush() if data is None else (
            packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH))
        return b"%x\r\n%s\r\n" % (len(out), out) + (b"0\r\n\r\n" if data is None else b"")

    return chunk


def chunked_source(total: int, sent: list[int]):
    """Handler: a chunked body of ``total`` bytes in 64 KiB chunks (``sent`` counts them),
    then wait for the client to close."""
    piece = bytes(range(256)) * 256

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(PUMPED_HEAD)
        chunk = stored_gzip_chunks()
        try:
            for _ in range(total // len(piece)):
                conn.sendall(chunk(piece))
                sent[0] += len(piece)
            conn.sendall(chunk(None))
        except OSError:
            return
        wait_client_close(conn, WAIT)

    return handler, hashlib.sha256(piece * (total // len(piece))).hexdigest()


def test_a_slow_reader_holds_the_download_in_the_bounded_channel(raw_server):
    total, sent = 64 * MIB, [0]
    handler, digest = chunked_source(total, sent)
    server = raw_server(handler, conn_timeout=30)
    with syncwrap.get(server.url, stream=True, timeout=30) as r:
        channel = r._channel
        assert isinstance(channel, ByteChannel) and isinstance(channel, ByteReader)
        # Nothing is read: the pump fills the channel until it is full, then waits.
        assert poll_until(lambda: channel.buffered >= HIGH_WATER)
        threading.Event().wait(0.2)  # a window in which it would overfill, if it did
        assert HIGH_WATER <= channel.buffered < HIGH_WATER + 8 * MIB
        assert sent[0] < total  # the server is held back, not buffered without bound
        assert hashlib.sha256(b"".join(r.iter_content(MIB))).hexdigest() == digest


def test_closing_a_pumped_download_early_closes_its_connection(raw_server):
    closed = threading.Event()
    piece = b"z" * 65536

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(PUMPED_HEAD)
        chunk = stored_gzip_chunks()
        try:
            for _ in range(4096):
                conn.sendall(chunk(piece))
        except OSError:
            closed.set()
            return
        if wait_client_close(conn, WAIT):
            closed.set()

    server = raw_server(handler, conn_timeout=30)
    with syncwrap.Session() as s:
        r = s.get(server.url, stream=True, timeout=30)
        assert isinstance(r._channel, ByteChannel)
        assert r.raw.read(MIB) == b"z" * MIB
        r.close()
        assert closed.wait(WAIT)


def test_a_cut_download_raises_after_the_bytes_that_came(raw_server):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"6\r\nbefore\r\n100\r\ncut")  # then the connection ends

    server = raw_server(handler)
    got: list[bytes] = []
    with syncwrap.get(server.url, stream=True, timeout=WAIT) as r:
        with pytest.raises(syncwrap.ClientPayloadError):
            for chunk in r.iter_content(None):
                got.append(chunk)
    assert b"".join(got) in (b"before", b"beforecut")


def test_the_socket_reader_reads_like_a_channel(raw_server):
    body = b"y" * (3 * MIB)

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        wait_client_close(conn, WAIT)

    server = raw_server(handler)
    with syncwrap.get(server.url, stream=True, timeout=WAIT) as r:
        assert isinstance(r._channel, DirectChannel) and isinstance(r._channel, ByteReader)
        assert r.raw.readline(10) == b"y" * 10 and r.content == body[10:]
