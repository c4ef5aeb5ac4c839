"""requests' names and session attributes (issue 13, points 1 and 2), against a local
httpbin: ``codes``, the exception names raised where requests raises them,
``Request``/``PreparedRequest``, ``Session.prepare_request``/``send``,
``Response.request``, ``Session.params``/``cookies``/``hooks``."""

from __future__ import annotations

import http.cookiejar
import json

import pytest

import syncwrap
from syncwrap import exceptions as exc

T = 10  # seconds: the bound of every request here


def test_codes():
    assert syncwrap.codes.ok == 200 and syncwrap.codes.OK == 200
    assert syncwrap.codes.not_found == 404 and syncwrap.codes["teapot"] == 418
    assert syncwrap.codes.too_many_requests == 429 and syncwrap.codes.no_such_name is None


def test_exception_names_are_in_the_one_tree():
    for name in ("MissingSchema", "InvalidSchema", "InvalidURL", "InvalidHeader",
                 "InvalidJSONError", "JSONDecodeError", "ChunkedEncodingError",
                 "ContentDecodingError", "StreamConsumedError", "RetryError", "ProxyError",
                 "SSLError", "ConnectTimeout", "ReadTimeout", "TooManyRedirects",
                 "HTTPError", "ConnectionError", "Timeout"):
        cls = getattr(exc, name)
        assert issubclass(cls, exc.RequestException), name
        assert getattr(syncwrap, name) is cls
    assert issubclass(exc.JSONDecodeError, json.JSONDecodeError)
    assert issubclass(exc.MissingSchema, exc.InvalidURL)


def test_missing_and_invalid_schema_raised_at_the_call():
    with pytest.raises(exc.MissingSchema):
        syncwrap.get("example.invalid/path", timeout=T)
    with pytest.raises(exc.InvalidSchema):
        syncwrap.get("ftp://example.invalid/", timeout=T)


def test_json_decode_error_is_both(httpbin_url):
    r = syncwrap.get(httpbin_url + "/html", timeout=T)
    with pytest.raises(exc.JSONDecodeError) as info:
        r.json()
    assert isinstance(info.value, json.JSONDecodeError)
    assert isinstance(info.value, exc.RequestException) and info.value.pos == 0


def test_json_nan_refused_before_sending(httpbin_url):
    with pytest.raises(exc.InvalidJSONError, match="json="):
        syncwrap.post(httpbin_url + "/post", json={"x": float("nan")}, timeout=T)
    with pytest.raises(exc.InvalidJSONError):
        syncwrap.post(httpbin_url + "/post", json=[float("inf")], timeout=T)


def test_stream_consumed_error(httpbin_url):
    r = syncwrap.get(httpbin_url + "/bytes/10", stream=True, timeout=T)
    assert b"".join(r.iter_content(4))
    with pytest.raises(exc.StreamConsumedError):
        next(r.iter_content(5))
    with pytest.raises(exc.StreamConsumedError):
        r.content  # noqa: B018


def test_response_request_on_response_and_history(httpbin_url):
    r = syncwrap.post(httpbin_url + "/redirect-to", params={"url": "/get"},
                      data=b"abc", auth=("u", "p"), timeout=T, allow_redirects=True)
    assert r.status_code == 200
    assert r.request.method == "GET" and r.request.url == httpbin_url + "/get"
    assert r.request.headers["Authorization"].startswith("Basic ")
    first = r.history[0].request
    assert first.method == "POST" and first.body == b"abc"
    assert first.url.startswith(httpbin_url + "/redirect-to?url=")
    r = syncwrap.post(httpbin_url + "/post", json={"a": 1}, timeout=T)
    assert json.loads(r.request.body) == {"a": 1}
    assert r.request.headers["Content-Type"] == "application/json"


def test_request_prepare_and_send(httpbin_url):
    req = syncwrap.Request("post", httpbin_url + "/post", params={"q": "1"},
                           json={"k": "v"}, headers={"X-A": "1"}, auth=("u", "p"))
    prepared = req.prepare()
    assert isinstance(prepared, syncwrap.PreparedRequest)
    assert prepared.method == "POST" and prepared.url == httpbin_url + "/post?q=1"
    assert prepared.body == b'{"k": "v"}' and prepared.headers["X-A"] == "1"
    assert prepared.headers["Authorization"].startswith("Basic ")
    with syncwrap.Session() as s:
        r = s.send(prepared, timeout=T)
    body = r.json()
    assert body["json"] == {"k": "v"} and body["args"] == {"q": "1"}
    assert body["headers"]["X-A"] == "1" and body["headers"]["Authorization"].startswith("Basic")


def test_session_prepare_request_merges_session_settings(httpbin_url):
    with syncwrap.Session(timeout=T) as s:
        s.headers["X-Session"] = "s"
        s.params = {"from": "session", "drop": "x"}
        s.auth = ("u", "p")
        prepared = s.prepare_request(syncwrap.Request(
            "GET", httpbin_url + "/get", params={"drop": None, "own": "1"}))
        assert prepared.headers["X-Session"] == "s"
        assert "own=1" in prepared.url and "from=session" in prepared.url
        assert "drop" not in prepared.url and "Authorization" in prepared.headers
        r = s.send(prepared, allow_redirects=False, stream=False)
    assert r.json()["args"] == {"from": "session", "own": "1"}
    with pytest.raises(TypeError, match="PreparedRequest"):
        syncwrap.Session().send(syncwrap.Request("GET", httpbin_url))


def test_session_params(httpbin_url):
    with syncwrap.Session(timeout=T) as s:
        s.params = {"a": "1", "b": "2"}
        assert s.get(httpbin_url + "/get").json()["args"] == {"a": "1", "b": "2"}
        r = s.get(httpbin_url + "/get", params={"b": "3", "a": None})
        assert r.json()["args"] == {"b": "3"}
        s.params["c"] = "4"
        assert s.get(httpbin_url + "/get", params="d=5").json()["args"] == {
            "a": "1", "b": "2", "c": "4", "d": "5"}


def _stdlib_jar() -> http.cookiejar.CookieJar:
    jar = http.cookiejar.CookieJar()
    jar.set_cookie(http.cookiejar.Cookie(
        0, "std", "v1", None, False, "", False, False, "/", False, False, None, False,
        None, None, {}))
    return jar


def test_session_cookies_accept_dict_our_jar_and_stdlib_jar(httpbin_url):
    ours = syncwrap.CookieJar()
    ours.update_cookies({"ours": "v2"})
    with syncwrap.Session(timeout=T) as s:
        s.cookies = {"plain": "v0"}
        assert s.get(httpbin_url + "/cookies").json()["cookies"] == {"plain": "v0"}
        s.cookies = _stdlib_jar()
        assert s.get(httpbin_url + "/cookies").json()["cookies"] == {"std": "v1"}
        s.cookies = ours
        assert s.get(httpbin_url + "/cookies").json()["cookies"] == {"ours": "v2"}
        r = s.get(httpbin_url + "/cookies", cookies=_stdlib_jar())
        assert r.json()["cookies"] == {"ours": "v2", "std": "v1"}
    with syncwrap.Session(cookies=_stdlib_jar(), timeout=T) as s:
        assert s.get(httpbin_url + "/cookies").json()["cookies"] == {"std": "v1"}


def test_request_hooks_replace_the_sessions(httpbin_url):
    seen: list[str] = []
    with syncwrap.Session(hooks={"response": lambda r, **kw: seen.append("session")},
                          timeout=T) as s:
        s.get(httpbin_url + "/get", hooks={"response": lambda r, **kw: seen.append("call")})
        s.get(httpbin_url + "/get")
        s.get(httpbin_url + "/get", hooks={"response": []})  # none given: the session's
    assert seen == ["call", "session", "session"]


def test_session_attributes_requests_code_sets(httpbin_url, httpbin_tls_url, ca_pem_path):
    with syncwrap.Session(timeout=T) as s:
        s.headers.update({"X-Team": "t"})
        s.auth = ("u", "p")
        s.max_redirects = 1
        r = s.get(httpbin_url + "/basic-auth/u/p")
        assert r.ok and r.request.headers["X-Team"] == "t"
        with pytest.raises(exc.TooManyRedirects) as info:
            s.get(httpbin_url + "/redirect/3")
        assert info.value.response is not None and info.value.request is not None
        s.trust_env = False
        s.proxies = {}
        assert s.proxies == {} and s.trust_env is False
        with pytest.raises(exc.SSLError):
            s.get(httpbin_tls_url + "/get")
        s.verify = ca_pem_path
        assert s.get(httpbin_tls_url + "/get").ok
        s.verify = None  # requests' "the default"
        s.cert = None
        assert s.verify is True


def _answer(raw_server, response: bytes) -> str:
    from tests.servers import read_request

    def handler(conn):
        read_request(conn)
        conn.sendall(response)
        conn.close()

    return raw_server(handler).url


def test_chunked_and_decoding_errors_under_requests_names(raw_server):
    url = _answer(raw_server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5\r\nabc")  # the peer closes mid-chunk
    with pytest.raises(exc.ChunkedEncodingError):
        syncwrap.get(url, timeout=T)
    url = _answer(raw_server, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                              b"Content-Length: 9\r\n\r\nnot gzip!")
    with pytest.raises(exc.ContentDecodingError):
        syncwrap.get(url, timeout=T)


def test_prepared_request_with_files(httpbin_url):
    import io

    prepared = syncwrap.Request("POST", httpbin_url + "/post", files={"f": io.BytesIO(b"xyz")},
                                data={"k": "v"}).prepare()
    with syncwrap.Session(timeout=T) as s:
        r = s.send(prepared)
    assert r.json()["files"] == {"f": "xyz"} and r.json()["form"] == {"k": "v"}
