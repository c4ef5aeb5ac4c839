"""The redirect policy as pure functions (syncwrap.engine.redirects): no sockets needed.

Every redirect status x same or other origin x header kind; every Location form.
The same rules seen from real servers are in test_redirect_origins.py.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from yarl import URL

from syncwrap.engine import (
    BodyNotReplayableError,
    ClientError,
    InvalidURL,
    InvalidUrlRedirectClientError,
    NonHttpUrlRedirectClientError,
)
from syncwrap.engine.redirects import (
    REDIRECT_STATUSES,
    next_hop,
    redirect_target,
    rewrites_to_get,
)

HERE = URL("http://127.0.0.1:8000/a/b?q=1")

# Location pointing at the same origin or at another one, from HERE.
ORIGINS = {
    "same": "/next",
    "same-absolute": "http://127.0.0.1:8000/next",
    "other-port": "http://127.0.0.1:8001/next",
    "other-host": "http://127.0.0.2:8000/next",
    "other-name": "http://localhost:8000/next",
    "other-scheme": "https://127.0.0.1:8000/next",
    "scheme-relative-other-host": "//127.0.0.2:8000/next",
}

# A request header of each kind, as a caller (or the facade's auth) would give it.
SENT = {
    "Authorization": "Bearer s3cret",
    "Proxy-Authorization": "Basic cHJveHk6czNjcmV0",
    "Cookie": "sid=s3cret",
    "Host": "127.0.0.1:8000",
    "X-Trace": "kept",
    "Accept": "application/json",
}
ORIGIN_BOUND = {"Authorization", "Proxy-Authorization", "Cookie", "Host"}


def hop(status=302, method="GET", location="/next", headers=None, url=HERE, **kw):
    kw.setdefault("has_body", False)
    return next_hop(method, url, status, location, CIMultiDict(headers or SENT), **kw)


# -- origin: which headers survive ---------------------------------------------------------


@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
@pytest.mark.parametrize("origin", sorted(ORIGINS))
@pytest.mark.parametrize("header", sorted(SENT))
def test_header_kept_on_same_origin_dropped_on_another(status, origin, header):
    result = hop(status, location=ORIGINS[origin])
    same = origin.startswith("same")
    expected = same or header not in ORIGIN_BOUND
    assert (header in result.headers) is expected
    if expected:
        assert result.headers.getall(header) == [SENT[header]]
    assert result.keep_auth is same and result.keep_cookies is same


@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
@pytest.mark.parametrize("origin", sorted(o for o in ORIGINS if not o.startswith("same")))
def test_same_proxy_keeps_only_proxy_authorization(status, origin):
    result = hop(status, location=ORIGINS[origin], same_proxy=True)
    assert result.headers["Proxy-Authorization"] == SENT["Proxy-Authorization"]
    assert not {"Authorization", "Cookie", "Host"} & set(result.headers)
    assert result.keep_auth is False and result.keep_cookies is False


def test_https_to_http_on_the_same_host_and_port_is_another_origin():
    result = hop(307, url=URL("https://127.0.0.1:8443/x"), location="http://127.0.0.1:8443/y")
    assert not ORIGIN_BOUND & set(result.headers)
    assert (result.keep_auth, result.keep_cookies) == (False, False)
    assert result.url == URL("http://127.0.0.1:8443/y")


def test_default_port_written_or_not_is_the_same_origin():
    result = hop(302, url=URL("http://example.org/a"), location="http://example.org:80/b")
    assert result.keep_auth and result.headers["Authorization"] == SENT["Authorization"]


def test_the_given_headers_are_not_changed():
    given = CIMultiDict(SENT)
    next_hop("POST", HERE, 302, "http://127.0.0.2/x", given, has_body=True)
    assert given == CIMultiDict(SENT)


def test_repeated_headers_survive_whole():
    headers = CIMultiDict([("X-Tag", "a"), ("X-Tag", "b"), ("Cookie", "a=1"), ("Cookie", "b=2")])
    assert hop(headers=headers).headers.getall("X-Tag") == ["a", "b"]
    assert hop(headers=headers).headers.getall("Cookie") == ["a=1", "b=2"]
    assert "Cookie" not in hop(headers=headers, location="//127.0.0.2/").headers


# -- method and body -----------------------------------------------------------------------

BODY_HEADERS = {"Content-Type": "text/plain", "Content-Length": "4",
                "Content-Encoding": "gzip", "Transfer-Encoding": "chunked"}


@pytest.mark.parametrize(
    ("status", "method", "new_method"),
    [
        (301, "POST", "GET"), (302, "POST", "GET"), (303, "POST", "GET"),
        (301, "PUT", "PUT"), (302, "PATCH", "PATCH"), (303, "PUT", "GET"),
        (303, "DELETE", "GET"), (303, "HEAD", "HEAD"), (301, "HEAD", "HEAD"),
        (307, "POST", "POST"), (308, "PUT", "PUT"), (307, "HEAD", "HEAD"),
        (302, "GET", "GET"), (303, "GET", "GET"),
    ],
)
def test_method_and_body_rules(status, method, new_method):
    headers = {**BODY_HEADERS, "X-Trace": "kept"}
    result = hop(status, method, headers=headers, has_body=True)
    to_get = new_method != method or (status == 303 and method != "HEAD")
    assert result.method == new_method
    assert result.keep_body is not to_get
    assert rewrites_to_get(method, status) is to_get
    body_headers = {name for name in BODY_HEADERS if name in result.headers}
    assert body_headers == (set() if to_get else set(BODY_HEADERS))
    assert result.headers["X-Trace"] == "kept"


@pytest.mark.parametrize("status", [307, 308])
def test_a_one_shot_body_cannot_follow_307_308(status):
    with pytest.raises(BodyNotReplayableError, match=f"Redirected with {status} to "
                       r"http://127.0.0.1:8000/next"):
        hop(status, "POST", has_body=True, replayable=False)
    assert hop(status, "POST", has_body=True, replayable=True).keep_body
    assert hop(status, "POST", has_body=False, replayable=False).method == "POST"


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_one_shot_body_is_simply_dropped_when_the_hop_becomes_a_get(status):
    result = hop(status, "POST", has_body=True, replayable=False)
    assert (result.method, result.keep_body) == ("GET", False)


# -- Location forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("next", "http://127.0.0.1:8000/a/next"),
        ("../up", "http://127.0.0.1:8000/up"),
        ("/abs?x=1", "http://127.0.0.1:8000/abs?x=1"),
        ("?only=query", "http://127.0.0.1:8000/a/b?only=query"),
        ("next#frag", "http://127.0.0.1:8000/a/next"),  # fragments are never sent
        ("http://127.0.0.2:9/x", "http://127.0.0.2:9/x"),
        ("HTTPS://Example.ORG/x", "https://example.org/x"),
        ("https://example.org", "https://example.org"),  # sent as GET /
        ("//example.org/x", "http://example.org/x"),  # scheme-relative: the scheme of HERE
        ("//example.org:8080", "http://example.org:8080"),
        ("  /padded  ", "http://127.0.0.1:8000/padded"),
        ("/a b", "http://127.0.0.1:8000/a%20b"),
        ("/%5C%5Cevil.example", "http://127.0.0.1:8000/%5C%5Cevil.example"),
    ],
)
def test_location_forms(location, expected):
    assert str(redirect_target(HERE, location)) == expected


def test_scheme_relative_location_keeps_https():
    target = redirect_target(URL("https://127.0.0.1:8443/"), "//example.org/x")
    assert str(target) == "https://example.org/x"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://user:pass@127.0.0.2:9/x", "http://127.0.0.2:9/x"),
        ("http://user@127.0.0.2:9/x", "http://127.0.0.2:9/x"),
        ("http://:pass@127.0.0.2:9/x", "http://127.0.0.2:9/x"),
        ("//user:pass@example.org/x", "http://example.org/x"),
        ("http://user:pass@127.0.0.1:8000/same", "http://127.0.0.1:8000/same"),
        ("https://us%40er:p%3Ass@example.org/#frag", "https://example.org/"),
    ],
)
def test_credentials_in_location_are_removed_and_not_used(location, expected):
    result = hop(302, location=location, headers={"X-Trace": "kept"})
    assert str(result.url) == expected
    assert result.url.user is None and result.url.password is None
    assert "Authorization" not in result.headers


@pytest.mark.parametrize(
    "location",
    [
        "http:/x",  # looks like a path joined to HERE: refused, not followed
        "http:///host",
        "https:host",
        "https:",
        "http:",
        "http://",
        "https://",
        "///x",
        "//",
        "http://:80/x",
        "http://user:pass@/x",
        "http://[::1",
        "http://host:99999/",
        "http://host:port/",
        "http:\\\\evil.example/",
        "http://bad host/",
        "/a\r\nSet-Cookie: x=1",
        "/a\nb",
        "/a\rb",
        "/a\x00b",
        "ht\ttp:/x",  # a tab that URL parsers drop would turn it into http:/x
        "/a\x7fb",
    ],
)
def test_malformed_location_raises_invalid_url_redirect(location):
    with pytest.raises(InvalidUrlRedirectClientError) as info:
        redirect_target(HERE, location)
    err = info.value
    assert isinstance(err, InvalidURL) and isinstance(err, ClientError)
    assert isinstance(err, ValueError) and not isinstance(err, NonHttpUrlRedirectClientError)
    assert err.url == location.strip(" \t") and "Location" in str(err)


@pytest.mark.parametrize("location", ["http:/x", "http:x", "https:host", "HTTPS:/host/x"])
def test_absolute_location_without_authority_says_what_is_expected(location):
    scheme = location.split(":")[0].lower()
    with pytest.raises(InvalidUrlRedirectClientError, match=f"must be {scheme}://host/path"):
        redirect_target(HERE, location)


@pytest.mark.parametrize(
    "location",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "data:,x",
     "ws://127.0.0.1/", "mailto:a@example.org", "FTP://x", "localhost:8000/x"],
)
def test_non_http_location_raises_non_http_url_redirect(location):
    with pytest.raises(NonHttpUrlRedirectClientError) as info:
        next_hop("GET", HERE, 302, location, CIMultiDict(), has_body=False)
    err = info.value
    assert isinstance(err, InvalidURL) and isinstance(err, ClientError)
    assert isinstance(err, ValueError) and "only http and https" in str(err)
    assert not isinstance(err, InvalidUrlRedirectClientError)


def test_new_exceptions_are_exported_everywhere():
    import syncwrap
    import syncwrap.engine

    for name in ("InvalidUrlRedirectClientError", "NonHttpUrlRedirectClientError"):
        assert getattr(syncwrap, name) is getattr(syncwrap.engine, name)
        assert name in syncwrap.__all__ and name in syncwrap.engine.__all__
        assert name in syncwrap.exceptions.__doc__
