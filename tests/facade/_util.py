"""Helpers for the facade tests: real servers only, every wait bounded, no sleeps."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers import read_request, wait_client_close

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"

#: Bound for any single wait in these tests.
WAIT = 10.0


def collect_earlier_garbage() -> None:
    """Collect what earlier tests left (their unclosed sockets or loops warn when freed)
    quietly, before a test that asserts no warnings opens its window."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()


def script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWRAP_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def start_script(name: str, *args: str, flags: tuple[str, ...] = (), **env: str
                 ) -> subprocess.Popen[str]:
    """Start ``tests/facade/scripts/<name>`` with piped stdin/stdout/stderr (text mode)."""
    return subprocess.Popen(
        [sys.executable, *flags, str(SCRIPTS / name), *args],
        cwd=str(ROOT),
        env=script_env(**env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_script(name: str, *args: str, timeout: float = 30.0, flags: tuple[str, ...] = (),
               **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, str(SCRIPTS / name), *args],
        cwd=str(ROOT),
        env=script_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class LineReader:
    """Reads a subprocess's stdout lines in a thread so waits for a line can be bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self.eof = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait_for(self, prefix: str, timeout: float = WAIT) -> tuple[float, str]:
        """(arrival time, line) of the first stdout line starting with ``prefix``."""

        def find() -> tuple[float, str] | None:
            for item in self.lines:
                if item[1].startswith(prefix):
                    return item
            return None

        with self._cond:
            found = self._cond.wait_for(lambda: find() is not None or self.eof, timeout)
            item = find()
        if item is None:
            raise AssertionError(
                f"no {prefix!r} line (found={found}); stdout so far: {self.lines!r}"
            )
        return item

    def join(self, timeout: float = WAIT) -> None:
        self._thread.join(timeout)

    def release(self) -> None:
        """Let a child that waits for a line on stdin go on: send it, wait for its
        "LAST" line and for it to exit (each bounded)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.wait_for("LAST")
        self.proc.wait(WAIT)


def request_then_wait_close(
    received: threading.Event, closed: threading.Event, head: bytes = b""
) -> Callable[[socket.socket], None]:
    """Handler: read a request, set ``received``, optionally send ``head``, then set ``closed``
    when the client closes the connection (bounded)."""

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        if head:
            conn.sendall(head)
        received.set()
        if wait_client_close(conn, 20):
            closed.set()

    return handler


def wait_until_blocked_in(thread_ident: int, func: str, module_file: str,
                          timeout: float = WAIT) -> bool:
    """True once thread ``thread_ident`` waits on a lock inside ``func`` of ``module_file``.

    Polls the thread's frames (bounded by ``timeout``), so a signal sent afterwards
    interrupts the blocking wait itself rather than the code around it.
    """
    import linecache

    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread_ident)
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno) if frame else ""
        waiting = "acquire(" in line or (frame is not None and frame.f_code.co_name == "acquire")
        while frame is not None and waiting:  # a lock, or the waiter of syncwrap.loop.run
            code = frame.f_code
            if code.co_name == func and code.co_filename.endswith(module_file):
                return True
            frame = frame.f_back
        pause.wait(0.002)
    return False


def interrupt_when_blocked(proc: subprocess.Popen[str], closed: threading.Event, ready: str,
                           on_ready: Callable[[], None] | None = None) -> str:
    """Ctrl-C a child blocked in a read, and check what must follow.

    Waits for the child's ``ready`` line (then runs ``on_ready``, e.g. to let the server
    send) and its "BLOCKED" line, sends SIGINT, and asserts: "INTERRUPTED" within 2 s, the
    server saw the connection closed (``closed``), and after :meth:`LineReader.release`
    the child exits 0 with nothing on stderr. Returns the "INTERRUPTED" line. The child is
    killed if anything fails on the way.
    """
    reader = LineReader(proc)
    try:
        reader.wait_for(ready)
        if on_ready is not None:
            on_ready()
        reader.wait_for("BLOCKED")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        arrived, line = reader.wait_for("INTERRUPTED")
        assert arrived - sent < 2
        assert closed.wait(WAIT), "the interrupted connection was never closed"
        reader.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert proc.returncode == 0
    assert proc.stderr is not None and proc.stderr.read() == ""
    return line


def abandon_early(r: Any, how: str) -> None:
    """Leave a streamed response mid-body the way ``how`` says: "close" (after reading
    1 MiB), "break" out of ``iter_content``, "raw.close", or "del" (after reading 10
    bytes: the caller then drops its reference and collects)."""
    if how == "close":
        assert len(r.raw.read(1 << 20)) == 1 << 20
        r.close()
    elif how == "break":
        for chunk in r.iter_content(1 << 20):
            assert len(chunk) == 1 << 20
            break
        gc.collect()  # the abandoned generator's finally closes the response
    elif how == "raw.close":
        r.raw.read(10)
        r.raw.close()
    else:
        r.raw.read(10)


def close_under_blocked_reader(r: Any, n: int, server_closed: threading.Event
                               ) -> tuple[list[bytes], list[BaseException]]:
    """Read ``r.iter_content(n)`` on a thread that the server leaves blocked (a stalled
    body: ``server_closed`` must stay unset), close ``r`` from this thread, and return
    what the reader received and raised once it has ended (bounded by ``WAIT``)."""
    received: list[bytes] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for chunk in r.iter_content(n):
                received.append(chunk)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert server_closed.wait(0.2) is False  # the reader is stuck: the server stalls
    r.close()
    reader.join(WAIT)
    assert not reader.is_alive()
    return received, errors
