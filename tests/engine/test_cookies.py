"""Tests for syncwrap.engine.cookies: RFC 6265 behaviour, the aiohttp-style API, cookies.txt."""

from __future__ import annotations

import calendar
import shutil
import subprocess
from http.cookies import Morsel, SimpleCookie
from pathlib import Path

import pytest
from yarl import URL

from syncwrap.engine.cookies import (
    CookieJar,
    DummyCookieJar,
    parse_cookie_date,
    parse_set_cookie,
)

T0 = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
T0_PLUS_100 = "Tue, 14 Nov 2023 22:15:00 GMT"
FUTURE = "Fri, 31 Dec 2100 23:59:59 GMT"
PAST = "Sun, 06 Nov 1994 08:49:37 GMT"
E = "http://example.com/"
W = "http://www.example.com/"
IP = "http://127.0.0.1/"
IP6 = "http://[::1]/"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make_jar(**kwargs: object) -> tuple[CookieJar, Clock]:
    jar = CookieJar(**kwargs)  # type: ignore[arg-type]
    clock = Clock()
    jar._now = clock  # type: ignore[method-assign]
    return jar, clock


def cookie_header(jar: CookieJar, url: str) -> str:
    return "; ".join(f"{m.key}={m.coded_value}" for m in jar.cookies_for(url))


def S(header: str, url: str = E) -> tuple[str, str]:
    """One Set-Cookie header received from url."""
    return (url, header)


def row(rid: str, steps: list, request_url: str, expected: str, unsafe: bool = False):
    """steps: S(...) items, or a number of seconds for the clock to advance."""
    return pytest.param(steps, request_url, expected, unsafe, id=rid)


ROWS = [
    # §5.1.1 dates
    row("5.1.1-rfc1123-future", [S(f"a=1; Expires={FUTURE}")], E, "a=1"),
    row("5.1.1-rfc1123-past-not-stored", [S(f"a=1; Expires={PAST}")], E, ""),
    row("5.1.1-rfc850-future", [S("a=1; Expires=Friday, 31-Dec-49 23:59:59 GMT")], E, "a=1"),
    row(
        "5.1.1-rfc850-past-deletes",
        [S("a=1"), S("a=; Expires=Sunday, 06-Nov-94 08:49:37 GMT")],
        E,
        "",
    ),
    row("5.1.1-asctime-future", [S("a=1; Expires=Fri Dec 31 23:59:59 2100")], E, "a=1"),
    row(
        "5.1.1-asctime-past-deletes",
        [S("a=1"), S("a=; Expires=Sun Nov  6 08:49:37 1994")],
        E,
        "",
    ),
    row("5.1.1-year-70-99-is-19xx", [S("a=1; Expires=Thu, 01 Jan 70 00:00:01 GMT")], E, ""),
    row("5.1.1-year-00-69-is-20xx", [S("a=1; Expires=Sat, 31 Dec 68 23:59:59 GMT")], E, "a=1"),
    row("5.1.1-lenient-any-order", [S("a=1; Expires=2100/Dec/31 23:59:59")], E, "a=1"),
    row("5.1.1-time-with-suffix", [S("a=1"), S("a=; Expires=06 Nov 1994 08:49:37GMT")], E, ""),
    row("5.1.1-zone-ignored", [S("a=1"), S("a=; Expires=Sun, 06 Nov 1994 08:49:37 PST")], E, ""),
    row("5.1.1-feb-30-ignored", [S("a=1; Expires=Wed, 30 Feb 1994 00:00:00 GMT")], E, "a=1"),
    row("5.1.1-hour-24-ignored", [S("a=1; Expires=Sun, 06 Nov 1994 24:00:00 GMT")], E, "a=1"),
    row("5.1.1-year-1600-ignored", [S("a=1; Expires=Mon, 01 Jan 1600 00:00:00 GMT")], E, "a=1"),
    row("5.1.1-day-0-ignored", [S("a=1; Expires=Sun, 00 Nov 1994 08:49:37 GMT")], E, "a=1"),
    row("5.1.1-garbage-ignored", [S("a=1; Expires=never")], E, "a=1"),
    row("5.1.1-expiry-reached", [S(f"a=1; Expires={T0_PLUS_100}"), 101], E, ""),
    row("5.1.1-expiry-not-reached", [S(f"a=1; Expires={T0_PLUS_100}"), 99], E, "a=1"),
    # §5.2 Set-Cookie syntax
    row("5.2-no-equals-ignored", [S("foo")], E, ""),
    row("5.2-empty-name-ignored", [S("=bar")], E, ""),
    row("5.2-whitespace-trimmed", [S(" \ta = b \t; Path=/")], E, "a=b"),
    row("5.2-empty-value", [S("a=")], E, "a="),
    row("5.2-value-with-equals", [S("a=b=c")], E, "a=b=c"),
    row("5.2-quoted-value-kept", [S('a="b c"')], E, 'a="b c"'),
    row("5.2-special-chars-kept", [S("a=x,y%7B:/\\")], E, "a=x,y%7B:/\\"),
    row("5.2-comma-does-not-split", [S("a=1, b=2")], E, "a=1, b=2"),
    row("5.2-attr-names-any-case", [S("a=1; SECURE; pAtH=/p")], "https://example.com/p/x", "a=1"),
    row("5.2-attr-names-any-case-path", [S("a=1; pAtH=/p")], "https://example.com/q", ""),
    row("5.2-unknown-attrs-ignored", [S("a=1; Foo=bar; Priority=High; Partitioned")], E, "a=1"),
    row("5.2-empty-attrs-ignored", [S("a=1;;; ;")], E, "a=1"),
    row("5.2-reserved-word-as-name", [S("expires=1; Path=/")], E, "expires=1"),
    row("5.2-names-morsel-refuses", [S("a[0]=1"), S("b@c=2")], E, "a[0]=1; b@c=2"),
    row("5.2-control-char-rejected", [S("a=b\x01c"), S("ok=1")], E, "ok=1"),
    row("5.2-oversized-rejected", [S("a=" + "x" * 5000), S("ok=1")], E, "ok=1"),
    row("5.2-last-path-wins", [S("a=1; Path=/x; Path=/y")], "http://example.com/y", "a=1"),
    row("5.2-same-name-replaced", [S("a=1"), S("a=2")], E, "a=2"),
    # §5.2.2 Max-Age
    row("5.2.2-max-age-alive", [S("a=1; Max-Age=3600"), 3599], E, "a=1"),
    row("5.2.2-max-age-expired", [S("a=1; Max-Age=3600"), 3601], E, ""),
    row("5.2.2-max-age-0-deletes", [S("a=1"), S("a=1; Max-Age=0")], E, ""),
    row("5.2.2-max-age-negative-deletes", [S("a=1"), S("a=1; Max-Age=-1")], E, ""),
    row("5.3-max-age-beats-past-expires", [S(f"a=1; Max-Age=100; Expires={PAST}")], E, "a=1"),
    row("5.3-max-age-beats-future-expires", [S(f"a=1; Expires={FUTURE}; Max-Age=10"), 11], E, ""),
    row(
        "5.3-max-age-0-beats-future-expires",
        [S("a=1"), S(f"a=2; Expires={FUTURE}; Max-Age=0")],
        E,
        "",
    ),
    row("5.2.2-non-numeric-ignored", [S("a=1; Max-Age=abc"), 10**6], E, "a=1"),
    row("5.2.2-plus-sign-ignored", [S("a=1; Max-Age=+5"), 10], E, "a=1"),
    row("5.3-last-max-age-wins", [S("a=1; Max-Age=0; Max-Age=100")], E, "a=1"),
    row("5.2.2-huge-max-age", [S("a=1; Max-Age=99999999999999999999"), 10**9], E, "a=1"),
    row("5.3-session-cookie-persists", [S("a=1"), 10**8], E, "a=1"),
    # §5.2.3, §5.1.3, §5.3 domains and host-only cookies
    row(
        "5.2.3-domain-to-sibling", [S("a=1; Domain=example.com", W)], "http://x.example.com/", "a=1"
    ),
    row("5.2.3-leading-dot-ignored", [S("a=1; Domain=.example.com", W)], E, "a=1"),
    row(
        "5.2.3-domain-any-case", [S("a=1; Domain=EXAMPLE.Com", W)], "http://a.b.example.com/", "a=1"
    ),
    row("5.2.3-empty-domain-host-only", [S("a=1; Domain=", E)], W, ""),
    row("5.3-domain-equal-host-covers-subdomains", [S("a=1; Domain=example.com", E)], W, "a=1"),
    row("5.3-foreign-domain-rejected", [S("a=1; Domain=other.com", W)], "http://other.com/", ""),
    row("5.3-subdomain-domain-rejected", [S("a=1; Domain=www.example.com", E)], W, ""),
    row("5.1.3-partial-label-rejected", [S("a=1; Domain=ample.com", E)], "http://ample.com/", ""),
    row(
        "5.1.3-not-sent-to-lookalike", [S("a=1; Domain=example.com")], "http://notexample.com/", ""
    ),
    row("5.3-host-only-not-to-subdomain", [S("a=1", E)], W, ""),
    row("5.3-host-only-not-to-parent", [S("a=1", W)], E, ""),
    row(
        "5.3-host-only-ignores-port-scheme",
        [S("a=1", "http://example.com:8080/")],
        "https://example.com:8443/",
        "a=1",
    ),
    row(
        "5.1.2-host-case-insensitive",
        [S("a=1", "http://EXAMPLE.com/")],
        "http://example.COM/",
        "a=1",
    ),
    row(
        "5.1.2-idn-domain",
        [S("a=1; Domain=BÜCHER.de", "http://www.bücher.de/")],
        "http://bücher.de/",
        "a=1",
    ),
    row("5.3-domain-replaces-host-only", [S("a=1", E), S("a=2; Domain=example.com", E)], E, "a=2"),
    row(
        "5.3-host-only-and-domain-coexist",
        [S("a=1; Domain=example.com", W), S("a=2", W)],
        W,
        "a=1; a=2",
    ),
    # §5.3 step 5: public suffixes
    row("5.3-public-suffix-com", [S("a=1; Domain=com", E)], "http://other.com/", ""),
    row(
        "5.3-public-suffix-co-uk",
        [S("a=1; Domain=.co.uk", "http://example.co.uk/")],
        "http://other.co.uk/",
        "",
    ),
    row(
        "5.3-registrable-under-co-uk",
        [S("a=1; Domain=example.co.uk", "http://www.example.co.uk/")],
        "http://example.co.uk/",
        "a=1",
    ),
    row(
        "5.3-private-public-suffix",
        [S("a=1; Domain=github.io", "http://user.github.io/")],
        "http://other.github.io/",
        "",
    ),
    row(
        "5.3-public-suffix-is-host-then-host-only",
        [S("a=1; Domain=localhost", "http://localhost/")],
        "http://localhost/",
        "a=1",
    ),
    row(
        "5.3-public-suffix-is-host-not-subdomains",
        [S("a=1; Domain=localhost", "http://localhost/")],
        "http://sub.localhost/",
        "",
    ),
    # IP-address hosts: strict by default, unsafe=True accepts
    row("5.1.3-ip-strict-rejected", [S("a=1", IP)], IP, ""),
    row("5.1.3-ip-unsafe-accepted", [S("a=1", IP)], IP, "a=1", True),
    row("5.1.3-ipv6-strict-rejected", [S("a=1", IP6)], IP6, ""),
    row("5.1.3-ipv6-unsafe-accepted", [S("a=1", IP6)], "http://[::1]:8080/x", "a=1", True),
    row("5.1.3-ip-domain-identical", [S("a=1; Domain=127.0.0.1", IP)], IP, "a=1", True),
    row("5.1.3-ip-no-suffix-match", [S("a=1; Domain=0.0.1", IP)], IP, "", True),
    row("5.1.3-ip-not-to-other-ip", [S("a=1", IP)], "http://127.0.0.2/", "", True),
    # §5.1.4, §5.2.4 paths
    row(
        "5.1.4-default-path-child",
        [S("a=1", "http://example.com/a/b/c")],
        "http://example.com/a/b/x",
        "a=1",
    ),
    row(
        "5.1.4-default-path-itself",
        [S("a=1", "http://example.com/a/b/c")],
        "http://example.com/a/b",
        "a=1",
    ),
    row(
        "5.1.4-default-path-not-parent",
        [S("a=1", "http://example.com/a/b/c")],
        "http://example.com/a",
        "",
    ),
    row(
        "5.1.4-default-path-not-prefix",
        [S("a=1", "http://example.com/a/b/c")],
        "http://example.com/a/bc",
        "",
    ),
    row(
        "5.1.4-default-path-one-slash",
        [S("a=1", "http://example.com/a")],
        "http://example.com/zz",
        "a=1",
    ),
    row(
        "5.1.4-default-path-dir-slash",
        [S("a=1", "http://example.com/a/")],
        "http://example.com/a",
        "a=1",
    ),
    row(
        "5.1.4-default-path-dir-scope",
        [S("a=1", "http://example.com/a/")],
        "http://example.com/b/",
        "",
    ),
    row(
        "5.1.4-default-path-ignores-query",
        [S("a=1", "http://example.com/a/b?x=/c/d")],
        "http://example.com/a/z",
        "a=1",
    ),
    row("5.1.4-path-slash-covers-children", [S("a=1; Path=/a/")], "http://example.com/a/b", "a=1"),
    row("5.1.4-path-slash-not-bare", [S("a=1; Path=/a/")], "http://example.com/a", ""),
    row("5.1.4-path-prefix-at-slash", [S("a=1; Path=/a")], "http://example.com/a/b", "a=1"),
    row("5.1.4-path-prefix-not-at-slash", [S("a=1; Path=/a")], "http://example.com/ab", ""),
    row("5.1.4-path-case-sensitive", [S("a=1; Path=/A")], "http://example.com/a", ""),
    row(
        "5.2.4-relative-path-default",
        [S("a=1; Path=foo", "http://example.com/x/y")],
        "http://example.com/x/z",
        "a=1",
    ),
    row(
        "5.2.4-empty-path-default",
        [S("a=1; Path=", "http://example.com/x/y")],
        "http://example.com/other",
        "",
    ),
    row(
        "5.2.4-unrelated-path-accepted",
        [S("a=1; Path=/x", "http://example.com/y/z")],
        "http://example.com/x/1",
        "a=1",
    ),
    row("5.1.4-encoded-path-raw", [S("a=1; Path=/a%20b")], "http://example.com/a%20b/c", "a=1"),
    # §5.2.5, §5.2.6, §5.4 Secure, HttpOnly, SameSite
    row("5.4-secure-not-over-http", [S("a=1; Secure", "https://example.com/")], E, ""),
    row(
        "5.4-secure-over-https",
        [S("a=1; Secure", "https://example.com/")],
        "https://example.com/",
        "a=1",
    ),
    row(
        "5.4-secure-over-wss",
        [S("a=1; Secure", "https://example.com/")],
        "wss://example.com/",
        "a=1",
    ),
    row(
        "5.4-secure-not-over-ws",
        [S("a=1; Secure", "https://example.com/")],
        "ws://example.com/",
        "",
    ),
    row("5.3-secure-set-over-http", [S("a=1; Secure", E)], "https://example.com/", "a=1"),
    row("5.4-httponly-sent-over-http", [S("a=1; HttpOnly")], E, "a=1"),
    row("5.4-samesite-still-sent", [S("a=1; SameSite=Strict")], E, "a=1"),
    row("5.4-ws-shares-http-cookies", [S("a=1")], "ws://example.com/", "a=1"),
    # §5.4 ordering of the Cookie header
    row(
        "5.4-longer-path-first",
        [S("a=1; Path=/"), S("b=2; Path=/x")],
        "http://example.com/x/y",
        "b=2; a=1",
    ),
    row("5.4-creation-order", [S("b=1"), S("a=2")], E, "b=1; a=2"),
    row(
        "5.4-three-paths",
        [S("c=3; Path=/"), S("a=1; Path=/x/y"), S("b=2; Path=/x")],
        "http://example.com/x/y/z",
        "a=1; b=2; c=3",
    ),
    row("5.3-replace-keeps-creation", [S("a=1"), S("b=2"), S("a=3")], E, "a=3; b=2"),
    row(
        "5.3-delete-resets-creation",
        [S("a=1"), S("b=2"), S("a=; Max-Age=0"), S("a=3")],
        E,
        "b=2; a=3",
    ),
    row(
        "5.4-duplicate-names-by-path",
        [S("a=1; Path=/"), S("a=2; Path=/x")],
        "http://example.com/x",
        "a=2; a=1",
    ),
    # §5.3 step 11: deletion only hits the same (name, domain, path)
    row(
        "5.3-delete-needs-same-path",
        [S("a=1; Path=/x"), S("a=; Path=/; Max-Age=0")],
        "http://example.com/x",
        "a=1",
    ),
    row(
        "5.3-delete-domain-cookie-from-subdomain",
        [S("a=1; Domain=example.com", E), S("a=; Domain=example.com; Max-Age=0", W)],
        E,
        "",
    ),
    row(
        "5.3-host-only-delete-spares-domain-cookie",
        [S("a=1; Domain=example.com", W), S("a=; Max-Age=0", W)],
        W,
        "a=1",
    ),
]


def test_table_is_large_enough() -> None:
    assert len(ROWS) >= 60


@pytest.mark.parametrize(("steps", "request_url", "expected", "unsafe"), ROWS)
def test_rfc6265(steps: list, request_url: str, expected: str, unsafe: bool) -> None:
    jar, clock = make_jar(unsafe=unsafe)
    for step in steps:
        if isinstance(step, (int, float)):
            clock.now += step
        else:
            url, header = step
            jar.update_cookies_from_headers([header], URL(url))
    assert cookie_header(jar, request_url) == expected
    # filter_cookies keeps one cookie per name: the first in RFC order.
    first_of_each = {}
    for morsel in jar.cookies_for(request_url):
        first_of_each.setdefault(morsel.key, morsel.coded_value)
    filtered = jar.filter_cookies(request_url)
    assert {k: m.coded_value for k, m in filtered.items()} == first_of_each
    assert list(filtered) == list(first_of_each)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", (1994, 11, 6, 8, 49, 37)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", (1994, 11, 6, 8, 49, 37)),
        ("Sun Nov  6 08:49:37 1994", (1994, 11, 6, 8, 49, 37)),
        ("6 nov 2030 8:9:7", (2030, 11, 6, 8, 9, 7)),
        ("Thu, 01-Jan-1970 00:00:01 GMT", (1970, 1, 1, 0, 0, 1)),
        ("Fri, 31-Dec-99 23:59:59 GMT", (1999, 12, 31, 23, 59, 59)),
        ("01 Jan 69 00:00:00", (2069, 1, 1, 0, 0, 0)),
        ("01 Jan 0 00:00:00", None),  # a year needs two digits
        ("Sun, 06 Nov 1994", None),
        ("Sun, 31 Nov 1994 08:49:37 GMT", None),
        ("", None),
    ],
)
def test_parse_cookie_date(text: str, expected: tuple | None) -> None:
    want = None if expected is None else calendar.timegm(expected)
    assert parse_cookie_date(text) == want


def test_parse_set_cookie_morsel() -> None:
    m = parse_set_cookie(
        'sid="a b"; Expires=Sunday, 06-Nov-94 08:49:37 GMT; Max-Age=60; Domain=.Example.COM; '
        "Secure; HttpOnly; SameSite=Lax",
        URL("https://www.example.com/app/page"),
    )
    assert m is not None
    assert (m.key, m.value, m.coded_value) == ("sid", '"a b"', '"a b"')
    assert m["expires"] == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert m["max-age"] == "60"
    assert m["domain"] == "example.com"
    assert m["path"] == "/app"
    assert m["secure"] is True and m["httponly"] is True
    assert m["samesite"] == "Lax"
    assert parse_set_cookie("novalue", URL(E)) is None
    assert parse_set_cookie("=x", URL(E)) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        ";",
        "=",
        ";;;;=;=;",
        "a=b; Expires=" + "9" * 10_000,
        "a=b; Max-Age=" + "-" * 100,
        "a=b; Max-Age=" + "9" * 400,
        "a=b; Max-Age=" + "9" * 5000,
        "a=b; Max-Age=-" + "9" * 400,
        "a=b; Domain=" + "." * 300,
        "a=b; Domain=xn--;Path=\x00",
        "a\r\nb=c",
        "a=b\nSet-Cookie: c=d",
        "ünï=cödé; Domain=ẞ.de",
        "a=b; Expires=Mon, 99 Foo 99999 99:99:99 GMT",
        "a=b; Domain=[::1]",
        "path=x; domain=y; expires=z; max-age=w",
        "a" * 100_000,
    ],
)
def test_hostile_headers_never_raise(header: str) -> None:
    jar, _ = make_jar()
    jar.update_cookies_from_headers([header], URL("http://www.example.com/p/q"))
    parse_set_cookie(header, URL(E))
    for morsel in jar:
        assert "\n" not in morsel.key + morsel.coded_value
    jar.filter_cookies(W).output()


def test_huge_max_age_is_clamped_not_fatal(tmp_path: Path) -> None:
    jar, clock = make_jar()
    jar.update_cookies_from_headers(["a=1; Max-Age=" + "9" * 400], URL(E))
    morsel = Morsel()
    morsel.set("b", "2", "2")
    morsel["expires"] = 10**400  # http.cookies: seconds from now
    jar.update_cookies({"b": morsel}, URL(E))
    clock.now += 10**9
    assert cookie_header(jar, E) == "a=1; b=2"
    jar.save(tmp_path / "c.txt")
    assert "\t253402300799\ta\t1" in (tmp_path / "c.txt").read_text()


def test_hostile_cookies_txt_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    lines = [
        "example.com\tFALSE\t/\tFALSE\tnan\tn\t1",
        "example.com\tFALSE\t/\tFALSE\tinf\tinf_c\t1",
        "example.com\tFALSE\t/\tFALSE\t-5\tneg\t1",
        "example.com\tFALSE\t/\tFALSE\t0\t\tnameless",
        "example.com\tFALSE\t/\tFALSE\t0\ta\tb\textra",
        "\t\t\t\t\t\t",
        ".com\tTRUE\t/\tFALSE\t0\tpsl\t1",
        "#HttpOnly_",
    ]
    path.write_bytes("\n".join(lines).encode() + b"\xff\xfe\n")
    jar, _ = make_jar()
    jar.load(path)
    assert sorted(m.key for m in jar) == ["inf_c", "psl"]
    assert cookie_header(jar, "http://other.com/") == ""  # ".com" kept only as host-only
    jar.save(tmp_path / "again.txt")


def test_filter_cookies_simplecookie_value() -> None:
    jar, _ = make_jar()
    jar.update_cookies_from_headers(
        ["x=1; Path=/", "x=2; Path=/deep", 'q="quoted, value"'], URL("http://example.com/deep/p")
    )
    filtered = jar.filter_cookies("http://example.com/deep/p")
    assert isinstance(filtered, SimpleCookie)
    assert filtered["x"].value == "2"  # the most specific path wins
    assert filtered["q"].value == '"quoted, value"'
    assert filtered["q"].coded_value == '"quoted, value"'
    assert filtered["x"]["domain"] == "" and filtered["x"]["path"] == ""
    root = jar.filter_cookies(URL("http://example.com/"))
    assert list(root) == ["x"] and root["x"].value == "1"  # q's default path is /deep
    assert "x" not in jar.filter_cookies("https://other.org/deep/p")


def test_len_and_iter_give_morsels_with_attributes() -> None:
    jar, clock = make_jar()
    jar.update_cookies_from_headers(
        [
            f"a=1; Domain=example.com; Path=/p; Secure; HttpOnly; SameSite=None; Expires={FUTURE}",
            "b=2; Max-Age=10",
        ],
        URL("https://www.example.com/"),
    )
    assert len(jar) == 2
    morsels = {m.key: m for m in jar}
    assert all(isinstance(m, Morsel) for m in morsels.values())
    a, b = morsels["a"], morsels["b"]
    assert (a["domain"], a["path"], a["secure"], a["httponly"], a["samesite"]) == (
        "example.com",
        "/p",
        True,
        True,
        "None",
    )
    assert a["expires"] == FUTURE
    assert (b["domain"], b["path"], b["max-age"]) == ("www.example.com", "/", "10")
    clock.now += 11
    assert len(jar) == 1
    assert [m.key for m in jar] == ["a"]


def test_clear_all_and_predicate() -> None:
    jar, _ = make_jar()
    jar.update_cookies_from_headers(["a=1", "b=2; Secure", "c=3"], URL(E))
    jar.clear(lambda m: m["secure"] or m.key == "c")
    assert [m.key for m in jar] == ["a"]
    jar.clear()
    assert len(jar) == 0


def test_clear_domain_removes_domain_and_subdomains() -> None:
    jar, _ = make_jar()
    jar.update_cookies_from_headers(["a=1"], URL(E))
    jar.update_cookies_from_headers(["b=2", "c=3; Domain=example.com"], URL(W))
    jar.update_cookies_from_headers(["d=4"], URL("http://notexample.com/"))
    jar.update_cookies_from_headers(["e=5"], URL("http://other.org/"))
    jar.update_cookies({"shared": "1"})
    jar.clear_domain(".Example.com")
    assert sorted(m.key for m in jar) == ["d", "e", "shared"]


def test_shared_cookies_go_to_every_host() -> None:
    jar, _ = make_jar()
    jar.update_cookies({"token": "t1"})
    jar.update_cookies([("lang", "en")])
    for url in (E, "https://other.org/x/y", IP, "ws://[::1]/"):
        assert cookie_header(jar, url) == "token=t1; lang=en"
    assert jar.filter_cookies(IP)["token"].value == "t1"


def test_update_cookies_with_url_is_host_only_and_strict_for_ip() -> None:
    jar, _ = make_jar()
    jar.update_cookies({"a": "1"}, URL(W))
    jar.update_cookies({"ip": "1"}, IP)
    assert cookie_header(jar, W) == "a=1"
    assert cookie_header(jar, E) == ""
    assert cookie_header(jar, IP) == ""
    unsafe, _ = make_jar(unsafe=True)
    unsafe.update_cookies({"ip": "1"}, IP)
    assert cookie_header(unsafe, IP) == "ip=1"
    assert unsafe.unsafe is True and jar.unsafe is False


def test_update_cookies_with_morsels() -> None:
    jar, _ = make_jar()
    cookies: SimpleCookie = SimpleCookie()
    cookies["s"] = "v"
    cookies["s"]["domain"] = ".example.com"
    cookies["s"]["secure"] = True
    cookies["p"] = "w"
    cookies["p"]["path"] = "/only"
    jar.update_cookies(cookies)
    assert cookie_header(jar, "https://www.example.com/") == "s=v"
    assert cookie_header(jar, "http://www.example.com/") == ""
    assert cookie_header(jar, "https://other.org/only/x") == "p=w"
    assert cookie_header(jar, "https://other.org/") == ""


@pytest.mark.parametrize(("quote", "coded"), [(True, '"a b\\054c"'), (False, "a b,c")])
def test_quote_cookie(quote: bool, coded: str) -> None:
    jar, _ = make_jar(quote_cookie=quote)
    jar.update_cookies({"k": "a b,c", "plain": "x"})
    filtered = jar.filter_cookies(E)
    assert filtered["k"].value == "a b,c"
    assert filtered["k"].coded_value == coded
    assert filtered["plain"].coded_value == "x"
    jar.update_cookies_from_headers(["raw=a b,c"], URL(E))  # Set-Cookie values are never quoted
    assert jar.filter_cookies(E)["raw"].coded_value == "a b,c"


def test_treat_as_secure_origin() -> None:
    jar, _ = make_jar(treat_as_secure_origin=["http://localhost:8080"])
    jar.update_cookies_from_headers(["s=1; Secure"], URL("https://localhost:8080/"))
    assert cookie_header(jar, "http://localhost:8080/x") == "s=1"
    assert cookie_header(jar, "http://localhost:9090/x") == ""


def test_dummy_cookie_jar_stores_nothing(tmp_path: Path) -> None:
    jar = DummyCookieJar()
    jar.update_cookies({"a": "1"})
    jar.update_cookies_from_headers(["b=2"], URL(E))
    assert len(jar) == 0 and list(jar) == []
    assert len(jar.filter_cookies(E)) == 0
    jar.save(tmp_path / "c.txt")
    assert CookieJar().load(tmp_path / "c.txt") is None


# Netscape cookies.txt


def test_netscape_round_trip(tmp_path: Path) -> None:
    jar, _ = make_jar()
    jar.update_cookies_from_headers(
        [
            "sess=abc",
            f"persist=xyz; Expires={FUTURE}; Path=/app",
            "dom=1; Domain=example.com; Secure; HttpOnly",
            'quoted="v 1"',
        ],
        URL("https://www.example.com/"),
    )
    jar.update_cookies({"shared": "s"})
    path = tmp_path / "cookies.txt"
    jar.save(path)
    text = path.read_text()
    assert text.startswith("# Netscape HTTP Cookie File")
    assert "#HttpOnly_.example.com\tTRUE\t/\tTRUE\t0\tdom\t1" in text
    assert "www.example.com\tFALSE\t/\tFALSE\t0\tsess\tabc" in text
    expiry = calendar.timegm((2100, 12, 31, 23, 59, 59))
    assert f"www.example.com\tFALSE\t/app\tFALSE\t{expiry}\tpersist\txyz" in text

    loaded, _ = make_jar()
    loaded.load(path)

    def snapshot(j: CookieJar) -> list:
        return sorted(
            (m["domain"], m["path"], m.key, m.coded_value, bool(m["secure"]), bool(m["httponly"]))
            for m in j
        )

    assert snapshot(loaded) == snapshot(jar)
    for url in ("https://www.example.com/app/x", "https://sub.example.com/", "http://example.com/"):
        assert cookie_header(loaded, url) == cookie_header(jar, url)
    assert cookie_header(loaded, "https://sub.example.com/") == "dom=1; shared=s"


def test_load_hand_written_file(tmp_path: Path) -> None:
    path = tmp_path / "cookies.txt"
    far, past = 4102444800, 784111777  # 2100-01-01, 1994-11-06
    path.write_text(
        "# Netscape HTTP Cookie File\n"
        "# a comment\n"
        "\n"
        f".example.com\tTRUE\t/\tFALSE\t{far}\tdomain_c\tD\n"
        "www.example.com\tFALSE\t/app\tTRUE\t0\thost_c\tH\r\n"
        "#HttpOnly_www.example.com\tFALSE\t/\tFALSE\t0\thttponly_c\tsecret\n"
        f"example.com\tFALSE\t/\tFALSE\t{past}\texpired_c\tgone\n"
        "example.com\tFALSE\t/\tFALSE\t0\tempty_c\n"
        "this line is malformed\n"
        "example.com\tFALSE\t/\tFALSE\tsoon\tbad_expiry\tx\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tip_c\t1\n"
    )
    jar, _ = make_jar()
    jar.update_cookies({"old": "1"})
    jar.load(path)
    by_name = {m.key: m for m in jar}
    assert set(by_name) == {"domain_c", "host_c", "httponly_c", "empty_c"}  # strict: no ip_c
    assert by_name["httponly_c"]["httponly"] is True
    assert by_name["domain_c"]["httponly"] is False
    assert by_name["host_c"]["secure"] is True
    assert by_name["domain_c"]["expires"] == "Fri, 01 Jan 2100 00:00:00 GMT"
    assert by_name["empty_c"].value == ""
    assert cookie_header(jar, "https://www.example.com/app/1") == (
        "host_c=H; domain_c=D; httponly_c=secret"
    )
    assert cookie_header(jar, "http://a.example.com/") == "domain_c=D"
    assert cookie_header(jar, "http://example.com/") == "domain_c=D; empty_c="
    unsafe, _ = make_jar(unsafe=True)
    unsafe.load(path)
    assert cookie_header(unsafe, IP) == "ip_c=1"


CURL = shutil.which("curl") or "/usr/bin/curl"

SERVER_COOKIES = [
    "sess=abc",
    "aged=42; Max-Age=3600",
    "ho=secret; HttpOnly; Path=/",
    "dom=d; Domain=127.0.0.1",
    "sec=s; Secure",
]


@pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")
def test_load_file_written_by_curl(httpserver, tmp_path: Path) -> None:
    from werkzeug import Response

    httpserver.expect_request("/set/here").respond_with_response(
        Response("ok", headers=[("Set-Cookie", c) for c in SERVER_COOKIES])
    )
    path = tmp_path / "curl.txt"
    url = f"http://127.0.0.1:{httpserver.port}/set/here"
    done = subprocess.run(
        [CURL, "-s", "-S", "--cookie-jar", str(path), url],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok"

    jar = CookieJar(unsafe=True)
    jar.load(path)
    by_name = {m.key: m for m in jar}
    assert {k: m.value for k, m in by_name.items()} == {
        "sess": "abc",
        "aged": "42",
        "ho": "secret",
        "dom": "d",
        "sec": "s",
    }
    assert all(m["domain"] == "127.0.0.1" for m in by_name.values())
    assert by_name["ho"]["httponly"] is True
    assert by_name["sess"]["httponly"] is False
    assert by_name["sec"]["secure"] is True
    assert by_name["aged"]["expires"] != "" and by_name["sess"]["expires"] == ""
    assert jar.filter_cookies(f"http://127.0.0.1:{httpserver.port}/set/x")["sess"].value == "abc"
    assert "sec" not in jar.filter_cookies("http://127.0.0.1/set/x")
    assert jar.filter_cookies("https://127.0.0.1/set/x")["sec"].value == "s"
    assert cookie_header(jar, "http://127.0.0.2/set/x") == ""
    strict = CookieJar()
    strict.load(path)
    assert len(strict) == 0
