"""Client middlewares (issue 14, must have 2): the aiohttp 3.12+ shape, per session and per
request, a retry on 401 with a refreshed token, Digest as a middleware, redirects."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response as WResponse

from syncwrap.engine import ClientRequest, ClientSession, DigestAuthMiddleware
from tests.engine._util import SHORT, run


async def _get(session: ClientSession, url: str, **kwargs):
    async with session.get(url, **kwargs) as resp:
        return resp.status, await resp.read(), resp


def _token_server(httpserver, accepted: str) -> None:
    def handler(request):
        if request.headers.get("Authorization") == f"Bearer {accepted}":
            return WResponse(json.dumps({"ok": True}), content_type="application/json")
        return WResponse("expired", status=401)

    httpserver.expect_request("/api").respond_with_handler(handler)


class TokenRefresh:
    """The aiohttp docs' recipe: send a token, refresh it on 401 and retry once."""

    def __init__(self, token: str, fresh: str) -> None:
        self.token, self.fresh, self.refreshes = token, fresh, 0

    async def __call__(self, request: ClientRequest, handler):
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = await handler(request)
        if response.status == 401:
            response.release()
            self.token = self.fresh
            self.refreshes += 1
            request.headers["Authorization"] = f"Bearer {self.token}"
            response = await handler(request)
        return response


def test_middleware_retries_on_401_with_a_refreshed_token(httpserver):
    _token_server(httpserver, "new")
    mw = TokenRefresh("old", "new")

    async def main():
        async with ClientSession(middlewares=(mw,), timeout=SHORT) as s:
            first = await _get(s, httpserver.url_for("/api"), data=b"body")
            second = await _get(s, httpserver.url_for("/api"))
        return first, second

    (s1, b1, _), (s2, _, _) = run(main())
    assert (s1, json.loads(b1), s2, mw.refreshes) == (200, {"ok": True}, 200, 1)
    seen = [req.headers.get("Authorization") for req, _ in httpserver.log]
    assert seen == ["Bearer old", "Bearer new", "Bearer new"]
    assert [req.get_data() for req, _ in httpserver.log[:2]] == [b"body", b"body"]


def test_order_per_request_override_and_redirects(httpbin_url):
    calls: list[str] = []

    def named(name: str):
        async def mw(request: ClientRequest, handler):
            calls.append(f"{name}>{request.url.path}")
            request.headers[f"X-{name}"] = "1"
            resp = await handler(request)
            calls.append(f"{name}<{resp.status}")
            return resp
        return mw

    async def main():
        async with ClientSession(middlewares=[named("a"), named("b")], timeout=SHORT) as s:
            _, body, resp = await _get(s, httpbin_url + "/redirect-to?url=/headers")
            only_c = json.loads((await _get(s, httpbin_url + "/headers",
                                            middlewares=(named("c"),)))[1])
            none = json.loads((await _get(s, httpbin_url + "/headers", middlewares=()))[1])
        return json.loads(body), resp, only_c, none

    body, resp, only_c, none = run(main())
    # first listed is outermost; the chain runs once per hop
    assert calls[:8] == ["a>/redirect-to", "b>/redirect-to", "b<302", "a<302",
                         "a>/headers", "b>/headers", "b<200", "a<200"]
    assert body["headers"]["X-A"] == "1" and body["headers"]["X-B"] == "1"
    assert len(resp.history) == 1
    assert "X-C" in only_c["headers"] and "X-A" not in only_c["headers"]
    assert "X-A" not in none["headers"] and "X-C" not in none["headers"]


def test_digest_auth_middleware_against_httpbin(httpbin_url):
    mw = DigestAuthMiddleware("user", "passwd")

    async def main():
        async with ClientSession(middlewares=(mw,), timeout=SHORT) as s:
            ok = await _get(s, httpbin_url + "/digest-auth/auth/user/passwd")
            again = await _get(s, httpbin_url + "/digest-auth/auth/user/passwd/SHA-256")
            wrong = await _get(s, httpbin_url + "/digest-auth/auth/user/other")
        return ok, again, wrong

    (s1, b1, _), (s2, _, _), (s3, _, _) = run(main())
    assert (s1, json.loads(b1)["authenticated"]) == (200, True)
    assert s2 == 200
    assert s3 == 401  # wrong password: the 401 comes back, no loop


def test_bad_middlewares_argument_is_named():
    with pytest.raises(TypeError, match="middlewares="):
        ClientSession(middlewares=42)
    with pytest.raises(TypeError, match="middlewares="):
        ClientSession(middlewares=[1])
