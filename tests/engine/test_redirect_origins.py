"""Cross-origin redirects in the engine, against two real servers (issue 9).

The first origin redirects to the second (another port, another host bound to 127.0.0.2, or
localhost); the second records what it receives. Every credential kind is dropped on the way,
kept on a same-origin redirect; jar cookies are matched for each host; https -> http drops
everything, Secure jar cookies included; credentials in a Location go nowhere; malformed
Locations are refused. The pure policy is tested in test_redirect_policy.py.
"""

from __future__ import annotations

from http.cookies import Morsel

import pytest
from yarl import URL

from syncwrap.engine import (
    AuthFlow,
    BasicAuth,
    ClientError,
    ClientSession,
    CookieJar,
    InvalidURL,
    InvalidUrlRedirectClientError,
    NonHttpUrlRedirectClientError,
)
from tests.engine._util import SHORT, run
from tests.redirect_peers import HEADER_KINDS, SECRET, WHERE, leaked, start_peers


class TokenFlow(AuthFlow):
    """An AuthFlow adding a bearer token; remembers the URLs it was asked to authorize."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def on_request(self, request):
        self.asked.append(str(request.url))
        return {"Authorization": f"Bearer {SECRET}"}


BASIC = BasicAuth("user", SECRET)

# kind -> (session kwargs, request kwargs, header the first origin must get, its value)
KINDS = {
    "auth=": ({}, {"auth": BASIC}, "authorization", BASIC.encode()),
    "session auth=": ({"auth": BASIC}, {}, "authorization", BASIC.encode()),
    "URL credentials": ({}, {}, "authorization", BASIC.encode()),
    **HEADER_KINDS,
    "AuthFlow": ({}, {"auth": TokenFlow()}, "authorization", f"Bearer {SECRET}"),
}


def follow(peers, kind, status=302, *, to=None, ssl=True):
    """Request the first origin's redirect with the credential ``kind``; the final response."""
    session_kw, request_kw, _, _ = KINDS[kind]
    request_kw = dict(request_kw)
    if isinstance(request_kw.get("auth"), TokenFlow):
        request_kw["auth"] = TokenFlow()  # a fresh one per test
    base = None
    if kind == "URL credentials":
        base = peers.first_url.replace("://", f"://user:{SECRET}@")

    async def main():
        async with ClientSession(timeout=SHORT, **session_kw) as s:
            url = peers.redirect(status, to=to, base=base)
            async with s.get(url, ssl=ssl, **request_kw) as resp:
                await resp.read()
                return resp, request_kw.get("auth")

    return run(main())


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("kind", list(KINDS))
def test_second_origin_receives_no_credentials(raw_server, kind, where):
    peers = start_peers(raw_server, where)
    resp, auth = follow(peers, kind)
    _, _, header, value = KINDS[kind]
    assert resp.status == 200 and str(resp.url) == peers.second_url + "/landing"
    [first], [second] = peers.first_seen, peers.second_seen
    assert first.headers[header] == value  # the first origin got it...
    assert leaked([second]) == []  # ...the second one nothing
    assert second.headers["host"] == peers.second_host
    if isinstance(auth, TokenFlow):
        # asked for the first origin only
        assert [URL(u).origin() for u in auth.asked] == [URL(peers.first_url)]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", list(KINDS))
def test_same_origin_redirect_keeps_every_credential(raw_server, kind, status):
    peers = start_peers(raw_server, "same")
    resp, _ = follow(peers, kind, status)
    _, _, header, value = KINDS[kind]
    assert resp.status == 200 and [h.status for h in resp.history] == [status]
    assert [r.target for r in peers.first_seen][1] == "/landing"
    assert [r.headers.get(header) for r in peers.first_seen] == [value, value]


def test_a_callers_host_header_stays_with_the_first_origin(raw_server):
    peers = start_peers(raw_server, "host")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(peers.redirect(302), headers={"Host": "first.example"}) as resp:
                return resp.status

    assert run(main()) == 200
    assert peers.first_seen[0].headers["host"] == "first.example"
    assert peers.second_seen[0].headers["host"] == peers.second_host


@pytest.mark.parametrize("where", ["port", "host", "name"])
def test_jar_cookies_are_matched_for_each_host(raw_server, where):
    peers = start_peers(raw_server, where)
    jar = CookieJar(unsafe=True)
    jar.update_cookies({"first": "1"}, URL(peers.first_url + "/"))
    jar.update_cookies({"second": "2"}, URL(peers.second_url + "/"))

    async def main():
        async with ClientSession(cookie_jar=jar, timeout=SHORT) as s:
            async with s.get(peers.redirect(307), cookies={"sid": SECRET}) as resp:
                return resp.status

    assert run(main()) == 200
    [first], [second] = peers.first_seen, peers.second_seen
    if where == "port":  # cookies do not isolate ports (RFC 6265 §8.5): same host, both
        assert first.headers["cookie"] == f"first=1; second=2; sid={SECRET}"
        assert second.headers["cookie"] == "first=1; second=2"
        return
    assert first.headers["cookie"] == f"first=1; sid={SECRET}"
    assert second.headers["cookie"] == "second=2"  # its own jar cookie, nothing else


# -- https -> http ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["port", "host"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_https_to_http_drops_every_credential(raw_server, server_ssl_context,
                                              client_ssl_context, kind, where):
    peers = start_peers(raw_server, where, first_tls=server_ssl_context)
    resp, _ = follow(peers, kind, ssl=client_ssl_context)
    _, _, header, value = KINDS[kind]
    assert resp.url.scheme == "http" and resp.history[0].url.scheme == "https"
    assert peers.first_seen[0].headers[header] == value
    assert leaked(peers.second_seen) == [] and len(peers.second_seen) == 1


def _secure(name: str, value: str) -> Morsel:
    morsel: Morsel[str] = Morsel()
    morsel.set(name, value, value)
    morsel["secure"] = True
    return morsel


def test_https_to_http_sends_no_secure_jar_cookie(raw_server, server_ssl_context,
                                                  client_ssl_context):
    peers = start_peers(raw_server, "port", first_tls=server_ssl_context)  # both on 127.0.0.1
    jar = CookieJar(unsafe=True)
    jar.update_cookies({"plain": "1", "sec": _secure("sec", SECRET)}, URL(peers.first_url + "/"))

    async def main():
        async with ClientSession(cookie_jar=jar, timeout=SHORT) as s:
            async with s.get(peers.redirect(302), ssl=client_ssl_context) as resp:
                return resp.status

    assert run(main()) == 200
    assert peers.first_seen[0].headers["cookie"] == f"plain=1; sec={SECRET}"
    assert peers.second_seen[0].headers["cookie"] == "plain=1"  # matched for http://127.0.0.1


# -- credentials in Location -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["same", "port", "host"])
@pytest.mark.parametrize("form", ["absolute", "scheme-relative"])
def test_location_credentials_reach_no_url_and_no_request(raw_server, where, form):
    peers = start_peers(raw_server, where)
    host = peers.second_host
    # first -> second (credentials in the Location) -> second's /landing
    hop = f"//evil:{SECRET}@{host}/redirect/307?to=/landing"
    location = hop if form == "scheme-relative" else "http:" + hop

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(peers.redirect(302, to=location)) as resp:
                await resp.read()
                return resp

    resp = run(main())
    assert resp.status == 200
    urls = [resp.url, resp.real_url, resp.request_info.url, resp.request_info.real_url,
            *(h.url for h in resp.history)]
    assert [(u.user, u.password) for u in urls] == [(None, None)] * len(urls)
    assert not any(SECRET in str(u) for u in urls[:-2])  # history[0]'s query holds the Location
    assert not any(SECRET in u.raw_authority for u in urls)
    assert str(resp.url) == f"http://{host}/landing"
    assert str(resp.history[1].url) == f"http://{host}/redirect/307?to=/landing"
    after_first = peers.second_seen[-2:]
    assert [r.target for r in after_first] == ["/redirect/307?to=/landing", "/landing"]
    assert [r.headers["host"] for r in after_first] == [host, host]
    assert leaked(after_first) == []


# -- malformed Locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http:/x", InvalidUrlRedirectClientError),
        ("http:///host", InvalidUrlRedirectClientError),
        ("https:host", InvalidUrlRedirectClientError),
        ("http://", InvalidUrlRedirectClientError),
        ("///x", InvalidUrlRedirectClientError),
        ("ht\ttp:/x", InvalidUrlRedirectClientError),  # a tab is legal in a header value
        ("http://h:99999/", InvalidUrlRedirectClientError),
        ("ftp://127.0.0.1/x", NonHttpUrlRedirectClientError),
        ("file:///etc/passwd", NonHttpUrlRedirectClientError),
        ("javascript:alert(1)", NonHttpUrlRedirectClientError),
    ],
)
def test_malformed_location_from_a_server_is_refused(raw_server, location, error):
    peers = start_peers(raw_server, "same")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(error) as info:
                await s.get(peers.redirect(302, to=location))
            return info.value

    err = run(main())
    assert isinstance(err, InvalidURL) and isinstance(err, ClientError)
    assert isinstance(err, ValueError) and err.url == location
    assert len(peers.first_seen) == 1  # not followed anywhere, not even as a path
