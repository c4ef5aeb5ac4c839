"""``middlewares=`` in the blocking facade (issue 14): plain functions ``mw(request,
handler)`` run in the calling thread, through the engine's one middleware chain."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from werkzeug import Response as WResponse

import syncwrap
from syncwrap.engine import DigestAuthMiddleware

TIMEOUT = 10


def _token_server(httpserver, accepted: str) -> None:
    def api(request):
        if request.headers.get("Authorization") == f"Bearer {accepted}":
            return WResponse(json.dumps({"ok": True}), content_type="application/json")
        return WResponse("expired", status=401)

    def refresh(request):
        return WResponse(json.dumps({"token": accepted}), content_type="application/json")

    httpserver.expect_request("/api").respond_with_handler(api)
    httpserver.expect_request("/refresh", method="POST").respond_with_handler(refresh)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_refresh_in_the_calling_thread(httpserver):
    _token_server(httpserver, "new")
    threads: list[int] = []
    seen: list[tuple[int, str]] = []

    with syncwrap.Session(timeout=TIMEOUT) as s:
        token = ["old"]

        def refresh(request, handler):
            threads.append(threading.get_ident())
            request.headers["Authorization"] = f"Bearer {token[0]}"
            r = handler(request)
            seen.append((r.status_code, r.text))
            if r.status_code == 401:  # a blocking call of its own, from the middleware
                token[0] = s.post(httpserver.url_for("/refresh"), middlewares=()).json()["token"]
                request.headers["Authorization"] = f"Bearer {token[0]}"
                r = handler(request)
            return r

        s2 = syncwrap.Session(timeout=TIMEOUT, middlewares=[refresh])
        with s2:
            first = s2.post(httpserver.url_for("/api"), data=b"payload")
            second = s2.get(httpserver.url_for("/api"))

    assert (first.status_code, first.json(), second.status_code) == (200, {"ok": True}, 200)
    assert threads == [threading.get_ident()] * 2  # never the loop thread
    assert seen == [(401, "expired"), (200, '{"ok": true}')]
    sent = [(req.path, req.headers.get("Authorization"), req.get_data())
            for req, _ in httpserver.log]
    assert sent == [("/api", "Bearer old", b"payload"), ("/refresh", None, b""),
                    ("/api", "Bearer new", b"payload"), ("/api", "Bearer new", b"")]


def _named(name: str, calls: list[str]):
    def mw(request, handler):
        calls.append(f"{name}>{request.method} {request.url.rsplit('/', 1)[-1]}")
        request.headers[f"X-{name}"] = "1"
        r = handler(request)
        calls.append(f"{name}<{r.status_code}")
        return r
    return mw


def test_order_per_call_override_and_redirects(httpbin_url):
    calls: list[str] = []
    with syncwrap.Session(timeout=TIMEOUT,
                          middlewares=[_named("a", calls), _named("b", calls)]) as s:
        r = s.get(httpbin_url + "/redirect/1")
        followed = calls[:]
        calls.clear()
        only_c = s.get(httpbin_url + "/headers", middlewares=[_named("c", calls)])
        none = s.get(httpbin_url + "/headers", middlewares=())
    assert r.status_code == 200 and [h.status_code for h in r.history] == [302]
    assert followed == ["a>GET 1", "b>GET 1", "b<302", "a<302",
                        "a>GET get", "b>GET get", "b<200", "a<200"]  # around each hop
    assert r.json()["headers"]["X-A"] == r.json()["headers"]["X-B"] == "1"
    assert calls == ["c>GET headers", "c<200"]
    assert "X-A" not in only_c.json()["headers"] and only_c.json()["headers"]["X-C"] == "1"
    assert not any(name.startswith("X-") for name in none.json()["headers"])


def test_request_view_and_changes(httpbin_url, chunked_httpbin):
    seen: list[tuple[str, str, object]] = []

    def rewrite(request, handler):
        seen.append((request.method, request.url, request.body))
        request.method = "put"
        request.url = request.url.replace("/post", "/put")
        request.headers.pop("X-Drop", None)
        return handler(request)

    def gen():
        yield b"streamed"

    r = syncwrap.post(httpbin_url + "/post?q=1", data=b"abc", headers={"X-Drop": "x"},
                      middlewares=[rewrite], timeout=TIMEOUT)
    streamed = syncwrap.post(chunked_httpbin + "/post", data=gen(), middlewares=[rewrite],
                             timeout=TIMEOUT)
    assert r.status_code == 200 and r.url == httpbin_url + "/put?q=1"
    body = r.json()
    assert (body["data"], body["args"], "X-Drop" in body["headers"]) == ("abc", {"q": "1"}, False)
    assert streamed.json()["data"] == "streamed"  # the generator fed while rewrite waited
    assert seen == [("POST", httpbin_url + "/post?q=1", b"abc"),
                    ("POST", chunked_httpbin + "/post", None)]


def test_stream_true_leaves_the_body_to_the_caller(httpbin_url):
    statuses: list[int] = []

    def peek(request, handler):
        r = handler(request)
        statuses.append(r.status_code)
        return r

    with syncwrap.get(httpbin_url + "/bytes/100000?seed=1", stream=True, middlewares=[peek],
                      timeout=TIMEOUT) as r:
        size = sum(len(chunk) for chunk in r.iter_content(65536))
    assert (statuses, size) == ([200], 100000)


def test_handler_errors_reach_the_middleware(httpbin_url):
    dead = f"http://127.0.0.1:{_closed_port()}"
    caught: list[type] = []

    def fallback(request, handler):
        try:
            return handler(request)
        except syncwrap.ConnectionError as exc:
            caught.append(type(exc))
            request.url = request.url.replace(dead, httpbin_url)
            return handler(request)

    r = syncwrap.get(dead + "/get?x=1", middlewares=[fallback], timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["args"] == {"x": "1"}
    assert caught and issubclass(caught[0], syncwrap.ClientConnectorError)

    def broken(request, handler):
        raise LookupError("from the middleware")

    with pytest.raises(LookupError, match="from the middleware"):
        syncwrap.get(httpbin_url + "/get", middlewares=[broken], timeout=TIMEOUT)


def test_a_timeout_while_the_middleware_waits(httpbin_url):
    seen: list[type] = []

    def waits(request, handler):
        try:
            return handler(request)
        except BaseException as exc:
            seen.append(type(exc))
            raise

    with pytest.raises(syncwrap.Timeout):
        syncwrap.get(httpbin_url + "/delay/3", middlewares=[waits], timeout=0.3)
    assert seen == [syncwrap.ReadTimeout]
    assert syncwrap.get(httpbin_url + "/get", middlewares=[waits], timeout=TIMEOUT).ok


def test_digest_middleware_passes_through(httpbin_url):
    r = syncwrap.get(httpbin_url + "/digest-auth/auth/user/pass",
                     middlewares=[DigestAuthMiddleware("user", "pass")], timeout=TIMEOUT)
    assert r.status_code == 200 and r.json() == {"authenticated": True, "user": "user"}


def test_bad_middlewares_fail_at_the_call(httpbin_url):
    async def coroutine_mw(request, handler):
        return await handler(request)

    class AsyncMw:
        async def __call__(self, request, handler):
            return await handler(request)

    for bad in ([coroutine_mw], [AsyncMw()]):
        with pytest.raises(TypeError, match="middlewares=.*async"):
            syncwrap.Session(middlewares=bad)
        with pytest.raises(TypeError, match="middlewares=.*async"):
            syncwrap.get(httpbin_url + "/get", middlewares=bad)
    for bad in (["not callable"], len):
        with pytest.raises(TypeError, match="middlewares="):
            syncwrap.get(httpbin_url + "/get", middlewares=bad)

    with pytest.raises(TypeError, match="middlewares=.*returned NoneType"):
        syncwrap.get(httpbin_url + "/get", middlewares=[lambda request, handler: None],
                     timeout=TIMEOUT)

    def bad_header(request, handler):
        request.headers = {"X-Bad": "a\r\nInjected: 1"}
        return handler(request)

    with pytest.raises(syncwrap.InvalidHeader):
        syncwrap.get(httpbin_url + "/get", middlewares=[bad_header], timeout=TIMEOUT)


def test_a_discarded_streamed_response_is_let_go(httpserver):
    _token_server(httpserver, "new")
    got = []

    def retry_once(request, handler):
        request.headers["Authorization"] = "Bearer old"
        got.append(handler(request))  # 401, its body unread: stream=True
        request.headers["Authorization"] = "Bearer new"
        got.append(handler(request))
        return got[-1]

    with syncwrap.get(httpserver.url_for("/api"), stream=True, middlewares=[retry_once],
                      timeout=TIMEOUT) as r:
        assert json.loads(r.content) == {"ok": True}
    assert [g.status_code for g in got] == [401, 200]
    assert got[0].engine_response.closed  # not left holding its connection
