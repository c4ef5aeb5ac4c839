"""A bench server script run as a subprocess: the one way the harness starts its own servers.

The script (``bench/sink.py``, ``bench/ws_echo.py``) is started with a port file, a CPU to
pin itself to and ``--max-seconds``; it writes its port to the file once it listens. The
context manager waits for that (15 s at most), and terminates the process on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from common import process_family


class ServerProcess:
    """Run ``script``; ``url`` is ``url_for(port)`` once the server listens."""

    script = ""
    what = "the server"

    def __init__(self, cpu: int = -1, max_seconds: float = 3 * 3600) -> None:
        self.cpu = cpu
        self.max_seconds = max_seconds
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def url_for(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServerProcess:
        workdir = Path(tempfile.mkdtemp(prefix="syncwrap-bench-server-"))
        try:
            port_file = workdir / "port"
            self.proc = subprocess.Popen(
                [sys.executable, self.script, str(port_file), str(self.cpu),
                 "--max-seconds", str(self.max_seconds)], start_new_session=True)
            deadline = time.monotonic() + 15
            while not port_file.exists():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"{self.what} did not start")
                time.sleep(0.02)
            self.url = self.url_for(int(port_file.read_text()))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self

    def pids(self) -> list[int]:
        """This server's process ids (the bench reads their CPU time)."""
        return process_family(self.proc.pid) if self.proc is not None else []

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def serve_main(description: str,
               serve: Callable[[Path, float], Coroutine[Any, Any, None]]) -> None:
    """The script side: parse ``PORT_FILE [CPU] [--max-seconds S]``, pin to the CPU, and
    run ``serve(port_file, max_seconds)`` on uvloop when it is installed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("port_file", type=Path)
    parser.add_argument("cpu", type=int, nargs="?", default=-1)
    parser.add_argument("--max-seconds", type=float, default=3 * 3600)
    args = parser.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    loop = loop_factory()
    try:
        loop.run_until_complete(serve(args.port_file, args.max_seconds))
    finally:
        loop.close()
