"""URLs and params through yarl, and bad input refused before any byte is sent (point 3)."""

from __future__ import annotations

import pytest
from multidict import MultiDict
from yarl import URL

from syncwrap.engine import ClientError, ClientSession, InvalidHeader, InvalidURL
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response


def _server(raw_server):
    seen: list[ParsedRequest] = []
    return raw_server(recording(http_response(b"ok"), seen)), seen


async def _get(session: ClientSession, url, **kwargs) -> str:
    async with session.get(url, **kwargs) as resp:
        await resp.read()
        return str(resp.url)


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"a": "1", "b": "two words"}, "/p?a=1&b=two+words"),
        ([("k", "v1"), ("x", "y"), ("k", "v2")], "/p?k=v1&x=y&k=v2"),
        (MultiDict([("k", "2"), ("k", "1")]), "/p?k=2&k=1"),
        ({"k": ["a", "b"]}, "/p?k=a&k=b"),
        ({"n": 5, "f": 1.5, "t": True}, "/p?n=5&f=1.5&t=true"),
        ({"u": "é&=?"}, "/p?u=%C3%A9%26%3D?"),
        ("key=value+1", "/p?key=value+1"),
        # a str is not re-encoded: existing escapes survive, only illegal characters get quoted
        ("q=a%26b%2Bc&s=c d&h=#", "/p?q=a%26b%2Bc&s=c+d&h=%23"),
    ],
)
def test_params_reach_the_request_line(raw_server, params, target):
    server, seen = _server(raw_server)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return await _get(s, server.url + "/p", params=params)

    url = run(main())
    assert seen[0].target == target
    assert url == server.url + target


def test_params_extend_an_existing_query(raw_server):
    server, seen = _server(raw_server)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _get(s, server.url + "/p?first=1", params={"second": "2"})
            await _get(s, URL(server.url + "/enc%2Fded path"))

    run(main())
    assert seen[0].target == "/p?first=1&second=2"
    assert seen[1].target == "/enc%2Fded%20path"


BAD_URLS = [
    "http://",  # no host
    "/only/a/path",  # relative without base_url
    "ftp://127.0.0.1/file",  # unsupported scheme
    "file:///etc/passwd",
    "ws://127.0.0.1/",
    "http://127.0.0.1:99999/",  # port out of range
    "http://exa mple.com/",  # space in host
    "http://[::1/",  # unbalanced bracket
]


@pytest.mark.parametrize("bad", BAD_URLS)
def test_invalid_url_raises_before_connecting(raw_server, bad):
    server, seen = _server(raw_server)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(InvalidURL) as info:
                await s.get(bad)
            assert server.connections == 0
            # afterwards a good request to the server works; it is the first connection
            await _get(s, server.url + "/good")
            return info.value

    err = run(main())
    assert isinstance(err, ValueError) and isinstance(err, ClientError)
    assert server.connections == 1
    assert [r.target for r in seen] == ["/good"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url_suffix": "/a\r\nX-Injected: 1"},
        {"url_suffix": "/a\nb"},
        {"url_suffix": "/a\x00b"},
        {"params": "a=1\r\nX-Injected: 1"},
        {"headers": {"X-Ok": "a\r\nX-Injected: 1"}},
        {"headers": {"X-Ok": "a\nb"}},
        {"headers": {"Bad Name": "v"}},
        {"headers": {"X-Colon:": "v"}},
        {"cookies": {"c": "v\r\nX-Injected: 1"}},
    ],
    ids=lambda kw: repr(kw),
)
def test_cr_lf_in_url_params_or_headers_raise_before_sending(raw_server, kwargs):
    server, seen = _server(raw_server)
    kwargs = dict(kwargs)
    suffix = kwargs.pop("url_suffix", "")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(ValueError) as info:
                await s.get(server.url + suffix, **kwargs)
            assert server.connections == 0
            # the accept queue is FIFO: had the bad call connected, it would be counted first
            await _get(s, server.url + "/good")
            return info.value

    err = run(main())
    if "headers" in kwargs:
        assert isinstance(err, InvalidHeader)
    elif "cookies" not in kwargs:
        assert isinstance(err, InvalidURL)
    assert server.connections == 1
    assert [r.target for r in seen] == ["/good"]
    assert all("x-injected" not in r.headers for r in seen)


def test_url_object_with_crlf_refused(raw_server):
    server, seen = _server(raw_server)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(InvalidURL):
                await s.get(URL(server.url).with_path("/a\r\nX-Injected: 1", encoded=True))

    run(main())
    assert server.connections == 0  # the call raised before any connect was attempted


def test_default_port_omitted_from_host_header_and_ipv6_bracketed():
    from syncwrap.engine.request import host_header

    assert host_header(URL("http://example.com:80/")) == "example.com"
    assert host_header(URL("https://example.com:443/")) == "example.com"
    assert host_header(URL("http://example.com:8080/")) == "example.com:8080"
    assert host_header(URL("http://[::1]:8080/")) == "[::1]:8080"
