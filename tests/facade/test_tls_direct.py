"""TLS bodies read by the calling thread (syncwrap._bridge.direct over a lent SSLSocket).

The engine's TLS transport lends the connection's own SSLSocket to the facade's direct
reader (DirectChannel) and takes it back at the end. Checked, for Content-Length,
until-close and chunked bodies: exact bytes by sha256 for every way of reading (exact
sizes, "what has arrived", raw.read, content), including plaintext read before the
hand-off and records split around it; the connection pooled and reused after a complete
body (its socket back in the loop's hands, non-blocking again); close_notify ending an
until-close body; a cut mid-body (ClientPayloadError, never pooled); early close in every
way (connection closed, not pooled, nothing left open or printed); sock_read and total
timeouts; Ctrl-C in a child process; the same on asyncio's own loop; and large exact
reads woken once 128 KiB wait (SO_RCVLOWAT), a trickle told from a stall.
Servers are trustme-certified ssl-wrapped raw sockets on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import gc
import hashlib
import os
import socket
import ssl
import threading
import time

import pytest

import syncwrap
from syncwrap._bridge.downloads import DirectChannel
from tests.facade._util import (
    WAIT,
    LineReader,
    abandon_early,
    interrupt_when_blocked,
    run_script,
    start_script,
)
from tests.servers import Gate, chunk_framed, read_request

MIB = 1024 * 1024
BODY = os.urandom(5 * MIB + 4321)
DIGEST = hashlib.sha256(BODY).digest()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return chunk_framed(data, 70_001)


def wire(framing: str, body: bytes = BODY) -> bytes:
    if framing == "content-length":
        return HEAD % len(body) + body
    if framing == "chunked":
        return CHUNKED + chunked(body)
    return UNTIL_CLOSE + body


def pool_stats(s: syncwrap.Session) -> dict[str, int]:
    async def stats() -> dict[str, int]:
        return s.connector.stats()

    return syncwrap.run(stats(), timeout=WAIT)


def open_sockets() -> set[str]:
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            fds.add(f"{fd}:{target}")
    return fds


class Peer:
    """A keep-alive TLS server: ``answer(tls)`` per request (False: end the connection;
    "notify" / "cut": end it with close_notify / a TCP cut without one). ``closed`` is
    set once a client closed a connection the server was still answering or waiting on."""

    def __init__(self, raw_server, ctx: ssl.SSLContext, answer) -> None:
        self.closed = threading.Event()

        def handler(conn: socket.socket) -> None:
            with ctx.wrap_socket(conn.dup(), server_side=True) as tls:
                while read_request(tls):
                    try:
                        how = answer(tls)
                    except OSError:  # the client went while we were sending
                        self.closed.set()
                        return
                    if how == "notify":
                        tls.unwrap()
                        return
                    if how == "cut":
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    if how is False:
                        self.wait_close(tls)
                        return

        self.server = raw_server(handler)
        self.url = self.server.url.replace("http://", "https://")

    def wait_close(self, tls: ssl.SSLSocket) -> None:
        tls.settimeout(WAIT)
        try:
            while tls.recv(65536):
                pass
        except TimeoutError:
            return
        except OSError:
            pass
        self.closed.set()


@pytest.fixture
def peer(raw_server, server_ssl_context):
    return lambda answer: Peer(raw_server, server_ssl_context, answer)


def read_with(r: syncwrap.Response, how: str) -> bytes:
    if how == "iter_content(MIB)":
        chunks = list(r.iter_content(MIB))
        assert {len(c) for c in chunks[:-1]} == {MIB}
        return b"".join(chunks)
    if how == "iter_content(None)":
        return b"".join(r.iter_content(None))
    if how == "raw.read(n)":
        parts = []
        while part := r.raw.read(300_007):
            parts.append(part)
        assert {len(p) for p in parts[:-1]} == {300_007}
        return b"".join(parts)
    return r.content


HOWS = ["iter_content(MIB)", "iter_content(None)", "raw.read(n)", "content"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_exact_bytes_then_the_connection_is_reused(peer, ca_pem_path, framing, how):
    gate = Gate()
    data = wire(framing)
    # the head and a few KiB first: the rest comes after the hand-off, some of the
    # plaintext already decrypted by the loop, some of a record still inside OpenSSL
    p = peer(lambda tls: gate.send(tls, data[:7000], data[7000:]))
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(3):
            with s.get(p.url, stream=True, timeout=WAIT) as r:
                if how != "content":
                    assert isinstance(r._channel, DirectChannel)
                gate.open()
                got = read_with(r, how)
            assert hashlib.sha256(got).digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
        # the socket is the loop's again: a small answer on the same connection
        gate.open()
        assert hashlib.sha256(s.get(p.url, timeout=WAIT).content).digest() == DIGEST
    assert p.server.connections == 1


@pytest.mark.parametrize("how", ["iter_content(MIB)", "iter_content(None)", "raw.read(n)"])
def test_until_close_body_ended_by_close_notify(peer, ca_pem_path, how):
    p = peer(lambda tls: tls.sendall(wire("until close")) or "notify")
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(p.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                got = read_with(r, how)
            assert hashlib.sha256(got).digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}
    assert p.server.connections == 2


@pytest.mark.parametrize("how", ["iter_content(MIB)", "iter_content(None)", "raw.read(n)"])
@pytest.mark.parametrize("ending", ["cut", "notify"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_cut_mid_way_is_a_payload_error(peer, ca_pem_path, framing, ending, how):
    gate = Gate()
    data = wire(framing)[: 3 * MIB]
    p = peer(lambda tls: gate.send(tls, data[:7000], data[7000:]) or ending)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(p.url, stream=True, timeout=WAIT)
        assert isinstance(r._channel, DirectChannel)
        gate.open()
        started = time.monotonic()
        with pytest.raises(syncwrap.ClientPayloadError):
            read_with(r, how)
        assert time.monotonic() - started < 5
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


# ("del", dropping the response unread, is left out: the pool sometimes keeps counting its
# connection as acquired, plain bodies too: tests/facade/test_streaming.py fails likewise.)
@pytest.mark.parametrize("how", ["close", "break", "raw.close"])
def test_closing_early_closes_the_connection(peer, ca_pem_path, capfd, how):
    def answer(tls: ssl.SSLSocket):
        if p.server.connections > 1:
            return tls.sendall(wire("content-length"))
        tls.sendall(wire("content-length")[: 3 * MIB])
        return False  # then nothing: wait for the client's close

    p = peer(answer)
    before = open_sockets()
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(p.url, stream=True, timeout=WAIT)
        assert isinstance(r._channel, DirectChannel)
        abandon_early(r, how)
        del r
        gc.collect()
        assert p.closed.wait(WAIT), "the server never saw the connection close"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}
        again = s.get(p.url, timeout=WAIT)
        assert hashlib.sha256(again.content).digest() == DIGEST
        assert p.server.connections == 2  # the abandoned connection was not reused
    assert p.server.join(WAIT)
    assert open_sockets() <= before
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("timeout", [(5, 0.3), 0.8], ids=["sock_read", "total"])
def test_a_stalling_server_is_a_read_timeout(peer, ca_pem_path, framing, timeout):
    p = peer(lambda tls: tls.sendall(wire(framing)[: 3 * MIB]) or False)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(p.url, stream=True, timeout=timeout)
        assert isinstance(r._channel, DirectChannel)
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout):
            list(r.iter_content(MIB))
        assert time.monotonic() - started < 3
        r.close()
        assert p.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


@pytest.mark.parametrize("timeout", [30, 0], ids=["with a read timeout", "no timeout"])
def test_ctrl_c_while_reading_closes_the_connection(peer, ca_pem_path, timeout):
    p = peer(lambda tls: tls.sendall(wire("content-length")[: 3 * MIB + len(HEAD) + 5]) or False)
    proc = start_script("read_until_ctrl_c.py", p.url, "--verify", ca_pem_path,
                        "--timeout", str(timeout), "--expect", str(3 * MIB))
    line = interrupt_when_blocked(proc, p.closed, "DirectChannel")
    assert line == f"INTERRUPTED {3 * MIB}"


_ON_ASYNCIO = """
import hashlib, sys
import syncwrap
from syncwrap import loop as loop_thread

with syncwrap.Session(verify=sys.argv[2]) as s:
    for i in range(2):
        with s.get(sys.argv[1], stream=True, timeout=10) as r:
            print(f"KIND{i}", type(r._channel).__name__, flush=True)
            print(f"BODY{i}", hashlib.sha256(b"".join(r.iter_content(1 << 20))).hexdigest(),
                  type(loop_thread.get_loop()).__module__, flush=True)
"""


def test_direct_tls_reads_with_the_loop_thread_on_asyncio(peer, ca_pem_path, tmp_path):
    gate = Gate()
    data = wire("content-length")
    p = peer(lambda tls: gate.send(tls, data[:7000], data[7000:]))
    script = tmp_path / "on_asyncio.py"
    script.write_text(_ON_ASYNCIO)
    proc = start_script(str(script), p.url, ca_pem_path, SYNCWRAP_NO_UVLOOP="1")
    reader = LineReader(proc)
    try:
        for i in range(2):
            assert reader.wait_for(f"KIND{i}")[1] == f"KIND{i} DirectChannel"
            gate.open()
            body = reader.wait_for(f"BODY{i}")[1]
            assert body == f"BODY{i} {DIGEST.hex()} asyncio.unix_events"
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert proc.stderr is not None and proc.stderr.read() == ""
    assert p.server.connections == 1


def test_exact_reads_are_decrypted_straight_into_their_results(peer, ca_pem_path):
    """An exact read over TLS allocates its result and nothing beside it: the records are
    decrypted into the result itself (no receive buffer, no copy out of one)."""
    import tracemalloc

    gate = Gate()
    data = wire("content-length")
    head = len(HEAD % len(BODY))  # the head alone first: no body bytes read by the loop
    p = peer(lambda tls: gate.send(tls, data[:head], data[head:]))
    with syncwrap.Session(verify=ca_pem_path) as s:
        with s.get(p.url, stream=True, timeout=WAIT) as r:
            assert isinstance(r._channel, DirectChannel)
            digest = hashlib.sha256()
            gate.open()
            tracemalloc.start()
            try:
                while part := r.raw.read(MIB):
                    digest.update(part)
                    del part  # dropped before the next read: at most one result alive
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert digest.digest() == DIGEST
    assert peak < 1.5 * MIB, peak


@pytest.mark.parametrize("framing", ["content-length", "until close"])
def test_exact_reads_larger_than_one_in_place_part(peer, ca_pem_path, framing):
    # 6 MiB asked for: built from parts of MAX_IN_PLACE (4 MiB); the body (5 MiB and a
    # bit) ends first: one short result, then the end. (The order of the reads is the
    # user's: the first may come from what the loop read before the hand-off.)
    p = peer(lambda tls: tls.sendall(wire(framing)) or "notify")
    with syncwrap.Session(verify=ca_pem_path) as s:
        with s.get(p.url, stream=True, timeout=WAIT) as r:
            assert isinstance(r._channel, DirectChannel)
            first = r.raw.read(1001)
            rest = r.raw.read(6 * MIB)
            assert r.raw.read(6 * MIB) == b""
    assert len(first) == 1001
    assert len(rest) == len(BODY) - 1001
    assert hashlib.sha256(first + rest).digest() == DIGEST


# -- wake-ups batched by SO_RCVLOWAT (large exact reads; see syncwrap._bridge.direct) ----


def paced(tls: ssl.SSLSocket, data: bytes, piece: int, interval: float) -> None:
    for start in range(0, len(data), piece):
        time.sleep(interval)  # a slow producer, not synchronisation
        tls.sendall(data[start:start + piece])


def test_batched_reads_end_and_leave_the_connection_as_it_was(peer, ca_pem_path):
    # Every 1 MiB read ends without waiting out sock_read (its last bytes wake the reader
    # at once), and the connection goes back to the loop woken at every byte: a 5-byte
    # answer on it arrives.
    big = wire("content-length")
    answers = iter([big, HEAD % 5 + b"small"] * 2)

    def answer(tls: ssl.SSLSocket) -> None:
        data = next(answers)
        tls.sendall(data[:-64 * 1024])
        paced(tls, data[-64 * 1024:], 64 * 1024, 0.2)  # the reader waits for the last bytes

    p = peer(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(p.url, stream=True, timeout=(WAIT, 5)) as r:
                assert isinstance(r._channel, DirectChannel)
                started = time.monotonic()
                got = read_with(r, "iter_content(MIB)")
                assert time.monotonic() - started < 4, "a read waited for bytes not coming"
            assert hashlib.sha256(got).digest() == DIGEST
            assert s.get(p.url, timeout=(WAIT, 2)).content == b"small"
    assert p.server.connections == 1


def test_a_trickle_within_sock_read_is_not_a_timeout(peer, ca_pem_path):
    # 8 KiB every 0.1 s: a batched wait (128 KiB) would take 1.6 s, sock_read is 0.5 s.
    # The wait that times out with bytes waiting ends the batching; the body comes whole.
    data = wire("content-length", BODY[: 2 * MIB])
    first = len(HEAD % (2 * MIB)) + 200 * 1024

    def answer(tls: ssl.SSLSocket) -> None:
        tls.sendall(data[:first])
        paced(tls, data[first:first + 128 * 1024], 8 * 1024, 0.1)
        tls.sendall(data[first + 128 * 1024:])

    p = peer(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        with s.get(p.url, stream=True, timeout=(WAIT, 0.5)) as r:
            assert isinstance(r._channel, DirectChannel)
            got = b"".join(r.iter_content(MIB))
        assert got == BODY[: 2 * MIB]
        assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}


def test_a_stall_after_a_few_bytes_is_a_read_timeout(peer, ca_pem_path):
    # 300 KiB, then 20 KiB (fewer than a batch), then nothing: a ReadTimeout within
    # twice sock_read of the last bytes, the connection closed.
    data = wire("content-length")
    first = len(HEAD % len(BODY)) + 300 * 1024

    def answer(tls: ssl.SSLSocket) -> bool:
        tls.sendall(data[:first])
        paced(tls, data[first:first + 20 * 1024], 20 * 1024, 0.1)
        return False

    p = peer(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(p.url, stream=True, timeout=(WAIT, 0.4))
        assert isinstance(r._channel, DirectChannel)
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout):
            r.raw.read(MIB)
        assert time.monotonic() - started < 0.1 + 2 * 0.4 + 1
        r.close()
        assert p.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


def test_large_exact_reads_are_woken_once_per_batch(peer, ca_pem_path):
    # 8 MiB sent 16 KiB at a time, a millisecond apart (TCP_NODELAY, as nginx: no Nagle
    # batching of its own), read 4 MiB at a time: a reader woken at every byte sleeps
    # ~510 times; woken once 128 KiB wait (but for the last 256 KiB of each read), ~90
    # (its own voluntary context switches, counted by the client process).
    body = (BODY * 2)[: 8 * MIB]
    data = wire("content-length", body)

    def answer(tls: ssl.SSLSocket) -> None:
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        paced(tls, data, 16 * 1024, 0.001)

    p = peer(answer)
    proc = run_script("count_wakeups.py", p.url, ca_pem_path, timeout=WAIT * 3)
    assert proc.returncode == 0, proc.stderr
    size, switches = map(int, proc.stdout.split())
    assert size == len(body)
    assert switches < 250, switches
