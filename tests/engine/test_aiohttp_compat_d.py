"""aiohttp compatibility (issue 14), part D: no blocking call on the loop, ALPN, server_hostname.

- Every engine test runs under a detector of blocking calls on the loop (blockbuster,
  tests/blocking.py, switched on in tests/engine/conftest.py); here it is shown to catch a
  deliberate blocking call in an engine code path, in-process and as a failing test run.
- TLS contexts the engine builds offer ALPN "http/1.1" as aiohttp 3.14's do (default,
  ``ssl=False``, pins, ``verify=``/``cert=``); a caller's SSLContext is used as built.
- ``server_hostname=`` sets the SNI name and the name checked in the certificate, over
  TCP, through a proxy tunnel and over a Unix socket.
Peers: TLS servers with trustme certificates recording SNI and the negotiated ALPN
protocol, a raw socket reading a ClientHello, proxy.py, a Unix socket server.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import trustme

from syncwrap.engine import (
    AbstractResolver,
    ClientConnectionError,
    ClientSession,
    Fingerprint,
    Payload,
    SSLError,
    TCPConnector,
    UnixConnector,
)
from syncwrap.engine.cookies import public_suffixes_ready
from syncwrap.engine.tls import ALPN_PROTOCOLS, resolve_ssl, ssl_for
from tests.engine._util import SHORT, canned, run
from tests.proxy_peers import ProxyPy
from tests.servers import http_response, serve_http
from tests.tls_peers import client_cert_files, client_name, sha256_of
from tests.unix_peers import UnixServer, socket_dir
from tests.ws_peers import WSServer

REPO = Path(__file__).resolve().parents[2]
DELIBERATE = "SYNCWRAP_TEST_DELIBERATE_BLOCKING"


class ALPNPeer(NamedTuple):
    url: str
    sni: list  # the SNI name of each handshake
    alpn: list  # the protocol each handshake negotiated (None: the client offered none)


def server_context(leaf: trustme.LeafCert, sni: list, ca: trustme.CA | None = None,
                   ) -> ssl.SSLContext:
    """A server context presenting ``leaf`` that accepts ALPN "http/1.1" and records SNI
    (and asks for an optional client certificate from ``ca``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.sni_callback = lambda sslobj, name, context: sni.append(name)
    if ca is not None:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def alpn_peer(raw_server, leaf: trustme.LeafCert, ca: trustme.CA | None = None) -> ALPNPeer:
    """HTTPS on 127.0.0.1 answering with the client certificate's name ("anonymous")."""
    sni: list[str | None] = []
    alpn: list[str | None] = []
    ctx = server_context(leaf, sni, ca)

    def handler(conn: socket.socket) -> None:
        try:
            tls = ctx.wrap_socket(conn.dup(), server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            alpn.append(tls.selected_alpn_protocol())
            who = client_name(tls.getpeercert())
            serve_http(tls, lambda request: (who.encode(), {}))

    server = raw_server(handler)
    return ALPNPeer(f"https://127.0.0.1:{server.port}", sni, alpn)


async def fetch(url: str, session_kw: dict | None = None, **kw) -> tuple[int, str]:
    async with ClientSession(timeout=SHORT, **(session_kw or {})) as s:
        async with s.get(url, **kw) as resp:
            return resp.status, (await resp.read()).decode()


# -- the detector of blocking calls on the loop ----------------------------------------------


class SleepyResolver(AbstractResolver):
    """A resolver that blocks the loop (time.sleep) before answering 127.0.0.1."""

    async def resolve(self, host, port=0, family=socket.AF_UNSPEC):
        time.sleep(0.001)
        return [{"hostname": host, "host": "127.0.0.1", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self):
        pass


@pytest.mark.blocking_allowed
def test_detector_catches_engine_code_that_blocks_the_loop(blocking_detector, counting_server):
    async def through_the_engine():
        connector = TCPConnector(resolver=SleepyResolver())
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            try:
                url = counting_server.url.replace("127.0.0.1", "sleepy.test")
                async with s.get(url) as r:
                    await r.read()
            except Exception:  # the detector's error, raised inside the engine
                pass

    async def only_test_code():
        time.sleep(0.001)  # test code on the loop, not under the engine: allowed

    with blocking_detector.watching() as found:
        run(only_test_code())
        assert found == []
        run(through_the_engine())
        detections = list(found)
    assert [d.call for d in detections] == ["time.sleep"]
    report = str(detections[0])
    assert f"syncwrap{os.sep}engine{os.sep}connector.py" in report
    assert "resolve" in report


class OpenOnTheLoop(Payload):
    """A test-only body that reads a file with open() on the loop thread."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    async def write(self, writer) -> None:
        with open(self.path, "rb") as f:
            await writer.write(f.read())


def test_deliberately_blocking_payload(counting_server, tmp_path):
    """Fails on purpose under the detector; run in a child pytest by
    test_engine_tests_fail_on_a_blocking_call_and_not_on_what_loads_lazily."""
    if not os.environ.get(DELIBERATE):
        pytest.skip(f"runs only with {DELIBERATE}=1, in a child pytest")
    path = tmp_path / "body"
    path.write_bytes(b"x" * 100)
    assert run(_post(counting_server.url, OpenOnTheLoop(str(path)))) == 200


async def _post(url: str, body: Payload) -> int:
    async with ClientSession(timeout=SHORT) as s:
        async with s.post(url, data=body) as r:
            await r.read()
            return r.status


def test_default_context_is_built_off_the_loop(raw_server, tls_cert):
    """certifi's context is read in a thread on the first TLS connection; meaningful
    only in a process that has not built it yet (the child pytest below)."""
    if resolve_ssl(True).ready:
        pytest.skip("certifi's context was already built in this process")
    peer = alpn_peer(raw_server, tls_cert)
    with pytest.raises(SSLError):  # certifi's CAs do not know the test CA
        run(fetch(peer.url))
    assert resolve_ssl(True).ready


def test_public_suffix_list_is_read_off_the_loop(raw_server):
    """The list a cookie's Domain is checked against is loaded in a thread before the
    first Set-Cookie is stored; meaningful only in the child pytest below."""
    if public_suffixes_ready():
        pytest.skip("the public suffix list was already loaded in this process")
    cookie = {"Set-Cookie": "a=1; Domain=co.uk"}  # a public suffix: refused
    server = raw_server(canned(http_response(b"ok", headers=cookie)))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:
                await r.read()
            return len(s.cookie_jar)

    assert run(main()) == 0
    assert public_suffixes_ready()


CHILD_TESTS = ("test_deliberately_blocking_payload", "test_default_context_is_built_off_the_loop",
               "test_public_suffix_list_is_read_off_the_loop")


def test_engine_tests_fail_on_a_blocking_call_and_not_on_what_loads_lazily():
    env = {**os.environ, DELIBERATE: "1", "PYTHONPATH": str(REPO)}
    here = Path(__file__).relative_to(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
         *(f"{here}::{name}" for name in CHILD_TESTS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "builtins.open on the loop thread" in out, out
    assert "2 passed" in out and "error" in out, out  # nothing skipped: a fresh process
    summary = out.split("short test summary")[-1]
    assert CHILD_TESTS[0] in summary and not any(name in summary for name in CHILD_TESTS[1:])


def env_ca(monkeypatch, tls_ca: trustme.CA, path: Path) -> None:
    """SSL_CERT_FILE names a new copy of the test CA (a bundle no session has loaded yet)."""
    tls_ca.cert_pem.write_to_path(str(path))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


def test_the_envs_ca_for_a_websockets_https_proxy_is_read_off_the_loop(
        tls_ca, tls_cert, tmp_path, monkeypatch):
    env_ca(monkeypatch, tls_ca, tmp_path / "env-ca.pem")
    server = WSServer()
    proxy = ProxyPy(cert=tls_cert)  # https://: its certificate is checked with the env's CA

    async def main():
        async with ClientSession(timeout=SHORT, trust_env=True) as s:
            async with s.ws_connect(server.url + "/echo", proxy=proxy.url) as ws:
                await ws.send_str("through a tunnel")
                return await ws.receive_str(timeout=5)

    try:
        assert run(main()) == "through a tunnel"
    finally:
        server.close()
        proxy.close()


def test_a_redirect_through_an_env_proxy_reads_netrc_off_the_loop(httpbin_url, counting_server,
                                                                  tmp_path, monkeypatch):
    """trust_env: the proxy's credentials come from .netrc, for the redirect's hop too
    (whether it keeps the proxy is decided without reading the file on the loop)."""
    proxy = ProxyPy(auth="user:pass")
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {proxy.host} login user password pass\n")
    monkeypatch.setenv("NETRC", str(netrc))
    target = f"http://localhost:{counting_server.port}/after"

    async def main():
        async with ClientSession(trust_env=True, timeout=SHORT) as s:
            async with s.get(f"{httpbin_url}/redirect-to", params={"url": target}) as r:
                return r.status, len(r.history)

    try:
        assert run(main()) == (200, 1)
    finally:
        proxy.close()
    assert counting_server.total_requests == 1


# -- ALPN ------------------------------------------------------------------------------------


def test_engine_contexts_offer_http11_by_alpn(raw_server, tls_ca, tls_cert, ca_pem_path,
                                              tmp_path, monkeypatch):
    peer = alpn_peer(raw_server, tls_cert, tls_ca)
    certs = client_cert_files(tls_ca, tmp_path)
    cases = [
        ({}, {"ssl": ssl_for(ca_pem_path)}, "anonymous"),  # verify=path
        ({}, {"ssl": ssl_for(ca_pem_path, (certs.crt, certs.key))}, certs.name),  # cert=
        ({}, {"ssl": ssl_for(False)}, "anonymous"),
        ({}, {"ssl": False}, "anonymous"),
        ({}, {"ssl": Fingerprint(sha256_of(tls_cert))}, "anonymous"),
        ({"connector": TCPConnector(ssl=ssl_for(ca_pem_path))}, {}, "anonymous"),
    ]
    for session_kw, kw, who in cases:
        assert run(fetch(peer.url, session_kw, **kw)) == (200, who)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", ca_pem_path)  # the default, with the env's CA
    assert run(fetch(peer.url, {"trust_env": True})) == (200, "anonymous")
    assert peer.alpn == ["http/1.1"] * (len(cases) + 1)


def test_a_callers_ssl_context_is_used_as_built(raw_server, tls_ca, tls_cert):
    peer = alpn_peer(raw_server, tls_cert)
    plain = ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode("ascii"))
    with_alpn = ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode("ascii"))
    with_alpn.set_alpn_protocols(["http/1.1"])
    assert run(fetch(peer.url, ssl=plain)) == (200, "anonymous")
    assert run(fetch(peer.url, ssl=with_alpn)) == (200, "anonymous")
    assert run(fetch(peer.url, {"connector": TCPConnector(ssl=plain)})) == (200, "anonymous")
    assert peer.alpn == [None, "http/1.1", None]
    assert ALPN_PROTOCOLS == ("http/1.1",)


def client_hello_alpn(conn: socket.socket) -> list[str] | None:
    """The ALPN protocols offered in the ClientHello read from ``conn`` (None: no ALPN)."""
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a whole ClientHello")
        data += chunk
    assert data[0] == 22 and data[5] == 1, "not a TLS ClientHello"
    pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
    pos += 1 + data[pos]  # session id
    pos += 2 + struct.unpack("!H", data[pos:pos + 2])[0]  # cipher suites
    pos += 1 + data[pos]  # compression methods
    end = pos + 2 + struct.unpack("!H", data[pos:pos + 2])[0]
    pos += 2
    while pos < end:
        kind, size = struct.unpack("!HH", data[pos:pos + 4])
        body = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if kind == 16:  # application_layer_protocol_negotiation
            names, i = [], 2
            while i < len(body):
                names.append(body[i + 1:i + 1 + body[i]].decode("ascii"))
                i += 1 + body[i]
            return names
    return None


def test_the_default_verified_context_offers_http11(raw_server):
    """certifi's context cannot finish a handshake with a test certificate: the
    ClientHello it sends is read raw, and the connection closed."""
    offered: list = []

    def handler(conn: socket.socket) -> None:
        offered.append(client_hello_alpn(conn))

    server = raw_server(handler)
    url = f"https://127.0.0.1:{server.port}/"
    for session_kw, kw in (({}, {}), ({}, {"ssl": True}), ({}, {"ssl": ssl_for(True)}),
                           ({"connector": TCPConnector(ssl=True)}, {})):
        with pytest.raises(ClientConnectionError):
            run(fetch(url, session_kw, **kw))
    assert offered == [["http/1.1"]] * 4
    assert server.errors == []


# -- server_hostname -------------------------------------------------------------------------


def test_server_hostname_with_the_default_context_and_the_envs_ca(raw_server, tls_ca,
                                                                   ca_pem_path, monkeypatch):
    peer = alpn_peer(raw_server, tls_ca.issue_cert("example.test"))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", ca_pem_path)

    async def main():
        async with ClientSession(timeout=SHORT, trust_env=True) as s:
            statuses = []
            for _ in range(2):  # pooled under its name: one handshake
                async with s.get(peer.url, server_hostname="example.test") as r:
                    statuses.append(r.status)
            with pytest.raises(SSLError, match="127.0.0.1"):
                await s.get(peer.url)
            return statuses

    assert run(main()) == [200, 200]
    assert peer.sni == ["example.test", None]  # no SNI for an IP address


def test_server_hostname_through_a_proxy_tunnel(raw_server, tls_ca, ca_pem_path):
    peer = alpn_peer(raw_server, tls_ca.issue_cert("example.test"))
    tls = ssl_for(ca_pem_path)  # reads the CA file: before the loop, as SSLContexts are made
    proxy = ProxyPy()
    try:
        async def main():
            async with ClientSession(timeout=SHORT) as s:
                with pytest.raises(SSLError, match="127.0.0.1"):
                    await s.get(peer.url, proxy=proxy.url, ssl=tls)
                async with s.get(peer.url, proxy=proxy.url, ssl=tls,
                                 server_hostname="example.test") as r:
                    return r.status, await r.read()

        assert run(main()) == (200, b"anonymous")
    finally:
        proxy.close()
    assert peer.sni == [None, "example.test"]
    assert peer.alpn == ["http/1.1"]


def test_server_hostname_over_a_unix_socket(tls_ca, ca_pem_path):
    sni: list = []
    ctx = server_context(tls_ca.issue_cert("example.test"), sni)
    tls = ssl_for(ca_pem_path)
    with socket_dir() as directory:
        server = UnixServer(os.path.join(directory, "tls.sock"), ssl_context=ctx)
        try:
            async def main():
                connector = UnixConnector(server.path)
                async with ClientSession(connector=connector, timeout=SHORT) as s:
                    with pytest.raises(SSLError, match="localhost"):
                        await s.get("https://localhost/", ssl=tls)
                    async with s.get("https://localhost/", ssl=tls,
                                     server_hostname="example.test") as r:
                        return r.status

            assert run(main()) == 200
        finally:
            server.close()
    assert sni == ["localhost", "example.test"]


def test_server_hostname_with_certifis_context(raw_server, tls_cert):
    """With the default context (certifi's, which does not trust the test CA) the name
    is sent too: the handshake fails on the certificate, after the SNI."""
    peer = alpn_peer(raw_server, tls_cert)
    for _ in range(2):
        with pytest.raises(SSLError, match="certificate verify failed"):
            run(fetch(peer.url, server_hostname="sni.example"))
    assert peer.sni == ["sni.example"] * 2
