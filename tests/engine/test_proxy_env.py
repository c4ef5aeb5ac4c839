"""Proxy selection as pure functions, without sockets: the environment (HTTP_PROXY,
HTTPS_PROXY, ALL_PROXY, NO_PROXY), NO_PROXY matching, requests' ``proxies`` mapping,
explicit settings, .netrc credentials for the proxy, what goes on the wire to it, and
the parser's reading of a CONNECT answer."""

from __future__ import annotations

import sys

import pytest
from multidict import CIMultiDict
from yarl import URL

from syncwrap.engine import BasicAuth, InvalidURL
from syncwrap.engine.http1.parser import ResponseParser
from syncwrap.engine.proxy import (
    ProxyRoute,
    ProxySpec,
    bypass_proxy,
    env_proxies,
    has_entry,
    parse_proxy,
    proxy_for_url,
    proxy_request,
)
from syncwrap.engine.tls import resolve_ssl
from syncwrap.engine.tunnel import connect_head

BASIC = BasicAuth("user", "pass").encode()


# -- the environment -----------------------------------------------------------------


def test_env_proxies_reads_each_scheme_lower_case_first():
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1",
           "HTTPS_PROXY": "http://secure:2", "ALL_PROXY": "socks5://all:3",
           "no_proxy": "localhost", "FTP_PROXY": "http://ftp:4"}
    assert env_proxies(env) == {"http": "http://lower:1", "https": "http://secure:2",
                                "all": "socks5://all:3", "no": "localhost"}


def test_env_proxies_ignores_empty_values_and_http_proxy_in_cgi():
    assert env_proxies({"http_proxy": "", "HTTPS_PROXY": "  "}) == {}
    # A CGI request's Proxy: header becomes HTTP_PROXY ("httpoxy"): never trusted there.
    cgi = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://attacker:1",
           "HTTPS_PROXY": "http://p:2"}
    assert env_proxies(cgi) == {"https": "http://p:2"}
    assert env_proxies({"REQUEST_METHOD": "GET", "http_proxy": "http://ok:1"}) == {
        "http": "http://ok:1"}


# -- NO_PROXY ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("example.com", 80, "example.com", True),
        ("api.example.com", 80, "example.com", True),  # a domain covers its subdomains
        ("notexample.com", 80, "example.com", False),  # ...not names that end the same
        ("api.example.com", 80, ".example.com", True),
        ("example.com", 80, ".example.com", True),
        ("api.example.com", 80, "*.example.com", True),
        ("API.Example.COM.", 80, "example.com", True),  # case, trailing dot
        ("example.org", 80, "example.com, other.net", False),
        ("other.net", 80, "example.com other.net", True),  # spaces separate entries too
        ("anything.test", 443, "*", True),
        ("10.1.2.3", 80, "10.1.2.3", True),
        ("10.1.2.4", 80, "10.1.2.3", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("::1", 80, "::1", True),
        ("[::1]", 80, "::1", True),
        ("fd00::5", 80, "fd00::/8", True),
        ("fe80::5", 80, "fd00::/8", False),
        ("example.com", 8080, "example.com:8080", True),
        ("example.com", 80, "example.com:8080", False),  # the port must match when given
        ("::1", 8080, "[::1]:8080", True),
        ("::1", 80, "[::1]:8080", False),
        ("10.0.0.1", 80, "10.0.0.0/8:80", True),
        ("example.com", 80, "", False),
        ("example.com", 80, None, False),
        ("10.0.0.1", 80, "not-a-cidr/99, example.com", False),
    ],
)
def test_bypass_proxy(host, port, no_proxy, bypass):
    assert bypass_proxy(host, port, no_proxy) is bypass


# -- requests' proxies mapping -------------------------------------------------------


def test_proxy_for_url_takes_the_most_specific_key():
    proxies = {"all": "http://all:1", "all://a.test": "http://all-a:1",
               "http": "http://plain:1", "http://a.test": "http://plain-a:1"}
    assert proxy_for_url(URL("http://a.test/x"), proxies) == "http://plain-a:1"
    assert proxy_for_url(URL("http://b.test/x"), proxies) == "http://plain:1"
    assert proxy_for_url(URL("https://a.test/x"), proxies) == "http://all-a:1"
    assert proxy_for_url(URL("https://b.test/x"), proxies) == "http://all:1"
    assert not has_entry(proxy_for_url(URL("https://b.test/"), {"http": "http://p:1"}))
    assert proxy_for_url(URL("https://b.test/"), {"https": None}) is None


# -- parsing a proxy -----------------------------------------------------------------


def test_parse_proxy_reads_credentials_and_default_ports():
    spec = parse_proxy("http://us%40er:p%3Ass@proxy.test")
    assert (spec.scheme, spec.host, spec.port) == ("http", "proxy.test", 80)
    assert spec.auth == BasicAuth("us@er", "p:ss")
    assert spec.header("proxy-authorization") == BasicAuth("us@er", "p:ss").encode()
    assert parse_proxy("https://proxy.test").port == 443
    assert parse_proxy("socks5h://proxy.test").port == 1080
    assert parse_proxy(URL("http://[::1]:3128")).url == "http://[::1]:3128"


def test_proxy_auth_and_proxy_headers_win_over_the_url():
    spec = parse_proxy("http://url:creds@p.test:3128", auth=BasicAuth("explicit", "x"))
    assert spec.header("Proxy-Authorization") == BasicAuth("explicit", "x").encode()
    spec = parse_proxy("http://url:creds@p.test:3128",
                       headers={"Proxy-Authorization": "Bearer t", "X-Team": "a"})
    assert spec.header("Proxy-Authorization") == "Bearer t"
    assert spec.header("x-team") == "a"


def test_the_tls_setting_only_applies_to_an_https_proxy():
    tls = resolve_ssl(False)
    assert parse_proxy("https://p.test", ssl=tls).ssl is tls
    assert parse_proxy("http://p.test", ssl=tls).ssl is None


@pytest.mark.parametrize(
    ("proxy", "error", "words"),
    [
        ("ftp://p.test:21", InvalidURL, "unsupported proxy scheme 'ftp'"),
        ("http://", InvalidURL, "scheme://"),
        ("http://p.test:99999", InvalidURL, "proxy="),
        ("http://p.test:1\r\nX: y", InvalidURL, ""),
        (3128, TypeError, "proxy=: expected a proxy URL"),
        ("socks4://user:password@p.test", ValueError, "SOCKS4 takes a user id only"),
    ],
)
def test_bad_proxies_are_refused_naming_the_argument(proxy, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(") if words else None):
        parse_proxy(proxy)


def test_bad_proxy_auth_is_refused():
    with pytest.raises(TypeError, match="proxy_auth="):
        parse_proxy("http://p.test", auth=("user", "pass"))
    with pytest.raises(TypeError, match="proxy_auth="):
        ProxyRoute(None, "user:pass", None, False)
    with pytest.raises(TypeError, match="proxy="):
        ProxyRoute(3128, None, None, False)


def test_socks_without_python_socks_names_the_extra(monkeypatch):
    for name in ("python_socks", "python_socks.async_", "python_socks.async_.asyncio"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install 'syncwrap\[socks\]'"):
        parse_proxy("socks5://no-extra.test:1080")


# -- one request's route -------------------------------------------------------------

ENV = {"http_proxy": "http://env-plain:1", "https_proxy": "http://env-secure:2",
       "all_proxy": "socks5://env-all:3", "no_proxy": "direct.test,10.0.0.0/8"}


def _chosen(route: ProxyRoute, url: str) -> str | None:
    spec = route.for_url(URL(url))
    return None if spec is None else spec.url


def test_route_reads_the_environment_only_with_trust_env():
    trusting = ProxyRoute(None, None, None, True, environ=ENV)
    assert _chosen(trusting, "http://a.test/") == "http://env-plain:1"
    assert _chosen(trusting, "https://a.test/") == "http://env-secure:2"
    assert _chosen(trusting, "http://direct.test/") is None
    assert _chosen(trusting, "https://x.direct.test/") is None
    assert _chosen(trusting, "http://10.1.1.1/") is None
    assert _chosen(ProxyRoute(None, None, None, False, environ=ENV), "http://a.test/") is None
    only_all = ProxyRoute(None, None, None, True, environ={"ALL_PROXY": "socks5h://all:9"})
    assert _chosen(only_all, "https://a.test/") == "socks5h://all:9"


def test_an_explicit_proxy_wins_over_the_environment_and_its_no_proxy():
    route = ProxyRoute("http://explicit:8", None, None, True, environ=ENV)
    assert _chosen(route, "http://direct.test/") == "http://explicit:8"
    mapping = ProxyRoute({"https": "http://mapped:8"}, None, None, True, environ=ENV)
    assert _chosen(mapping, "https://a.test/") == "http://mapped:8"
    assert _chosen(mapping, "http://a.test/") == "http://env-plain:1"  # no entry: the env
    assert _chosen(ProxyRoute({"http": None}, None, None, True, environ=ENV),
                   "http://a.test/") is None  # an entry of None: direct
    assert _chosen(ProxyRoute({"no_proxy": "a.test"}, None, None, True, environ=ENV),
                   "http://a.test/") is None  # the mapping's no_proxy replaces NO_PROXY


def test_route_takes_proxy_credentials_from_netrc(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine env-plain login nuser password npass\n")
    monkeypatch.setenv("NETRC", str(netrc))
    spec = ProxyRoute(None, None, None, True, environ=ENV).for_url(URL("http://a.test/"))
    assert spec.auth == BasicAuth("nuser", "npass")
    assert spec.header("Proxy-Authorization") == BasicAuth("nuser", "npass").encode()
    explicit = ProxyRoute(None, BasicAuth("u", "p"), None, True, environ=ENV)
    assert explicit.for_url(URL("http://a.test/")).auth == BasicAuth("u", "p")
    untrusting = ProxyRoute("http://env-plain:1", None, None, False)
    assert untrusting.for_url(URL("http://a.test/")).auth is None


def test_a_pinned_target_does_not_pin_the_proxy():
    from syncwrap.engine import Fingerprint

    pinned = resolve_ssl(Fingerprint(b"\x01" * 32))
    spec = ProxyRoute("https://p.test", None, None, False).for_url(URL("https://a.test/"),
                                                                   pinned)
    assert spec.ssl.fingerprint is None and spec.ssl.verify is True


def test_a_redirect_to_another_proxy_forgets_proxy_auth():
    route = ProxyRoute({"http": "http://a:1", "https": "http://b:2"}, BasicAuth("u", "p"),
                       None, False)
    first = route.for_url(URL("http://x.test/"))
    assert route.same_proxy(first, route.for_url(URL("http://y.test/"))) is True
    assert route.auth == BasicAuth("u", "p")
    assert route.same_proxy(first, route.for_url(URL("https://x.test/"))) is False
    assert route.auth is None
    assert route.for_url(URL("https://x.test/")).header("Proxy-Authorization") is None
    assert route.same_proxy(None, None) is False  # no proxy: nothing to keep


# -- on the wire ---------------------------------------------------------------------


def test_plain_http_goes_in_absolute_form_with_the_proxy_headers():
    spec = parse_proxy("http://user:pass@p.test:3128", headers={"X-Team": "a"})
    headers = CIMultiDict({"Host": "a.test:8080", "Accept": "*/*"})
    sent, target, keyed = proxy_request(URL("http://a.test:8080/p?q=1#f"), headers, spec)
    assert target == "http://a.test:8080/p?q=1"
    assert sent["Proxy-Authorization"] == BASIC and sent["X-Team"] == "a"
    assert "Proxy-Authorization" not in headers  # the given headers are not changed
    assert keyed == spec
    _, target, _ = proxy_request(URL("http://[::1]/"), CIMultiDict(), spec)
    assert target == "http://[::1]/"


def test_a_tunnelled_request_never_carries_proxy_authorization():
    spec = parse_proxy("http://p.test:3128")
    headers = CIMultiDict({"Host": "a.test", "Proxy-Authorization": BASIC})
    sent, target, keyed = proxy_request(URL("https://a.test/p?q=1"), headers, spec)
    assert target == "/p?q=1"
    assert "Proxy-Authorization" not in sent
    assert keyed.header("Proxy-Authorization") == BASIC  # moved to the CONNECT
    socks = parse_proxy("socks5://p.test:1080")
    sent, target, keyed = proxy_request(URL("http://a.test/"), headers, socks)
    assert (target, "Proxy-Authorization" in sent, keyed) == ("/", False, socks)


def test_a_direct_request_despite_proxies_drops_proxy_authorization():
    headers = CIMultiDict({"Host": "a.test", "Proxy-Authorization": BASIC})
    sent, target, keyed = proxy_request(URL("http://a.test/p"), headers, None)
    assert (target, keyed, "Proxy-Authorization" in sent) == ("/p", None, False)


def test_connect_head():
    spec = ProxySpec("http", "p.test", 3128, headers=(("Proxy-Authorization", BASIC),))
    assert connect_head(spec, "a.test", 443) == (
        b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n"
        b"Proxy-Authorization: " + BASIC.encode() + b"\r\n\r\n")
    assert connect_head(spec, "::1", 8443).startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\n")


# -- the parser and CONNECT answers --------------------------------------------------


def _parse(method: str, data: bytes) -> tuple[list, list, list]:
    heads, body, done = [], [], []
    parser = ResponseParser(heads.append, body.append, lambda: done.append(True))
    parser.start(method)
    parser.feed(data)
    return heads, body, done


def test_a_2xx_answer_to_connect_has_no_body():
    heads, body, done = _parse("CONNECT", b"HTTP/1.1 200 Connection established\r\n\r\n")
    assert heads[0].status == 200 and done == [True] and body == []


def test_a_refusal_of_connect_has_its_body():
    answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope"
    heads, body, done = _parse("CONNECT", answer)
    assert heads[0].status == 407 and b"".join(body) == b"nope" and done == [True]
    heads, body, done = _parse("GET", b"HTTP/1.1 200 OK\r\n\r\nuntil close")
    assert done == [] and b"".join(body) == b"until close"  # other methods unchanged
