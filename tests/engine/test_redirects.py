"""Redirects: method and body rules, relative Location, max_redirects, history,
allow_redirects=False, and Authorization across origins (point 10)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

import pytest

from syncwrap.engine import (
    BasicAuth,
    ClientSession,
    TooManyRedirects,
)
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response


def router(req: ParsedRequest) -> bytes:
    """/redirect/<status>?to=<location>, /count/<n> (n redirects left), anything else echoes."""
    path, _, query = req.target.partition("?")
    m = re.fullmatch(r"(?:/[\w-]+)*/redirect/(\d+)", path)
    if m:
        location = unquote(query.removeprefix("to=")) if query.startswith("to=") else "/final"
        return http_response(b"moved", status=int(m.group(1)), reason="Redirect",
                             headers={"Location": location})
    m = re.fullmatch(r"/count/(\d+)", path)
    if m and int(m.group(1)) > 0:
        return http_response(b"", status=302, reason="Found",
                             headers={"Location": f"/count/{int(m.group(1)) - 1}"})
    echo = {"method": req.method, "target": req.target, "body": req.body.decode("latin-1"),
            "content_type": req.headers.get("content-type"),
            "authorization": req.headers.get("authorization")}
    return http_response(json.dumps(echo).encode(), headers={"Content-Type": "application/json"})


@pytest.fixture
def site(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(router, seen))
    server.seen = seen
    return server


async def fetch(session, method, url, **kw):
    async with session.request(method, url, **kw) as resp:
        body = await resp.read()
        return resp, body


@pytest.mark.parametrize("status", [301, 302, 303])
def test_post_becomes_get_without_body(site, status):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await fetch(s, "POST", site.url + f"/redirect/{status}",
                                     data=b"payload", headers={"Content-Type": "text/plain"})
            return resp, json.loads(body)

    resp, echo = run(main())
    assert resp.status == 200 and resp.method == "GET"
    assert echo["method"] == "GET" and echo["body"] == "" and echo["content_type"] is None
    first, final = site.seen
    assert (first.method, first.body) == ("POST", b"payload")
    assert final.method == "GET" and "content-length" not in final.headers
    assert "transfer-encoding" not in final.headers
    assert [h.status for h in resp.history] == [status]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_303_turns_any_method_into_get(site, method):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return json.loads((await fetch(s, method, site.url + "/redirect/303", data=b"x"))[1])

    assert run(main())["method"] == "GET"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_head_stays_head(site, status):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.head(site.url + f"/redirect/{status}", allow_redirects=True) as resp:
                return resp.status, resp.method, len(resp.history)

    assert run(main()) == (200, "HEAD", 1)
    assert [r.method for r in site.seen] == ["HEAD", "HEAD"]


def test_head_does_not_follow_by_default(site):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.head(site.url + "/redirect/302") as resp:
                return resp.status

    assert run(main()) == 302


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_307_308_keep_method_and_body(site, status, method):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await fetch(s, method, site.url + f"/redirect/{status}",
                                     json={"k": "v"})
            return resp, json.loads(body)

    resp, echo = run(main())
    assert resp.method == method and echo["method"] == method
    assert json.loads(echo["body"]) == {"k": "v"}
    assert echo["content_type"] == "application/json"
    assert [r.body for r in site.seen] == [b'{"k": "v"}'] * 2


def test_307_with_one_shot_body_is_refused(site):
    from syncwrap.engine import BodyNotReplayableError

    async def gen():
        yield b"once"

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(BodyNotReplayableError):
                await s.post(site.url + "/redirect/307", data=gen())

    run(main())


@pytest.mark.parametrize(
    ("start", "location", "final_target"),
    [
        ("/a/b/redirect/302", "final", "/a/b/redirect/final"),
        ("/a/b/redirect/301", "../up", "/a/b/up"),
        ("/a/b/redirect/303", "../../../x/y", "/x/y"),
        ("/a/b/redirect/307", "/abs?q=1", "/abs?q=1"),
        ("/a/b/redirect/308", "final#frag", "/a/b/redirect/final"),  # fragment never sent
    ],
)
def test_relative_location(site, start, location, final_target):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await fetch(s, "GET", site.url + start + "?to=" + quote(location))
            return resp, json.loads(body)

    resp, echo = run(main())
    assert echo["target"] == final_target
    assert str(resp.url) == site.url + final_target
    assert resp.history[0].url.path == start and resp.history[0].url.query["to"] == location


def test_scheme_relative_location(site, raw_server):
    other_seen: list[ParsedRequest] = []
    other = raw_server(recording(router, other_seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            to = f"//localhost:{other.port}/x"
            resp, _ = await fetch(s, "GET", site.url + f"/redirect/302?to={to}")
            return resp

    resp = run(main())
    assert str(resp.url) == f"http://localhost:{other.port}/x"
    assert [r.target for r in other_seen] == ["/x"]


def test_history_in_order(site):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, _ = await fetch(s, "GET", site.url + "/count/3")
            return resp

    resp = run(main())
    assert [str(h.url) for h in resp.history] == [site.url + f"/count/{n}" for n in (3, 2, 1)]
    assert [h.status for h in resp.history] == [302, 302, 302]
    assert str(resp.url) == site.url + "/count/0"
    assert resp.history[0].history == ()
    assert len(resp.history[2].history) == 2
    assert site.connections == 1  # small redirect bodies are drained: the connection is reused


def test_max_redirects_default_is_ten(site):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            ok, _ = await fetch(s, "GET", site.url + "/count/10")
            with pytest.raises(TooManyRedirects) as info:
                await s.get(site.url + "/count/11")
            return ok, info.value

    ok, err = run(main())
    assert ok.status == 200 and len(ok.history) == 10
    assert len(err.history) == 11 and err.status == 302
    assert err.request_info is not None


def test_max_redirects_session_and_request(site):
    async def main():
        async with ClientSession(max_redirects=2, timeout=SHORT) as s:
            ok, _ = await fetch(s, "GET", site.url + "/count/2")
            with pytest.raises(TooManyRedirects):
                await s.get(site.url + "/count/3")
            per_request, _ = await fetch(s, "GET", site.url + "/count/3", max_redirects=3)
            with pytest.raises(TooManyRedirects):
                await s.get(site.url + "/count/1", max_redirects=0)
            return len(ok.history), len(per_request.history)

    assert run(main()) == (2, 3)


def test_allow_redirects_false(site):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await fetch(s, "POST", site.url + "/redirect/302", data=b"d",
                                     allow_redirects=False)
            return resp, body

    resp, body = run(main())
    assert resp.status == 302 and body == b"moved"
    assert resp.headers["Location"] == "/final" and resp.history == ()
    assert [r.target for r in site.seen] == ["/redirect/302"]


def test_redirects_against_httpbin(httpbin_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp, body = await fetch(s, "GET", httpbin_url + "/redirect/3")
            with pytest.raises(TooManyRedirects):
                await s.get(httpbin_url + "/redirect/11")
            return resp, json.loads(body)

    resp, data = run(main())
    assert resp.status == 200 and len(resp.history) == 3
    assert data["url"].endswith("/get")


@pytest.mark.parametrize("how", ["header", "auth", "url"])
def test_authorization_dropped_on_cross_origin_redirect(raw_server, how):
    a_seen: list[ParsedRequest] = []
    b_seen: list[ParsedRequest] = []
    a = raw_server(recording(router, a_seen))
    b = raw_server(recording(router, b_seen))
    kw = {"header": {"headers": {"Authorization": "Bearer secret"}},
          "auth": {"auth": BasicAuth("user", "pw")}, "url": {}}[how]
    start = (f"http://user:pw@127.0.0.1:{a.port}" if how == "url" else a.url)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            same, _ = await fetch(s, "GET", start + "/redirect/302?to=/final", **kw)
            other, body = await fetch(
                s, "GET", start + f"/redirect/302?to=http://localhost:{b.port}/final", **kw)
            return same, other, json.loads(body)

    same, other, echo = run(main())
    assert str(other.url) == f"http://localhost:{b.port}/final"
    assert echo["authorization"] is None
    assert all("authorization" not in r.headers for r in b_seen)
    # the same origin keeps it, on both hops
    assert [r.target for r in a_seen] == ["/redirect/302?to=/final", "/final",
                                          f"/redirect/302?to=http://localhost:{b.port}/final"]
    assert all(r.headers.get("authorization") for r in a_seen)


def test_authorization_dropped_for_other_port_same_host(raw_server):
    a_seen: list[ParsedRequest] = []
    b_seen: list[ParsedRequest] = []
    a = raw_server(recording(router, a_seen))
    b = raw_server(recording(router, b_seen))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await fetch(s, "GET", a.url + f"/redirect/307?to={b.url}/final",
                        headers={"Authorization": "Bearer secret"})

    run(main())
    assert a_seen[0].headers["authorization"] == "Bearer secret"
    assert "authorization" not in b_seen[0].headers


def test_redirect_to_unsupported_scheme_is_invalid_url(site):
    from syncwrap.engine import InvalidURL

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(InvalidURL):
                await s.get(site.url + "/redirect/302?to=ftp://127.0.0.1/x")

    run(main())
