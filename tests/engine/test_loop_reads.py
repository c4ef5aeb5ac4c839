"""Loop-mode reads at the raw floor's costs (syncwrap/engine/http1/direct.py, LoopReader).

A client in a fresh process (tests/scripts/loop_reads_client.py: a process's allocator starts
from glibc's defaults, which the suite's own large objects would have moved) downloads a
large body from a real server in this process, on asyncio's loop and on uvloop, and
reports its page faults per MiB: the reads' memory must be reused, not faulted in fresh.
The same holds over TLS, where the engine's own transport decrypts into buffers of the
connection's TLSReader (syncwrap/engine/http1/tls_reads.py, allocator.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from syncwrap.engine.http1.direct import waiting
from tests.facade._util import script_env
from tests.servers import read_request, wait_client_close

pytest.importorskip("uvloop")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "loop_reads_client.py"
SIZE = 32 * 1024 * 1024 + 4321


def serve(body: bytes, tls: ssl.SSLContext | None = None):
    """Handler, keep-alive: ``body`` for every request, sent as fast as the client takes it
    (over TLS with ``tls``, a server context)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    def handler(conn: socket.socket) -> None:
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        view = memoryview(body)
        while read_request(conn):
            conn.sendall(head)
            conn.sendall(view)
        wait_client_close(conn, 5)

    return handler


def run_client(loop_name: str, url: str, count: int, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), loop_name, url, str(count), *extra],
                          capture_output=True, text=True, timeout=120, env=script_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_loop_mode_reads_reuse_memory(raw_server, loop_name):
    # glibc's defaults give reads of up to 1 MiB fresh pages now and then (a mmap above the
    # mmap threshold, the heap regrown after a trim): 10-30 faults per MiB were measured.
    body = os.urandom(SIZE)
    server = raw_server(serve(body), conn_timeout=60)
    report = run_client(loop_name, server.url, 3)
    assert report["digests"] == [hashlib.sha256(body).hexdigest()] * 3
    assert report["loop_mode"] == [True] * 3
    assert report["faults_per_mib"] < 4, report  # 0-1 measured


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_tls_reads_reuse_memory(raw_server, server_ssl_context, ca_pem_path, loop_name):
    # Unprimed, glibc gave the TLS buffers and the bytes made of them fresh pages: 130-250
    # faults per MiB on asyncio's loop (a 2 MiB prime left 90-180 one run in two, on both
    # loops). 0.1-2 measured with the 4 MiB prime.
    body = os.urandom(SIZE)
    server = raw_server(serve(body, tls=server_ssl_context), conn_timeout=60)
    report = run_client(loop_name, f"https://127.0.0.1:{server.port}/", 3, ca_pem_path)
    assert report["digests"] == [hashlib.sha256(body).hexdigest()] * 3
    assert report["faults_per_mib"] < 8, report


def test_waiting_counts_the_bytes_queued():
    a, b = socket.socketpair()
    with a, b:
        count = bytearray(4)
        assert waiting(a.fileno()) == 0
        assert waiting(a.fileno(), count) == 0
        b.sendall(b"x" * 70000)
        assert waiting(a.fileno()) == 70000
        assert waiting(a.fileno(), count) == 70000
        a.recv(1000)
        assert waiting(a.fileno(), count) == 69000
        b.close()
        a.recv(69000)
        assert waiting(a.fileno(), count) == 0  # the end
