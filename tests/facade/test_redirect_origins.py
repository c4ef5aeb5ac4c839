"""Cross-origin redirects in the blocking facade, against two real servers (issue 9).

``syncwrap.Session`` and the module-level ``syncwrap.get`` go through the engine's one redirect
policy: every credential kind the facade accepts (auth tuples, URL credentials, headers,
``cookies=``, requests-style auth callables and sync flows) reaches the first origin only.
"""

from __future__ import annotations

import pytest

import syncwrap
from syncwrap import CookieJar
from tests.redirect_peers import HEADER_KINDS, SECRET, WHERE, leaked, start_peers

T = 10  # seconds: the bound of every request here


def token_callable(request):
    """requests-style auth: ``auth(request) -> request``."""
    request.headers["Authorization"] = f"Token {SECRET}"
    return request


class SyncTokenFlow:
    """A sync flow (plain on_request), run in the calling thread."""

    def on_request(self, request):
        return {"Authorization": f"Token {SECRET}"}


BASIC = syncwrap.BasicAuth("user", SECRET).encode()

# kind -> (Session kwargs, request kwargs, header the first origin must get, its value);
# kinds with Session kwargs exist only for the Session client.
KINDS = {
    "auth=(user, pass)": ({}, {"auth": ("user", SECRET)}, "authorization", BASIC),
    "Session(auth=)": ({"auth": ("user", SECRET)}, {}, "authorization", BASIC),
    "URL credentials": ({}, {}, "authorization", BASIC),
    **HEADER_KINDS,
    "auth callable": ({}, {"auth": token_callable}, "authorization", f"Token {SECRET}"),
    "sync flow": ({}, {"auth": SyncTokenFlow()}, "authorization", f"Token {SECRET}"),
}
CASES = [(client, kind) for client in ("Session", "syncwrap.get") for kind in KINDS
         if client == "Session" or not KINDS[kind][0]]


def follow(client, kind, url, **extra):
    """GET ``url`` with the credential ``kind`` through ``client``."""
    session_kw, request_kw, _, _ = KINDS[kind]
    if kind == "URL credentials":
        url = url.replace("://", f"://user:{SECRET}@", 1)
    if client == "syncwrap.get":
        return syncwrap.get(url, timeout=T, **request_kw, **extra)
    with syncwrap.Session(timeout=T, **session_kw) as s:
        return s.get(url, **request_kw, **extra)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("client", "kind"), CASES)
def test_second_origin_receives_no_credentials(raw_server, client, kind, where):
    peers = start_peers(raw_server, where)
    r = follow(client, kind, peers.redirect(307))
    _, _, header, value = KINDS[kind]
    assert r.status_code == 200 and r.url == peers.second_url + "/landing"
    assert [h.status_code for h in r.history] == [307]
    [first], [second] = peers.first_seen, peers.second_seen
    assert first.headers[header] == value
    assert leaked([second]) == [] and second.headers["host"] == peers.second_host


@pytest.mark.parametrize(("client", "kind"), CASES)
def test_same_origin_redirect_keeps_every_credential(raw_server, client, kind):
    peers = start_peers(raw_server, "same")
    r = follow(client, kind, peers.redirect(302))
    _, _, header, value = KINDS[kind]
    assert r.status_code == 200 and len(r.history) == 1
    assert [req.headers.get(header) for req in peers.first_seen] == [value, value]


def test_session_jar_cookies_go_to_their_own_host_only(raw_server):
    peers = start_peers(raw_server, "host")
    with syncwrap.Session(cookie_jar=CookieJar(unsafe=True), timeout=T) as s:
        s.cookies.set("first", "1", domain="127.0.0.1")
        s.cookies.set("second", "2", domain="127.0.0.2")
        assert s.get(peers.redirect(302), cookies={"sid": SECRET}).status_code == 200
    assert peers.first_seen[0].headers["cookie"] == f"first=1; sid={SECRET}"
    assert peers.second_seen[0].headers["cookie"] == "second=2"


@pytest.mark.parametrize(("client", "kind"), CASES)
def test_https_to_http_drops_everything(raw_server, server_ssl_context, ca_pem_path,
                                        client, kind):
    peers = start_peers(raw_server, "port", first_tls=server_ssl_context)
    r = follow(client, kind, peers.redirect(302), verify=ca_pem_path)
    _, _, header, value = KINDS[kind]
    assert r.url.startswith("http://") and r.history[0].url.startswith("https://")
    assert peers.first_seen[0].headers[header] == value
    assert leaked(peers.second_seen) == [] and len(peers.second_seen) == 1


def test_https_to_http_sends_no_secure_jar_cookie(raw_server, server_ssl_context, ca_pem_path):
    peers = start_peers(raw_server, "port", first_tls=server_ssl_context)
    with syncwrap.Session(cookie_jar=CookieJar(unsafe=True), verify=ca_pem_path, timeout=T) as s:
        s.cookies.set("plain", "1", domain="127.0.0.1")
        s.cookies.set("sec", SECRET, domain="127.0.0.1", secure=True)
        assert s.get(peers.redirect(302)).status_code == 200
    assert peers.first_seen[0].headers["cookie"] == f"plain=1; sec={SECRET}"
    assert peers.second_seen[0].headers["cookie"] == "plain=1"


@pytest.mark.parametrize("client", ["Session", "syncwrap.get"])
@pytest.mark.parametrize("where", ["same", "host"])
def test_location_credentials_reach_no_url_and_no_request(raw_server, client, where):
    peers = start_peers(raw_server, where)
    host = peers.second_host
    location = f"http://evil:{SECRET}@{host}/redirect/308?to=/landing"
    r = follow(client, "Cookie header", peers.redirect(302, to=location))
    assert r.status_code == 200 and r.url == f"http://{host}/landing"
    assert [h.url for h in r.history][1] == f"http://{host}/redirect/308?to=/landing"
    assert "@" not in r.url and all("@" not in h.url.split("?")[0] for h in r.history)
    assert r.request_info.url.user is None and r.request_info.real_url.user is None
    second = peers.second_seen[-2:]
    assert [req.headers["host"] for req in second] == [host, host]
    assert not any(SECRET in req.target or "authorization" in req.headers for req in second)


@pytest.mark.parametrize(
    ("location", "error"),
    [("http:/x", syncwrap.InvalidUrlRedirectClientError),
     ("http:///host", syncwrap.InvalidUrlRedirectClientError),
     ("https:host", syncwrap.InvalidUrlRedirectClientError),
     ("ftp://127.0.0.1/x", syncwrap.NonHttpUrlRedirectClientError)],
)
@pytest.mark.parametrize("client", ["Session", "syncwrap.get"])
def test_malformed_location_is_refused(raw_server, client, location, error):
    peers = start_peers(raw_server, "same")
    with pytest.raises(error) as info:
        follow(client, "Cookie header", peers.redirect(302, to=location))
    err = info.value
    assert isinstance(err, syncwrap.InvalidURL) and isinstance(err, syncwrap.ClientError)
    assert isinstance(err, ValueError)
    assert len(peers.first_seen) == 1
