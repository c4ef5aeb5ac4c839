"""Exact request framing in the engine (issue 9): a body never goes out longer than the
Content-Length its request declares. A raw server records the exact bytes it receives.

- A caller-set length that disagrees with a body of known size: RequestBodyLengthError
  (a ValueError) before anything is sent; the server sees no connection.
- A streamed body under a caller-set length is sent with that length (not chunked); if it
  runs past it, or ends short of it, the request fails and the connection is closed with
  the body incomplete: the chunk that would complete the length is held back until the
  stream ends, the chunk that would pass it is never sent.
"""

from __future__ import annotations

import io

import pytest

from syncwrap.engine import (
    ClientSession,
    FormData,
    InvalidHeader,
    RequestBodyLengthError,
)
from syncwrap.engine.payload import Payload
from tests.engine._util import SHORT, run
from tests.upload_servers import LENGTH_MISMATCHES, Sink, WireRecorder

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

PIECE = b"0123456789" * 10  # 100 bytes


async def _post(url: str, **kwargs) -> tuple[int, bytes]:
    async with ClientSession(timeout=SHORT) as s:
        async with s.request(kwargs.pop("method", "POST"), url, **kwargs) as r:
            return r.status, await r.read()


def _refused_before_sending(raw_server, exc_type: type[Exception], **kwargs) -> Exception:
    """The request fails with ``exc_type`` and opens no connection: a valid request made
    next is the first and only thing the server receives."""
    recorder = WireRecorder(answer=True)
    srv = raw_server(recorder)
    with pytest.raises(exc_type) as info:
        run(_post(srv.url, **kwargs))
    assert run(_post(srv.url, data=b"valid")) == (200, b"ok")
    assert srv.connections == 1
    assert recorder.body == b"valid" and recorder.data.count(b"POST ") == 1
    return info.value


def _gen(count: int, piece: bytes = PIECE):
    async def gen():
        for _ in range(count):
            yield piece

    return gen()


class Unsized(io.RawIOBase):
    """A readable, non-seekable file (a pipe, a socket file...): its size is unknown."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        return self._data.readinto(buf)


# ------------------------------------------------------------------- bodies of known size
@pytest.mark.parametrize(
    ("body", "declared", "size"),
    [pytest.param(*case[1:], id=case[0]) for case in LENGTH_MISMATCHES] + [
        pytest.param({"data": b"a" * 1000}, 1500, 1000, id="bytes-longer"),
        pytest.param({}, 5, 0, id="no-body"),
    ],
)
def test_known_size_that_disagrees_is_refused_before_sending(raw_server, disk_file, body,
                                                             declared, size):
    if body.get("data") == "disk_file":
        body = {"data": disk_file}
    err = _refused_before_sending(raw_server, RequestBodyLengthError,
                                  headers={"Content-Length": str(declared)}, **body)
    assert isinstance(err, ValueError)
    assert f"Content-Length is {declared} but the body is {size} bytes" in str(err)


def test_multipart_of_known_size_that_disagrees_is_refused(raw_server):
    form = FormData()
    form.add_field("name", "ada")
    form.add_field("doc", io.BytesIO(b"hello"), filename="a.txt")
    size = form().size
    assert size is not None
    err = _refused_before_sending(raw_server, RequestBodyLengthError, data=form,
                                  headers={"Content-Length": str(size - 1)})
    assert f"is {size - 1} but the body is {size} bytes" in str(err)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"headers": {"Content-Length": "abc"}}, "must be a byte count"),
        ({"headers": {"Content-Length": "-3"}}, "must be a byte count"),
        ({"headers": {"Content-Length": "3, 3"}}, "must be a byte count"),
        ({"headers": [("Content-Length", "3"), ("Content-Length", "3")]}, "more than one"),
    ],
    ids=["letters", "negative", "list", "twice"],
)
def test_malformed_content_length_is_refused_before_sending(raw_server, kwargs, match):
    err = _refused_before_sending(raw_server, InvalidHeader, data=b"abc", **kwargs)
    assert match in str(err) and isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compress": True}, "compress= cannot be used with a Content-Length"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "Transfer-Encoding: chunked header"),
    ],
    ids=["compress", "transfer-encoding"],
)
def test_content_length_with_chunked_framing_is_refused(raw_server, kwargs, match):
    headers = {"Content-Length": "3", **kwargs.pop("headers", {})}
    err = _refused_before_sending(raw_server, ValueError, data=b"abc", headers=headers, **kwargs)
    assert match in str(err)


def test_a_transfer_encoding_header_frames_a_small_body(raw_server):
    """A caller's ``Transfer-Encoding: chunked`` header: the bytes go out chunk-framed,
    not raw after the head (which the server would read as a bad chunk size)."""
    sink = Sink()
    srv = raw_server(sink)
    status, _ = run(_post(srv.url, data=b"abc", headers={"Transfer-Encoding": "chunked"}))
    assert status == 200
    [req] = sink.requests
    assert req.framing == "chunked" and req.body == b"abc"


def test_a_known_size_that_matches_is_sent_as_is(raw_server, disk_file):
    recorder = WireRecorder(answer=True)
    srv = raw_server(recorder)
    assert run(_post(srv.url, data=disk_file, headers={"Content-Length": "1000"})) == (200, b"ok")
    assert recorder.headers["content-length"] == "1000"
    assert recorder.body == b"f" * 1000


# ------------------------------------------------------------------------ streamed bodies
def test_streamed_body_under_a_caller_set_length_is_sent_with_it(raw_server):
    recorder = WireRecorder(answer=True)
    srv = raw_server(recorder)
    assert run(_post(srv.url, data=_gen(8), headers={"Content-Length": "800"})) == (200, b"ok")
    assert recorder.client_closed.wait(5)  # the session closed: nothing else was sent
    assert recorder.headers["content-length"] == "800"
    assert "transfer-encoding" not in recorder.headers
    assert recorder.body == PIECE * 8


def _refused_while_streaming(raw_server, data, declared: int) -> tuple[str, WireRecorder]:
    recorder = WireRecorder()  # never answers: only the client's error ends the request
    srv = raw_server(recorder)
    with pytest.raises(RequestBodyLengthError) as info:
        run(_post(srv.url, data=data, headers={"Content-Length": str(declared)}))
    assert recorder.client_closed.wait(5)  # the client closed the connection
    assert recorder.headers["content-length"] == str(declared)
    assert "transfer-encoding" not in recorder.headers
    return str(info.value), recorder


def test_streamed_body_running_past_its_length_is_cut_before_the_excess(raw_server):
    """12 x 100 bytes under 800: the 8th piece would complete the body, so it waits for
    the end of the stream; the 9th would pass it: the request fails, neither is sent."""
    message, recorder = _refused_while_streaming(raw_server, _gen(12), 800)
    assert "runs past its Content-Length of 800 bytes" in message
    assert recorder.body == PIECE * 7


def test_streamed_body_one_byte_too_long(raw_server):
    async def gen():
        yield b"x" * 800
        yield b"y"

    message, recorder = _refused_while_streaming(raw_server, gen(), 800)
    assert "at least 801" in message
    assert recorder.body == b""  # the server never saw a whole body


def test_unsized_file_running_past_its_length(raw_server):
    _, recorder = _refused_while_streaming(raw_server, Unsized(b"u" * 1200), 800)
    assert recorder.body == b""  # its one 1200-byte read would pass 800: not sent


def test_payload_writing_more_than_its_size(raw_server):
    """Whatever produces the body, it never goes out longer than its Content-Length."""

    class Liar(Payload):
        size = 10

        async def write(self, writer) -> None:
            await writer.write(b"0123456789ABCDEFGHIJ")

    message, recorder = _refused_while_streaming(raw_server, Liar(), 10)
    assert "runs past its Content-Length of 10 bytes" in message
    assert recorder.body == b""


@pytest.mark.parametrize("source", ["async-generator", "unsized-file"])
def test_streamed_body_ending_short_of_its_length(raw_server, source):
    data = _gen(7) if source == "async-generator" else Unsized(PIECE * 7)
    message, recorder = _refused_while_streaming(raw_server, data, 800)
    assert "ended after 700 bytes, short of its Content-Length of 800" in message
    assert recorder.body == PIECE * 7
