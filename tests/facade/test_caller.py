"""User code in the calling thread (issue 10): one mechanism (syncwrap._bridge.caller) runs
sync generator bodies, response hooks, sync auth flows and requests-style auth callables in
the thread that made the call; auth of both kinds is an engine AuthFlow, so it gets the
engine's per-hop rules, and a callable sees the body as bytes.

Real servers on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading

import pytest
from werkzeug import Response as WResponse

import syncwrap
from syncwrap._bridge.caller import Caller, current
from tests.facade._util import WAIT
from tests.redirect_peers import SECRET, leaked, start_peers

T = 10  # seconds: the bound of every request here


def in_thread(fn):
    """``fn()`` in a new thread; (its result, that thread's ident)."""
    out: list = []

    def run():
        out.append((fn(), threading.get_ident()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT * 3)
    assert out, "the call did not finish"
    return out[0]


def loop_ident() -> int:
    async def ident():
        return threading.get_ident()

    return syncwrap.run(ident(), timeout=WAIT)


# ------------------------------------------------------------------------------ the mechanism


def test_the_caller_runs_the_loops_jobs_and_hands_back_results_and_errors():
    async def work():
        caller = current()
        here = threading.get_ident()
        there = await caller.call(threading.get_ident)
        with pytest.raises(ValueError, match="invalid literal"):
            await caller.call(int, "x")  # raised in the caller, re-raised on the loop
        return here, there, await caller.call(sorted, [3, 1, 2])

    (on_loop, in_caller, result), ident = in_thread(lambda: Caller().run(work()))
    assert in_caller == ident and on_loop == loop_ident() != ident
    assert result == [1, 2, 3]


def test_a_posted_job_that_raises_cancels_the_call_and_raises_in_the_caller():
    boom = RuntimeError("boom in a posted job")
    cancelled = threading.Event()

    def job():
        raise boom

    async def work():
        current().post(job)
        try:
            await asyncio.sleep(WAIT * 3)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(RuntimeError) as info:
        Caller().run(work())
    assert info.value is boom and cancelled.is_set()


def test_user_code_outside_a_blocking_call_is_a_clear_error(httpserver):
    httpserver.expect_request("/").respond_with_data("ok")
    calls: list[object] = []
    with syncwrap.Session(auth=lambda r: calls.append(r) or r, timeout=T) as s:
        engine = s.engine_session

        async def on_the_loop():
            return await engine.get(httpserver.url_for("/"))

        with pytest.raises(RuntimeError, match="runs in the thread of a blocking call"):
            syncwrap.run(on_the_loop(), timeout=WAIT)
        assert s.get(httpserver.url_for("/")).text == "ok"  # from a blocking call: fine
    assert len(calls) == 1 and len(httpserver.log) == 1


# ------------------------------------------------------------- every kind in the calling thread


class RecordingFlow:
    """A sync flow (plain methods) that records the thread of each of its calls."""

    def __init__(self, record):
        self.record = record

    def on_request(self, request):
        self.record("auth")
        return {"X-Flow": "1"}

    def on_response(self, response):
        self.record("auth")
        return False


@pytest.mark.parametrize("kind", ["callable", "flow"])
@pytest.mark.parametrize("via", ["session", "module"])
def test_generator_hooks_and_auth_run_in_the_calling_thread(httpserver, kind, via):
    httpserver.expect_request("/up").respond_with_data("ok")
    seen: dict[str, set[int]] = {}

    def record(what):
        seen.setdefault(what, set()).add(threading.get_ident())

    def body():
        record("generator")
        yield b"part one, "
        record("generator")
        yield b"part two"

    def callable_auth(r):
        record("auth")
        r.headers["X-Callable"] = "1"
        return r

    auth = callable_auth if kind == "callable" else RecordingFlow(record)
    hooks = {"response": lambda r, **kwargs: record("hook")}

    def call():
        url = httpserver.url_for("/up")
        if via == "module":
            return syncwrap.post(url, data=body(), auth=auth, hooks=hooks, timeout=T)
        with syncwrap.Session(auth=auth, hooks=hooks, timeout=T) as s:
            return s.post(url, data=body())

    r, ident = in_thread(call)
    assert r.text == "ok" and ident != loop_ident()
    assert seen == {"generator": {ident}, "auth": {ident}, "hook": {ident}}
    [(request, _)] = httpserver.log
    assert request.get_data() == b"part one, part two"
    assert request.headers.get("X-Callable" if kind == "callable" else "X-Flow") == "1"


# ---------------------------------------------------------------- the requests-style callable


def signing_auth(seen: list):
    """A requests-style callable that signs the body, as API signature schemes do."""

    def auth(r):
        seen.append(r.body)
        digest = hashlib.sha256(r.body).hexdigest() if r.body is not None else "streamed"
        r.headers["X-Body-Sha256"] = digest
        return r

    return auth


BODIES = {
    "bytes": ({"data": b"\x00raw bytes\xff"}, b"\x00raw bytes\xff"),
    "str": ({"data": "text \u00e9", "headers": {"Content-Type": "text/plain; charset=utf-8"}},
            "text \u00e9".encode()),
    "form": ({"data": {"k": "v w", "n": "1"}}, b"k=v+w&n=1"),
    "json": ({"json": {"a": [1, 2]}}, json.dumps({"a": [1, 2]}).encode()),
    "none": ({}, b""),
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_auth_callable_sees_the_body_as_bytes(httpserver, kind):
    httpserver.expect_request("/sign").respond_with_data("ok")
    kwargs, expected = BODIES[kind]
    seen: list = []
    r = syncwrap.post(httpserver.url_for("/sign"), auth=signing_auth(seen), timeout=T, **kwargs)
    assert r.text == "ok"
    assert seen == [expected] and type(seen[0]) is bytes
    [(request, _)] = httpserver.log
    assert request.get_data() == expected  # what was signed is what was sent
    assert request.headers["X-Body-Sha256"] == hashlib.sha256(expected).hexdigest()


def test_auth_callable_sees_no_body_for_a_streamed_one(sink):
    seen: list = []
    r = syncwrap.post(sink.url, data=iter([b"a", b"b"]), auth=signing_auth(seen), timeout=T)
    assert r.status_code == 200 and seen == [None]
    assert sink.sink.requests[0].body == b"ab"


def test_auth_callable_is_asked_for_every_hop_and_dropped_across_origins(raw_server):
    calls: list[str] = []

    def api_key(r):
        calls.append(r.url)
        r.headers["Authorization"] = f"Token {SECRET}"
        r.headers["X-Api-Key"] = SECRET
        return r

    same = start_peers(raw_server, "same")
    r = syncwrap.get(same.redirect(302), auth=api_key, timeout=T)
    assert r.status_code == 200 and len(r.history) == 1
    assert [req.headers.get("x-api-key") for req in same.first_seen] == [SECRET, SECRET]
    assert [url.split("?")[0] for url in calls] == [same.first_url + "/redirect/302",
                                                    same.second_url + "/landing"]

    calls.clear()
    other = start_peers(raw_server, "port")
    r = syncwrap.get(other.redirect(307), auth=api_key, timeout=T)
    assert r.status_code == 200 and r.url == other.second_url + "/landing"
    [first], [second] = other.first_seen, other.second_seen
    assert first.headers["x-api-key"] == SECRET
    assert leaked([second]) == [] and "x-api-key" not in second.headers
    assert [url.split("?")[0] for url in calls] == [other.first_url + "/redirect/307"]


def test_auth_callable_may_change_and_remove_headers(httpbin_url):
    def rewrite(r):
        r.headers["User-Agent"] = "signed-client"
        del r.headers["X-Drop"]
        r.headers.add("X-Multi", "1")
        r.headers.add("X-Multi", "2")
        return r

    sent = syncwrap.get(httpbin_url + "/headers", headers={"X-Drop": "yes"}, auth=rewrite,
                        timeout=T).json()["headers"]
    assert sent["User-Agent"] == "signed-client" and "X-Drop" not in sent
    assert sent["X-Multi"] == "1,2"


def test_auth_callable_error_reaches_the_caller_and_nothing_is_sent(httpserver):
    httpserver.expect_request("/").respond_with_data("ok")
    boom = ValueError("cannot sign this")

    def failing(r):
        raise boom

    with syncwrap.Session(timeout=T) as s:
        with pytest.raises(ValueError) as info:
            s.get(httpserver.url_for("/"), auth=failing)
        assert info.value is boom and httpserver.log == []
        assert s.get(httpserver.url_for("/")).text == "ok"


# ---------------------------------------------------------------------- the sync flow's retry


def test_sync_flow_sees_the_401_body_and_a_one_shot_body_is_never_resent(httpserver):
    def challenge(request):
        request.get_data()
        return WResponse("token expired", status=401)

    httpserver.expect_request("/api").respond_with_handler(challenge)
    bodies: list[bytes] = []

    class Refresh:
        def on_request(self, request):
            return {"Authorization": "Bearer t"}

        def on_response(self, response):
            bodies.append(response.content)
            return True  # always asks for a retry

    replayable = syncwrap.post(httpserver.url_for("/api"), data=b"again", auth=Refresh(),
                               timeout=T)
    assert replayable.status_code == 401 and len(httpserver.log) == 2  # retried once
    one_shot = syncwrap.post(httpserver.url_for("/api"), data=iter([b"once"]),
                             auth=Refresh(), timeout=T)
    assert one_shot.status_code == 401 and len(httpserver.log) == 3  # never resent
    assert bodies == [b"token expired"] * 3 and one_shot.text == "token expired"


def test_session_auth_reads_back_what_was_set(httpbin_url):
    flow = RecordingFlow(lambda what: None)
    with syncwrap.Session(auth=flow, timeout=T) as s:
        assert s.auth is flow
        s.auth = signing_auth([])
        assert callable(s.auth) and s.get(httpbin_url + "/get").status_code == 200
        s.auth = ("u", "p")
        assert s.auth == syncwrap.BasicAuth("u", "p")
