"""Authentication in the engine (issue 4 point 4): Basic, URL credentials, cross-origin
redirects, Digest (RFC 7616), .netrc with trust_env, and the pluggable AuthFlow."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest
from werkzeug import Response as WResponse

from syncwrap.engine import (
    AuthFlow,
    AuthRequest,
    BasicAuth,
    ClientSession,
    DigestAuth,
)
from syncwrap.engine.digest import parse_challenges
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response


def localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


async def _get(session: ClientSession, url: str, **kwargs):
    async with session.get(url, **kwargs) as resp:
        return resp.status, await resp.read(), resp


# ------------------------------------------------------------------------------------ Basic


def test_basic_auth_on_session_and_request(httpbin_url):
    async def main():
        async with ClientSession(auth=BasicAuth("u", "p"), timeout=SHORT) as s:
            session_ok = (await _get(s, httpbin_url + "/basic-auth/u/p"))[0]
            request_wins = (await _get(s, httpbin_url + "/basic-auth/v/q",
                                       auth=BasicAuth("v", "q")))[0]
            wrong = (await _get(s, httpbin_url + "/basic-auth/u/other"))[0]
        async with ClientSession(timeout=SHORT) as s:
            per_request = (await _get(s, httpbin_url + "/basic-auth/u/p",
                                      auth=BasicAuth("u", "p")))[0]
            none = (await _get(s, httpbin_url + "/basic-auth/u/p"))[0]
        return session_ok, request_wins, wrong, per_request, none

    assert run(main()) == (200, 200, 401, 200, 401)


def test_hidden_basic_auth(httpbin_url):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            status, body, _ = await _get(s, httpbin_url + "/hidden-basic-auth/u/p",
                                         auth=BasicAuth("u", "p"))
            without = (await _get(s, httpbin_url + "/hidden-basic-auth/u/p"))[0]
            wrong = (await _get(s, httpbin_url + "/hidden-basic-auth/u/p",
                                auth=BasicAuth("u", "x")))[0]
        return status, json.loads(body), without, wrong

    status, body, without, wrong = run(main())
    assert (status, body) == (200, {"authenticated": True, "user": "u"})
    assert (without, wrong) == (404, 404)  # httpbin hides the resource, no challenge


def test_basic_auth_encoding(httpbin_url):
    path = "/basic-auth/" + quote("usér") + "/" + quote("pässword")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            utf8 = (await _get(s, httpbin_url + path,
                               auth=BasicAuth("usér", "pässword", encoding="utf-8")))[0]
            latin1 = (await _get(s, httpbin_url + path, auth=BasicAuth("usér", "pässword")))[0]
        return utf8, latin1

    # werkzeug decodes Basic credentials as UTF-8: only the utf-8 encoding matches
    assert run(main()) == (200, 401)


def test_credentials_in_the_url_become_basic(httpbin_url, raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(http_response(b"ok"), seen))
    with_creds = httpbin_url.replace("http://", "http://u:p%40ss@")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            status, body, resp = await _get(s, with_creds + "/basic-auth/u/p%40ss")
            await _get(s, server.url.replace("http://", "http://user:pw@") + "/x?q=1")
            return status, json.loads(body), resp.url

    status, body, url = run(main())
    assert (status, body) == (200, {"authenticated": True, "user": "u"})
    assert url.user is None  # not kept in the response URL either
    assert seen[0].target == "/x?q=1"
    assert seen[0].headers["authorization"] == BasicAuth("user", "pw").encode()


@pytest.mark.parametrize("how", ["auth", "header"])
def test_authorization_dropped_on_cross_origin_redirect(httpbin_url, how):
    other_origin = localhost(httpbin_url)  # same server, other host: another origin
    kwargs = ({"auth": BasicAuth("u", "p")} if how == "auth"
              else {"headers": {"Authorization": "Bearer secret"}})

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            _, same, _ = await _get(s, httpbin_url + "/redirect-to",
                                    params={"url": "/headers"}, **kwargs)
            _, cross, resp = await _get(s, httpbin_url + "/redirect-to",
                                        params={"url": other_origin + "/headers"}, **kwargs)
            return json.loads(same)["headers"], json.loads(cross)["headers"], resp

    same, cross, resp = run(main())
    assert resp.history[0].status == 302
    assert str(resp.url).startswith(other_origin)
    expected = BasicAuth("u", "p").encode() if how == "auth" else "Bearer secret"
    assert same["Authorization"] == expected
    assert "Authorization" not in cross


# ------------------------------------------------------------------------------------ Digest


def _digest_fields(header: str) -> dict[str, str]:
    [(scheme, params)] = parse_challenges(header)
    assert scheme == "digest"
    return params


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_digest_against_httpbin(httpbin_url, algorithm):
    url = f"{httpbin_url}/digest-auth/auth/u/p/{algorithm}"

    async def main():
        auth = DigestAuth("u", "p")
        async with ClientSession(timeout=SHORT) as s:
            first = await _get(s, url, auth=auth)
            second = await _get(s, url, auth=auth)
            wrong = await _get(s, url, auth=DigestAuth("u", "wrong"))
        return first, second, wrong

    (s1, b1, r1), (s2, b2, r2), (s3, _, r3) = run(main())
    assert (s1, json.loads(b1)) == (200, {"authenticated": True, "user": "u"})
    assert (s2, json.loads(b2)) == (200, {"authenticated": True, "user": "u"})
    a1 = _digest_fields(r1.request_info.headers["Authorization"])
    a2 = _digest_fields(r2.request_info.headers["Authorization"])
    assert a1["algorithm"] == algorithm and a1["qop"] == "auth"
    assert a1["uri"] == f"/digest-auth/auth/u/p/{algorithm}"
    assert a1["username"] == "u" and a1["realm"] == "me@kennethreitz.com"
    assert a1["opaque"] and a1["cnonce"]
    # the challenge is reused: same nonce and opaque, next nonce count, fresh cnonce,
    # and no new 401 round trip (a new challenge would restart the count at 1)
    assert (a1["nc"], a2["nc"]) == ("00000001", "00000002")
    assert (a2["nonce"], a2["opaque"]) == (a1["nonce"], a1["opaque"])
    assert a2["cnonce"] != a1["cnonce"]
    # a wrong password: one retry, then the 401 comes back (no loop)
    assert s3 == 401 and r3.request_info.headers["Authorization"].startswith("Digest ")


def test_digest_stale_nonce_against_httpbin(httpbin_url):
    # /MD5/1: the nonce is stale after one use (httpbin tracks it in cookies: localhost)
    url = f"{localhost(httpbin_url)}/digest-auth/auth/u/p/MD5/1"

    async def main():
        auth = DigestAuth("u", "p")
        async with ClientSession(timeout=SHORT) as s:
            return await _get(s, url, auth=auth), await _get(s, url, auth=auth)

    (s1, _, r1), (s2, b2, r2) = run(main())
    a1 = _digest_fields(r1.request_info.headers["Authorization"])
    a2 = _digest_fields(r2.request_info.headers["Authorization"])
    assert (s1, s2) == (200, 200)
    assert json.loads(b2) == {"authenticated": True, "user": "u"}
    assert a2["nonce"] != a1["nonce"]  # answered again with the new nonce ...
    assert a2["nc"] == "00000001"  # ... whose count starts afresh


def _expected_response(fields: dict[str, str], password: str, method: str,
                       body: bytes = b"") -> str:
    """RFC 7616 §3.4.1, written independently of syncwrap.engine.digest."""
    algorithm = fields.get("algorithm", "MD5")
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm.upper().removesuffix("-SESS")]

    def H(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    user = fields["username"]
    ha1 = H(f"{user}:{fields['realm']}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = H(f"{ha1}:{fields['nonce']}:{fields['cnonce']}")
    qop = fields.get("qop")
    if qop == "auth-int":
        ha2 = H(f"{method}:{fields['uri']}:{hashlib.new(name, body).hexdigest()}")
    else:
        ha2 = H(f"{method}:{fields['uri']}")
    if qop is None:
        return H(f"{ha1}:{fields['nonce']}:{ha2}")
    return H(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:{qop}:{ha2}")


class DigestServer:
    """A scripted Digest server: checks every answer independently, can declare a nonce stale."""

    def __init__(self, *, algorithm="SHA-256", qop='qop="auth,auth-int", ', password="s3cret",
                 stale_after: int | None = None) -> None:
        self.algorithm = algorithm
        self.qop = qop
        self.password = password
        self.stale_after = stale_after
        self.nonce_index = 1
        self.uses = 0
        self.requests: list[ParsedRequest] = []
        self.accepted: list[dict[str, str]] = []

    @property
    def nonce(self) -> str:
        return f"nonce-{self.nonce_index}"

    def challenge(self, stale: bool = False) -> bytes:
        value = (f'Digest realm="test realm", {self.qop}nonce="{self.nonce}", '
                 f'opaque="op/aque", algorithm={self.algorithm}'
                 + (", stale=true" if stale else ""))
        return http_response(b"no", status=401, reason="Unauthorized",
                             headers={"WWW-Authenticate": value})

    def answer(self, req: ParsedRequest) -> bytes:
        header = req.headers.get("authorization", "")
        if not header.startswith("Digest "):
            return self.challenge()
        fields = _digest_fields(header)
        if fields["nonce"] != self.nonce:
            return self.challenge(stale=True)
        if self.stale_after is not None and self.uses >= self.stale_after:
            self.nonce_index += 1
            self.uses = 0
            return self.challenge(stale=True)
        expected = _expected_response(fields, self.password, req.method, req.body)
        if fields["response"] != expected or fields.get("opaque") != "op/aque":
            return self.challenge()
        self.uses += 1
        self.accepted.append(fields)
        return http_response(b"welcome")

    def handler(self):
        return recording(self.answer, self.requests)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_digest_rfc7616_computation_checked_by_a_scripted_server(raw_server, algorithm):
    digest = DigestServer(algorithm=algorithm)
    server = raw_server(digest.handler())

    async def main():
        auth = DigestAuth("Mufasa", "s3cret")
        async with ClientSession(timeout=SHORT) as s:
            return [(await _get(s, server.url + f"/dir/index.html?n={i}", auth=auth))[:2]
                    for i in range(3)]

    assert run(main()) == [(200, b"welcome")] * 3
    # 1 challenge + 3 authorized requests: the challenge is answered once, then reused
    assert len(digest.requests) == 4
    assert [f["nc"] for f in digest.accepted] == ["00000001", "00000002", "00000003"]
    assert all(f["qop"] == "auth" and f["algorithm"] == algorithm for f in digest.accepted)
    assert digest.accepted[0]["uri"] == "/dir/index.html?n=0"
    assert len({f["cnonce"] for f in digest.accepted}) == 3


def test_digest_stale_true_retries_with_the_new_nonce(raw_server):
    digest = DigestServer(stale_after=2)
    server = raw_server(digest.handler())

    async def main():
        auth = DigestAuth("Mufasa", "s3cret")
        async with ClientSession(timeout=SHORT) as s:
            return [(await _get(s, server.url + "/r", auth=auth))[0] for _ in range(4)]

    assert run(main()) == [200, 200, 200, 200]
    nonces = [(f["nonce"], f["nc"]) for f in digest.accepted]
    assert nonces == [("nonce-1", "00000001"), ("nonce-1", "00000002"),
                      ("nonce-2", "00000001"), ("nonce-2", "00000002")]
    statuses = [r.headers.get("authorization", "")[:6] for r in digest.requests]
    # no auth, then digest x2, the stale one, its retry, one more: 6 requests in all
    assert len(digest.requests) == 6 and statuses[0] == ""


def test_digest_without_qop_and_with_auth_int(raw_server):
    legacy = DigestServer(algorithm="MD5", qop="")
    legacy_server = raw_server(legacy.handler())
    integrity = DigestServer(algorithm="SHA-256", qop='qop="auth-int", ')
    integrity_server = raw_server(integrity.handler())

    async def main():
        auth = DigestAuth("Mufasa", "s3cret")
        async with ClientSession(timeout=SHORT) as s:
            a = (await _get(s, legacy_server.url + "/old", auth=auth))[0]
            async with s.post(integrity_server.url + "/int", data=b"payload",
                              auth=auth) as r:
                b = r.status
            return a, b

    assert run(main()) == (200, 200)
    assert "qop" not in legacy.accepted[0] and "nc" not in legacy.accepted[0]
    assert integrity.accepted[0]["qop"] == "auth-int"
    assert integrity.requests[-1].body == b"payload"


def test_parse_challenges():
    header = ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", '
              'Basic realm="simple, with comma", Digest realm="r", nonce="n", qop="auth,auth-int"')
    assert parse_challenges([header, "Bearer abc.def==", "Negotiate"]) == [
        ("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
        ("basic", {"realm": "simple, with comma"}),
        ("digest", {"realm": "r", "nonce": "n", "qop": "auth,auth-int"}),
        ("bearer", {"": "abc.def=="}),
        ("negotiate", {}),
    ]


def test_digest_auth_is_accepted_only_as_an_auth_object():
    with pytest.raises(TypeError):
        DigestAuth("u", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DigestAuth("u", "p\r\nX: 1")


# ------------------------------------------------------------------------------------ .netrc


def test_netrc_is_used_with_trust_env(httpbin_url, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n  login u\n  password p\n"
                     "machine localhost login other password x\n")
    monkeypatch.setenv("NETRC", str(netrc))
    url = httpbin_url + "/basic-auth/u/p"

    async def main():
        async with ClientSession(trust_env=True, timeout=SHORT) as s:
            trusted = (await _get(s, url))[0]
            explicit_wins = (await _get(s, url, auth=BasicAuth("u", "nope")))[0]
            other_host = (await _get(s, localhost(url)))[0]  # localhost's entry: other/x
        async with ClientSession(timeout=SHORT) as s:
            untrusted = (await _get(s, url))[0]
        return trusted, explicit_wins, other_host, untrusted

    assert run(main()) == (200, 401, 401, 401)


def test_netrc_default_entry_and_file_changes(httpbin_url, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("default login u password p\n")
    monkeypatch.setenv("NETRC", str(netrc))
    url = httpbin_url + "/basic-auth/u/p"

    async def main():
        async with ClientSession(trust_env=True, timeout=SHORT) as s:
            first = (await _get(s, url))[0]
            netrc.write_text("default login u password changed-and-longer\n")
            second = (await _get(s, url))[0]
        return first, second

    assert run(main()) == (200, 401)


# ------------------------------------------------------------------------------------ AuthFlow


class TokenRefresh(AuthFlow):
    """Bearer token auth that refreshes the token when the server answers 401."""

    def __init__(self, token: str, fresh: str) -> None:
        self.token = token
        self.fresh = fresh
        self.refreshes = 0
        self.requests: list[AuthRequest] = []

    async def on_request(self, request: AuthRequest):
        self.requests.append(request)
        return {"Authorization": f"Bearer {self.token}"}

    async def on_response(self, response) -> bool:
        if response.status == 401:
            self.refreshes += 1
            self.token = self.fresh
            return True
        return False


def _token_server(httpserver, accepted: str) -> None:
    def handler(request):
        if request.headers.get("Authorization") == f"Bearer {accepted}":
            return WResponse(json.dumps({"ok": True}), content_type="application/json")
        return WResponse("expired", status=401)

    httpserver.expect_request("/api").respond_with_handler(handler)


def _seen_tokens(httpserver) -> list[str | None]:
    return [req.headers.get("Authorization") for req, _ in httpserver.log]


def test_auth_flow_token_refresh_is_retried_once(httpserver):
    _token_server(httpserver, "new")
    flow = TokenRefresh("old", "new")

    async def main():
        async with ClientSession(auth=flow, timeout=SHORT) as s:
            first = await _get(s, httpserver.url_for("/api"), data=b"body")
            second = await _get(s, httpserver.url_for("/api"))
        return first, second

    (s1, b1, r1), (s2, _, _) = run(main())
    assert (s1, json.loads(b1), s2) == (200, {"ok": True}, 200)
    assert r1.history == ()  # the retried 401 is not a redirect
    assert flow.refreshes == 1
    assert _seen_tokens(httpserver) == ["Bearer old", "Bearer new", "Bearer new"]
    assert [req.get_data() for req, _ in httpserver.log[:2]] == [b"body", b"body"]
    assert flow.requests[0].method == "GET" and flow.requests[0].body == b"body"
    assert flow.requests[0].url.path == "/api"


def test_auth_flow_never_retries_more_than_once(httpserver):
    _token_server(httpserver, "never-accepted")
    flow = TokenRefresh("old", "new")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return (await _get(s, httpserver.url_for("/api"), auth=flow))[0]

    assert run(main()) == 401
    assert _seen_tokens(httpserver) == ["Bearer old", "Bearer new"]  # exactly one retry
    assert flow.refreshes == 2  # it saw the second 401 too, but could not loop


def test_auth_flow_is_skipped_for_an_explicit_authorization_header(httpserver):
    _token_server(httpserver, "mine")
    flow = TokenRefresh("old", "new")

    async def main():
        async with ClientSession(auth=flow, timeout=SHORT) as s:
            return (await _get(s, httpserver.url_for("/api"),
                               headers={"Authorization": "Bearer mine"}))[0]

    assert run(main()) == 200
    assert flow.requests == [] and flow.refreshes == 0


def test_auth_flow_does_not_resend_a_one_shot_body(httpserver):
    _token_server(httpserver, "new")
    flow = TokenRefresh("old", "new")

    async def body():
        yield b"once"

    async def main():
        async with ClientSession(auth=flow, timeout=SHORT) as s:
            async with s.post(httpserver.url_for("/api"), data=body()) as r:
                return r.status

    assert run(main()) == 401
    assert _seen_tokens(httpserver) == ["Bearer old"]


def test_auth_must_be_basic_auth_or_an_async_flow():
    class SyncFlow:
        def on_request(self, request):
            return None

        def on_response(self, response):
            return False

    with pytest.raises(TypeError, match="async def"):
        ClientSession(auth=SyncFlow())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ClientSession(auth=("u", "p"))  # type: ignore[arg-type]

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(TypeError):
                await s.get("http://127.0.0.1:9/", auth=SyncFlow())

    run(main())
