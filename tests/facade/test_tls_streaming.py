"""Streamed HTTPS bodies through the blocking API: large ones are read by the calling thread
from the connection's own SSLSocket, lent by the engine's TLS transport (DirectChannel; see
syncwrap/_bridge/direct.py), as plain ones are; once the pump path (SSL transport -> parser
-> StreamReader -> pump -> ByteChannel -> caller), which small bodies still take.

Checked: exact bytes by sha256 for a Content-Length body, a chunked one and one read until
the close; the connection pooled after a complete body and not after an early close; a
read timeout when the server stalls mid-body; Ctrl-C in a child process while reading; a
body cut mid-way (ClientPayloadError); and a read-until-close body ended by close_notify or
by a TCP cut without one.

The cut without close_notify: RFC 9112 section 9.8 calls such a body incomplete, but
asyncio's SSL transport reports both endings the same way (eof_received, then
connection_lost(None)), so the engine cannot tell them apart without reaching into the
transport. Like aiohttp and urllib3 (whose ssl module suppresses ragged EOFs), it takes
the body as complete; a Content-Length or chunked body cut short is an error either way.

Servers are ssl-wrapped raw sockets on 127.0.0.1 with a trustme certificate; every wait
is bounded.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest

import syncwrap
from syncwrap._bridge.downloads import DirectChannel
from tests.facade._util import WAIT, interrupt_when_blocked, start_script
from tests.servers import chunk_framed, read_request

MIB = 1024 * 1024
BODY = os.urandom(12 * MIB + 4321)  # more than the channel holds (8 MiB): flow control runs
DIGEST = hashlib.sha256(BODY).digest()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return chunk_framed(data, 100_000)


def pool_stats(s: syncwrap.Session) -> dict[str, int]:
    async def stats() -> dict[str, int]:
        return s.connector.stats()

    return syncwrap.run(stats(), timeout=WAIT)


def wait_tls_close(tls: ssl.SSLSocket, timeout: float = 20) -> bool:
    """Discard input until the client closes (with or without close_notify): True;
    False on timeout."""
    tls.settimeout(timeout)
    try:
        while tls.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:  # a reset, or an EOF in violation of the protocol: closed too
        pass
    return True


def cut(tls: ssl.SSLSocket) -> None:
    """Close the TCP connection under ``tls`` without a close_notify."""
    socket.socket(fileno=tls.detach()).close()


class TLSServer:
    """``raw_server`` speaking TLS: ``answer(tls, request)`` runs per request on a
    keep-alive connection until it returns False or the client closes."""

    def __init__(self, raw_server, ctx: ssl.SSLContext,
                 answer: Callable[[ssl.SSLSocket, bytes], bool | None]) -> None:
        def handler(conn: socket.socket) -> None:
            # A duplicate, so that RawServer.close() can still shut the connection down.
            with ctx.wrap_socket(conn.dup(), server_side=True) as tls:
                while raw := read_request(tls):
                    if answer(tls, raw) is False:
                        return

        self.server = raw_server(handler)
        self.url = self.server.url.replace("http://", "https://")


@pytest.fixture
def tls_server(raw_server, server_ssl_context):
    return lambda answer: TLSServer(raw_server, server_ssl_context, answer)


# -- exact bytes, and the connection pooled after a complete body ------------------------------


def test_content_length_body_exact_and_pooled(tls_server, ca_pem_path):
    peer = tls_server(lambda tls, raw: tls.sendall(HEAD % len(BODY) + BODY))
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(peer.url, stream=True, timeout=WAIT) as r:
                assert isinstance(r._channel, DirectChannel)
                digest = hashlib.sha256()
                for chunk in r.iter_content(65536):
                    digest.update(chunk)
            assert digest.digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert peer.server.connections == 1


@pytest.mark.parametrize("how", ["iter_content(None)", "raw.read(n)", "content"])
def test_chunked_body_exact_and_pooled(tls_server, ca_pem_path, how):
    wire = CHUNKED + chunked(BODY)
    peer = tls_server(lambda tls, raw: tls.sendall(wire))
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(peer.url, stream=True, timeout=WAIT) as r:
                if how == "iter_content(None)":
                    data = b"".join(r.iter_content(None))
                elif how == "raw.read(n)":
                    parts = []
                    while part := r.raw.read(300_007):
                        parts.append(part)
                    assert {len(p) for p in parts[:-1]} == {300_007}
                    data = b"".join(parts)
                else:
                    data = r.content
            assert hashlib.sha256(data).digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 1, "waiting": 0}
    assert peer.server.connections == 1


def end(tls: ssl.SSLSocket, ending: str) -> None:
    """End a TLS connection with a close_notify, or cut it without one."""
    if ending == "close_notify":
        tls.unwrap()
    else:
        cut(tls)


@pytest.mark.parametrize("ending", ["close_notify", "tcp cut"])
def test_until_close_body(tls_server, ca_pem_path, ending):
    def answer(tls: ssl.SSLSocket, raw: bytes) -> bool:
        tls.sendall(UNTIL_CLOSE + BODY)
        end(tls, ending)
        return False

    peer = tls_server(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        for _ in range(2):
            with s.get(peer.url, stream=True, timeout=WAIT) as r:
                data = b"".join(r.iter_content(MIB))
            # Complete either way (see the module docstring), and never pooled.
            assert hashlib.sha256(data).digest() == DIGEST
            assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}
    assert peer.server.connections == 2


# -- bodies cut short ---------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("ending", ["close_notify", "tcp cut"])
def test_body_cut_mid_way_raises_payload_error(tls_server, ca_pem_path, framing, ending):
    def answer(tls: ssl.SSLSocket, raw: bytes) -> bool:
        if framing == "chunked":
            wire = CHUNKED + chunked(BODY)
        else:
            wire = HEAD % len(BODY) + BODY
        tls.sendall(wire[: 5 * MIB])
        end(tls, ending)
        return False

    peer = tls_server(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(peer.url, stream=True, timeout=WAIT)
        received = 0
        started = time.monotonic()
        with pytest.raises(syncwrap.ClientPayloadError):
            for chunk in r.iter_content(MIB):
                received += len(chunk)
        assert time.monotonic() - started < 5
        assert 4 * MIB <= received < 5 * MIB
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


# -- early close, timeouts ----------------------------------------------------------------------


class Stalling:
    """Answer: the head and 3 MiB of BODY, then nothing; ``closed`` is set once the
    client has closed the connection."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __call__(self, tls: ssl.SSLSocket, raw: bytes) -> bool:
        try:
            tls.sendall(HEAD % len(BODY) + BODY[: 3 * MIB])
        except OSError:  # the client closed before it took the 3 MiB
            self.closed.set()
            return False
        if wait_tls_close(tls):
            self.closed.set()
        return False


@pytest.mark.parametrize("how", ["close", "break", "raw.close"])
def test_closing_early_closes_the_connection(tls_server, ca_pem_path, how):
    stall = Stalling()
    peer = tls_server(stall)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(peer.url, stream=True, timeout=WAIT)
        if how == "close":
            assert len(r.raw.read(MIB)) == MIB
            r.close()
        elif how == "break":
            for chunk in r.iter_content(MIB):
                assert chunk == BODY[:MIB]
                break
            r.close()  # as the abandoned generator's finally would
        else:
            r.raw.read(10)
            r.raw.close()
        assert stall.closed.wait(WAIT), f"the server never saw the close {peer.server.errors}"
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


def test_closing_while_the_server_still_sends_closes_at_once(tls_server, ca_pem_path):
    # A clean TLS shutdown would wait for the server's close_notify, which a server
    # blocked sending the rest of the body never sends: the close must not wait.
    closed = threading.Event()

    def answer(tls: ssl.SSLSocket, raw: bytes) -> bool:
        try:
            tls.sendall(HEAD % (8 * len(BODY)))
            for _ in range(8):
                tls.sendall(BODY)
        except OSError:
            closed.set()
        return False

    peer = tls_server(answer)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(peer.url, stream=True, timeout=WAIT)
        assert r.raw.read(MIB) == BODY[:MIB]
        started = time.monotonic()
        r.close()
        assert closed.wait(WAIT), "the server never saw the connection close"
        assert time.monotonic() - started < 3
        assert pool_stats(s) == {"acquired": 0, "idle": 0, "waiting": 0}


@pytest.mark.parametrize("read", ["iter_content", "raw.read", "content"])
@pytest.mark.parametrize("timeout", [(5, 0.3), 0.8], ids=["sock_read", "total"])
def test_server_stalling_mid_body_raises_read_timeout(tls_server, ca_pem_path, read, timeout):
    stall = Stalling()
    peer = tls_server(stall)
    with syncwrap.Session(verify=ca_pem_path) as s:
        r = s.get(peer.url, stream=True, timeout=timeout)
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout):
            if read == "iter_content":
                list(r.iter_content(MIB))
            elif read == "raw.read":
                r.raw.read()
            else:
                r.content  # noqa: B018
        assert time.monotonic() - started < 3
        r.close()
        assert stall.closed.wait(WAIT), "the timed-out connection was never closed"
        assert pool_stats(s)["acquired"] == 0


# -- Ctrl-C in a child process --------------------------------------------------------------

def test_ctrl_c_while_reading_closes_the_connection(tls_server, ca_pem_path):
    stall = Stalling()
    peer = tls_server(stall)
    proc = start_script("read_until_ctrl_c.py", peer.url, "--verify", ca_pem_path,
                        "--expect", str(3 * MIB))
    line = interrupt_when_blocked(proc, stall.closed, "DirectChannel")
    assert line == f"INTERRUPTED {3 * MIB}"
