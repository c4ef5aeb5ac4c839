"""Real proxies for the tests, on 127.0.0.1 (never imports syncwrap).

- :class:`ProxyPy`: proxy.py from PyPI in a subprocess: an HTTP forward proxy with CONNECT,
  optionally with Basic auth (407 without it) and over TLS (an HTTPS proxy, trustme cert).
- :class:`SocksProxy`: pproxy from PyPI in a subprocess: a SOCKS5 or SOCKS4 server,
  optionally with a user and password.
- :class:`Relay`: a TCP forwarder in front of a proxy that counts the connections the
  client opens to it (one per tunnel: the CONNECT count).
- :func:`tls_keep_alive`: a RawServer handler serving HTTPS keep-alive and recording requests.

Everything is bounded: subprocesses are waited for with a deadline and killed with their
process group at close, sockets have timeouts, threads are daemons.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import trustme

from tests.servers import ParsedRequest, RawServer, serve_http

START_TIMEOUT = 20.0


class _Subprocess:
    """A server subprocess in its own process group, ended (group and all) by close()."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.output: list[str] = []
        self._drain = threading.Thread(target=self._read_output, daemon=True)

    def _read_output(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):  # type: ignore[union-attr]
            self.output.append(line.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._drain.is_alive():
            self._drain.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class ProxyPy(_Subprocess):
    """proxy.py on 127.0.0.1:<ephemeral>; ``url`` is ``http://`` or ``https://`` (with
    ``cert``, a trustme LeafCert for 127.0.0.1). ``auth="user:pass"`` requires Basic
    credentials (407 without them, on CONNECT and on plain requests alike)."""

    def __init__(self, *, auth: str | None = None, cert: trustme.LeafCert | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="proxypy-")
        port_file = Path(self._dir.name, "port")
        os.mkfifo(port_file)  # proxy.py writes its port here: an event to wait on, not a poll
        fd = os.open(port_file, os.O_RDONLY | os.O_NONBLOCK)
        args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
                "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
                "--timeout", "30"]
        if auth:
            args += ["--basic-auth", auth]
        if cert is not None:
            cert_file, key_file = Path(self._dir.name, "cert.pem"), Path(self._dir.name, "key.pem")
            cert_file.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
            cert.private_key_pem.write_to_path(str(key_file))
            args += ["--cert-file", str(cert_file), "--key-file", str(key_file)]
        super().__init__(args)
        self._drain.start()
        try:
            self.port = int(_read_fifo(fd, self.proc))
        except BaseException:
            self.close()
            raise
        finally:
            os.close(fd)
        self.host = "127.0.0.1"
        self.url = f"http{'s' if cert is not None else ''}://{self.host}:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        scheme, rest = self.url.split("://")
        return f"{scheme}://{user}:{password}@{rest}"

    def close(self) -> None:
        super().close()
        self._dir.cleanup()


def _read_fifo(fd: int, proc: subprocess.Popen) -> str:
    data = b""
    while True:
        ready, _, _ = select.select([fd], [], [], START_TIMEOUT)
        if not ready:
            raise TimeoutError(f"proxy.py did not report its port (exit code {proc.poll()})")
        chunk = os.read(fd, 64)
        if not chunk:
            return data.decode().strip()
        data += chunk


_PPROXY = """
import asyncio, sys
sys.modules["uvloop"] = None  # pproxy's uvloop start-up fails with recent uvloop
asyncio.set_event_loop(asyncio.new_event_loop())
from pproxy.server import main
main(sys.argv[1:])
"""


class SocksProxy(_Subprocess):
    """pproxy serving ``kind`` ("socks5" or "socks4") on 127.0.0.1:<ephemeral>; with ``auth``
    ("user:pass", SOCKS5 only) the credentials are checked on every connection."""

    def __init__(self, kind: str = "socks5", *, auth: str | None = None) -> None:
        listen = f"{kind}://127.0.0.1:0/" + (f"#{auth}" if auth else "")
        super().__init__([sys.executable, "-u", "-c", _PPROXY, "-l", listen, "--auth", "0"])
        line = _read_line(self.proc, b"Serving on")
        self._drain.start()
        self.host = "127.0.0.1"
        self.port = int(line.rsplit(b"127.0.0.1:", 1)[1].split()[0])
        self.kind = kind
        self.url = f"{kind}://{self.host}:{self.port}"

    def url_with(self, user: str, password: str = "", scheme: str | None = None) -> str:
        creds = f"{user}:{password}" if password else user
        return f"{scheme or self.kind}://{creds}@{self.host}:{self.port}"


def _read_line(proc: subprocess.Popen, marker: bytes) -> bytes:
    """The first stdout line holding ``marker`` (bounded by START_TIMEOUT)."""
    stdout = proc.stdout
    assert stdout is not None
    seen = b""
    while True:
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT)
        line = stdout.readline() if ready else b""
        if not line:
            proc.kill()
            raise RuntimeError(f"pproxy did not start: {seen.decode(errors='replace')}")
        seen += line
        if marker in line:
            return line


class Relay(RawServer):
    """A TCP forwarder to ``upstream`` (host, port); ``connections`` counts the client's
    connections (to a proxy: one per tunnel, so also the CONNECT count)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._upstream_socks: list[socket.socket] = []
        super().__init__(self._forward, conn_timeout=30)

    def _forward(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(self._upstream, timeout=30)
        self._upstream_socks.append(upstream)
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        try:
            _pump(conn, upstream)
        finally:
            back.join(30)
            upstream.close()

    def close(self) -> None:
        for sock in self._upstream_socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        super().close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def tls_keep_alive(context: ssl.SSLContext, requests: list[ParsedRequest], body: bytes = b"ok"):
    """RawServer handler: TLS with ``context``, then 200 ``body`` to every request on the
    connection (keep-alive), each parsed request appended to ``requests``."""

    def answer(req: ParsedRequest) -> tuple[bytes, dict]:
        requests.append(req)
        return body, {}

    def handler(conn: socket.socket) -> None:
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate: nothing to serve
        with tls:
            serve_http(tls, answer)

    return handler
