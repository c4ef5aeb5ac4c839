"""A private tinyproxy for the proxy group: an HTTP forward proxy on 127.0.0.1 (free port).

tinyproxy (C, from apt, installed when missing) forwards plain-HTTP requests in absolute form
and opens CONNECT tunnels. Its private config: listens on 127.0.0.1 only and serves only
127.0.0.1, logs errors to a file in its temp dir (never syslog), lets CONNECT reach only the
nginx TLS port, and binds its outgoing connections to ``source`` (127.0.0.2), which nginx's
proxied server requires (see bench/nginx.py). Runs in the foreground (``-d``), pinned like
nginx, and is stopped with SIGTERM (then SIGKILL) when the run ends.

Usable on its own for manual poking (starts nginx with its TLS listener too):
    python bench/proxy.py [--size MiB] [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import process_family
from nginx import Nginx, apt_install, free_ports
from tls import make_tls_files

SOURCE = "127.0.0.2"  # tinyproxy's outgoing connections come from here (any 127/8 is local)


def find_tinyproxy() -> str | None:
    return shutil.which("tinyproxy") or next(
        (p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy", "/usr/local/bin/tinyproxy")
         if os.access(p, os.X_OK)), None)


def ensure_tinyproxy() -> str:
    binary = find_tinyproxy()
    if binary is None:
        if not apt_install("tinyproxy"):
            raise RuntimeError("tinyproxy is not installed and could not be installed via apt-get")
        binary = find_tinyproxy()
        if binary is None:
            raise RuntimeError("tinyproxy was installed but its binary was not found")
    return binary


class Tinyproxy:
    """Context manager: a private tinyproxy in its own temp dir; stopped on exit."""

    def __init__(self, connect_port: int, cpu: int = -1, max_clients: int = 512,
                 source: str = SOURCE) -> None:
        self.connect_port = connect_port
        self.cpu = cpu
        self.max_clients = max_clients
        self.source = source
        self.binary = ensure_tinyproxy()
        self.prefix = Path(tempfile.mkdtemp(prefix="syncwrap-bench-proxy-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True)
        return (out.stdout or out.stderr).strip()

    def _config(self) -> str:
        p = self.prefix
        return f"""
Port {self.port}
Listen 127.0.0.1
Bind {self.source}
Allow 127.0.0.1
Timeout 600
MaxClients {self.max_clients}
Syslog Off
LogFile "{p}/tinyproxy.log"
LogLevel Error
PidFile "{p}/tinyproxy.pid"
ConnectPort {self.connect_port}
"""

    def _pin(self) -> None:  # in the child before exec: every thread it starts inherits this
        os.sched_setaffinity(0, {self.cpu})

    def start(self) -> None:
        conf = self.prefix / "tinyproxy.conf"
        for _attempt in range(5):
            (self.port,) = free_ports(1)
            conf.write_text(self._config())
            with open(self.prefix / "stderr.log", "wb") as log:
                self.proc = subprocess.Popen(
                    [self.binary, "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=self._pin if self.cpu >= 0 else None)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"tinyproxy did not start; see {self.prefix}:\n" + self._logs())

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _logs(self) -> str:
        return "\n".join((self.prefix / name).read_text(errors="replace")[-2000:]
                         for name in ("stderr.log", "tinyproxy.log")
                         if (self.prefix / name).exists())

    def pids(self) -> list[int]:
        """This server's process ids (the bench reads their CPU time)."""
        return process_family(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Tinyproxy:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="size of /big in MiB")
    parser.add_argument("--seconds", type=float, default=600, help="serve this long (max 3600)")
    args = parser.parse_args()
    # SIGTERM unwinds the with-blocks too, so the servers are stopped and their files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tls_dir = Path(tempfile.mkdtemp(prefix="syncwrap-bench-tls-"))
    try:
        tls = make_tls_files(tls_dir)
        with Nginx(args.size << 20, min(args.size << 20, 32 << 20), tls=tls,
                   proxy_source=SOURCE) as server, Tinyproxy(server.tls_port) as proxy:
            print(f"{proxy.version} at {proxy.url}, for {server.proxied_url} and "
                  f"{server.tls_url} (CA {tls.ca_file}) (/small /big /warm) for "
                  f"{args.seconds:.0f} s; Ctrl-C stops", flush=True)
            try:
                time.sleep(min(args.seconds, 3600))
            except KeyboardInterrupt:
                pass
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
