"""Whole-process behaviour (issue points 2, 5 and 6): Ctrl-C, fork and interpreter exit.

Every scenario runs in a subprocess talking to a server in this test process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

import syncwrap
from tests.facade._util import (
    WAIT,
    LineReader,
    request_then_wait_close,
    run_script,
    start_script,
    wait_until_blocked_in,
)
from tests.servers import keep_alive, read_request, wait_client_close

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork")


def _finish(proc, reader: LineReader) -> str:
    """Reap the process (killing it if it hangs, so the original failure shows); its stderr."""
    try:
        proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(WAIT)
    reader.join()
    assert proc.stderr is not None
    return proc.stderr.read()


# -- point 2: Ctrl-C ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["catch", "stream"])
def test_sigint_interrupts_a_waiting_call_and_closes_its_connection(raw_server, mode):
    received, closed = threading.Event(), threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial" if mode == "stream" else b""
    server = raw_server(request_then_wait_close(received, closed, head))
    proc = start_script("sigint_wait.py", server.url, mode)
    reader = LineReader(proc)
    try:
        reader.wait_for("CALLING")
        assert received.wait(WAIT), "the request never reached the server"
        reader.wait_for("BLOCKED")  # the main thread waits inside syncwrap
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        arrived, line = reader.wait_for("INTERRUPTED")
        assert arrived - sent_at < 2.0
        # The process is still alive (waiting on stdin): the close is the cancellation's work.
        assert closed.wait(WAIT), "the server never saw the connection close"
        assert proc.poll() is None
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        reader.wait_for("LAST")
    finally:
        stderr = _finish(proc, reader)
    assert proc.returncode == 0
    assert stderr == ""


def test_sigint_uncaught_ends_the_process_within_2s(raw_server):
    received, closed = threading.Event(), threading.Event()
    server = raw_server(request_then_wait_close(received, closed))
    proc = start_script("sigint_wait.py", server.url, "uncaught")
    reader = LineReader(proc)
    try:
        reader.wait_for("CALLING")
        assert received.wait(WAIT)
        reader.wait_for("BLOCKED")
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(2.0)
        assert time.monotonic() - sent_at < 2.0
    finally:
        stderr = _finish(proc, reader)
    assert proc.returncode == -signal.SIGINT  # died of the KeyboardInterrupt
    assert stderr.rstrip().endswith("KeyboardInterrupt")
    assert "Unclosed" not in stderr and "destroyed" not in stderr and "ignored" not in stderr
    assert closed.wait(WAIT)


def test_interrupted_connection_is_never_pooled_in_process(raw_server):
    """In this process: SIGINT to the main thread while a Session waits for an answer."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread for SIGINT")
    received, closed = threading.Event(), threading.Event()
    requests: list = []
    calls = []

    def handler(conn):
        calls.append(conn)
        if len(calls) == 1:  # the first connection: read the request, never answer
            request_then_wait_close(received, closed)(conn)
        else:
            keep_alive(b"fresh", requests=requests)(conn)

    server = raw_server(handler)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main_ident = threading.main_thread().ident
    assert main_ident is not None

    def interrupt() -> None:
        if received.wait(WAIT) and wait_until_blocked_in(main_ident, "run", "loop.py"):
            signal.pthread_kill(main_ident, signal.SIGINT)

    killer = threading.Thread(target=interrupt, daemon=True)
    try:
        with syncwrap.Session() as s:
            killer.start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                s.get(server.url, timeout=WAIT)
            assert time.monotonic() - started < WAIT
            assert closed.wait(WAIT), "the interrupted connection was not closed"
            r = s.get(server.url, timeout=WAIT)
            assert r.content == b"fresh"
            assert server.connections == 2  # a new connection, not the interrupted one
            assert s.connector.stats()["acquired"] == 0
    finally:
        signal.signal(signal.SIGINT, previous)
        killer.join(WAIT)


# -- point 5: fork ----------------------------------------------------------------------------


@pytest.mark.parametrize("child_exit", ["os._exit", "normal-exit"])
def test_fork_child_gets_own_loop_thread_and_connections(counting_server, child_exit):
    args = ["normal-exit"] if child_exit == "normal-exit" else []
    proc = run_script("fork_check.py", counting_server.url, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    info = json.loads(proc.stdout)
    child = info["child"]
    assert "error" not in child, child
    assert info["child_exit"] == 0
    parent_conns = {info["before"], info["module_before"]}
    # The child never touches the parent's pooled sockets: it opens new connections...
    assert child["session_conn"] not in parent_conns
    assert child["module_conn"] not in parent_conns | {child["session_conn"]}
    # ...which its own pool then reuses.
    assert child["session_conn_again"] == child["session_conn"]
    # Its own loop on its own (live) thread.
    assert not child["loop_is_parents"] and not child["thread_is_parents"]
    assert child["thread_alive"]
    assert child["thread_native_id"] != info["parent_native_id"]
    # The parent keeps using its pooled connections, during and after the child's life.
    assert info["before"] == info["during"] == info["after"]
    assert info["module_before"] == info["module_after"]
    assert info["parent_thread_alive"]
    # Parent: 2 connections (session + module pool); child: 2 of its own.
    assert counting_server.total_connections == 4
    # Settings set on the Session before the fork hold in the child's new engine session.
    assert child["settings"] == {
        "engine_rebuilt": True, "headers_same_object": True, "sent_header": "kept",
        "sent_auth": "Basic dTpw", "timeout": [None, 9.0], "verify": False,
        "max_redirects": 3, "raise_for_status": True,
    }


# -- point 6: interpreter exit ------------------------------------------------------------------


def _partial_body_then_wait(received: threading.Event):
    def handler(conn):
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            received.set()
            wait_client_close(conn, 20)
            return

    return handler


# "-W always" also shows ResourceWarnings (unclosed sessions, sockets, transports), which the
# default filters hide.  (Not -X dev: its asyncio debug mode logs slow callbacks under CPU load.)
@pytest.mark.parametrize("flags", [(), ("-W", "always")], ids=["default", "all-warnings"])
@pytest.mark.parametrize("mode", ["plain", "stream", "pending", "dropped"])
def test_script_exits_promptly_and_quietly(counting_server, raw_server, mode, flags):
    received = threading.Event()
    if mode in ("plain", "dropped"):
        url = counting_server.url
    elif mode == "stream":
        url = raw_server(_partial_body_then_wait(received)).url
    else:
        url = raw_server(request_then_wait_close(received, threading.Event())).url
    proc = start_script("exit_clean.py", url, mode, flags=flags)
    reader = LineReader(proc)
    try:
        if mode == "pending":
            reader.wait_for("STARTED")
            assert received.wait(WAIT), "the daemon thread's request never arrived"
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        last_at, _ = reader.wait_for("LAST", timeout=20)
        proc.wait(WAIT)
        exited_at = time.monotonic()
    finally:
        stderr = _finish(proc, reader)
    assert proc.returncode == 0
    assert stderr == ""
    assert exited_at - last_at < 1.0, f"exit took {exited_at - last_at:.2f} s after LAST"
    if mode in ("plain", "dropped"):
        assert counting_server.wait_idle(WAIT)  # every connection closed at exit
