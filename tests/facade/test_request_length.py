"""Exact request framing through the blocking API (issue 9); the engine's side is in
tests/engine/test_request_length.py. A raw server records the exact bytes it receives.

A caller-set Content-Length that disagrees with a body of known size raises a ValueError
(RequestBodyLengthError) at the call, before any connection; a sync generator sent under a
caller-set length runs in the calling thread as always, and if it yields past that length
or stops short of it the call raises, the connection is closed with the body incomplete,
and the generator is closed.
"""

from __future__ import annotations

import pytest

import syncwrap
from tests.upload_servers import LENGTH_MISMATCHES, WireRecorder

PIECE = b"0123456789" * 10  # 100 bytes
TIMEOUT = 10


class Pieces:
    """A generator of ``count`` pieces (None: endless) that records whether it was closed
    before its end."""

    def __init__(self, count: int | None, piece: bytes = PIECE) -> None:
        self.count = count
        self.piece = piece
        self.yielded = 0
        self.closed_early = False

    def __iter__(self):
        try:
            while self.count is None or self.yielded < self.count:
                yield self.piece
                self.yielded += 1
        except GeneratorExit:
            self.closed_early = True
            raise


@pytest.mark.parametrize(
    ("body", "declared", "size"),
    [pytest.param(*case[1:], id=case[0]) for case in LENGTH_MISMATCHES] + [
        pytest.param({"files": {"doc": ("a.txt", b"hello")}}, 5, None, id="files-multipart"),
    ],
)
def test_known_size_that_disagrees_raises_at_the_call(raw_server, disk_file, capfd, body,
                                                      declared, size):
    if body.get("data") == "disk_file":
        body = {"data": disk_file}
    recorder = WireRecorder(answer=True)
    srv = raw_server(recorder)
    with syncwrap.Session(timeout=TIMEOUT) as s:
        with pytest.raises(syncwrap.RequestBodyLengthError) as info:
            s.post(srv.url, headers={"Content-Length": str(declared)}, **body)
        assert s.post(srv.url, data=b"valid").text == "ok"  # the first thing the server sees
    assert isinstance(info.value, ValueError)
    assert f"Content-Length is {declared} but the body is {size or ''}" in str(info.value)
    assert srv.connections == 1 and recorder.body == b"valid"
    assert capfd.readouterr().err == ""  # nothing printed from the loop thread


def test_generator_under_a_caller_set_length_is_sent_with_it(raw_server):
    recorder = WireRecorder(answer=True)
    srv = raw_server(recorder)
    r = syncwrap.post(srv.url, data=iter(Pieces(8)), headers={"Content-Length": "800"},
                      timeout=TIMEOUT)
    assert r.status_code == 200
    assert recorder.headers["content-length"] == "800"
    assert "transfer-encoding" not in recorder.headers
    assert recorder.body == PIECE * 8


def _refused(raw_server, capfd, count: int, declared: int) -> tuple[str, WireRecorder, Pieces]:
    recorder = WireRecorder()  # never answers: only the client's error ends the request
    srv = raw_server(recorder)
    pieces = Pieces(count)
    with pytest.raises(syncwrap.RequestBodyLengthError) as info:
        syncwrap.post(srv.url, data=iter(pieces), headers={"Content-Length": str(declared)},
                      timeout=TIMEOUT)
    assert recorder.client_closed.wait(5)  # the client closed the connection
    assert recorder.headers["content-length"] == str(declared)
    assert "transfer-encoding" not in recorder.headers
    assert capfd.readouterr().err == ""
    return str(info.value), recorder, pieces


def test_generator_running_past_its_length_raises_at_the_call(raw_server, capfd):
    """1200 bytes under 800: the server gets 700 (the piece completing 800 waits for the
    end of the generator, the one passing it is refused), then the connection closes."""
    message, recorder, pieces = _refused(raw_server, capfd, 12, 800)
    assert "runs past its Content-Length of 800 bytes" in message
    assert recorder.body == PIECE * 7


def test_endless_generator_under_a_length_is_stopped_and_closed(raw_server, capfd):
    recorder = WireRecorder()
    srv = raw_server(recorder)
    pieces = Pieces(None, b"e" * 65536)
    with pytest.raises(syncwrap.RequestBodyLengthError, match="runs past"):
        syncwrap.post(srv.url, data=iter(pieces), headers={"Content-Length": "1000000"},
                      timeout=TIMEOUT)
    assert recorder.client_closed.wait(5)
    assert len(recorder.body) < 1_000_000 and set(recorder.body) == {ord("e")}
    assert pieces.closed_early  # iteration stopped in the calling thread, generator closed
    assert capfd.readouterr().err == ""


def test_generator_ending_short_of_its_length_raises_at_the_call(raw_server, capfd):
    message, recorder, pieces = _refused(raw_server, capfd, 7, 800)
    assert "ended after 700 bytes, short of its Content-Length of 800" in message
    assert recorder.body == PIECE * 7
    assert pieces.yielded == 7
