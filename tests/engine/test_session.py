"""ClientSession: verbs, base_url, default and automatic headers, raise_for_status, bodies,
and the exception hierarchy (issue points 2, 4 and 12)."""

from __future__ import annotations

import inspect
import json

import pytest
from multidict import MultiDict

import syncwrap.engine as engine
from syncwrap import exceptions as exc_mod
from syncwrap.engine import (
    BasicAuth,
    ClientError,
    ClientResponseError,
    ClientSession,
    ClientTimeout,
    HTTPError,
    InvalidURL,
    Timeout,
)
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response

VERBS = ["get", "post", "put", "patch", "delete", "head", "options"]


def echo_method(req: ParsedRequest) -> bytes:
    return http_response(req.method.encode(), headers={"X-Method": req.method})


# ------------------------------------------------------------------------- point 2: verbs
@pytest.mark.parametrize("verb", VERBS)
def test_verb_with_await_and_async_with(raw_server, verb):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            method = getattr(s, verb)
            resp = await method(server.url + "/a")
            first = (resp.status, resp.method, resp.headers["X-Method"], await resp.read())
            resp.release()
            async with method(server.url + "/b") as resp2:
                second = (resp2.status, resp2.method, await resp2.read())
            async with s.request(verb.upper(), server.url + "/c") as resp3:
                third = (resp3.status, await resp3.read())
            return first, second, third

    first, second, third = run(main())
    upper = verb.upper()
    body = b"" if verb == "head" else upper.encode()
    assert first == (200, upper, upper, body)
    assert second == (200, upper, body)
    assert third == (200, body)
    assert [(r.method, r.target) for r in seen] == [(upper, "/a"), (upper, "/b"), (upper, "/c")]


def test_request_rejects_bad_method_before_sending(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(ValueError):
                await s.request("GE T", server.url)
            async with s.request("get", server.url) as resp:  # lower case is normalised
                return resp.method

    assert run(main()) == "GET"
    assert [r.method for r in seen] == ["GET"]


def test_base_url_joins_relative_paths(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(server.url + "/api/", timeout=SHORT) as s:
            async with s.get("items?x=1") as r1:
                await r1.read()
            async with s.get("/root") as r2:
                await r2.read()
            return str(r1.url), str(r2.url)

    u1, u2 = run(main())
    assert [r.target for r in seen] == ["/api/items?x=1", "/root"]
    assert u1 == server.url + "/api/items?x=1"
    assert u2 == server.url + "/root"


def test_base_url_must_be_absolute():
    with pytest.raises(InvalidURL):
        ClientSession("/relative/")


def test_default_headers_merged_overridden_and_removed(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        headers = {"X-Default": "d", "X-Other": "o"}
        async with ClientSession(headers=headers, timeout=SHORT) as s:
            assert s.headers["X-Default"] == "d"
            async with s.get(server.url) as r:
                await r.read()
            async with s.get(server.url, headers={"x-default": "override", "X-Other": None,
                                                  "X-New": "n"}) as r:
                await r.read()

    run(main())
    first, second = (r.headers for r in seen)
    assert first["x-default"] == "d" and first["x-other"] == "o"
    assert second["x-default"] == "override"
    assert "x-other" not in second
    assert second["x-new"] == "n"


def test_automatic_headers(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def body():
        yield b"abc"
        yield b"def"

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for call in (s.get(server.url), s.post(server.url, data=b"12345"),
                         s.post(server.url, data=body()), s.post(server.url)):
                async with call as r:
                    await r.read()

    run(main())
    get, fixed, streamed, empty = seen
    port = server.port
    assert get.headers["host"] == f"127.0.0.1:{port}"
    assert get.headers["user-agent"].startswith("syncwrap/")
    accept_encoding = {v.strip() for v in get.headers["accept-encoding"].split(",")}
    assert {"gzip", "deflate"} <= accept_encoding
    assert "content-length" not in get.headers and "transfer-encoding" not in get.headers
    assert fixed.headers["content-length"] == "5" and fixed.body == b"12345"
    assert "transfer-encoding" not in fixed.headers
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in streamed.headers
    assert streamed.body == b"abcdef"
    assert empty.headers["content-length"] == "0"


def test_automatic_headers_against_httpbin(httpbin_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(httpbin_url + "/headers") as r:
                return await r.json()

    headers = run(main())["headers"]
    assert headers["Host"] == httpbin_url.removeprefix("http://")
    assert headers["User-Agent"].startswith("syncwrap/")
    assert "gzip" in headers["Accept-Encoding"]


def test_skip_auto_headers_session_and_request(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(skip_auto_headers=["User-Agent"], timeout=SHORT) as s:
            assert "user-agent" in s.skip_auto_headers
            async with s.get(server.url) as r:
                await r.read()
            async with s.get(server.url, skip_auto_headers=["Accept-Encoding"]) as r:
                await r.read()
            async with s.get(server.url, headers={"User-Agent": "mine"}) as r:
                await r.read()

    run(main())
    first, second, third = (r.headers for r in seen)
    assert "user-agent" not in first and "accept-encoding" in first
    assert "user-agent" not in second and "accept-encoding" not in second
    assert third["user-agent"] == "mine"


def _status_server(raw_server, status: int):
    return raw_server(recording(http_response(b"nope", status=status, reason="Teapot"), []))


def test_raise_for_status_session_option(raw_server):
    server = _status_server(raw_server, 418)

    async def main():
        async with ClientSession(raise_for_status=True, timeout=SHORT) as s:
            with pytest.raises(ClientResponseError) as info:
                await s.get(server.url)
            # a request may turn it off
            async with s.get(server.url, raise_for_status=False) as r:
                return info.value, r.status

    err, status = run(main())
    assert err.status == 418 and isinstance(err, HTTPError)
    assert status == 418


def test_raise_for_status_per_request_and_callable(raw_server):
    server = _status_server(raw_server, 503)
    called = []

    async def check(resp):
        called.append(resp.status)
        raise RuntimeError("custom")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r:  # default: no raise
                assert r.status == 503 and not r.ok
            with pytest.raises(ClientResponseError) as info:
                await s.get(server.url, raise_for_status=True)
            assert info.value.status == 503
        async with ClientSession(raise_for_status=check, timeout=SHORT) as s:
            with pytest.raises(RuntimeError, match="custom"):
                await s.get(server.url)

    run(main())
    assert called == [503]


# ------------------------------------------------------------------------- point 4: bodies
def test_bodies_bytes_str_form_json(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            calls = [
                s.post(server.url, data=b"\x00\xffraw"),
                s.post(server.url, data="héllo"),
                s.post(server.url, data="é",
                       headers={"Content-Type": "text/plain; charset=latin-1"}),
                s.post(server.url, data={"a": "1", "b": "x y&z"}),
                s.post(server.url, data=[("k", "1"), ("k", "2")]),
                s.put(server.url, json={"n": [1, 2], "s": "é"}),
            ]
            for call in calls:
                async with call as r:
                    await r.read()

    run(main())
    raw, text, latin, form, pairs, js = seen
    assert raw.body == b"\x00\xffraw"
    assert raw.headers["content-type"] == "application/octet-stream"
    assert text.body == "héllo".encode()
    assert "charset=utf-8" in text.headers["content-type"]
    assert latin.body == b"\xe9"
    assert latin.headers["content-type"] == "text/plain; charset=latin-1"
    assert latin.headers["content-length"] == "1"
    assert form.body == b"a=1&b=x+y%26z"
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert pairs.body == b"k=1&k=2"
    assert js.method == "PUT"
    assert json.loads(js.body) == {"n": [1, 2], "s": "é"}
    assert js.headers["content-type"] == "application/json"


def test_json_serializer_is_configurable(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    def dumps(value):
        return "CUSTOM:" + json.dumps(value, separators=(",", ":"))

    async def main():
        async with ClientSession(json_serialize=dumps, timeout=SHORT) as s:
            async with s.post(server.url, json={"a": 1}) as r:
                await r.read()

    run(main())
    assert seen[0].body == b'CUSTOM:{"a":1}'


def test_data_and_json_together_is_an_error_before_sending(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(ValueError):
                await s.post(server.url, data=b"x", json={"a": 1})
            with pytest.raises(TypeError):
                await s.post(server.url, data=object())
            async with s.get(server.url) as r:
                await r.read()

    run(main())
    assert server.connections == 1 and [r.method for r in seen] == ["GET"]


def test_session_auth_is_sent(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(auth=BasicAuth("user", "pässword"), timeout=SHORT) as s:
            async with s.get(server.url) as r:
                await r.read()

    run(main())
    assert seen[0].headers["authorization"] == BasicAuth("user", "pässword").encode()


def test_session_closed_state_and_default_timeout():
    async def main():
        s = ClientSession()
        assert not s.closed
        assert s.timeout.total == 300
        assert s.timeout == ClientTimeout(total=300)
        await s.close()
        assert s.closed

    run(main())


# ------------------------------------------------------------------------- point 12: errors
def _exception_classes():
    return {obj for name in exc_mod.__all__
            if inspect.isclass(obj := getattr(exc_mod, name)) and issubclass(obj, BaseException)}


def test_every_exception_derives_from_client_error():
    classes = _exception_classes()
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, ClientError), cls
        assert getattr(engine, cls.__name__, cls) is cls  # exported by syncwrap.engine


def test_exception_hierarchy_details():
    E = exc_mod
    assert issubclass(E.InvalidURL, ValueError) and issubclass(E.InvalidURL, ClientError)
    assert issubclass(E.InvalidHeader, ValueError)
    assert issubclass(Timeout, TimeoutError)
    for cls in (E.ConnectTimeout, E.ReadTimeout):
        assert issubclass(cls, Timeout) and issubclass(cls, TimeoutError)
    assert not issubclass(E.ReadTimeout, E.ConnectTimeout)
    assert issubclass(E.ConnectTimeout, E.ClientConnectionError)
    assert issubclass(E.SSLError, E.ClientConnectionError)
    assert issubclass(E.FingerprintMismatch, E.SSLError)
    assert issubclass(E.ServerDisconnectedError, E.ClientConnectionError)
    assert issubclass(E.ClientConnectorError, OSError)
    assert issubclass(E.TooManyRedirects, E.ClientResponseError)
    assert issubclass(E.ContentDecodingError, E.ClientPayloadError)
    assert E.HTTPError is E.ClientResponseError and E.RequestException is ClientError
    assert E.ConnectionError is E.ClientConnectionError
    err = E.HTTPError(None, status=404, message="Not Found")
    assert err.status == 404 and err.code == 404
    assert isinstance(E.InvalidURL("x"), ValueError)
    # the built-in TimeoutError and asyncio's are caught by the same except clause
    import asyncio

    assert isinstance(E.ReadTimeout("t"), asyncio.TimeoutError)


def test_params_multidict_sent(raw_server):
    """A MultiDict given to a verb keeps its repeated keys (smoke test for the verbs path)."""
    seen: list[ParsedRequest] = []
    server = raw_server(recording(echo_method, seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.delete(server.url + "/x", params=MultiDict([("a", "1"), ("a", "2")])) as r:
                await r.read()

    run(main())
    assert seen[0].target == "/x?a=1&a=2" and seen[0].method == "DELETE"


def test_session_header_changes_and_cookies_reach_the_next_request(raw_server):
    """Requests that only use the session's defaults reuse their serialised head; changing
    ``session.headers`` or the cookie jar between two requests must still show on the wire."""
    seen: list[ParsedRequest] = []

    def answer(req: ParsedRequest) -> bytes:
        if len(seen) == 5:
            return http_response(b"ok", headers={"Set-Cookie": "k=v; Path=/"})
        return http_response(b"ok")

    server = raw_server(recording(answer, seen))

    async def main():
        jar = engine.CookieJar(unsafe=True)  # the server is an IP address
        async with ClientSession(headers={"X-A": "1"}, cookie_jar=jar, timeout=SHORT) as s:
            for _ in range(2):
                async with s.get(server.url) as r:
                    await r.read()
            s.headers["X-A"] = "2"
            async with s.get(server.url) as r:
                await r.read()
            del s.headers["X-A"]
            s.headers["X-B"] = "3"
            for _ in range(3):  # the 2nd of these sets a cookie; the 3rd must send it
                async with s.get(server.url) as r:
                    await r.read()

    run(main())
    assert [req.headers.get("x-a") for req in seen] == ["1", "1", "2", None, None, None]
    assert [req.headers.get("x-b") for req in seen] == [None, None, None, "3", "3", "3"]
    assert [req.headers.get("cookie") for req in seen] == [None] * 5 + ["k=v"]
