"""Session state in the engine: cookies through the session (issue 4 points 1, 3) and
header merging / raise_for_status (point 6).

The jar is strict by default (no cookies from IP hosts): tests reach httpbin as
"localhost", or use CookieJar(unsafe=True) with the 127.0.0.1 servers.
"""

from __future__ import annotations

import json

import pytest
from werkzeug import Response as WResponse

from syncwrap.engine import ClientResponseError, ClientSession, CookieJar
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response


def localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def _set_cookie_server(raw_server, set_cookies: list[str], seen: list[ParsedRequest]):
    """Keep-alive server: every response carries ``set_cookies``; requests are recorded."""

    def answer(req: ParsedRequest) -> bytes:
        head = "".join(f"Set-Cookie: {c}\r\n" for c in set_cookies)
        body = b"ok"
        return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body

    return raw_server(recording(answer, seen))


# ------------------------------------------------------------ point 1: the Cookie header


def test_cookie_header_has_every_matching_cookie_in_rfc_order(raw_server):
    seen: list[ParsedRequest] = []
    server = _set_cookie_server(
        raw_server, ["a=root; Path=/", "b=2; Path=/", "a=deep; Path=/x/y"], seen
    )

    async def main():
        async with ClientSession(cookie_jar=CookieJar(unsafe=True), timeout=SHORT) as s:
            async with s.get(server.url + "/set") as r:
                await r.read()
            async with s.get(server.url + "/x/y/z") as r:
                await r.read()
            async with s.get(server.url + "/other") as r:
                await r.read()

    run(main())
    assert "cookie" not in seen[0].headers
    # Same name on two paths: both sent, the longer path first, then by creation order.
    assert seen[1].headers["cookie"] == "a=deep; a=root; b=2"
    assert seen[2].headers["cookie"] == "a=root; b=2"


def test_response_cookies_are_parsed_per_rfc_6265(raw_server):
    """SimpleCookie.load() drops all of these; parse_set_cookie keeps them."""
    cookies = [
        "sid=abc; Expires=Wednesday, 21-Oct-37 07:28:00 GMT; Path=/; HttpOnly",
        'json={"k":1}; Path=/',
        "x=1; expires=Wed, 21 Oct 2037 07:28:00 +0000",
    ]
    server = _set_cookie_server(raw_server, cookies, [])

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url + "/") as r:
                return r.cookies

    got = run(main())
    assert sorted(got) == ["json", "sid", "x"]
    assert got["sid"].value == "abc"
    assert got["sid"]["expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"  # normalised
    assert got["sid"]["httponly"] is True
    assert got["json"].value == '{"k":1}'
    assert got["x"]["expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"


# ------------------------------------------------------------ point 3: cookies through a session


def test_initial_session_cookies_are_sent_everywhere(httpbin_url):
    async def main():
        async with ClientSession(cookies={"a": "1", "b": "two"}, timeout=SHORT) as s:
            async with s.get(httpbin_url + "/cookies") as r:
                return await r.json()

    assert run(main()) == {"cookies": {"a": "1", "b": "two"}}


def test_per_request_cookies_are_sent_once_and_not_stored(httpbin_url):
    async def main():
        async with ClientSession(cookies={"a": "1"}, timeout=SHORT) as s:
            async with s.get(httpbin_url + "/cookies", cookies={"b": "2"}) as r:
                with_extra = await r.json()
            async with s.get(httpbin_url + "/cookies") as r:
                after = await r.json()
            return with_extra, after, len(s.cookie_jar)

    with_extra, after, stored = run(main())
    assert with_extra == {"cookies": {"a": "1", "b": "2"}}
    assert after == {"cookies": {"a": "1"}}
    assert stored == 1


def test_per_request_cookie_replaces_the_jar_cookie_of_that_name(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"ok"), seen))

    async def main():
        async with ClientSession(cookies={"a": "jar", "b": "kept"}, timeout=SHORT) as s:
            async with s.get(server.url + "/", cookies=[("a", "mine")]) as r:
                await r.read()

    run(main())
    assert seen[0].headers["cookie"] == "b=kept; a=mine"


def test_cookies_set_on_each_redirect_hop_are_sent_on_the_next(httpserver):
    seen: dict[str, str | None] = {}

    def hop(path: str, cookie: str, location: str):
        def handler(request):
            seen[path] = request.headers.get("Cookie")
            return WResponse("", status=302,
                             headers={"Location": location, "Set-Cookie": cookie})
        return handler

    def final(request):
        seen["/three"] = request.headers.get("Cookie")
        return WResponse(json.dumps({"cookie": request.headers.get("Cookie")}),
                         content_type="application/json")

    httpserver.expect_request("/one").respond_with_handler(hop("/one", "c1=1; Path=/", "/two"))
    httpserver.expect_request("/two").respond_with_handler(hop("/two", "c2=2; Path=/", "/three"))
    httpserver.expect_request("/three").respond_with_handler(final)

    async def main():
        async with ClientSession(timeout=SHORT) as s:  # strict jar: localhost is a name
            async with s.get(httpserver.url_for("/one")) as r:
                return r.status, [h.status for h in r.history], await r.json()

    status, history, body = run(main())
    assert (status, history) == (200, [302, 302])
    assert seen["/one"] is None
    assert seen["/two"] == "c1=1"
    assert seen["/three"] == "c1=1; c2=2"
    assert body == {"cookie": "c1=1; c2=2"}


def test_httpbin_cookies_set_then_delete_via_localhost(httpbin_url):
    base = localhost(httpbin_url)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(base + "/cookies/set", params={"x": "y", "z": "1"}) as r:
                body = await r.json()
                hop = r.history[0]
                set_on_hop = {k: m.value for k, m in hop.cookies.items()}
            stored = {m.key: m.value for m in s.cookie_jar}
            async with s.get(base + "/cookies/delete", params={"x": ""}) as r:
                after_delete = await r.json()
            return body, hop.status, set_on_hop, stored, after_delete

    body, hop_status, set_on_hop, stored, after_delete = run(main())
    assert hop_status == 302
    assert set_on_hop == {"x": "y", "z": "1"}
    # the cookie set by the redirect response reached the next hop
    assert body == {"cookies": {"x": "y", "z": "1"}}
    assert stored == {"x": "y", "z": "1"}
    assert after_delete == {"cookies": {"z": "1"}}


def test_strict_jar_keeps_no_cookie_from_an_ip_host(httpbin_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(httpbin_url + "/cookies/set", params={"x": "y"}) as r:
                return await r.json(), len(s.cookie_jar)

    assert run(main()) == ({"cookies": {}}, 0)


# ------------------------------------------------------------ point 6: headers, raise_for_status


def test_session_headers_lose_to_request_headers_and_none_removes(httpbin_url):
    async def main():
        headers = {"X-Keep": "session", "X-Override": "session", "X-Remove": "session"}
        async with ClientSession(headers=headers, timeout=SHORT) as s:
            async with s.get(httpbin_url + "/headers",
                             headers={"x-override": "request", "X-Remove": None,
                                      "X-New": "request"}) as r:
                sent = (await r.json())["headers"]
            async with s.get(httpbin_url + "/headers") as r:
                again = (await r.json())["headers"]
            return sent, again

    sent, again = run(main())
    assert sent["X-Keep"] == "session"
    assert sent["X-Override"] == "request"
    assert sent["X-New"] == "request"
    assert "X-Remove" not in sent
    # the request's changes did not leak into the session's defaults
    assert (again["X-Override"], again["X-Remove"]) == ("session", "session")
    assert "X-New" not in again


def test_raise_for_status_session_option(httpbin_url):
    async def main():
        async with ClientSession(raise_for_status=True, timeout=SHORT) as s:
            with pytest.raises(ClientResponseError) as info:
                await s.get(httpbin_url + "/status/404")
            ok = await s.get(httpbin_url + "/status/200")
            ok.release()
            allowed = await s.get(httpbin_url + "/status/500", raise_for_status=False)
            allowed.release()
            return info.value, ok.status, allowed.status

    err, ok, allowed = run(main())
    assert err.status == 404
    assert (ok, allowed) == (200, 500)
