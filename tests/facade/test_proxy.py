"""Proxies in the blocking facade: ``proxy=``, requests' ``proxies=`` (per call and as
``Session.proxies``), ``proxy_auth=``, ``trust_env``, errors at the call, against real
peers on loopback (proxy.py, pproxy, a trustme TLS target)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import syncwrap
from tests.proxy_peers import Relay, SocksProxy

T = 10




@pytest.fixture
def relay(open_proxy) -> Iterator[Relay]:
    """A connection-counting forwarder to open_proxy (``.url`` is a proxy URL)."""
    forwarder = Relay((open_proxy.host, open_proxy.port))
    forwarder.url = f"http://127.0.0.1:{forwarder.port}"
    yield forwarder
    forwarder.close()



def test_proxy_for_plain_and_tls_targets(auth_proxy, counting_server, tls_target, ca_pem_path):
    proxy = auth_proxy.url_with("user", "pass")
    with syncwrap.Session(timeout=T) as s:
        assert s.get(counting_server.url, proxy=proxy).json() == {"connection": 1, "request": 1}
        r = s.get(tls_target.url + "/t", proxy=proxy, verify=ca_pem_path)
        assert (r.status_code, r.text) == (200, "ok")
        assert s.get(counting_server.url, proxy=auth_proxy.url).status_code == 407
    assert "proxy-authorization" not in tls_target.requests[0].headers


def test_proxy_auth_as_a_pair(auth_proxy, counting_server):
    assert syncwrap.get(counting_server.url, proxy=auth_proxy.url, proxy_auth=("user", "pass"),
                        timeout=T).status_code == 200
    with syncwrap.Session(timeout=T, proxy_auth=("user", "pass")) as s:
        assert isinstance(s.proxy_auth, syncwrap.BasicAuth)
        assert s.get(counting_server.url, proxy=auth_proxy.url).status_code == 200
        s.proxy_auth = None
        assert s.get(counting_server.url, proxy=auth_proxy.url).status_code == 407


def test_proxies_per_call(relay, counting_server, tls_target, ca_pem_path):
    for proxies in ({"http": relay.url}, {"all": relay.url}, {"http://127.0.0.1": relay.url},
                    {"all://127.0.0.1": relay.url}):
        with syncwrap.Session(timeout=T) as s:  # a new pool: a new connection to the proxy
            assert s.get(counting_server.url, proxies=proxies).ok
    assert syncwrap.get(tls_target.url, proxies={"https": relay.url}, verify=ca_pem_path,
                        timeout=T).ok
    assert relay.connections == 5
    for proxies in ({"https": relay.url}, {f"http://127.0.0.1:{counting_server.port}": relay.url}):
        # no entry for http; a host key has no port (as in requests): direct
        assert syncwrap.get(counting_server.url, proxies=proxies, timeout=T).ok
    assert relay.connections == 5


def test_session_proxies_attribute(relay, counting_server):
    with syncwrap.Session(timeout=T) as s:
        assert s.proxies == {}
        s.get(counting_server.url)
        s.proxies["http"] = relay.url  # requests code mutates the dict in place
        s.get(counting_server.url)
        assert relay.connections == 1
        assert s.get(counting_server.url, proxies={"http": None}).ok  # a call's entry wins
        s.proxies = {"https": relay.url}
        s.get(counting_server.url)
        assert relay.connections == 1
    with syncwrap.Session(proxies={"all": relay.url}, timeout=T) as s:
        assert s.get(counting_server.url).ok
        assert s.engine_session.proxy is s.proxies
    assert relay.connections == 2


def test_socks_through_the_facade(counting_server, tls_target, ca_pem_path):
    proxy = SocksProxy("socks5")
    try:
        with syncwrap.Session(proxies={"all": proxy.url.replace("socks5", "socks5h")},
                              timeout=T) as s:
            assert s.get(counting_server.url).ok
            assert s.get(tls_target.url, verify=ca_pem_path).text == "ok"
    finally:
        proxy.close()


def test_a_refused_connect_raises_proxy_error(auth_proxy, tls_target, ca_pem_path):
    with pytest.raises(syncwrap.ProxyError) as info:
        syncwrap.get(tls_target.url, proxy=auth_proxy.url, verify=ca_pem_path, timeout=T)
    assert info.value.status == 407
    assert isinstance(info.value, syncwrap.ConnectionError)


def test_trust_env(relay, counting_server, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", relay.url)
    with syncwrap.Session(timeout=T) as s:  # the default: the environment is not read
        assert not s.trust_env
        s.get(counting_server.url)
    assert relay.connections == 0
    with syncwrap.Session(trust_env=True, timeout=T) as s:
        s.get(counting_server.url)
        assert relay.connections == 1
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        s.get(counting_server.url)
    assert relay.connections == 1


def test_bad_proxy_arguments_fail_at_the_call(counting_server):
    with pytest.raises(ValueError, match="proxy= and proxies="):
        syncwrap.get(counting_server.url, proxy="http://p.test:1", proxies={"http": "x"})
    with pytest.raises(TypeError, match="proxy_auth="):
        syncwrap.get(counting_server.url, proxy="http://p.test:1", proxy_auth="user:pass")
    with pytest.raises(syncwrap.InvalidURL, match="unsupported proxy scheme"):
        syncwrap.get(counting_server.url, proxies={"http": "ftp://p.test:21"})
    with pytest.raises(TypeError, match="proxy="):
        syncwrap.Session(proxies=["http://p.test:1"])
    assert counting_server.total_connections == 0
