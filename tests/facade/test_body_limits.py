"""max_body_size in the facade (issue 9): Session and per request, .content / .text / .json(),
stream=True then .content (decoded and direct bodies), streamed reads unlimited."""

from __future__ import annotations

import gzip
import json

import pytest

import syncwrap
from syncwrap import BodyTooLargeError
from tests.bombs import MIB, bomb, frame
from tests.servers import http_response, keep_alive, read_request

BODY = json.dumps({"data": "x" * 5000}).encode()
BIG_PLAIN = bytes(range(256)) * (8 * 4096)  # 8 MiB: large enough for direct socket reads


def serve(response: bytes):
    """Keep-alive handler answering every request with ``response`` verbatim."""

    def handler(conn):
        try:
            while read_request(conn):
                conn.sendall(response)
        except OSError:  # the client closed mid-body
            pass

    return handler


def test_exported_from_both_layers():
    assert syncwrap.BodyTooLargeError is syncwrap.engine.BodyTooLargeError
    assert issubclass(BodyTooLargeError, syncwrap.ClientPayloadError)
    assert "BodyTooLargeError" in syncwrap.__all__
    assert "BodyTooLargeError" in syncwrap.engine.__all__


def test_session_limit_and_per_request_override(raw_server):
    server = raw_server(keep_alive(BODY))
    with syncwrap.Session(max_body_size=1000, timeout=5) as s:
        with pytest.raises(BodyTooLargeError, match="max_body_size=1000 bytes") as info:
            s.get(server.url)
        assert info.value.limit == 1000
        assert s.get(server.url, max_body_size=len(BODY)).json() == {"data": "x" * 5000}
        assert s.get(server.url, max_body_size=None).content == BODY
        with pytest.raises(BodyTooLargeError, match="max_body_size=10 bytes"):
            assert s.get(server.url, max_body_size=10, stream=True).text
    with syncwrap.Session(timeout=5) as s:
        assert s.get(server.url).content == BODY  # the default (1 GiB)
        with pytest.raises(BodyTooLargeError):
            s.get(server.url, max_body_size=100)


def test_module_level_verbs_take_the_limit(raw_server):
    server = raw_server(keep_alive(BODY))
    with pytest.raises(BodyTooLargeError):
        syncwrap.get(server.url, max_body_size=100, timeout=5)
    assert syncwrap.get(server.url, max_body_size=None, timeout=5).content == BODY


@pytest.mark.parametrize("attribute", ["content", "text", "json"])
def test_streamed_then_whole_decoded_body(raw_server, attribute):
    """stream=True, then a whole-body read of a gzip bomb: refused at the limit."""
    server = raw_server(serve(frame(bomb("gzip", 256 * MIB), "chunked",
                                    headers={"Content-Encoding": "gzip"})))
    with syncwrap.Session(max_body_size=2 * MIB, timeout=5) as s:
        r = s.get(server.url, stream=True)
        with pytest.raises(BodyTooLargeError, match=f"max_body_size={2 * MIB} bytes"):
            value = getattr(r, attribute)
            if attribute == "json":
                value()


def test_streamed_then_whole_direct_body(raw_server):
    """A large plain body with stream=True is read straight from the socket; .content
    counts it all the same."""
    server = raw_server(serve(http_response(BIG_PLAIN)))
    with syncwrap.Session(max_body_size=MIB, timeout=5) as s:
        with pytest.raises(BodyTooLargeError):
            assert s.get(server.url, stream=True).content
        assert s.get(server.url, stream=True, max_body_size=None).content == BIG_PLAIN


def test_iter_content_is_not_limited(raw_server):
    data = b"streamed " * 100_000
    server = raw_server(serve(
        http_response(gzip.compress(data), headers={"Content-Encoding": "gzip"})))
    with syncwrap.Session(max_body_size=1000, timeout=5) as s:
        with s.get(server.url, stream=True) as r:
            assert b"".join(r.iter_content(65536)) == data


@pytest.mark.parametrize("value, error", [(0, ValueError), ("big", TypeError)])
def test_bad_values_are_refused_at_the_call(raw_server, value, error):
    server = raw_server(keep_alive(b"x"))
    with pytest.raises(error, match="max_body_size="):
        syncwrap.Session(max_body_size=value)
    with syncwrap.Session(timeout=5) as s:
        with pytest.raises(error, match="max_body_size="):
            s.get(server.url, max_body_size=value)
    assert server.connections == 0  # refused before anything was sent
