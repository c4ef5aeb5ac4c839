"""The facade Response (issue point 8)."""

from __future__ import annotations

import datetime
import json

import pytest

import syncwrap
from tests.servers import http_response, respond


def _serve(raw_server, data: bytes) -> str:
    return raw_server(respond(data)).url


def test_status_reason_ok_url_headers(raw_server):
    data = (b"HTTP/1.1 404 Gone Fishing\r\nContent-Length: 2\r\nX-MiXeD-Case: v1\r\n"
            b"x-mixed-case: v2\r\nContent-Type: text/plain\r\n\r\nno")
    url = _serve(raw_server, data) + "/path?q=1"
    r = syncwrap.get(url)
    assert r.status_code == 404 and r.status == 404
    assert r.reason == "Gone Fishing"
    assert r.ok is False and not r
    assert r.url == url
    assert r.headers["x-mixed-case"] == "v1"
    assert r.headers.getall("X-MIXED-CASE") == ["v1", "v2"]
    assert r.headers["content-type"] == "text/plain"
    assert r.raw_headers == (
        (b"Content-Length", b"2"),
        (b"X-MiXeD-Case", b"v1"),
        (b"x-mixed-case", b"v2"),
        (b"Content-Type", b"text/plain"),
    )
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in r.raw_headers)
    assert r.content == b"no"
    ok = syncwrap.get(_serve(raw_server, http_response(b"yes")))
    assert ok.ok is True and bool(ok) and ok.reason == "OK" and ok.status_code == 200


def test_url_is_the_final_url_after_redirects(httpbin_url):
    r = syncwrap.get(httpbin_url + "/redirect-to", params={"url": "/get?x=1"})
    assert r.url == httpbin_url + "/get?x=1"


def test_text_uses_header_charset_and_settable_encoding(raw_server):
    body = "café ñ".encode("iso-8859-1")
    data = http_response(body, headers={"Content-Type": "text/plain; charset=ISO-8859-1"})
    r = syncwrap.get(_serve(raw_server, data))
    assert r.encoding == "ISO-8859-1"
    assert r.text == "café ñ"
    r.encoding = "utf-8"  # wrong on purpose: .text follows the setting
    assert r.encoding == "utf-8"
    assert r.text == body.decode("utf-8", errors="replace")
    r.encoding = "cp1252"
    assert r.text == "café ñ"


def test_text_fallback_utf8_if_valid_else_latin1(raw_server):
    utf8 = "naïve ☃".encode()
    r = syncwrap.get(_serve(raw_server, http_response(utf8)))
    assert r.headers.get("Content-Type") is None
    assert r.text == "naïve ☃"
    assert r.apparent_encoding == "utf-8"
    latin = "naïve".encode("iso-8859-1")
    r = syncwrap.get(_serve(raw_server, http_response(latin)))
    assert r.text == "naïve"
    assert r.apparent_encoding == "iso-8859-1"
    r.encoding = "utf-8"  # an explicit setting wins over the fallback
    assert r.text == latin.decode("utf-8", errors="replace")
    bogus = http_response(utf8, headers={"Content-Type": "text/plain; charset=no-such-codec"})
    assert syncwrap.get(_serve(raw_server, bogus)).text == "naïve ☃"


def test_json_default_and_custom_loads(raw_server, httpbin_url):
    doc = {"a": [1, 2.5, "ü"]}
    data = http_response(json.dumps(doc, ensure_ascii=False).encode(),
                         headers={"Content-Type": "application/json"})
    url = _serve(raw_server, data)
    r = syncwrap.get(url)
    assert r.json() == doc
    calls: list[str] = []

    def loads(text: str) -> object:
        calls.append(text)
        return json.loads(text, parse_float=str)

    assert r.json(loads=loads) == {"a": [1, "2.5", "ü"]}
    assert calls == [r.text]
    assert syncwrap.get(httpbin_url + "/json").json()["slideshow"]["author"]
    with pytest.raises(ValueError):
        syncwrap.get(_serve(raw_server, http_response(b"not json"))).json()


def test_cookies_are_str_values(raw_server):
    data = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
            b"Set-Cookie: name=value; Path=/; HttpOnly\r\nSet-Cookie: other=2\r\n\r\n")
    r = syncwrap.get(_serve(raw_server, data))
    assert r.cookies["name"] == "value"
    assert isinstance(r.cookies["name"], str)
    assert dict(r.cookies) == {"name": "value", "other": "2"}


def test_history_oldest_first(httpbin_url):
    r = syncwrap.get(httpbin_url + "/redirect/3")
    assert isinstance(r.history, list) and len(r.history) == 3
    assert all(isinstance(h, syncwrap.Response) for h in r.history)
    assert [h.status_code for h in r.history] == [302, 302, 302]
    assert [h.url for h in r.history] == [
        httpbin_url + "/redirect/3",
        httpbin_url + "/relative-redirect/2",
        httpbin_url + "/relative-redirect/1",
    ]
    assert r.url == httpbin_url + "/get"
    assert syncwrap.get(httpbin_url + "/get").history == []


def test_elapsed_is_positive_timedelta(counting_server):
    r = syncwrap.get(counting_server.url + "/?delay=0.05")
    assert isinstance(r.elapsed, datetime.timedelta)
    assert r.elapsed >= datetime.timedelta(seconds=0.05)
    assert syncwrap.get(counting_server.url).elapsed > datetime.timedelta(0)


def test_url_and_elapsed_are_built_when_read_and_can_be_set(counting_server):
    r = syncwrap.get(counting_server.url + "/path?q=1#part")
    assert r.url == counting_server.url + "/path?q=1#part"  # the fragment kept, as requests
    assert r.elapsed is r.elapsed  # built once
    r.url = "http://example.invalid/moved"
    r.elapsed = datetime.timedelta(seconds=3)
    assert r.url == "http://example.invalid/moved" and r.elapsed.total_seconds() == 3


def test_raise_for_status(httpbin_url):
    ok = syncwrap.get(httpbin_url + "/status/204")
    assert ok.raise_for_status() is None
    for status, kind in ((404, "Client"), (502, "Server")):
        r = syncwrap.get(httpbin_url + f"/status/{status}")
        with pytest.raises(syncwrap.HTTPError) as info:
            r.raise_for_status()
        err = info.value
        assert err.status == status and err.response is r
        assert isinstance(err, syncwrap.ClientError) and isinstance(err, syncwrap.RequestException)
        assert kind in str(err) and r.url in str(err)


def test_close_and_context_manager(counting_server):
    with syncwrap.get(counting_server.url) as r:
        assert r.status_code == 200
    assert r.content  # a fully read body stays available after close
    r.close()
    r.close()  # idempotent
    streamed = syncwrap.get(counting_server.url, stream=True)
    with streamed:
        pass
    with pytest.raises(RuntimeError):
        streamed.content  # noqa: B018 - closed before reading


def test_repr(counting_server):
    r = syncwrap.get(counting_server.url + "/x")
    text = repr(r)
    assert "200" in text and "GET" in text and counting_server.url + "/x" in text
    assert text.startswith("<Response")
    assert r.request_info.method == "GET"
    assert str(r.request_info.url) == counting_server.url + "/x"
