"""Proxies in the engine, against real peers on loopback: proxy.py (HTTP forward proxy with
CONNECT and Basic auth, and over TLS as an HTTPS proxy), pproxy (SOCKS5, SOCKS4), trustme
TLS targets, and raw sockets playing a proxy where the wire itself is checked."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator

import pytest

from syncwrap.engine import (
    BasicAuth,
    ClientConnectionError,
    ClientConnectorError,
    ClientSession,
    ClientTimeout,
    ConnectTimeout,
    DigestAuth,
    ProxyError,
    SSLError,
    TCPConnector,
)
from tests.engine._util import SHORT, canned, recording, run
from tests.proxy_peers import ProxyPy, Relay, SocksProxy, tls_keep_alive
from tests.servers import ParsedRequest, http_response, never_respond, respond

BASIC = BasicAuth("user", "pass").encode()




@pytest.fixture(scope="module")
def https_proxy(tls_cert) -> Iterator[ProxyPy]:
    """proxy.py over TLS (an https:// proxy) with the trustme certificate."""
    proxy = ProxyPy(cert=tls_cert)
    yield proxy
    proxy.close()



@pytest.fixture
def relay_to():
    relays: list[Relay] = []

    def start(proxy) -> Relay:
        relay = Relay((proxy.host, proxy.port))
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.close()


async def _get(url: str, **kwargs) -> tuple[int, bytes]:
    async with ClientSession(timeout=SHORT) as s:
        async with s.get(url, **kwargs) as r:
            return r.status, await r.read()


def _on(loop_kind: str, coro):
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 20))
        finally:
            loop.close()
    return run(coro)


# -- plain HTTP through an HTTP proxy ------------------------------------------------------


def test_plain_http_goes_through_the_proxy_with_url_credentials(auth_proxy, counting_server):
    status, body = run(_get(counting_server.url + "/a", proxy=auth_proxy.url_with("user", "pass")))
    assert (status, body) == (200, b'{"connection": 1, "request": 1}')


def test_proxy_auth_and_session_defaults(auth_proxy, counting_server):
    assert run(_get(counting_server.url, proxy=auth_proxy.url,
                    proxy_auth=BasicAuth("user", "pass")))[0] == 200

    async def defaults() -> int:
        async with ClientSession(proxy=auth_proxy.url, proxy_auth=BasicAuth("user", "pass"),
                                 timeout=SHORT) as s:
            async with s.get(counting_server.url) as r:
                return r.status

    assert run(defaults()) == 200


def test_the_proxys_error_status_on_plain_http_is_the_response(auth_proxy, counting_server):
    status, _ = run(_get(counting_server.url, proxy=auth_proxy.url))
    assert status == 407
    assert counting_server.total_requests == 0


def test_the_request_to_the_proxy_is_in_absolute_form(raw_server):
    seen: list[ParsedRequest] = []
    proxy = raw_server(recording(http_response(b"via"), seen))
    status, body = run(_get("http://target.test:8080/p?q=1", proxy=f"http://u:p@{proxy.host}:"
                            f"{proxy.port}", proxy_headers={"X-Team": "blue"}))
    assert (status, body) == (200, b"via")
    req = seen[0]
    assert (req.method, req.target) == ("GET", "http://target.test:8080/p?q=1")
    assert req.headers["host"] == "target.test:8080"
    assert req.headers["proxy-authorization"] == BasicAuth("u", "p").encode()
    assert req.headers["x-team"] == "blue"


def test_proxied_requests_share_a_prepared_head_per_proxy(raw_server):
    """The prepared-head cache serves proxied requests too: one entry per proxy."""
    seen: list[ParsedRequest] = []
    proxy = raw_server(recording(http_response(b"via"), seen))

    async def three() -> int:
        async with ClientSession(proxy=f"http://u:p@{proxy.host}:{proxy.port}",
                                 timeout=SHORT) as s:
            for _ in range(3):
                async with s.get("http://target.test/p") as r:
                    assert await r.read() == b"via"
            return len(s._prepared)

    assert run(three()) == 1
    assert [(r.target, r.headers["proxy-authorization"]) for r in seen] == [
        ("http://target.test/p", BasicAuth("u", "p").encode())] * 3


def test_an_auth_flow_through_a_proxy(raw_server):
    """DigestAuth's headers and the proxy's go on the same requests, in absolute form."""
    seen: list[ParsedRequest] = []
    challenge = http_response(b"", 401, "Unauthorized", {
        "WWW-Authenticate": 'Digest realm="r", nonce="abc", qop="auth"'})

    def answer(req: ParsedRequest) -> bytes:
        return http_response(b"in") if "authorization" in req.headers else challenge

    proxy = raw_server(recording(answer, seen))
    status, body = run(_get("http://target.test/p", proxy=f"http://u:p@{proxy.host}:{proxy.port}",
                            auth=DigestAuth("me", "pw")))
    assert (status, body) == (200, b"in")
    assert [r.target for r in seen] == ["http://target.test/p"] * 2
    assert {r.headers["proxy-authorization"] for r in seen} == {BasicAuth("u", "p").encode()}
    assert seen[1].headers["authorization"].startswith("Digest ")


def test_plain_http_connections_to_the_proxy_are_reused(open_proxy, counting_server, relay_to):
    relay = relay_to(open_proxy)

    async def three() -> list[bytes]:
        async with ClientSession(proxy=f"http://127.0.0.1:{relay.port}", timeout=SHORT) as s:
            return [await (await s.get(counting_server.url)).read() for _ in range(3)]

    assert run(three()) == [b'{"connection": 1, "request": %d}' % n for n in (1, 2, 3)]
    assert relay.connections == 1


# -- HTTPS through CONNECT -----------------------------------------------------------------


def test_https_through_connect_checks_the_target_certificate(open_proxy, tls_target,
                                                            client_ssl_context):
    status, body = run(_get(tls_target.url + "/s", proxy=open_proxy.url, ssl=client_ssl_context))
    assert (status, body) == (200, b"ok")
    assert tls_target.requests[0].target == "/s"  # origin form inside the tunnel
    with pytest.raises(SSLError) as info:  # certifi does not trust the test CA
        run(_get(tls_target.url, proxy=open_proxy.url))
    assert f"127.0.0.1:{tls_target.port}" in str(info.value)


def test_the_tunnel_is_verified_against_the_target_name(open_proxy, raw_server, tls_target,
                                                        server_ssl_context, client_ssl_context):
    other = raw_server(tls_keep_alive(server_ssl_context, []), host="127.0.0.2")
    # The certificate is for localhost/127.0.0.1 (the proxy's address), not for 127.0.0.2.
    with pytest.raises(SSLError, match="127.0.0.2"):
        run(_get(f"https://127.0.0.2:{other.port}/", proxy=open_proxy.url,
                 ssl=client_ssl_context))
    assert run(_get(f"https://localhost:{tls_target.port}/", proxy=open_proxy.url,
                    ssl=client_ssl_context))[0] == 200  # a name in the certificate passes


def test_proxy_authorization_goes_on_the_connect_only(auth_proxy, tls_target,
                                                      client_ssl_context):
    for kwargs in ({"proxy": auth_proxy.url_with("user", "pass")},
                   {"proxy": auth_proxy.url, "proxy_auth": BasicAuth("user", "pass")},
                   {"proxy": auth_proxy.url, "headers": {"Proxy-Authorization": BASIC}}):
        assert run(_get(tls_target.url, ssl=client_ssl_context, **kwargs))[0] == 200
    assert len(tls_target.requests) == 3
    assert all("proxy-authorization" not in r.headers for r in tls_target.requests)


def test_tunnels_are_pooled_per_proxy_and_target(open_proxy, tls_target, relay_to,
                                                 client_ssl_context):
    relay = relay_to(open_proxy)
    proxy = f"http://127.0.0.1:{relay.port}"

    async def several() -> list[int]:
        async with ClientSession(timeout=SHORT) as s:
            statuses = []
            for url in [tls_target.url] * 3 + [f"https://localhost:{tls_target.port}"] * 2:
                async with s.get(url, proxy=proxy, ssl=client_ssl_context) as r:
                    await r.read()
                    statuses.append(r.status)
            return statuses

    assert run(several()) == [200] * 5
    assert relay.connections == 2  # one CONNECT per (proxy, target): 127.0.0.1 and localhost
    assert tls_target.connections == 2


# -- refusals and failures -----------------------------------------------------------------


def test_a_refused_connect_raises_proxy_error_with_the_status(auth_proxy, tls_target,
                                                               client_ssl_context):
    with pytest.raises(ProxyError) as missing:
        run(_get(tls_target.url, proxy=auth_proxy.url, ssl=client_ssl_context))
    assert missing.value.status == 407
    assert "needs credentials" in str(missing.value)
    with pytest.raises(ProxyError) as wrong:
        run(_get(tls_target.url, proxy=auth_proxy.url_with("user", "wrong"),
                 ssl=client_ssl_context))
    assert wrong.value.status == 407
    assert "rejected the credentials" in str(wrong.value)
    assert (wrong.value.host, wrong.value.port) == (auth_proxy.host, auth_proxy.port)
    assert tls_target.connections == 0


def test_any_refusal_status_is_carried(raw_server):
    refusing = raw_server(respond(http_response(b"no", status=403, reason="Forbidden")))
    with pytest.raises(ProxyError) as info:
        run(_get("https://target.test/", proxy=refusing.url))
    assert info.value.status == 403
    assert "refused CONNECT to target.test:443: 403 Forbidden" in str(info.value)


def test_an_unreachable_proxy_is_named(counting_server):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url in (counting_server.url, "https://target.test/"):
        with pytest.raises(ProxyError) as info:
            run(_get(url, proxy=f"http://127.0.0.1:{port}"))
        assert isinstance(info.value, ClientConnectionError)
        assert f"Cannot connect to proxy http://127.0.0.1:{port}" in str(info.value)
        assert info.value.status is None
    assert counting_server.total_connections == 0


def test_a_proxy_that_never_answers_connect_times_out(raw_server):
    silent = raw_server(never_respond)
    with pytest.raises(ConnectTimeout):
        run(_get("https://target.test/", proxy=silent.url, timeout=ClientTimeout(connect=0.5)))


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", b"garbage\r\n\r\n",
                                    b""])
def test_a_broken_connect_answer_is_a_proxy_error(raw_server, answer):
    broken = raw_server(respond(answer))
    with pytest.raises(ProxyError, match="failed CONNECT to target.test:443"):
        run(_get("https://target.test/", proxy=broken.url))


# -- HTTPS proxies: TLS to the proxy, then TLS inside it -----------------------------------


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_https_proxy(https_proxy, tls_target, counting_server, client_ssl_context, loop_kind):
    assert https_proxy.url.startswith("https://")
    result = _on(loop_kind, _get(tls_target.url + "/in-tls", proxy=https_proxy.url,
                                 ssl=client_ssl_context))
    assert result == (200, b"ok")
    assert tls_target.requests[-1].target == "/in-tls"
    assert _on(loop_kind, _get(counting_server.url, proxy=https_proxy.url,
                               ssl=client_ssl_context))[0] == 200


def test_an_https_proxy_certificate_is_checked(https_proxy, counting_server):
    with pytest.raises(SSLError) as info:
        run(_get(counting_server.url, proxy=https_proxy.url))  # certifi: test CA unknown
    assert (info.value.host, info.value.port) == (https_proxy.host, https_proxy.port)


# -- SOCKS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def socks5() -> Iterator[SocksProxy]:
    proxy = SocksProxy("socks5")
    yield proxy
    proxy.close()


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
@pytest.mark.parametrize("kind", ["socks5", "socks4"])
def test_socks(kind, loop_kind, counting_server, tls_target, client_ssl_context):
    proxy = SocksProxy(kind)
    try:
        assert _on(loop_kind, _get(counting_server.url + "/x", proxy=proxy.url))[0] == 200
        assert _on(loop_kind, _get(tls_target.url, proxy=proxy.url,
                                   ssl=client_ssl_context)) == (200, b"ok")
    finally:
        proxy.close()


def test_socks5_credentials(counting_server):
    proxy = SocksProxy("socks5", auth="user:pass")
    try:
        assert run(_get(counting_server.url, proxy=proxy.url_with("user", "pass")))[0] == 200
        assert run(_get(counting_server.url, proxy=proxy.url,
                        proxy_auth=BasicAuth("user", "pass")))[0] == 200
        with pytest.raises(ProxyError, match=f"SOCKS proxy {proxy.url} refused"):
            run(_get(counting_server.url, proxy=proxy.url_with("user", "wrong")))
    finally:
        proxy.close()


class _NoNames:
    """A resolver that knows no name at all (the client side of a split DNS)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = 0):
        self.asked.append(host)
        raise OSError(f"{host} is unknown here")

    async def close(self) -> None:
        pass


def test_socks5h_leaves_dns_to_the_proxy(socks5, counting_server):
    url = f"http://localhost:{counting_server.port}/"

    async def get(scheme: str) -> int:
        resolver = _NoNames()
        connector = TCPConnector(resolver=resolver)
        try:
            async with ClientSession(connector=connector, timeout=SHORT) as s:
                async with s.get(url, proxy=socks5.url.replace("socks5", scheme)) as r:
                    return r.status
        finally:
            assert ("localhost" in resolver.asked) is (scheme == "socks5")

    assert run(get("socks5h")) == 200
    with pytest.raises(ClientConnectorError, match="localhost"):
        run(get("socks5"))  # resolved here: the local resolver's answer counts


def test_an_unreachable_socks_proxy_is_named(counting_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProxyError, match=f"Cannot connect to proxy socks5://127.0.0.1:{port}"):
        run(_get(counting_server.url, proxy=f"socks5://127.0.0.1:{port}"))


# -- the environment -----------------------------------------------------------------------


def _clear_proxy_env(monkeypatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_trust_env_uses_the_proxy_variables(open_proxy, relay_to, counting_server, tls_target,
                                            client_ssl_context, monkeypatch):
    relay = relay_to(open_proxy)
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{relay.port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{relay.port}")

    async def get(url: str, trust_env: bool) -> int:
        async with ClientSession(trust_env=trust_env, timeout=SHORT) as s:
            async with s.get(url, ssl=client_ssl_context) as r:
                return r.status

    assert run(get(counting_server.url, True)) == 200
    assert run(get(tls_target.url, True)) == 200
    assert relay.connections == 2
    assert run(get(counting_server.url, False)) == 200  # not trusted: direct
    monkeypatch.setenv("NO_PROXY", "localhost, 127.0.0.0/8")
    assert run(get(tls_target.url, True)) == 200  # exempt: direct
    assert relay.connections == 2


def test_trust_env_reads_proxy_credentials_from_netrc(auth_proxy, counting_server, tmp_path,
                                                      monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", auth_proxy.url)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {auth_proxy.host} login user password pass\n")
    monkeypatch.setenv("NETRC", str(netrc))

    async def get() -> int:
        async with ClientSession(trust_env=True, timeout=SHORT) as s:
            async with s.get(counting_server.url) as r:
                return r.status

    assert run(get()) == 200
    netrc.write_text(f"machine {auth_proxy.host} login user password wrong\n")
    assert run(get()) == 407


# -- redirects -----------------------------------------------------------------------------


def test_a_redirect_through_the_same_proxy_keeps_proxy_authorization(auth_proxy, httpbin_url,
                                                                     counting_server):
    # httpbin answers on 127.0.0.1, the counting server on localhost: another origin.
    target = f"http://localhost:{counting_server.port}/after"
    status, _ = run(_get(f"{httpbin_url}/redirect-to", params={"url": target},
                         proxy=auth_proxy.url, headers={"Proxy-Authorization": BASIC}))
    assert status == 200  # a 407 if the header had been dropped for the second hop
    assert counting_server.total_requests == 1


def test_a_redirect_to_another_proxy_drops_proxy_credentials(auth_proxy, httpbin_url,
                                                             raw_server):
    seen: list[ParsedRequest] = []
    other_proxy = raw_server(canned(http_response(b"no", status=403, reason="Forbidden"),
                                    requests=seen))
    proxies = {"http": auth_proxy.url, "https": other_proxy.url}
    for kwargs in ({"headers": {"Proxy-Authorization": BASIC}},
                   {"proxy_auth": BasicAuth("user", "pass")}):
        with pytest.raises(ProxyError) as info:
            run(_get(f"{httpbin_url}/redirect-to", params={"url": "https://secure.test/"},
                     proxy=proxies, **kwargs))
        assert info.value.status == 403  # the first hop went through auth_proxy: accepted
    assert [r.method for r in seen] == ["CONNECT", "CONNECT"]
    assert all("proxy-authorization" not in r.headers for r in seen)


def test_proxy_authorization_never_goes_to_a_server_reached_directly(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"direct"), seen))
    # Proxies are set, but none for http: the request goes direct, without the header.
    assert run(_get(server.url, proxy={"https": "http://unused.test:3128"},
                    headers={"Proxy-Authorization": BASIC})) == (200, b"direct")
    assert "proxy-authorization" not in seen[0].headers


def test_session_and_request_mappings_merge(open_proxy, auth_proxy, counting_server):
    async def get(**kwargs) -> int:
        async with ClientSession(proxy={"http": auth_proxy.url}, timeout=SHORT) as s:
            async with s.get(counting_server.url, **kwargs) as r:
                return r.status

    assert run(get()) == 407
    assert run(get(proxy={"http://127.0.0.1": open_proxy.url})) == 200  # more specific wins
    assert run(get(proxy={"https": open_proxy.url})) == 407  # merged: http still the session's


def test_bad_proxy_arguments_fail_at_the_call(counting_server):
    with pytest.raises(ValueError, match="unsupported proxy scheme"):
        run(_get(counting_server.url, proxy="ftp://p.test:21"))
    with pytest.raises(TypeError, match="proxy_auth="):
        run(_get(counting_server.url, proxy="http://p.test:1", proxy_auth=("u", "p")))
    with pytest.raises(TypeError, match="proxy="):
        ClientSession(proxy=3128)
    assert counting_server.total_connections == 0


def test_ssl_false_through_a_tunnel(open_proxy, tls_target):
    assert run(_get(tls_target.url, proxy=open_proxy.url, ssl=False)) == (200, b"ok")


def test_fingerprint_pins_the_target_inside_the_tunnel(open_proxy, tls_target, tls_cert):
    import hashlib

    from syncwrap.engine import Fingerprint, FingerprintMismatch

    der = ssl.PEM_cert_to_DER_cert(tls_cert.cert_chain_pems[0].bytes().decode())
    good = Fingerprint(hashlib.sha256(der).digest())
    assert run(_get(tls_target.url, proxy=open_proxy.url, ssl=good))[0] == 200
    with pytest.raises(FingerprintMismatch):
        run(_get(tls_target.url, proxy=open_proxy.url, ssl=Fingerprint(b"\x00" * 32)))

