"""An HTTP/1.1 keep-alive server on a Unix socket, for the tests (never imports syncwrap).

``UnixServer(path)`` accepts on ``path`` and answers every request on a connection in its
own daemon thread: by default with JSON describing the request (method, target, Host,
body, connection number).  ``/redirect?to=LOCATION`` answers 302 to LOCATION and
``/cookie?name=value`` sets a cookie.  It counts ``connections``; with ``ssl_context`` it
speaks TLS.  Bounded in time: accepted sockets time out after 10 s and ``close()``
shuts every connection down.  ``socket_dir()`` gives a directory whose paths fit in
``sockaddr_un`` (pytest's tmp_path can be too long).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

from tests.servers import http_response, parse_request, read_request

CONN_TIMEOUT = 10.0


@contextlib.contextmanager
def socket_dir() -> Iterator[str]:
    """A new, short directory under /tmp for socket files, removed afterwards."""
    path = tempfile.mkdtemp(prefix="sw-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def unix_url(path: str, rest: str = "/") -> str:
    """The ``http+unix://`` URL for ``path`` (percent-encoded, as requests-unixsocket wants)."""
    return f"http+unix://{quote(path, safe='')}{rest}"


def answer(request, conn_id: int) -> bytes:
    """The default answer: a JSON echo of the request; /redirect and /cookie as above."""
    target = urlsplit(request.target)
    query = dict(parse_qsl(target.query))
    if target.path == "/redirect":
        return http_response(b"", status=302, reason="Found", headers={"Location": query["to"]})
    headers = {"Content-Type": "application/json"}
    if target.path == "/cookie":
        headers["Set-Cookie"] = "; ".join(f"{k}={v}" for k, v in query.items()) + "; Path=/"
    body = json.dumps({
        "method": request.method, "target": request.target, "connection": conn_id,
        "host": request.headers.get("host"), "cookie": request.headers.get("cookie"),
        "body": request.body.decode("latin-1"),
    }).encode()
    return http_response(body, headers=headers)


class UnixServer:
    """Keep-alive HTTP server on the Unix socket ``path``; see the module docstring."""

    def __init__(self, path: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.path = path
        self.url = unix_url(path)
        self.ssl_context = ssl_context
        self.errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return len(self._conns)

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            conn.settimeout(CONN_TIMEOUT)
            with self._lock:
                self._conns.append(conn)
                conn_id = len(self._conns)
                thread = threading.Thread(target=self._serve, args=(conn, conn_id), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, conn_id: int) -> None:
        try:
            if self.ssl_context is not None:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            while raw := read_request(conn):
                conn.sendall(answer(parse_request(raw), conn_id))
        except (OSError, ssl.SSLError) as exc:
            if not self._stopping.is_set():
                self.errors.append(exc)
        finally:
            conn.close()

    def close(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:  # wake the blocking accept()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waker:
                waker.settimeout(1)
                waker.connect(self.path)
        except OSError:
            pass
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)
        for conn in conns:
            conn.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

