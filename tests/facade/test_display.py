"""A Response's rich repr in Jupyter and IPython (issue 15, point 4): real local servers."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

import syncwrap
from syncwrap._bridge.display import format_duration, format_size
from tests.servers import http_response, respond


class _Tags(HTMLParser):
    """The tags and the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(fragment: str) -> _Tags:
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    return parser


def test_html_shows_status_url_type_size_timing_and_redirects(httpbin_url):
    r = syncwrap.get(f"{httpbin_url}/redirect/2")
    fragment = r._repr_html_()
    text = "".join(_parse(fragment).text)
    assert r.url == f"{httpbin_url}/get"
    assert "200 OK" in text
    assert f"GET {r.url}" in text
    assert "application/json" in text
    assert format_size(len(r.content)) in text
    assert format_duration(r.elapsed) in text
    assert "2 redirects" in text


def test_size_of_a_streamed_response_then_of_its_read_body(httpbin_url):
    with syncwrap.get(f"{httpbin_url}/bytes/3000", stream=True) as r:
        assert "2.9 KiB, streamed" in r._repr_html_()  # from Content-Length
        assert len(r.content) == 3000
        assert "2.9 KiB" in r._repr_html_() and "streamed" not in r._repr_html_()
    with syncwrap.get(f"{httpbin_url}/stream-bytes/3000", stream=True) as r:
        assert "Content-Length" not in r.headers
        assert "streamed" in r._repr_html_()


def test_hostile_reason_header_and_url_cannot_inject_markup(raw_server):
    reason = "OK <script>alert(1)</script>"
    content_type = 'text/html"><script>alert(2)</script><img src=x onerror=alert(3)>'
    data = http_response(b"<p>body</p>", reason=reason, headers={"Content-Type": content_type})
    base = raw_server(respond(data)).url
    r = syncwrap.get(f"{base}/<script>alert(4)</script>?q=\"'&<b>#<i>")
    fragment = r._repr_html_()

    parsed = _parse(fragment)
    assert set(parsed.tags) <= {"div", "b", "span"}, parsed.tags
    assert "<script" not in fragment.lower() and "<img" not in fragment.lower()
    text = "".join(parsed.text)
    assert f"200 {reason}" in text  # shown to the reader as text, unaltered
    assert content_type in text
    assert r.url in text
    assert html.escape(content_type) in fragment


def test_ipython_picks_up_html_and_pretty_text(httpbin_url):
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter
    from IPython.lib.pretty import pretty

    r = syncwrap.get(f"{httpbin_url}/status/418")
    data, _ = DisplayFormatter().format(r)
    assert data["text/html"] == r._repr_html_()
    line = data["text/plain"]
    assert line == pretty(r)
    assert line.startswith(f"<Response [418 I'M A TEAPOT] GET {httpbin_url}/status/418 · ")
    assert "0 redirects" in line and format_size(len(r.content)) in line
    assert "\n" not in line
