"""TLS: verification against the trustme CA, the certifi default rejecting it, ssl=False,
SNI and host-name checking (point 7)."""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Callable

import pytest
import trustme

import syncwrap.engine as engine
from syncwrap.engine import (
    ClientConnectionError,
    ClientSession,
    Fingerprint,
    FingerprintMismatch,
    SSLError,
    TCPConnector,
)
from tests.engine._util import SHORT, run
from tests.servers import http_response, read_request


async def _get_json(session: ClientSession, url: str, **kw):
    async with session.get(url, **kw) as resp:
        return resp.status, await resp.json()


def test_https_with_trusted_context(httpbin_tls_url, client_ssl_context):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return await _get_json(s, httpbin_tls_url + "/get?x=1", ssl=client_ssl_context)

    status, data = run(main())
    assert status == 200
    assert data["args"] == {"x": "1"}
    assert data["url"].startswith("https://")


def test_https_context_on_the_connector(httpbin_tls_url, client_ssl_context):
    async def main():
        connector = TCPConnector(ssl=client_ssl_context)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            first = await _get_json(s, httpbin_tls_url + "/get")
            second = await _get_json(s, httpbin_tls_url + "/get")
            return first[0], second[0]

    assert run(main()) == (200, 200)


def test_default_certifi_bundle_rejects_private_ca(httpbin_tls_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(SSLError) as info:
                await s.get(httpbin_tls_url + "/get")
            return info.value

    err = run(main())
    assert isinstance(err, engine.SSLError) and isinstance(err, ClientConnectionError)
    assert isinstance(err.os_error, ssl.SSLError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err) or "certificate verify failed" in str(err)


def test_ssl_false_skips_verification(httpbin_tls_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            per_request = await _get_json(s, httpbin_tls_url + "/get", ssl=False)
        async with ClientSession(connector=TCPConnector(ssl=False), timeout=SHORT) as s:
            on_connector = await _get_json(s, httpbin_tls_url + "/get")
        return per_request[0], on_connector[0]

    assert run(main()) == (200, 200)


def test_ca_file_context(httpbin_tls_url, ca_pem_path):
    async def main():
        ctx = ssl.create_default_context(cafile=ca_pem_path)
        async with ClientSession(timeout=SHORT) as s:
            return (await _get_json(s, httpbin_tls_url + "/get", ssl=ctx))[0]

    assert run(main()) == 200


# ------------------------------------------------------------------------- SNI / host names
def tls_server(raw_server, server_ctx: ssl.SSLContext, names: list[str | None]) -> object:
    """A raw TLS server recording the SNI name of each handshake, answering one request."""

    def on_sni(sslobj, server_name, ctx) -> None:
        names.append(server_name)

    server_ctx.sni_callback = on_sni

    def handler(conn: socket.socket) -> None:
        tls = server_ctx.wrap_socket(conn, server_side=True)  # handshake (may fail: recorded)
        try:
            read_request(tls)
            tls.sendall(http_response(b"secure", headers={"Connection": "close"}))
        finally:
            tls.close()

    return raw_server(handler)


def test_sni_sent_for_host_names_and_verification_passes(raw_server, server_ssl_context,
                                                         client_ssl_context):
    names: list[str | None] = []
    server = tls_server(raw_server, server_ssl_context, names)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(f"https://localhost:{server.port}/", ssl=client_ssl_context) as r:
                localhost = (r.status, await r.read())
            async with s.get(f"https://127.0.0.1:{server.port}/", ssl=client_ssl_context) as r:
                by_ip = (r.status, await r.read())
            return localhost, by_ip

    localhost, by_ip = run(main())
    assert localhost == (200, b"secure") and by_ip == (200, b"secure")
    assert names == ["localhost", None]  # no SNI for an IP address (RFC 6066)


def _issue(tls_ca: trustme.CA, *names: str) -> Callable[[], ssl.SSLContext]:
    cert = tls_ca.issue_cert(*names)

    def make() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        return ctx

    return make


def test_hostname_mismatch_rejected(raw_server, tls_ca, client_ssl_context):
    names: list[str | None] = []
    only_localhost = _issue(tls_ca, "localhost")
    server = tls_server(raw_server, only_localhost(), names)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(SSLError) as info:
                await s.get(f"https://127.0.0.1:{server.port}/", ssl=client_ssl_context)
            async with s.get(f"https://localhost:{server.port}/", ssl=client_ssl_context) as r:
                ok = (r.status, await r.read())
            return info.value, ok

    err, ok = run(main())
    assert "127.0.0.1" in str(err) or "match" in str(err).lower() or "verify" in str(err).lower()
    assert ok == (200, b"secure")


def test_hostname_mismatch_allowed_with_ssl_false(raw_server, tls_ca):
    names: list[str | None] = []
    server = tls_server(raw_server, _issue(tls_ca, "other.example")(), names)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(f"https://localhost:{server.port}/", ssl=False) as r:
                return r.status, await r.read()

    assert run(main()) == (200, b"secure")
    assert names == ["localhost"]


def test_fingerprint_pinning(raw_server, tls_cert, server_ssl_context):
    der = ssl.PEM_cert_to_DER_cert(tls_cert.cert_chain_pems[0].bytes().decode())
    good = hashlib.sha256(der).digest()
    server = tls_server(raw_server, server_ssl_context, [])

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(f"https://127.0.0.1:{server.port}/", ssl=Fingerprint(good)) as r:
                ok = (r.status, await r.read())
            with pytest.raises(FingerprintMismatch) as info:
                await s.get(f"https://127.0.0.1:{server.port}/", ssl=Fingerprint(b"\0" * 32))
            return ok, info.value

    ok, err = run(main())
    assert ok == (200, b"secure")
    assert err.expected == b"\0" * 32 and err.got == good
    with pytest.raises(ValueError):
        Fingerprint(hashlib.sha1(der).digest())


def test_plain_http_server_on_https_url(raw_server):
    """Talking TLS to a plain-HTTP server fails with SSLError, quickly."""
    server = raw_server(lambda conn: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(SSLError) as info:
                await s.get(f"https://127.0.0.1:{server.port}/", ssl=False)
            return info.value

    assert isinstance(run(main()), ClientConnectionError)
