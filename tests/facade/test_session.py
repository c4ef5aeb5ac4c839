"""Session and module-level verbs (issue point 7, plus the closing half of point 6)."""

from __future__ import annotations

import gc
import socket
import ssl
import threading
import time

import pytest

import syncwrap
from tests.facade._util import WAIT, request_then_wait_close
from tests.servers import (
    ParsedRequest,
    dribble,
    http_response,
    keep_alive,
    never_respond,
    read_request,
    serve_http,
    wait_client_close,
)

# -- constructor arguments ----------------------------------------------------------------------


def test_session_headers_merge_with_per_request_headers(httpbin_url):
    with syncwrap.Session(headers={"X-Default": "d", "X-Override": "session"}) as s:
        sent = s.get(httpbin_url + "/headers",
                     headers={"x-override": "request", "X-Extra": "e"}).json()["headers"]
    assert sent["X-Default"] == "d"
    assert sent["X-Override"] == "request"
    assert sent["X-Extra"] == "e"


def test_session_cookies_and_per_request_cookies(httpbin_url):
    with syncwrap.Session(cookies={"a": "1"}) as s:
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"a": "1"}}
        both = s.get(httpbin_url + "/cookies", cookies={"b": "2"}).json()
        assert both == {"cookies": {"a": "1", "b": "2"}}
        # Per-request cookies are not kept.
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"a": "1"}}


def test_cookie_jar_unsafe_keeps_cookies_from_ip_hosts(httpbin_url):
    with syncwrap.Session(cookie_jar=syncwrap.CookieJar(unsafe=True)) as s:
        r = s.get(httpbin_url + "/cookies/set", params={"k": "v"})
        assert r.history and r.history[0].cookies["k"] == "v"
        assert s.cookie_jar.filter_cookies(httpbin_url)["k"].value == "v"
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {"k": "v"}}
    # The default jar is strict by design: no cookies from an IP-address host.
    with syncwrap.Session() as s:
        s.get(httpbin_url + "/cookies/set", params={"k": "v"})
        assert s.get(httpbin_url + "/cookies").json() == {"cookies": {}}


@pytest.mark.parametrize("auth", [("user", "pass"), syncwrap.BasicAuth("user", "pass")],
                         ids=["tuple", "BasicAuth"])
def test_auth_session_and_per_request(httpbin_url, auth):
    url = httpbin_url + "/basic-auth/user/pass"
    with syncwrap.Session() as s:
        assert s.get(url).status_code == 401
        r = s.get(url, auth=auth)
        assert r.status_code == 200 and r.json() == {"authenticated": True, "user": "user"}
        assert s.get(url, auth=("user", "wrong")).status_code == 401
    with syncwrap.Session(auth=auth) as s:
        assert s.get(url).status_code == 200
    assert syncwrap.get(url, auth=auth).status_code == 200
    with pytest.raises(TypeError):
        syncwrap.Session(auth="user:pass")


def test_timeout_connect_read_tuple_raises_read_timeout(raw_server):
    server = raw_server(never_respond)
    with syncwrap.Session() as s:
        started = time.monotonic()
        with pytest.raises(syncwrap.ReadTimeout) as info:
            s.get(server.url, timeout=(5, 0.3))
        assert time.monotonic() - started < 3
        assert isinstance(info.value, syncwrap.Timeout) and isinstance(info.value, TimeoutError)
    with syncwrap.Session(timeout=(5, 0.3)) as s:
        with pytest.raises(syncwrap.ReadTimeout):
            s.get(server.url)
        with pytest.raises(syncwrap.Timeout):  # a number is the total
            s.get(server.url, timeout=0.3)
    with pytest.raises(syncwrap.ReadTimeout):
        syncwrap.get(server.url, timeout=(5, 0.3))
    with pytest.raises(syncwrap.Timeout):
        syncwrap.get(server.url, timeout=syncwrap.ClientTimeout(total=0.3))


def test_connection_refused_is_connection_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(syncwrap.ConnectionError):
            syncwrap.get(f"http://127.0.0.1:{port}/", timeout=WAIT)


def test_connector_argument_limits_the_pool(counting_server):
    connector = syncwrap.TCPConnector(limit=2)
    with syncwrap.Session(connector=connector) as s:
        assert s.connector is connector
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                barrier.wait(WAIT)
                assert s.get(counting_server.url + "/?delay=0.05").status_code == 200
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert errors == []
    assert counting_server.max_concurrent <= 2
    assert counting_server.total_requests == 6


def test_base_url(httpbin_url):
    with syncwrap.Session(base_url=httpbin_url) as s:
        r = s.get("/get", params={"q": "1"})
        assert r.url == httpbin_url + "/get?q=1"
        assert r.json()["args"] == {"q": "1"}


def test_trust_env_reads_netrc_credentials(httpbin_url, monkeypatch, tmp_path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login user password pass\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    url = httpbin_url + "/basic-auth/user/pass"
    with syncwrap.Session(trust_env=True) as s:
        assert s.get(url).status_code == 200
    with syncwrap.Session() as s:  # trust_env defaults to False: the file is ignored
        assert s.get(url).status_code == 401


def test_raise_for_status_session_and_per_request(httpbin_url):
    with syncwrap.Session(raise_for_status=True) as s:
        with pytest.raises(syncwrap.HTTPError) as info:
            s.get(httpbin_url + "/status/418")
        err = info.value
        assert err.status == 418
        assert isinstance(err.response, syncwrap.Response)
        assert err.response.status_code == 418 and "teapot" in err.response.text
        assert s.get(httpbin_url + "/status/418", raise_for_status=False).status_code == 418
        assert s.get(httpbin_url + "/get").ok
        with pytest.raises(syncwrap.HTTPError) as info:
            s.get(httpbin_url + "/status/503", stream=True)
        assert info.value.response.status_code == 503
    with pytest.raises(syncwrap.HTTPError):
        syncwrap.get(httpbin_url + "/status/500", raise_for_status=True)


def test_raise_for_status_stream_does_not_pool_the_unread_connection(raw_server):
    closed = threading.Event()
    conns: list[int] = []

    def handler(conn: socket.socket) -> None:
        conns.append(1)
        if len(conns) == 1:  # an error whose body never fully arrives
            head = b"HTTP/1.1 500 Oops\r\nContent-Length: 50\r\n\r\npartial"
            request_then_wait_close(threading.Event(), closed, head)(conn)
        else:
            keep_alive(b"x" * 100)(conn)

    server = raw_server(handler)
    with syncwrap.Session(raise_for_status=True) as s:
        with pytest.raises(syncwrap.HTTPError):
            s.get(server.url, stream=True, timeout=WAIT)
        assert closed.wait(WAIT)
        assert s.get(server.url, timeout=WAIT).content == b"x" * 100
    assert len(conns) == 2


# -- TLS: verify= and cert= ---------------------------------------------------------------------


def test_verify_false_ca_path_and_default_rejection(httpbin_tls_url, ca_pem_path):
    url = httpbin_tls_url + "/get"
    with pytest.raises(syncwrap.SSLError):
        syncwrap.get(url, timeout=WAIT)
    assert syncwrap.get(url, verify=False).status_code == 200
    assert syncwrap.get(url, verify=ca_pem_path).status_code == 200
    with syncwrap.Session(verify=ca_pem_path) as s:
        assert s.get(url).status_code == 200
        with pytest.raises(syncwrap.SSLError):
            s.get(url, verify=True)
    with syncwrap.Session() as s:
        with pytest.raises(syncwrap.SSLError):
            s.get(url)
        assert s.get(url, verify=False).json()["url"] == url
    with pytest.raises(ValueError, match="does not exist"):
        syncwrap.get(url, verify="/nonexistent/ca.pem")


def test_client_certificate(raw_server, tls_ca, tls_cert, ca_pem_path, tmp_path):
    client = tls_ca.issue_cert("client.example")
    cert_path, key_path = tmp_path / "client.crt", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert_path))
    client.private_key_pem.write_to_path(str(key_path))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_cert.configure_cert(server_ctx)
    tls_ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    seen: list[object] = []

    def handler(conn: socket.socket) -> None:
        try:
            tls = server_ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            seen.append(exc)
            return
        with tls:
            peer = tls.getpeercert()
            seen.append(peer)
            read_request(tls)
            tls.sendall(http_response(b"ok", headers={"Connection": "close"}))

    server = raw_server(handler)
    url = f"https://127.0.0.1:{server.port}/"
    r = syncwrap.get(url, verify=ca_pem_path, cert=(str(cert_path), str(key_path)), timeout=WAIT)
    assert r.status_code == 200
    assert any(isinstance(p, dict) and ("DNS", "client.example") in p["subjectAltName"]
               for p in seen)
    with syncwrap.Session(verify=ca_pem_path, cert=(str(cert_path), str(key_path))) as s:
        assert s.get(url, timeout=WAIT).status_code == 200
    with pytest.raises(syncwrap.ClientError):  # no client certificate: the server refuses
        syncwrap.get(url, verify=ca_pem_path, timeout=WAIT).content  # noqa: B018


# -- requests-style keywords ----------------------------------------------------------------------


def test_params_data_json_keywords(httpbin_url):
    with syncwrap.Session() as s:
        r = s.get(httpbin_url + "/get", params=[("k", "v1"), ("k", "v2")])
        assert r.json()["args"] == {"k": ["v1", "v2"]}
        assert s.get(httpbin_url + "/get", params={"a": "b c"}).json()["args"] == {"a": "b c"}
        form = s.post(httpbin_url + "/post", data={"k": "v", "n": "1"}).json()
        assert form["form"] == {"k": "v", "n": "1"}
        assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        raw = s.post(httpbin_url + "/post", data="raw text").json()
        assert raw["data"] == "raw text"
        js = s.post(httpbin_url + "/post", json={"x": [1, 2]}).json()
        assert js["json"] == {"x": [1, 2]}
        assert js["headers"]["Content-Type"].startswith("application/json")
        assert s.put(httpbin_url + "/put", data=b"bytes").json()["data"] == "bytes"
        assert s.patch(httpbin_url + "/patch", json=[1]).json()["json"] == [1]
        assert s.delete(httpbin_url + "/delete").status_code == 200
        assert s.options(httpbin_url + "/get").status_code == 200
        head = s.head(httpbin_url + "/get")
        assert head.status_code == 200 and head.content == b""
        assert s.request("GET", httpbin_url + "/get").ok
        with pytest.raises(TypeError, match="unexpected keyword"):
            s.get(httpbin_url + "/get", bogus=1)


def test_allow_redirects(httpbin_url):
    with syncwrap.Session() as s:
        r = s.get(httpbin_url + "/redirect/2", allow_redirects=False)
        assert r.status_code == 302 and r.history == [] and r.is_redirect
        r = s.get(httpbin_url + "/redirect/2")
        assert r.status_code == 200 and len(r.history) == 2
        assert r.url == httpbin_url + "/get"
        with pytest.raises(syncwrap.TooManyRedirects):
            s.get(httpbin_url + "/redirect/3", max_redirects=2)


def test_module_verbs(httpbin_url):
    base = httpbin_url + "/anything"
    for verb in ("get", "options", "delete"):
        assert getattr(syncwrap, verb)(base).status_code == 200
    for verb in ("post", "put", "patch"):
        assert getattr(syncwrap, verb)(base, data="d").json()["data"] == "d"
    assert syncwrap.post(base, json={"a": 1}).json()["json"] == {"a": 1}
    assert syncwrap.head(base).status_code == 200
    assert syncwrap.request("GET", base, params={"x": "y"}).json()["args"] == {"x": "y"}


def test_module_verbs_share_one_pool(counting_server):
    ids = {syncwrap.get(counting_server.url).headers["X-Connection-Id"] for _ in range(5)}
    ids.add(syncwrap.post(counting_server.url, data=b"x").headers["X-Connection-Id"])
    assert len(ids) == 1
    assert counting_server.total_connections == 1
    assert counting_server.total_requests == 6


def _cookie_server(seen: list[str | None]):
    def answer(req: ParsedRequest) -> tuple[bytes, dict]:
        seen.append(req.headers.get("cookie"))
        if req.target.startswith("/set"):
            return b"set", {"Set-Cookie": "sid=abc; Path=/"}
        return b"ok", {}

    return lambda conn: serve_http(conn, answer)


def test_module_verbs_keep_no_cookies_between_calls(raw_server):
    seen: list[str | None] = []
    server = raw_server(_cookie_server(seen))
    base = f"http://localhost:{server.port}"  # a host name: the strict jar accepts its cookies
    # Control: a Session on the same host keeps and sends the cookie.
    with syncwrap.Session() as s:
        assert s.get(base + "/set").cookies["sid"] == "abc"
        s.get(base + "/check")
    assert seen == [None, "sid=abc"]
    seen.clear()
    r = syncwrap.get(base + "/set")
    assert r.cookies == {"sid": "abc"}
    syncwrap.get(base + "/check")
    assert seen == [None, None]


# -- closing ---------------------------------------------------------------------------------------


def test_session_close_closes_pooled_connections(counting_server):
    s = syncwrap.Session()
    ids = {s.get(counting_server.url).headers["X-Connection-Id"] for _ in range(3)}
    assert len(ids) == 1 and counting_server.open_connections == 1
    s.close()
    assert counting_server.wait_idle(WAIT)
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        s.get(counting_server.url)
    assert "closed" in repr(s)


def test_session_context_manager_closes_connections(raw_server):
    requests: list[ParsedRequest] = []
    server = raw_server(keep_alive(b"ok", requests=requests))
    with syncwrap.Session() as s:
        assert s.get(server.url).content == b"ok"
        assert s.get(server.url).content == b"ok"
        assert "open" in repr(s)
    assert server.join(WAIT), "the keep-alive connection was not closed"
    assert server.connections == 1 and len(requests) == 2


def test_dropped_session_releases_its_connections(counting_server):
    def use_and_drop() -> None:
        s = syncwrap.Session()
        assert s.get(counting_server.url).status_code == 200

    use_and_drop()
    gc.collect()
    # (3 s: well below the server's own 10 s idle-connection timeout)
    assert counting_server.wait_idle(3), "a dropped Session kept its connection open"


def test_stream_from_a_dropped_session_still_reads_to_the_end(raw_server):
    body = b"0123456789" * 20
    closed = threading.Event()

    def handler(conn: socket.socket) -> None:
        dribble(body, interval=0.002, piece=10)(conn)  # slow: the stream outlives the Session
        if wait_client_close(conn, WAIT):
            closed.set()

    server = raw_server(handler)
    r = syncwrap.Session().get(server.url, stream=True, timeout=WAIT)  # the Session is dropped
    gc.collect()
    assert r.content == body
    assert closed.wait(3)  # then its connection is closed, not pooled in a dead pool
