"""Shared fixtures: real servers on 127.0.0.1 (see tests/servers.py for the implementations)."""

from __future__ import annotations

import signal
import ssl
from collections.abc import Callable, Iterator

import pytest
import trustme

from tests.proxy_peers import ProxyPy, tls_keep_alive
from tests.retry_peers import ScriptedServer
from tests.servers import (
    CountingServer,
    Handler,
    ParsedRequest,
    RawServer,
    WSGIServerThread,
    load_httpbin_app,
)
from tests.tls_peers import client_cert_files, tls_peer
from tests.ws_peers import WSServer

# A runner started in the background by a non-interactive shell ignores SIGINT, and an
# ignored signal stays ignored in every child: the Ctrl-C tests' scripts would never see
# theirs. A handled one is reset to the default in a child, whose Python then raises
# KeyboardInterrupt as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def httpbin_url() -> Iterator[str]:
    """Yields "http://127.0.0.1:PORT" (no trailing slash): httpbin on a threaded werkzeug server.

    Werkzeug 3 answers HTTP/1.1 but always sends ``Connection: close`` (no keep-alive; use
    counting_server or raw_server + keep_alive for connection reuse).  Shut down at session end.
    """
    server = WSGIServerThread(load_httpbin_app())
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """Yields a session-wide ``trustme.CA`` (the only CA the TLS fixtures trust)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """Yields a ``trustme.LeafCert`` for "localhost", "127.0.0.1" and "::1", issued by tls_ca."""
    return tls_ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture
def server_ssl_context(tls_cert: trustme.LeafCert) -> ssl.SSLContext:
    """Yields a fresh server-side ``ssl.SSLContext`` presenting tls_cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def httpbin_tls_url(tls_cert: trustme.LeafCert) -> Iterator[str]:
    """Yields "https://127.0.0.1:PORT": the httpbin app over TLS with tls_cert.

    Clients must trust tls_ca (use ca_pem_path or client_ssl_context).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_cert.configure_cert(ctx)
    server = WSGIServerThread(load_httpbin_app(), ssl_context=ctx)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def ca_pem_path(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Yields the path (str) of a PEM file holding the tls_ca certificate."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def client_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    """Yields a fresh client ``ssl.SSLContext`` (default verification) trusting only tls_ca."""
    return ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode("ascii"))


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    """Yields a factory ``raw_server(handler, conn_timeout=10.0, host="127.0.0.1") -> RawServer``.

    Each call starts a listener on host:0 (another loopback address such as 127.0.0.2 gives
    a second host); every accepted connection is passed to
    ``handler(conn)`` in its own thread and closed when the handler returns.  The result
    unpacks as ``host, port`` and has ``.url``, ``.connections``, ``.errors``, ``.stopping``,
    ``.join()``.  Canned handlers: ``respond``, ``never_respond``, ``reset_connection``,
    ``keep_alive``, ``dribble`` in tests.servers.  All servers are closed at teardown.
    """
    servers: list[RawServer] = []

    def start(handler: Handler, conn_timeout: float = 10.0, host: str = "127.0.0.1") -> RawServer:
        server = RawServer(handler, conn_timeout=conn_timeout, host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    """Yields a ``CountingServer``: HTTP/1.1 keep-alive, 200 to anything, ``?delay=`` seconds.

    Attributes: ``.url``, ``.total_connections``, ``.open_connections``, ``.max_concurrent``,
    ``.total_requests``; methods ``.reset()`` and ``.wait_idle(timeout)``.
    """
    server = CountingServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def chunked_httpbin() -> Iterator[str]:
    """httpbin that reads chunked request bodies (see tests/upload_servers.py)."""
    from tests.upload_servers import chunked_httpbin_app

    server = WSGIServerThread(chunked_httpbin_app())
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def sink(raw_server: Callable[..., RawServer]) -> RawServer:
    """A raw server that reads upload bodies (plain, chunked, compressed) and hashes them."""
    from tests.upload_servers import Sink

    handler = Sink()
    server = raw_server(handler)
    server.sink = handler  # type: ignore[attr-defined]
    return server


@pytest.fixture
def disk_file(tmp_path) -> Iterator[object]:
    """Yields a file on disk opened "rb", 1000 bytes of b"f" (its size is known)."""
    path = tmp_path / "body.bin"
    path.write_bytes(b"f" * 1000)
    with open(path, "rb") as f:
        yield f


@pytest.fixture(scope="module")
def open_proxy() -> Iterator[ProxyPy]:
    """proxy.py without authentication (tests.proxy_peers)."""
    proxy = ProxyPy()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def auth_proxy() -> Iterator[ProxyPy]:
    """proxy.py requiring user:pass."""
    proxy = ProxyPy(auth="user:pass")
    yield proxy
    proxy.close()


@pytest.fixture
def peer(raw_server, tls_cert):
    """A TLS server (tests.tls_peers) with the session's trustme certificate."""
    return tls_peer(raw_server, tls_cert)


@pytest.fixture
def mtls_peer(raw_server, tls_cert, tls_ca):
    """A TLS server that requires a client certificate signed by the trustme CA."""
    return tls_peer(raw_server, tls_cert, tls_ca, require_cert=True)


@pytest.fixture
def certs(tls_ca, tmp_path):
    """Client certificate files (plain, combined, encrypted key) from the trustme CA."""
    return client_cert_files(tls_ca, tmp_path)


@pytest.fixture
def tls_target(raw_server, server_ssl_context):
    """An HTTPS keep-alive target; ``.requests`` are what it received (inside a tunnel)."""
    requests: list[ParsedRequest] = []
    server = raw_server(tls_keep_alive(server_ssl_context, requests))
    server.requests = requests
    server.url = f"https://127.0.0.1:{server.port}"
    return server


@pytest.fixture(scope="module")
def ws_server() -> Iterator[WSServer]:
    """A websockets echo server (tests.ws_peers) on 127.0.0.1."""
    server = WSServer()
    yield server
    server.close()


@pytest.fixture
def scripted():
    """``scripted(*steps)`` starts a tests.retry_peers.ScriptedServer (closed at the end)."""
    servers: list[ScriptedServer] = []

    def start(*steps: bytes | str) -> ScriptedServer:
        server = ScriptedServer(list(steps))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
