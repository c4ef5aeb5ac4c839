"""Engine rules behind the requests compatibility (issue 13): fragments inherited on
redirect, json= refusing NaN/Infinity, text files measured on request, invalid host
names and header values refused, the scheme errors."""

from __future__ import annotations

import io

import pytest
from yarl import URL

from syncwrap.engine.payload import JsonPayload, TextIOPayload, get_payload, strict_dumps
from syncwrap.engine.redirects import inherited_fragment, next_hop
from syncwrap.engine.request import build_url, merge_headers
from syncwrap.exceptions import (
    InvalidHeader,
    InvalidJSONError,
    InvalidSchema,
    InvalidURL,
    MissingSchema,
)

HERE = URL("http://127.0.0.1:8000/a/b#top")


@pytest.mark.parametrize(("location", "expected"), [
    ("/next", "top"), ("/next#theirs", "theirs"), ("/next#", None),
    ("http://example.org/x", "top"), ("other#%C3%A9", "é"),
])
def test_fragment_inherited_unless_the_location_has_one(location, expected):
    assert inherited_fragment(HERE, location) == expected
    hop = next_hop("GET", HERE, 302, location, {}, has_body=False, replayable=True)
    assert hop.fragment == expected and not hop.url.raw_fragment
    assert hop.real_url.fragment == (expected or "")


def test_no_fragment_to_inherit():
    assert inherited_fragment(URL("http://h/x"), "/y") is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"a": [-float("inf")]}, {1, 2}])
def test_json_payload_refuses_what_is_not_json(value):
    with pytest.raises(InvalidJSONError, match="json="):
        JsonPayload(value)
    with pytest.raises(ValueError):
        strict_dumps(value)


def test_text_file_measured_when_asked():
    # A text file (StringIO aside: aiohttp sends it with a length; see test_aiohttp_compat_b)
    f = io.TextIOWrapper(io.BytesIO("héllo".encode()), encoding="utf-8")
    assert get_payload(f).size is None  # the engine's default: chunked
    p = TextIOPayload(f, measure=True)
    assert p.size == len("héllo".encode()) and f.tell() == 0


def test_length_only_file_measured_with_len():
    class LengthOnly:
        def read(self, size=-1):
            return b""

        def __len__(self):
            return 7

    assert get_payload(LengthOnly()).size == 7


@pytest.mark.parametrize("url", ["http://*a.example/", "http://a..example/",
                                 "http://.a.example/", "http://a;b.example/"])
def test_invalid_host_names(url):
    with pytest.raises(InvalidURL, match="invalid host"):
        build_url(url)


def test_scheme_errors():
    with pytest.raises(MissingSchema):
        build_url("example.org/x")
    with pytest.raises(InvalidSchema):
        build_url("mailto:someone@example.org")
    assert build_url("http://example.org./").raw_host == "example.org."


@pytest.mark.parametrize("value", [" x", "\tx", 3, 1.5, None.__class__])
def test_header_values_as_requests(value):
    with pytest.raises(InvalidHeader, match="X-H"):
        merge_headers(None, {"X-H": value})
    assert merge_headers(None, {"X-H": b"v w "})["X-H"] == "v w "
