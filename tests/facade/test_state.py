"""Session state in the blocking facade (issue 4): the cookie view, auth (Basic, Digest,
.netrc, flows and requests-style callables), hooks, header merging, raise_for_status.

Every wait is bounded (requests carry a timeout, threads are joined with a timeout)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from werkzeug import Response as WResponse

import syncwrap
from syncwrap import CookieConflictError, CookieJar, CookiesView, DigestAuth

T = 10  # seconds: the bound of every request here


def localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


# ----------------------------------------------------------------------------- the cookie view


def test_cookie_view_is_a_dict_of_values(httpbin_url):
    with syncwrap.Session(cookies={"a": "1"}, timeout=T) as s:
        assert isinstance(s.cookies, CookiesView)
        assert s.cookies["a"] == "1" and isinstance(s.cookies["a"], str)
        s.cookies["b"] = "two"
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"a": "1", "b": "two"}}
        assert len(s.cookies) == 2 and "b" in s.cookies and "zz" not in s.cookies
        assert sorted(s.cookies) == ["a", "b"] and sorted(s.cookies.keys()) == ["a", "b"]
        assert sorted(s.cookies.items()) == [("a", "1"), ("b", "two")]
        assert s.cookies.get("zz") is None and s.cookies.get("zz", "d") == "d"
        assert s.cookies == {"a": "1", "b": "two"}
        del s.cookies["a"]
        with pytest.raises(KeyError):
            s.cookies["a"]  # noqa: B018
        with pytest.raises(KeyError):
            del s.cookies["a"]
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"b": "two"}}
        s.cookies.update({"c": "3", "d": "4"})
        assert s.cookies.get_dict() == {"b": "two", "c": "3", "d": "4"}
        s.cookies.clear()
        assert len(s.cookies) == 0
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {}}


def test_cookie_view_sees_cookies_set_by_servers(httpbin_url):
    base = localhost(httpbin_url)
    with syncwrap.Session(timeout=T) as s:
        r = s.get(base + "/cookies/set", params={"k": "v"})
        assert r.json() == {"cookies": {"k": "v"}}  # set on the redirect, sent on the next hop
        assert r.history[0].cookies == {"k": "v"}
        assert s.cookies["k"] == "v"
        [morsel] = s.cookies.morsels()
        assert (morsel["domain"], morsel["path"]) == ("localhost", "/")
        s.cookies.clear(domain="localhost")
        assert "k" not in s.cookies


def test_cookie_view_same_name_on_two_domains(httpbin_url):
    with syncwrap.Session(timeout=T) as s:
        s.cookies.set("t", "shared")
        s.cookies.set("t", "scoped", domain="example.org", path="/app")
        with pytest.raises(CookieConflictError):
            s.cookies["t"]  # noqa: B018
        assert s.cookies.get("t", domain="example.org") == "scoped"
        assert s.cookies.get("t") == "scoped"  # the more specific path
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"t": "shared"}}
        s.cookies.set("t", None)  # requests' way to remove
        assert "t" not in s.cookies


def test_cookie_view_runs_jar_operations_on_the_loop_thread(httpbin_url):
    threads: list[str] = []

    class RecordingJar(CookieJar):
        def update_cookies(self, cookies, response_url=""):
            threads.append(threading.current_thread().name)
            super().update_cookies(cookies, response_url)

        def clear(self, predicate=None):
            threads.append(threading.current_thread().name)
            super().clear(predicate)

    with syncwrap.Session(cookie_jar=RecordingJar(), timeout=T) as s:
        s.cookies["a"] = "1"
        s.cookies.clear()
        s.cookies.update({"b": "2"})
    assert threads == ["syncwrap-loop"] * 3


def test_cookie_view_is_safe_under_concurrent_requests(httpbin_url):
    """Writers, readers and requests that store cookies all at once; nothing is lost."""
    base = localhost(httpbin_url)
    errors: list[BaseException] = []
    with syncwrap.Session(timeout=T) as s:

        def writer(n: int) -> None:
            for i in range(20):
                s.cookies[f"w{n}_{i}"] = str(i)
                list(s.cookies.items())

        def requester(n: int) -> None:
            for i in range(5):
                r = s.get(base + "/cookies/set", params={f"r{n}_{i}": "x"})
                if r.status_code != 200:
                    errors.append(AssertionError(r.status_code))

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(writer, n) for n in range(4)]
            futures += [pool.submit(requester, n) for n in range(4)]
            for future in futures:
                future.result(timeout=60)
        names = set(s.cookies)
    assert not errors
    assert {f"w{n}_{i}" for n in range(4) for i in range(20)} <= names
    assert {f"r{n}_{i}" for n in range(4) for i in range(5)} <= names
    assert len(names) == 100


def test_cookie_view_called_on_the_loop_thread_does_not_deadlock():
    with syncwrap.Session(timeout=T) as s:
        view = s.cookies

        async def on_loop():
            view["x"] = "1"
            return view["x"], threading.current_thread().name

        assert syncwrap.run(on_loop(), timeout=T) == ("1", "syncwrap-loop")
        assert s.cookies["x"] == "1"


def test_session_cookies_and_per_request_cookies(httpbin_url):
    with syncwrap.Session(cookies={"a": "1"}, timeout=T) as s:
        got = s.get(httpbin_url + "/cookies", cookies={"b": "2", "a": "override"}).json()
        assert got == {"cookies": {"a": "override", "b": "2"}}
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"a": "1"}}
        assert dict(s.cookies) == {"a": "1"}
        s.cookies = {"fresh": "yes"}
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"fresh": "yes"}}


# ----------------------------------------------------------------------------------- auth


def test_basic_auth_tuple_and_object(httpbin_url):
    with syncwrap.Session(auth=("u", "p"), timeout=T) as s:
        assert s.get(httpbin_url + "/basic-auth/u/p").json() == {
            "authenticated": True, "user": "u"}
        assert s.get(httpbin_url + "/hidden-basic-auth/u/p").status_code == 200
        r = s.get(httpbin_url + "/basic-auth/v/q", auth=syncwrap.BasicAuth("v", "q"))
        assert r.status_code == 200
        assert s.get(httpbin_url + "/hidden-basic-auth/v/q").status_code == 404
    path = "/basic-auth/" + quote("usér") + "/pw"
    r = syncwrap.get(httpbin_url + path, auth=syncwrap.BasicAuth("usér", "pw", "utf-8"))
    assert r.status_code == 200


def test_auth_and_hooks_assigned_after_construction(httpbin_url):
    seen: list[int] = []
    with syncwrap.Session(timeout=T) as s:
        s.auth = ("u", "p")  # as requests users do
        s.hooks["response"] = lambda r, **kwargs: seen.append(r.status_code)
        assert s.get(httpbin_url + "/basic-auth/u/p").status_code == 200
    assert seen == [200]


def test_url_credentials_and_cross_origin_redirect(httpbin_url):
    creds = httpbin_url.replace("http://", "http://u:p@")
    assert syncwrap.get(creds + "/basic-auth/u/p", timeout=T).status_code == 200
    with syncwrap.Session(auth=("u", "p"), timeout=T) as s:
        same = s.get(httpbin_url + "/redirect-to", params={"url": "/headers"}).json()
        cross = s.get(httpbin_url + "/redirect-to",
                      params={"url": localhost(httpbin_url) + "/headers"}).json()
    assert same["headers"]["Authorization"].startswith("Basic ")
    assert "Authorization" not in cross["headers"]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_digest_auth_in_the_facade(httpbin_url, algorithm):
    url = f"{httpbin_url}/digest-auth/auth/user/pass/{algorithm}"
    with syncwrap.Session(auth=DigestAuth("user", "pass"), timeout=T) as s:
        first, second = s.get(url), s.get(url)
    assert first.json() == {"authenticated": True, "user": "user"}
    assert second.status_code == 200
    sent = [r.request_info.headers["Authorization"] for r in (first, second)]
    assert all(f"algorithm={algorithm}" in h for h in sent)
    assert ("nc=00000001" in sent[0], "nc=00000002" in sent[1]) == (True, True)
    assert syncwrap.get(url, auth=DigestAuth("user", "bad"), timeout=T).status_code == 401


def test_netrc_with_trust_env(httpbin_url, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login u password p\n")
    monkeypatch.setenv("NETRC", str(netrc))
    url = httpbin_url + "/basic-auth/u/p"
    with syncwrap.Session(trust_env=True, timeout=T) as s:
        assert s.get(url).status_code == 200
        assert s.get(url, auth=("u", "wrong")).status_code == 401
    with syncwrap.Session(timeout=T) as s:
        assert s.get(url).status_code == 401


def _token_endpoint(httpserver, accepted: str) -> None:
    def handler(request):
        if request.headers.get("Authorization") == f"Bearer {accepted}":
            return WResponse(json.dumps({"ok": True}), content_type="application/json")
        return WResponse("expired", status=401)

    httpserver.expect_request("/api").respond_with_handler(handler)


class SyncTokenFlow:
    """A flow written for sync code: plain methods, run in the calling thread."""

    def __init__(self) -> None:
        self.token = "old"
        self.threads: list[str] = []

    def on_request(self, request):
        self.threads.append(threading.current_thread().name)
        return {"Authorization": f"Bearer {self.token}"}

    def on_response(self, response):
        self.threads.append(threading.current_thread().name)
        assert isinstance(response, syncwrap.Response)
        if response.status_code == 401:
            self.token = "new"
            return True
        return False


def _in_thread(fn):
    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn()), name="caller")
    thread.start()
    thread.join(30)
    assert result, "the call did not finish"
    return result[0]


def test_sync_auth_flow_refreshes_a_token_in_the_calling_thread(httpserver):
    _token_endpoint(httpserver, "new")
    flow = SyncTokenFlow()

    def call():
        with syncwrap.Session(auth=flow, timeout=T) as s:
            return s.post(httpserver.url_for("/api"), data={"k": "v"})

    r = _in_thread(call)
    assert r.status_code == 200 and r.json() == {"ok": True}
    sent = [(req.headers["Authorization"], req.get_data()) for req, _ in httpserver.log]
    assert sent == [("Bearer old", b"k=v"), ("Bearer new", b"k=v")]  # retried exactly once
    assert set(flow.threads) == {"caller"}


def test_sync_auth_flow_is_retried_at_most_once(httpserver):
    _token_endpoint(httpserver, "never")
    flow = SyncTokenFlow()
    assert syncwrap.get(httpserver.url_for("/api"), auth=flow, timeout=T).status_code == 401
    assert len(httpserver.log) == 2


def test_async_auth_flow_in_the_facade(httpserver):
    _token_endpoint(httpserver, "new")

    class Refresh(syncwrap.AuthFlow):
        token = "old"

        async def on_request(self, request):
            return {"Authorization": f"Bearer {self.token}"}

        async def on_response(self, response):
            if response.status == 401:
                self.token = "new"
                return True
            return False

    with syncwrap.Session(auth=Refresh(), timeout=T) as s:
        assert s.get(httpserver.url_for("/api")).json() == {"ok": True}
    assert len(httpserver.log) == 2


def test_requests_style_callable_auth(httpbin_url):
    calls: list[tuple[str, str, str]] = []

    class HeaderAuth:  # what requests.auth.AuthBase subclasses look like
        def __call__(self, r):
            calls.append((r.method, r.url, threading.current_thread().name))
            r.headers["X-Api-Key"] = "k3y"
            return r

    def call():
        with syncwrap.Session(timeout=T) as s:
            return s.get(httpbin_url + "/headers", params={"q": "1"}, auth=HeaderAuth())

    r = _in_thread(call)
    assert r.json()["headers"]["X-Api-Key"] == "k3y"
    assert calls == [("GET", httpbin_url + "/headers?q=1", "caller")]


def test_requests_http_basic_auth_against_httpbin(httpbin_url):
    requests_auth = pytest.importorskip("requests.auth")
    r = syncwrap.get(httpbin_url + "/basic-auth/u/p", auth=requests_auth.HTTPBasicAuth("u", "p"),
                     timeout=T)
    assert r.status_code == 200


def test_bad_auth_is_refused_at_the_call():
    with pytest.raises(TypeError):
        syncwrap.Session(auth=42)
    with pytest.raises(TypeError):
        syncwrap.get("http://127.0.0.1:9/", auth=("only-one",))


# ----------------------------------------------------------------------------------- hooks


def test_response_hooks_run_in_the_calling_thread(httpbin_url):
    calls: list[tuple[str, str, int, bool]] = []

    def session_hook(r, *args, **kwargs):
        calls.append(("session", threading.current_thread().name, r.status_code,
                      isinstance(r, syncwrap.Response)))

    def request_hook(r, **kwargs):
        calls.append(("request", threading.current_thread().name, r.status_code,
                      kwargs["stream"]))

    def call():
        with syncwrap.Session(hooks={"response": [session_hook]}, timeout=T) as s:
            r = s.get(httpbin_url + "/redirect/1", hooks={"response": request_hook})
            s.get(httpbin_url + "/status/204")
            return r

    r = _in_thread(call)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [302]
    assert calls == [
        ("request", "caller", 302, False),  # the redirect: the request's replace the session's
        ("request", "caller", 200, False),  # the final one
        ("session", "caller", 204, True),  # session hooks only on the next call
    ]


def test_a_hook_returning_a_response_replaces_it(httpbin_url):
    with syncwrap.Session(timeout=T) as s:
        def retry_teapots(r, **kwargs):
            if r.status_code == 418:
                return s.get(httpbin_url + "/get", params={"retried": "1"})
            return None

        s.hooks["response"].append(retry_teapots)
        r = s.get(httpbin_url + "/status/418")
    assert r.status_code == 200 and r.json()["args"] == {"retried": "1"}


def test_hooks_on_module_verbs_and_validation(httpbin_url):
    seen: list[int] = []
    syncwrap.get(httpbin_url + "/get", hooks={"response": lambda r, **kw: seen.append(r.status)},
                 timeout=T)
    syncwrap.get(httpbin_url + "/status/201", hooks=lambda r, **kw: seen.append(r.status),
                 timeout=T)
    assert seen == [200, 201]
    with pytest.raises(ValueError, match="Unsupported event"):
        syncwrap.Session(hooks={"request": []})
    with pytest.raises(TypeError):
        syncwrap.get(httpbin_url + "/get", hooks={"response": [42]})


def test_raise_for_status_comes_after_the_hooks(httpbin_url):
    seen: list[int] = []
    with syncwrap.Session(raise_for_status=True, timeout=T) as s:
        with pytest.raises(syncwrap.HTTPError) as info:
            s.get(httpbin_url + "/status/503", hooks={"response": lambda r, **k: seen.append(
                r.status_code)})
        assert info.value.status == 503 and isinstance(info.value.response, syncwrap.Response)
        assert seen == [503]
        with pytest.raises(syncwrap.HTTPError):
            s.get(httpbin_url + "/status/404")  # without hooks, checked as before
        assert s.get(httpbin_url + "/status/404", raise_for_status=False).status_code == 404


# ------------------------------------------------------------------------------ header merging


def test_session_headers_lose_to_request_headers_and_none_removes(httpbin_url):
    with syncwrap.Session(headers={"X-Keep": "s", "X-Override": "s", "X-Remove": "s"},
                          timeout=T) as s:
        sent = s.get(httpbin_url + "/headers",
                     headers={"x-override": "r", "X-Remove": None, "X-New": "r"}).json()
        again = s.get(httpbin_url + "/headers").json()
        s.headers["X-Later"] = "added"
        later = s.get(httpbin_url + "/headers").json()
    assert sent["headers"]["X-Keep"] == "s" and sent["headers"]["X-Override"] == "r"
    assert sent["headers"]["X-New"] == "r" and "X-Remove" not in sent["headers"]
    assert again["headers"]["X-Remove"] == "s" and "X-New" not in again["headers"]
    assert later["headers"]["X-Later"] == "added"
