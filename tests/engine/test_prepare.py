"""Request building without sockets: a call's options (engine/options.py), the headers
and head that go on the wire and the prepared-head cache (engine/prepare.py), and the
options of a redirect's next hop. Plain function calls and asserts.
"""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict
from yarl import URL

from syncwrap.engine import BasicAuth, CookieJar, TraceConfig
from syncwrap.engine.connector import ConnectionKey
from syncwrap.engine.options import SessionDefaults, proxy_route, request_options
from syncwrap.engine.payload import AsyncIterablePayload, BytesPayload, JsonPayload
from syncwrap.engine.prepare import (
    PREPARED_CACHE_SIZE,
    PreparedRequest,
    cached_request,
    connection_key,
    cookie_header,
    send_headers,
    uses_only_defaults,
)
from syncwrap.engine.proxy import parse_proxy
from syncwrap.engine.redirects import REDIRECT_STATUSES, next_hop
from syncwrap.engine.request import DEFAULT_USER_AGENT
from syncwrap.engine.tls import resolve_ssl
from syncwrap.exceptions import InvalidHeader, InvalidURL, RequestBodyLengthError

URL_X = "http://example.com/x"


def options(url: str = URL_X, method: str = "GET", defaults: SessionDefaults | None = None,
            **kwargs):
    return request_options(defaults or SessionDefaults(), method, url, **kwargs)


def wire(req, *, payload=None, auth=None, cookie="", force_close=False) -> CIMultiDict[str]:
    return send_headers(req.method, req.url, req.headers, payload, req.skip, auth, cookie,
                        req.exchange, force_close)


async def _chunks():
    yield b"x"


# -- a call's options -------------------------------------------------------------------


def test_a_call_with_no_arguments_shares_the_session_defaults():
    d = SessionDefaults()
    req = request_options(d, "GET", URL_X)
    assert req.headers is d.headers and req.exchange is d.exchange and req.tls is d.tls
    assert req.timeouts is d.timeout and req.skip is d.skip_auto_headers
    assert req.payload is None and req.auth is None and req.cookies is None
    assert req.max_redirects == 10 and req.raise_for_status is False and req.allow_redirects
    assert req.exchange.raw_statuses == REDIRECT_STATUSES


def test_method_is_checked_and_upper_cased():
    assert options(method="purge").method == "PURGE"
    with pytest.raises(ValueError, match="method="):
        options(method="GE T")


def test_url_is_joined_to_the_base_url_and_gets_the_params():
    d = SessionDefaults(base_url=URL("http://example.com:8080/api/"))
    req = options("v1/items", defaults=d, params={"a": 1, "b": [1, 2], "c": None})
    assert str(req.url) == "http://example.com:8080/api/v1/items?a=1&b=1&b=2"
    with pytest.raises(InvalidURL):
        options("ftp://example.com/")
    with pytest.raises(TypeError, match="params="):
        options(params=object())


def test_call_headers_override_and_remove_defaults_which_stay_unchanged():
    d = SessionDefaults(headers=CIMultiDict({"X-A": "1", "X-B": "2"}))
    req = options(defaults=d, headers={"x-a": "3", "X-B": None})
    assert list(req.headers.items()) == [("x-a", "3")]
    assert list(d.headers.items()) == [("X-A", "1"), ("X-B", "2")]
    with pytest.raises(InvalidHeader, match="headers="):
        options(headers={"X-A": "1\r\nX-Evil: 1"})


def test_a_traced_session_copies_the_headers_for_its_signals():
    d = SessionDefaults(trace_configs=[TraceConfig()])
    assert options(defaults=d).headers is not d.headers


def test_body_from_data_or_json():
    with pytest.raises(ValueError, match="data= and json="):
        options(method="POST", data=b"a", json={})
    d = SessionDefaults(json_serialize=lambda v: json.dumps(v, separators=(",", ":")))
    req = options(method="POST", defaults=d, json={"a": 1})
    assert isinstance(req.payload, JsonPayload) and req.payload.body == b'{"a":1}'
    latin = options(method="POST", data="é",
                    headers={"Content-Type": "text/plain; charset=latin-1"})
    assert latin.payload.body == "é".encode("latin-1")
    with pytest.raises(TypeError, match="data="):
        options(method="POST", data=object())


def test_compress_and_chunked_are_checked_against_the_callers_headers():
    req = options(method="POST", data=b"abc", compress=True)
    assert req.exchange.compress == "deflate" and req.exchange is not SessionDefaults().exchange
    with pytest.raises(ValueError, match="Content-Encoding"):
        options(method="POST", data=b"a", compress="gzip", headers={"Content-Encoding": "br"})
    with pytest.raises(ValueError, match="compress="):
        options(method="POST", data=b"a", compress="br")
    with pytest.raises(ValueError, match="chunked=True cannot be used with a Content-Length"):
        options(method="POST", data=b"a", chunked=True, headers={"Content-Length": "1"})
    te = options(method="POST", data=b"a", headers={"Transfer-Encoding": "chunked"})
    assert te.exchange.chunked  # the caller's header frames the body: never sent inline


def test_credentials_in_the_url_become_basic_auth():
    req = options("http://user:pw@example.com/x")
    assert req.url == URL(URL_X) and req.auth == BasicAuth("user", "pw")
    with pytest.raises(ValueError, match="both in the URL and in auth="):
        options("http://user:pw@example.com/x", auth=BasicAuth("other"))
    session_auth = BasicAuth("session")
    assert options(defaults=SessionDefaults(auth=session_auth)).auth is session_auth
    with pytest.raises(TypeError, match="auth="):
        options(auth=("user", "pw"))


def test_per_call_settings_get_their_own_exchange_options():
    d = SessionDefaults()
    req = options(defaults=d, max_body_size=10, allow_redirects=False, timeout=5,
                  max_line_size=100, read_bufsize=1024, auto_decompress=False, expect100=True)
    ex = req.exchange
    assert ex is not d.exchange and d.exchange.max_body_size == d.max_body_size
    assert ex.max_body_size == 10 and ex.raw_statuses == frozenset()
    assert req.timeouts.total == 5 and ex.read_timeout == req.timeouts.sock_read
    assert ex.limits.max_line_size == 100 and ex.limits.max_field_size == d.limits.max_field_size
    assert ex.high_water == 1024 and not ex.auto_decompress and ex.expect100
    with pytest.raises(ValueError, match="max_body_size"):
        options(max_body_size=-1)
    alone = options(defaults=d, allow_redirects=False)  # redirect bodies are then decoded
    assert alone.exchange is not d.exchange and alone.exchange.raw_statuses == frozenset()


def test_tls_skip_redirects_and_status_settings():
    d = SessionDefaults(skip_auto_headers=frozenset({"user-agent"}))
    assert options(defaults=d, ssl=True).tls is d.tls
    assert options(defaults=d, ssl=False).tls.verify is False
    req = options(defaults=d, skip_auto_headers=["Accept"], max_redirects=2,
                  raise_for_status=True)
    assert req.skip == {"user-agent", "accept"}
    assert req.max_redirects == 2 and req.raise_for_status is True


def test_an_unknown_argument_is_a_type_error():
    with pytest.raises(TypeError, match="proxies"):
        options(proxies={})


# -- the options of a redirect's next hop -------------------------------------------------


def test_a_303_drops_the_body_and_another_origin_drops_auth_and_cookies():
    req = options(method="POST", data=b"abc", auth=BasicAuth("u", "p"), cookies={"a": "1"},
                  headers={"Authorization": "Bearer t", "X-Keep": "1"})
    same = req.redirected(next_hop(req.method, req.url, 303, "/y", req.headers,
                                   has_body=True))
    assert (same.method, str(same.url), same.payload) == ("GET", "http://example.com/y", None)
    assert same.auth == BasicAuth("u", "p") and same.cookies == {"a": "1"}
    other = req.redirected(next_hop(req.method, req.url, 307, "http://other.example/z",
                                    req.headers, has_body=True))
    assert other.method == "POST" and other.payload is req.payload
    assert other.auth is None and other.cookies is None
    assert "Authorization" not in other.headers and other.headers["X-Keep"] == "1"
    assert req.url == URL(URL_X) and req.auth == BasicAuth("u", "p")  # not changed


# -- the headers that go on the wire ------------------------------------------------------


def test_auto_headers():
    req = options("http://example.com:8080/x")
    sent = wire(req)
    assert sent["Host"] == "example.com:8080" and sent["User-Agent"] == DEFAULT_USER_AGENT
    assert sent["Accept"] == "*/*" and "gzip" in sent["Accept-Encoding"]
    assert "Content-Length" not in sent and "Connection" not in sent
    assert "Host" not in req.headers  # the request's own headers are not changed
    assert wire(options("http://[::1]:80/"))["Host"] == "[::1]"
    assert wire(options(headers={"Host": "virtual.example"}))["Host"] == "virtual.example"
    mine = wire(options(headers={"User-Agent": "me"}, skip_auto_headers=["accept"]))
    assert mine["User-Agent"] == "me" and "Accept" not in mine


def test_basic_auth_and_cookie_headers():
    sent = wire(options(), auth=BasicAuth("user", "pw"), cookie="a=1")
    assert sent["Authorization"] == BasicAuth("user", "pw").encode() and sent["Cookie"] == "a=1"
    caller = wire(options(headers={"Authorization": "Bearer t"}), auth=BasicAuth("user"))
    assert caller["Authorization"] == "Bearer t"


def test_bodiless_requests():
    assert wire(options(method="POST"))["Content-Length"] == "0"
    assert "Content-Length" not in wire(options(method="DELETE"))
    with pytest.raises(RequestBodyLengthError):
        wire(options(method="POST", headers={"Content-Length": "5"}))


def test_body_framing_headers():
    req = options(method="POST", data=b"abc")
    sent = wire(req, payload=req.payload)
    assert sent["Content-Length"] == "3" and sent["Content-Type"] == "application/octet-stream"
    streamed = options(method="POST", data=_chunks())
    sent = wire(streamed, payload=streamed.payload)
    assert sent["Transfer-Encoding"] == "chunked" and "Content-Length" not in sent
    compressed = options(method="POST", data=b"abc", compress="gzip")
    sent = wire(compressed, payload=compressed.payload)
    assert sent["Content-Encoding"] == "gzip" and sent["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in sent
    typed = options(method="POST", data=b"a", skip_auto_headers=["Content-Type"])
    assert "Content-Type" not in wire(typed, payload=typed.payload)
    wrong = options(method="POST", data=b"abc", headers={"Content-Length": "4"})
    with pytest.raises(RequestBodyLengthError):
        wire(wrong, payload=wrong.payload)


def test_expect_and_connection_close():
    assert wire(options(expect100=True))["Expect"] == "100-continue"
    assert wire(options(), force_close=True)["Connection"] == "close"
    mine = options(headers={"Connection": "keep-alive"})
    assert wire(mine, force_close=True)["Connection"] == "keep-alive"


def test_cookie_header_from_the_jar_and_the_call():
    jar = CookieJar()
    assert cookie_header(jar, URL(URL_X), None) == ""
    jar.update_cookies_from_headers(["a=1", "b=2"], URL(URL_X))
    assert cookie_header(jar, URL(URL_X), None) == "a=1; b=2"
    assert cookie_header(jar, URL(URL_X), {"b": "3", "c": "4"}) == "a=1; b=3; c=4"
    assert cookie_header(jar, URL("http://other.example/"), [("c", "4")]) == "c=4"
    with pytest.raises(ValueError, match="cookies="):
        cookie_header(CookieJar(), URL(URL_X), {"a": "1\r\nX: y"})


# -- the prepared request and its cache ---------------------------------------------------


def test_prepared_request_head_key_and_request_info():
    headers = CIMultiDict({"Host": "example.com", "X-A": "1"})
    p = PreparedRequest("GET", URL("http://example.com/p?q=1#frag"), headers, None)
    assert p.head == b"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\n"
    assert p.key == ConnectionKey("example.com", 80, False, None)
    assert str(p.request_info.url) == "http://example.com/p?q=1"
    assert str(p.request_info.real_url) == "http://example.com/p?q=1#frag"
    tls = resolve_ssl(False)
    https = PreparedRequest("HEAD", URL("https://example.com"), headers, tls)
    assert https.head.startswith(b"HEAD / HTTP/1.1\r\n")
    assert https.key == ConnectionKey("example.com", 443, True, tls)
    assert https.payload is None and https.auth_flow is None


def test_which_requests_use_only_the_defaults():
    d = SessionDefaults()
    jar = CookieJar()
    assert uses_only_defaults(request_options(d, "GET", URL_X), d, jar)
    for kwargs in ({"headers": {"X": "1"}}, {"cookies": {"a": "1"}}, {"data": b"a"},
                   {"skip_auto_headers": ["accept"]}, {"expect100": True}):
        assert not uses_only_defaults(request_options(d, "POST", URL_X, **kwargs), d, jar)
    jar.update_cookies_from_headers(["a=1"], URL("http://other.example/"))
    assert not uses_only_defaults(request_options(d, "GET", URL_X), d, jar)


def test_the_prepared_head_cache_follows_the_default_headers():
    d = SessionDefaults(headers=CIMultiDict({"X-A": "1"}))
    cache: dict = {}
    first = cached_request(cache, request_options(d, "GET", URL_X), False)
    assert cached_request(cache, request_options(d, "GET", URL_X), False) is first
    assert b"\r\nX-A: 1\r\n" in first.head and len(cache) == 1
    d.headers["X-A"] = "2"  # a change of the session's headers is a new version
    second = cached_request(cache, request_options(d, "GET", URL_X), False)
    assert second is not first and b"\r\nX-A: 2\r\n" in second.head and len(cache) == 1
    cached_request(cache, request_options(d, "HEAD", URL_X), False)
    cached_request(cache, request_options(d, "GET", URL_X, ssl=False), False)
    assert len(cache) == 3


def test_the_prepared_head_cache_is_bounded():
    d = SessionDefaults()
    cache: dict = {}
    for i in range(PREPARED_CACHE_SIZE):
        cached_request(cache, request_options(d, "GET", f"{URL_X}/{i}"), False)
    assert len(cache) == PREPARED_CACHE_SIZE
    cached_request(cache, request_options(d, "GET", f"{URL_X}/new"), False)
    assert len(cache) == 1


def test_payload_types_for_the_wire():
    """A BytesPayload given as data= is used as it is (it can go inline with the head)."""
    body = BytesPayload(b"xyz", content_type="text/x")
    req = options(method="PUT", data=body)
    assert req.payload is body
    assert wire(req, payload=body)["Content-Type"] == "text/x"
    assert isinstance(options(method="POST", data=_chunks()).payload, AsyncIterablePayload)


# -- TLS names, Unix sockets and proxies --------------------------------------------------


def test_server_hostname_goes_into_the_tls_setting():
    req = options("https://127.0.0.1/", server_hostname="example.test")
    assert req.tls.server_hostname == "example.test"
    assert options("https://127.0.0.1/").tls.server_hostname is None
    with pytest.raises(ValueError, match="server_hostname="):
        options("https://127.0.0.1/", server_hostname="")


def test_an_http_unix_url_is_keyed_by_its_socket_file():
    req = options("http+unix://%2Ftmp%2FSock.sock/info?q=1")
    assert wire(req)["Host"] == "localhost"
    key = connection_key(req.url, req.tls)
    assert key == ConnectionKey("localhost", 80, False, None, path="/tmp/Sock.sock")
    d = SessionDefaults(base_url=URL("http+unix://%2Ftmp%2Fs.sock/api/", encoded=True))
    assert options("v1/x", defaults=d).url.raw_path == "/api/v1/x"


def test_the_proxy_route_of_a_request():
    assert proxy_route(SessionDefaults(), None, None, None) is None
    assert proxy_route(SessionDefaults(proxy={}), None, None, None) is None
    auth = BasicAuth("u", "p")
    route = proxy_route(SessionDefaults(proxy="http://proxy.test:3128", proxy_auth=auth),
                        None, None, None)
    assert (route.proxy, route.auth) == ("http://proxy.test:3128", auth)
    session_map = {"http": "http://a.test:1", "https": "http://b.test:2"}
    route = proxy_route(SessionDefaults(proxy=session_map), {"http": "http://c.test:3"},
                        None, None)
    assert route.proxy == {"http": "http://c.test:3", "https": "http://b.test:2"}
    assert proxy_route(SessionDefaults(trust_env=True), None, None, None) is not None
    assert proxy_route(SessionDefaults(), None, None, {"X-Team": "blue"}) is not None
    assert options(proxy="http://proxy.test:3128").route.proxy == "http://proxy.test:3128"
    with pytest.raises(TypeError, match="proxy="):
        options(proxy=3128)


def test_a_plain_http_request_to_a_proxy_is_in_absolute_form():
    proxy = parse_proxy("http://u:p@proxy.test:3128", headers={"X-Team": "blue"})
    req = options("http://target.test:8080/p?q=1")
    p = PreparedRequest("GET", req.url, wire(req), req.tls, 0, None, None, proxy, True)
    assert p.head.startswith(b"GET http://target.test:8080/p?q=1 HTTP/1.1\r\n")
    assert p.headers["Proxy-Authorization"] == BasicAuth("u", "p").encode()
    assert p.headers["X-Team"] == "blue" and p.headers["Host"] == "target.test:8080"
    assert p.key == ConnectionKey("target.test", 8080, False, None, proxy)


def test_a_tunnelled_request_moves_proxy_authorization_to_the_connect():
    proxy = parse_proxy("http://proxy.test:3128")
    req = options("https://target.test/p", headers={"Proxy-Authorization": "Basic eA=="})
    p = PreparedRequest("GET", req.url, wire(req), req.tls, 0, None, None, proxy, True)
    assert p.head.startswith(b"GET /p HTTP/1.1\r\n")
    assert "Proxy-Authorization" not in p.headers
    assert p.key.proxy.header("Proxy-Authorization") == "Basic eA=="
    assert p.key.proxy.endpoint == ("http", "proxy.test", 3128)


def test_proxy_authorization_goes_to_no_server_reached_directly_when_proxies_are_set():
    req = options(URL_X, headers={"Proxy-Authorization": "Basic eA=="})
    routed = PreparedRequest("GET", req.url, wire(req), req.tls, 0, None, None, None, True)
    assert b"Proxy-Authorization" not in routed.head and routed.key.proxy is None
    direct = PreparedRequest("GET", req.url, wire(req), req.tls)  # no proxies at all
    assert b"Proxy-Authorization: Basic eA==" in direct.head


def test_the_prepared_head_cache_is_keyed_by_the_proxy():
    d = SessionDefaults(proxy={"http": "http://a.test:1"})
    cache: dict = {}
    req = request_options(d, "GET", URL_X)
    a, b = parse_proxy("http://a.test:1"), parse_proxy("http://b.test:2")
    via_a = cached_request(cache, req, False, a)
    assert cached_request(cache, request_options(d, "GET", URL_X), False, a) is via_a
    assert via_a.head.startswith(b"GET http://example.com/x HTTP/1.1\r\n")
    via_b = cached_request(cache, req, False, b)
    assert via_b is not via_a and via_b.key.proxy == b
    direct = cached_request(cache, req, False, None)  # NO_PROXY, say: direct
    assert direct.head.startswith(b"GET /x HTTP/1.1\r\n") and direct.key.proxy is None
    plain = cached_request(cache, request_options(SessionDefaults(), "GET", URL_X), False)
    assert plain is not direct and len(cache) == 4
