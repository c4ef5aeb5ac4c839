"""Typical requests scripts, unchanged but for ``import syncwrap as requests``
(issue 13), against a local httpbin. Each function body is code as found in
requests users' scripts; only the URLs point at the local server."""

from __future__ import annotations

import http.cookiejar
import io

import syncwrap as requests  # the one line a migration changes

T = 10


def test_fetch_json_with_params_and_errors(httpbin_url):
    try:
        resp = requests.get(httpbin_url + "/get", params={"q": "x"},
                            headers={"User-Agent": "my-script/1.0"}, timeout=T)
        resp.raise_for_status()
        data = resp.json()
    except requests.exceptions.RequestException as e:
        raise AssertionError(e) from e
    assert data["args"] == {"q": "x"} and resp.status_code == requests.codes.ok
    assert data["headers"]["User-Agent"] == "my-script/1.0"


def test_json_error_handling(httpbin_url):
    resp = requests.get(httpbin_url + "/html", timeout=T)
    try:
        resp.json()
    except requests.exceptions.JSONDecodeError:
        result = "not json"
    assert result == "not json"
    try:
        resp.json()
    except ValueError:  # the older requests idiom
        result = "still not json"
    assert result == "still not json"


def test_http_error_status(httpbin_url):
    resp = requests.get(httpbin_url + "/status/404", timeout=T)
    assert resp.status_code == requests.codes.not_found
    try:
        resp.raise_for_status()
    except requests.exceptions.HTTPError as err:
        assert err.response.status_code == 404
        assert err.request.url == httpbin_url + "/status/404"
    else:
        raise AssertionError("no HTTPError")


def test_session_with_defaults(httpbin_url):
    with requests.Session() as s:
        s.headers.update({"Authorization": "Bearer token"})
        s.params = {"api_key": "k"}
        s.auth = None
        r = s.get(httpbin_url + "/get", params={"page": 2}, timeout=T)
        r2 = s.post(httpbin_url + "/post", json={"name": "x"}, timeout=T)
    assert r.json()["args"] == {"api_key": "k", "page": "2"}
    assert r.json()["headers"]["Authorization"] == "Bearer token"
    assert r2.json()["json"] == {"name": "x"}
    assert r2.request.headers["Content-Type"] == "application/json"


def test_form_post_and_file_upload(httpbin_url, tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    r = requests.post(httpbin_url + "/post", data={"user": "bob"}, timeout=T)
    assert r.json()["form"] == {"user": "bob"}
    with open(report, "rb") as f:
        r = requests.post(httpbin_url + "/post", files={"file": f}, data={"k": "v"},
                          timeout=T)
    assert r.json()["files"] == {"file": "a,b\n1,2\n"} and r.json()["form"] == {"k": "v"}
    files = {"file": ("report.csv", open(report), "text/csv")}  # text mode, as often seen
    try:
        r = requests.post(httpbin_url + "/post", files=files, timeout=T)
    finally:
        files["file"][1].close()
    assert r.status_code == 200 and r.json()["files"] == {"file": "a,b\n1,2\n"}
    r = requests.put(httpbin_url + "/put", data=io.BytesIO(b"raw body"), timeout=T)
    assert r.json()["data"] == "raw body"


def test_cookies_across_a_session(httpbin_url):
    # a host name: syncwrap's strict jar refuses cookies from IP hosts (migration.md)
    httpbin_url = httpbin_url.replace("127.0.0.1", "localhost")
    s = requests.Session()
    try:
        s.get(httpbin_url + "/cookies/set", params={"sessionid": "abc"}, timeout=T)
        r = s.get(httpbin_url + "/cookies", timeout=T)
        assert r.json()["cookies"] == {"sessionid": "abc"}
        assert s.cookies.get("sessionid") == "abc"
        jar = http.cookiejar.CookieJar()
        s.cookies = jar
        assert s.get(httpbin_url + "/cookies", timeout=T).json()["cookies"] == {}
        r = s.get(httpbin_url + "/cookies", cookies={"one": "1"}, timeout=T)
        assert r.json()["cookies"] == {"one": "1"}
    finally:
        s.close()


def test_basic_and_digest_auth(httpbin_url):
    r = requests.get(httpbin_url + "/basic-auth/user/pass", auth=("user", "pass"), timeout=T)
    assert r.status_code == 200 and r.json()["authenticated"]
    assert r.request.headers["Authorization"].startswith("Basic ")
    r = requests.get(httpbin_url + "/digest-auth/auth/user/pass",
                     auth=requests.DigestAuth("user", "pass"), timeout=T)
    assert r.status_code == 200
    r = requests.get(httpbin_url + "/basic-auth/user/pass", auth=("user", "bad"), timeout=T)
    assert r.status_code == requests.codes.unauthorized


def test_streaming_download(httpbin_url, tmp_path):
    target = tmp_path / "out.bin"
    with requests.get(httpbin_url + "/bytes/50000", stream=True, timeout=T) as r:
        r.raise_for_status()
        with open(target, "wb") as f:
            for chunk in r.iter_content(chunk_size=8192):
                f.write(chunk)
    assert target.stat().st_size == 50000
    assert r.raw.closed
    r = requests.get(httpbin_url + "/stream/3", stream=True, timeout=T)
    lines = [line for line in r.iter_lines() if line]
    assert len(lines) == 3


def test_redirects_and_history(httpbin_url):
    r = requests.get(httpbin_url + "/redirect/2", timeout=T)
    assert [h.status_code for h in r.history] == [302, 302]
    assert r.history[0].request.url == httpbin_url + "/redirect/2"
    r = requests.get(httpbin_url + "/redirect/1", allow_redirects=False, timeout=T)
    assert r.is_redirect and r.headers["Location"]
    try:
        requests.get(httpbin_url + "/redirect/12", timeout=T)
    except requests.exceptions.TooManyRedirects as e:
        assert e.response is not None and e.request is not None
    else:
        raise AssertionError("no TooManyRedirects")


def test_prepared_requests(httpbin_url):
    s = requests.Session()
    req = requests.Request("POST", httpbin_url + "/post", data={"a": "1"},
                           headers={"X-Trace": "t"})
    prepped = s.prepare_request(req)
    prepped.headers["X-Extra"] = "e"
    resp = s.send(prepped, timeout=T)
    s.close()
    assert resp.json()["form"] == {"a": "1"}
    assert resp.json()["headers"]["X-Extra"] == "e" and resp.json()["headers"]["X-Trace"] == "t"


def test_connection_errors_and_bad_urls():
    for url, error in [("localhost/api", requests.exceptions.MissingSchema),
                       ("ftp://example.invalid/", requests.exceptions.InvalidSchema),
                       ("http://*bad.invalid/", requests.exceptions.InvalidURL)]:
        try:
            requests.get(url, timeout=T)
        except error:
            pass
        else:
            raise AssertionError(url)
    try:
        requests.get("http://127.0.0.1:9/", timeout=T)  # discard port: nothing listens
    except requests.exceptions.ConnectionError as e:
        assert isinstance(e, requests.RequestException)


def test_timeouts(httpbin_url):
    try:
        requests.get(httpbin_url + "/delay/3", timeout=(T, 0.2))
    except requests.exceptions.Timeout as e:
        assert isinstance(e, requests.exceptions.ReadTimeout)
    else:
        raise AssertionError("no timeout")


def test_response_hook(httpbin_url):
    seen = []

    def log(r, *args, **kwargs):
        seen.append(r.status_code)

    requests.get(httpbin_url + "/status/204", hooks={"response": log}, timeout=T)
    assert seen == [204]


def test_retries_through_a_mounted_adapter():
    """The classic requests retry recipe, against a server that fails twice (503, then
    429 with Retry-After) before answering."""
    from tests.retry_peers import ScriptedServer, response

    server = ScriptedServer([response(503), response(429, "Retry-After: 1"),
                             response(200, body=b'{"ok": true}')])
    try:
        from syncwrap.adapters import HTTPAdapter
        from syncwrap.engine import Retry  # urllib3.util.retry.Retry in requests scripts

        retry = Retry(total=3, backoff_factor=0.05, status_forcelist=[429, 500, 502, 503, 504],
                      respect_retry_after=True)
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=retry))
        resp = session.get(f"http://127.0.0.1:{server.port}/data", timeout=T)
        session.close()
    finally:
        server.close()
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert len(server.requests) == 3 and resp.history == []
    assert server.gaps()[1] >= 1.0  # Retry-After honoured
