"""The facade configures the engine (issue 10, points 1 and 7): a Session's settings are
views onto its engine ClientSession, each call passes only the arguments it was given (so
facade calls hit the engine's prepared-head cache), the cookie view finds cookies the way
the jar stores them, the engine raises raise_for_status errors that carry a facade
Response, the module-level verbs keep nothing between calls, and ``import syncwrap``
shows the API, not its helper modules.

Real servers on 127.0.0.1; every request carries a timeout or hits a server that answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest

import syncwrap
from syncwrap.engine import BasicAuth, ClientSession, ClientTimeout, CookieJar, TCPConnector
from syncwrap.engine.resolver import ip_literal_infos
from tests import servers
from tests.facade._util import ROOT, WAIT, request_then_wait_close, script_env
from tests.servers import ParsedRequest, keep_alive, serve_http

T = 10  # seconds: the bound of every request here


def _only_entry(cache: dict) -> object:
    assert len(cache) == 1, cache
    return next(iter(cache.values()))


# -- the prepared-head cache ---------------------------------------------------------------


def test_facade_requests_hit_the_prepared_head_cache(raw_server):
    requests: list[ParsedRequest] = []
    server = raw_server(keep_alive(b"ok", requests=requests))
    with syncwrap.Session() as s:
        assert s.get(server.url + "/x").content == b"ok"
        engine = s.engine_session
        first = _only_entry(engine._prepared)  # the head built by the first call...
        assert s.get(server.url + "/x").content == b"ok"
        assert s.get(server.url + "/x").content == b"ok"
        assert _only_entry(engine._prepared) is first  # ...is the one the next two sent
    assert len(requests) == 3 and len({r.target for r in requests}) == 1


def test_engine_session_cache_for_comparison(raw_server):
    """The same three requests made on an engine session directly: one entry too."""
    server = raw_server(keep_alive(b"ok"))

    async def three() -> int:
        async with ClientSession() as s:
            for _ in range(3):
                async with s.get(server.url + "/x") as r:
                    assert await r.read() == b"ok"
            return len(s._prepared)

    assert syncwrap.run(three(), timeout=T) == 1


def test_session_header_changes_reach_the_cached_head(raw_server):
    requests: list[ParsedRequest] = []
    server = raw_server(keep_alive(b"ok", requests=requests))
    with syncwrap.Session(headers={"X-A": "1"}) as s:
        s.get(server.url)
        s.headers["X-A"] = "2"
        s.headers.update({"X-B": "3"})
        s.get(server.url)
        s.headers = {"X-C": "4"}
        s.get(server.url)
    sent = [(r.headers.get("x-a"), r.headers.get("x-b"), r.headers.get("x-c")) for r in requests]
    assert sent == [("1", None, None), ("2", "3", None), (None, None, "4")]


# -- settings are views onto the engine session ---------------------------------------------


def test_settings_set_on_the_session_reach_the_engine(httpbin_url):
    with syncwrap.Session() as s:
        engine = s.engine_session
        assert s.headers is engine.headers
        s.headers["X-Set"] = "1"
        s.headers.update({"X-Updated": "2"})
        s.auth = ("u", "p")
        s.timeout = (3, 7)
        s.max_redirects = 1
        s.raise_for_status = True
        s.max_body_size = 12345
        s.trust_env = True
        assert engine.auth == BasicAuth("u", "p") and s.auth == BasicAuth("u", "p")
        assert engine.timeout == ClientTimeout(connect=3, sock_read=7) == s.timeout
        assert (engine.max_redirects, engine.raise_for_status) == (1, True)
        assert (engine.max_body_size, engine.trust_env) == (12345, True)
        sent = s.get(httpbin_url + "/headers").json()["headers"]
        assert sent["X-Set"] == "1" and sent["X-Updated"] == "2"
        assert sent["Authorization"] == BasicAuth("u", "p").encode()
        with pytest.raises(syncwrap.TooManyRedirects):
            s.get(httpbin_url + "/redirect/2")
        with pytest.raises(syncwrap.HTTPError):
            s.get(httpbin_url + "/status/500")
        s.raise_for_status = False
        assert s.get(httpbin_url + "/status/500").status_code == 500
    with pytest.raises(TypeError, match="timeout="):
        syncwrap.Session().timeout = "soon"


def test_session_timeout_set_later_bounds_the_reads(raw_server):
    received, closed = threading.Event(), threading.Event()
    server = raw_server(request_then_wait_close(received, closed))  # never answers
    with syncwrap.Session() as s:
        s.timeout = (None, 0.3)
        with pytest.raises(syncwrap.ReadTimeout):
            s.get(server.url)
    assert received.is_set() and closed.wait(WAIT)


def test_verify_and_cert_are_the_engine_tls_setting(httpbin_tls_url, ca_pem_path):
    url = httpbin_tls_url + "/get"
    with syncwrap.Session(timeout=T) as s:
        assert (s.verify, s.cert) == (True, None)
        with pytest.raises(syncwrap.SSLError):
            s.get(url)
        s.verify = False
        assert s.engine_session.ssl.verify is False
        assert s.get(url).status_code == 200
        s.verify = ca_pem_path
        assert s.engine_session.ssl.verify == ca_pem_path == s.verify
        assert s.get(url).status_code == 200
        with pytest.raises(syncwrap.SSLError):
            s.get(url, verify=True)  # the call's verify=True checks against certifi's CAs
        s.verify = True
        with pytest.raises(syncwrap.SSLError):
            s.get(url)
    with syncwrap.Session(connector=TCPConnector(ssl=False), timeout=T) as s:
        assert s.verify is False  # the connector's setting, seen through the view
        assert s.get(url).status_code == 200


# -- the cookie view and the engine jar: one matching rule ----------------------------------


def test_engine_jar_find_and_set_cookie_normalise_domains():
    jar = CookieJar()
    jar.set_cookie("a", "1", domain=".Bücher.Example")
    [morsel] = jar.find("a", domain="bücher.example")
    assert morsel["domain"] == "xn--bcher-kva.example" and morsel["path"] == "/"
    assert jar.find("a", domain="XN--BCHER-KVA.example") == [morsel]
    assert jar.find("a", domain="other.example") == [] and jar.find("b") == []
    assert jar.filter_cookies("http://bücher.example/")["a"].value == "1"
    assert jar.filter_cookies("http://sub.xn--bcher-kva.example/")["a"].value == "1"
    jar.clear(jar.matcher(domain="BÜCHER.example"))
    assert len(jar) == 0


def test_engine_jar_find_order_quoting_and_attributes():
    jar = CookieJar()
    jar.set_cookie("t", "shared")
    jar.set_cookie("t", "deep", domain="example.org", path="/a/b")
    jar.set_cookie("t", "a b", domain="example.org", path="/a", secure=True, max_age=60)
    assert [m.value for m in jar.find("t")] == ["deep", "a b", "shared"]  # longest path first
    [spaced] = jar.find("t", path="/a")
    assert spaced.coded_value == '"a b"' and spaced["secure"] and spaced["max-age"] == 60
    assert jar.find("t", domain="") == [m for m in jar.find("t") if m.value == "shared"]
    raw = CookieJar(quote_cookie=False)
    raw.set_cookie("r", "a b", path="/")
    assert raw.find("r")[0].coded_value == "a b"
    with pytest.raises(TypeError, match="cookie values must be str"):
        jar.set_cookie("n", 1)  # type: ignore[arg-type]


class _Loopback:
    """A resolver sending every host name to 127.0.0.1."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC):
        return ip_literal_infos("127.0.0.1", port)

    async def close(self) -> None:
        return None


def test_cookie_view_finds_an_idn_cookie_and_sends_it(raw_server):
    seen: list[str | None] = []

    def answer(req: ParsedRequest) -> tuple[bytes, dict]:
        seen.append(req.headers.get("cookie"))
        return b"ok", {}

    server = raw_server(lambda conn: serve_http(conn, answer))
    connector = TCPConnector(resolver=_Loopback())
    with syncwrap.Session(connector=connector, timeout=T) as s:
        s.cookies.set("a", "1", domain="bücher.example")
        assert s.cookies.get("a", domain="bücher.example") == "1"
        assert s.cookies.get("a", domain=".xn--bcher-kva.example") == "1"
        assert s.cookies.get_dict(domain="bücher.example") == {"a": "1"}
        assert s.get(f"http://bücher.example:{server.port}/").content == b"ok"
        s.cookies.clear(domain="BÜCHER.example")
        assert "a" not in s.cookies
        s.get(f"http://bücher.example:{server.port}/")
    assert seen == ["a=1", None]


# -- raise_for_status: the engine raises, the error carries a facade Response -----------------


def test_engine_raised_http_error_carries_a_facade_response(httpbin_url):
    with syncwrap.Session(raise_for_status=True, timeout=T) as s:
        with pytest.raises(syncwrap.HTTPError) as info:
            s.get(httpbin_url + "/redirect-to", params={"url": "/status/418"})
    err = info.value
    assert isinstance(err.response, syncwrap.Response) and err.response.status_code == 418
    assert "teapot" in err.response.text and err.response.elapsed.total_seconds() > 0
    assert [h.status_code for h in err.response.history] == [302]
    assert list(err.history) == err.response.history
    with pytest.raises(syncwrap.TooManyRedirects) as info:
        syncwrap.get(httpbin_url + "/redirect/3", max_redirects=1, timeout=T)
    assert isinstance(info.value.response, syncwrap.Response)
    assert info.value.response.status_code == 302


def test_raise_for_status_after_hooks_is_the_engine_error(httpbin_url):
    seen: list[int] = []
    with syncwrap.Session(raise_for_status=True, timeout=T) as s:
        s.hooks["response"].append(lambda r, **kw: seen.append(r.status_code))
        with pytest.raises(syncwrap.HTTPError) as info:
            s.get(httpbin_url + "/status/502", stream=True)
        assert seen == [502]
        assert isinstance(info.value.response, syncwrap.Response)
        assert info.value.status == 502 and info.value.message == "BAD GATEWAY"
        assert s.get(httpbin_url + "/get").ok  # the session goes on


# -- module-level verbs --------------------------------------------------------------------------


def test_module_verbs_keep_cookies_within_a_call_but_not_between_calls(raw_server):
    seen: list[tuple[str, str | None]] = []

    def handler(conn: socket.socket) -> None:
        while raw := servers.read_request(conn):
            req = servers.parse_request(raw)
            seen.append((req.target, req.headers.get("cookie")))
            if req.target == "/login":  # sets a cookie on a redirect
                conn.sendall(servers.http_response(b"", status=302, reason="Found", headers={
                    "Set-Cookie": "sid=abc; Path=/", "Location": "/home"}))
            else:
                conn.sendall(servers.http_response(b"home"))

    server = raw_server(handler)
    base = f"http://localhost:{server.port}"  # a host name: the strict jar keeps its cookies
    assert syncwrap.get(base + "/login", timeout=T).content == b"home"
    assert syncwrap.get(base + "/home", timeout=T).content == b"home"
    assert seen == [("/login", None), ("/home", "sid=abc"), ("/home", None)]


# -- the package namespace -----------------------------------------------------------------------


def test_import_syncwrap_shows_the_api_and_no_helper_modules():
    code = ("import json, types, syncwrap; print(json.dumps([n for n in dir(syncwrap) "
            "if isinstance(getattr(syncwrap, n), types.ModuleType)]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=script_env(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(proc.stdout)) == ["_bridge", "api", "engine", "exceptions", "loop"]
    assert set(syncwrap.__all__) <= set(dir(syncwrap))
    assert {"Session", "Response", "get", "request", "HTTPError", "run"} <= set(syncwrap.__all__)
    assert syncwrap.api.Session is syncwrap.Session and syncwrap.loop.run is syncwrap.run
