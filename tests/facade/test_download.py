"""Session.download / syncwrap.download against real local servers: a werkzeug app that
honours Range and If-Range (or ignores them), and raw sockets that cut the body."""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request as WRequest
from werkzeug.wrappers import Response as WResponse

import syncwrap
from syncwrap.exceptions import (
    ChecksumMismatchError,
    ClientError,
    ClientPayloadError,
    HTTPError,
    MalformedResponseError,
)
from tests.servers import WSGIServerThread, http_response, parse_request, read_request

DATA = bytes(range(256)) * 1200  # 307,200 bytes
CUT = 100_000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileApp:
    """Serves ``data`` at any path, with a strong ETag; honours Range/If-Range (werkzeug's
    conditional responses) unless ``ranges`` is False. Records each request's headers."""

    def __init__(self, data: bytes = DATA, etag: str | None = "v1", ranges: bool = True,
                 weak: bool = False, last_modified: datetime | None = None) -> None:
        self.data, self.etag, self.ranges = data, etag, ranges
        self.weak, self.last_modified = weak, last_modified
        self.seen: list[dict[str, str]] = []
        self.statuses: list[int] = []

    def __call__(self, environ, start_response):
        request = WRequest(environ)
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        if request.path == "/missing":
            response = WResponse(b"no such file", status=404)
        else:
            response = WResponse(self.data, mimetype="application/octet-stream")
            if self.etag is not None:
                response.set_etag(self.etag, weak=self.weak)
            if self.last_modified is not None:
                response.last_modified = self.last_modified
            if self.ranges:
                try:
                    response.make_conditional(request, accept_ranges=True,
                                              complete_length=len(self.data))
                except HTTPException as exc:  # 416, with Content-Range: bytes */size
                    response = exc.get_response(environ)
        self.statuses.append(response.status_code)
        return response(environ, start_response)


@pytest.fixture
def app() -> FileApp:
    return FileApp()


@pytest.fixture
def server(app: FileApp) -> Iterator[str]:
    wsgi = WSGIServerThread(app)
    try:
        yield wsgi.url + "/file.bin"
    finally:
        wsgi.close()


@pytest.fixture
def session() -> Iterator[syncwrap.Session]:
    with syncwrap.Session(timeout=30) as s:
        yield s


class Abort(Exception):
    """Raised by a progress callable to stop a download half-way (like Ctrl-C)."""


def interrupted(s: syncwrap.Session, url: str, target: Path, after: int) -> None:
    """Run a download that the progress callable aborts once ``after`` bytes are saved."""

    def stop(done: int, total: int | None) -> None:
        if done >= after:
            raise Abort

    with pytest.raises(Abort):
        s.download(url, target, progress=stop, chunk_size=8192)


def part_of(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- whole downloads --------------------------------------------------------------------


def test_download_saves_the_file_and_returns_its_path(session, server, app, tmp_path) -> None:
    target = tmp_path / "out.bin"
    result = session.download(server, str(target))
    assert isinstance(result, Path) and result == target
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == ["out.bin"]
    assert app.seen[0]["accept-encoding"] == "identity"  # saved as served
    assert "range" not in app.seen[0]


def test_module_level_download(server, tmp_path) -> None:
    target = syncwrap.download(server, tmp_path / "m.bin", checksum=("sha256", sha256(DATA)))
    assert target.read_bytes() == DATA


def test_an_error_status_raises_and_leaves_nothing(session, server, app, tmp_path) -> None:
    with pytest.raises(HTTPError) as caught:
        session.download(server.replace("/file.bin", "/missing"), tmp_path / "x.bin")
    assert caught.value.status == 404
    assert leftovers(tmp_path) == []


# -- resume ------------------------------------------------------------------------------


def test_an_interrupted_download_resumes_with_range_and_if_range(session, server, app,
                                                                 tmp_path) -> None:
    target = tmp_path / "r.bin"
    interrupted(session, server, target, CUT)
    held = part_of(target).stat().st_size
    assert CUT <= held < len(DATA) and not target.exists()
    seen: list[tuple[int, int | None]] = []
    session.download(server, target, checksum=("sha256", sha256(DATA)),
                     progress=lambda done, total: seen.append((done, total)))
    assert app.seen[-1]["range"] == f"bytes={held}-"
    assert app.seen[-1]["if-range"] == '"v1"'
    assert app.statuses[-1] == 206
    assert target.read_bytes() == DATA  # checksum passed: the held part was hashed first
    assert seen[0] == (held, len(DATA)) and seen[-1] == (len(DATA), len(DATA))
    assert leftovers(tmp_path) == ["r.bin"]


def test_resume_false_downloads_whole(session, server, app, tmp_path) -> None:
    target = tmp_path / "r.bin"
    interrupted(session, server, target, CUT)
    session.download(server, target, resume=False)
    assert "range" not in app.seen[-1] and app.statuses[-1] == 200
    assert target.read_bytes() == DATA


def test_a_server_ignoring_ranges_gives_the_whole_file(session, server, app, tmp_path) -> None:
    target = tmp_path / "i.bin"
    interrupted(session, server, target, CUT)
    app.ranges = False
    session.download(server, target, checksum=("sha256", sha256(DATA)))
    assert "range" in app.seen[-1] and app.statuses[-1] == 200
    assert target.read_bytes() == DATA


def test_a_changed_etag_restarts_from_the_new_file(session, server, app, tmp_path) -> None:
    target = tmp_path / "e.bin"
    interrupted(session, server, target, CUT)
    app.data, app.etag = DATA[::-1], "v2"
    session.download(server, target)
    assert app.seen[-1]["if-range"] == '"v1"' and app.statuses[-1] == 200
    assert target.read_bytes() == DATA[::-1]


def test_a_complete_part_is_kept_on_416(session, server, app, tmp_path) -> None:
    target = tmp_path / "c.bin"
    interrupted(session, server, target, len(DATA))  # aborted after the last byte
    assert part_of(target).stat().st_size == len(DATA)
    seen: list[tuple[int, int | None]] = []
    session.download(server, target, checksum=("sha256", sha256(DATA)),
                     progress=lambda done, total: seen.append((done, total)))
    assert app.statuses[-1] == 416
    assert target.read_bytes() == DATA
    assert seen == [(len(DATA), len(DATA))]


def test_an_unsatisfiable_range_of_another_size_restarts(session, server, app,
                                                          tmp_path) -> None:
    target = tmp_path / "s.bin"
    interrupted(session, server, target, CUT)
    app.data = DATA[:1000]  # same ETag, shorter file: a lying server
    session.download(server, target)
    assert app.statuses[-2:] == [416, 200] and "range" not in app.seen[-1]
    assert target.read_bytes() == DATA[:1000]


def test_last_modified_is_the_validator_without_an_etag(session, server, app,
                                                         tmp_path) -> None:
    app.etag, app.last_modified = None, datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    target = tmp_path / "lm.bin"
    interrupted(session, server, target, CUT)
    session.download(server, target, checksum=("sha256", sha256(DATA)))
    assert app.seen[-1]["if-range"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert app.statuses[-1] == 206 and target.read_bytes() == DATA


def test_a_weak_etag_alone_is_not_resumed(session, server, app, tmp_path) -> None:
    app.weak = True
    target = tmp_path / "w.bin"
    interrupted(session, server, target, CUT)
    session.download(server, target)
    assert "range" not in app.seen[-1] and "if-range" not in app.seen[-1]
    assert target.read_bytes() == DATA


def test_a_session_raising_for_status_still_resumes_a_whole_part(server, app,
                                                                  tmp_path) -> None:
    target = tmp_path / "rs.bin"
    with syncwrap.Session(raise_for_status=True) as s:
        interrupted(s, server, target, len(DATA))
        s.download(server, target)
    assert app.statuses[-1] == 416 and target.read_bytes() == DATA


def test_a_partial_for_another_url_is_not_resumed(session, server, app, tmp_path) -> None:
    target = tmp_path / "u.bin"
    interrupted(session, server, target, CUT)
    session.download(server + "?other=1", target)
    assert "range" not in app.seen[-1]
    assert target.read_bytes() == DATA


# -- a connection cut mid-body (raw sockets) ---------------------------------------------


class CuttingServer:
    """Raw HTTP: the first response is cut after ``CUT`` body bytes; later ones honour
    ``Range`` (with If-Range) for ``data``. ``requests`` holds each parsed request."""

    def __init__(self, raw_server, data: bytes = DATA, content_range: str | None = None) -> None:
        self.data = data
        self.content_range = content_range  # forced Content-Range, for a hostile 206
        self.requests: list = []
        self.lock = threading.Lock()
        self.server = raw_server(self.handle)
        self.url = self.server.url + "/cut.bin"

    def handle(self, conn: socket.socket) -> None:
        raw = read_request(conn)
        if not raw:
            return
        request = parse_request(raw)
        with self.lock:
            self.requests.append(request)
            first = len(self.requests) == 1
        headers = {"ETag": '"c1"', "Accept-Ranges": "bytes", "Connection": "close"}
        wanted = request.headers.get("range", "")
        if first:
            head = http_response(self.data, headers=headers)[: -len(self.data)]
            conn.sendall(head + self.data[:CUT])
            conn.shutdown(socket.SHUT_WR)
            return
        if wanted.startswith("bytes=") and request.headers.get("if-range") == '"c1"':
            start = int(wanted[6:].rstrip("-"))
            body = self.data[start:]
            headers["Content-Range"] = (self.content_range or
                                        f"bytes {start}-{len(self.data) - 1}/{len(self.data)}")
            conn.sendall(http_response(body, 206, "Partial Content", headers))
        else:
            conn.sendall(http_response(self.data, headers=headers))


def test_a_cut_connection_resumes_to_the_exact_bytes(session, raw_server, tmp_path) -> None:
    cutting = CuttingServer(raw_server)
    target = tmp_path / "cut.bin"
    with pytest.raises(ClientPayloadError):
        session.download(cutting.url, target, chunk_size=4096)
    held = part_of(target).stat().st_size
    assert 0 < held <= CUT and not target.exists()
    result = session.download(cutting.url, target, checksum=("sha256", sha256(DATA)))
    assert cutting.requests[-1].headers["range"] == f"bytes={held}-"
    assert hashlib.sha256(result.read_bytes()).hexdigest() == sha256(DATA)
    assert leftovers(tmp_path) == ["cut.bin"]


def test_a_failure_leaves_an_existing_target_untouched(session, raw_server, tmp_path) -> None:
    cutting = CuttingServer(raw_server)
    target = tmp_path / "old.bin"
    target.write_bytes(b"the previous version")
    with pytest.raises(ClientError):
        session.download(cutting.url, target, chunk_size=4096)
    assert target.read_bytes() == b"the previous version"


def test_a_206_for_another_range_raises(session, raw_server, tmp_path) -> None:
    cutting = CuttingServer(raw_server, content_range=f"bytes 0-{len(DATA) - 1}/{len(DATA)}")
    target = tmp_path / "bad.bin"
    with pytest.raises(ClientPayloadError):
        session.download(cutting.url, target, chunk_size=4096)
    with pytest.raises(MalformedResponseError, match="does not start"):
        session.download(cutting.url, target)
    assert not target.exists()


def test_a_416_to_a_plain_request_is_an_error(session, raw_server, tmp_path) -> None:
    server = raw_server(respond_each(http_response(b"", 416, "Range Not Satisfiable",
                                                   {"Content-Range": "bytes */0"})))
    with pytest.raises(HTTPError) as caught:
        session.download(server.url, tmp_path / "416.bin")
    assert caught.value.status == 416 and leftovers(tmp_path) == []


def test_a_content_coded_body_is_saved_as_served(session, raw_server, tmp_path) -> None:
    coded = zlib.compress(DATA)  # a server that codes the body though identity was asked
    server = raw_server(respond_each(http_response(coded, headers={"Content-Encoding":
                                                                   "deflate"})))
    target = session.download(server.url, tmp_path / "z.bin")
    assert target.read_bytes() == coded


def respond_each(data: bytes):
    def handler(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(data)

    return handler


# -- checksums -----------------------------------------------------------------------------


def test_a_checksum_mismatch_raises_and_leaves_nothing(session, server, tmp_path) -> None:
    target = tmp_path / "bad.bin"
    wrong = sha256(b"something else")
    with pytest.raises(ChecksumMismatchError) as caught:
        session.download(server, target, checksum=("sha256", wrong))
    assert isinstance(caught.value, ClientError)
    assert caught.value.expected == wrong and caught.value.got == sha256(DATA)
    assert leftovers(tmp_path) == []


def test_a_checksum_mismatch_keeps_the_previous_target(session, server, tmp_path) -> None:
    target = tmp_path / "prev.bin"
    target.write_bytes(b"previous")
    with pytest.raises(ChecksumMismatchError):
        session.download(server, target, checksum=("md5", hashlib.md5(b"x").hexdigest()))
    assert leftovers(tmp_path) == ["prev.bin"] and target.read_bytes() == b"previous"


def test_other_hashlib_algorithms_and_uppercase_digests(session, server, tmp_path) -> None:
    digest = hashlib.blake2b(DATA).hexdigest().upper()
    target = session.download(server, tmp_path / "b.bin", checksum=("blake2b", digest))
    assert target.read_bytes() == DATA


# -- progress ------------------------------------------------------------------------------


def test_progress_callable_sees_growing_counts_and_the_total(session, server, tmp_path) -> None:
    seen: list[tuple[int, int | None]] = []
    session.download(server, tmp_path / "p.bin", chunk_size=10_000,
                     progress=lambda done, total: seen.append((done, total)))
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and len(seen) > 10
    assert seen[0] == (0, len(DATA)) and seen[-1] == (len(DATA), len(DATA))


def test_the_file_work_runs_in_the_calling_thread(session, server, tmp_path) -> None:
    threads: set[int] = set()
    result: list[Path] = []

    def work() -> None:
        result.append(session.download(server, tmp_path / "th.bin", chunk_size=50_000,
                                        progress=lambda *_: threads.add(threading.get_ident())))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    assert result and threads == {worker.ident}


def test_progress_true_draws_a_tqdm_bar_on_stderr(session, server, tmp_path, capsys) -> None:
    pytest.importorskip("tqdm")
    session.download(server, tmp_path / "t.bin", progress=True)
    err = capsys.readouterr().err
    assert "t.bin" in err and "100%" in err


def test_progress_true_without_tqdm_names_the_extra(session, server, app, tmp_path,
                                                    monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"syncwrap\[progress\]"):
        session.download(server, tmp_path / "t.bin", progress=True)
    assert app.seen == [] and leftovers(tmp_path) == []


# -- arguments, checked at the call --------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"checksum": ("sha257", "00")}, ValueError, "checksum=.*unknown hash algorithm"),
    ({"checksum": ("sha256", "abc")}, ValueError, "checksum=.*not a sha256 hex digest"),
    ({"checksum": "sha256:abc"}, TypeError, "checksum="),
    ({"chunk_size": 0}, ValueError, "chunk_size="),
    ({"progress": "yes"}, TypeError, "progress="),
    ({"resume": "no"}, TypeError, "resume="),
    ({"stream": True}, TypeError, "stream="),
    ({"headers": {"Range": "bytes=5-"}}, ValueError, "headers=.*Range"),
    ({"bogus": 1}, TypeError, "bogus"),
])
def test_bad_arguments_raise_at_the_call(session, server, app, tmp_path, kwargs, error,
                                         match) -> None:
    with pytest.raises(error, match=match):
        session.download(server, tmp_path / "a.bin", **kwargs)
    if "bogus" not in kwargs:  # checked by the request itself, before anything is sent
        assert app.seen == []
    assert leftovers(tmp_path) == []


def test_bad_paths_raise_at_the_call(session, server, app, tmp_path) -> None:
    with pytest.raises(ValueError, match="path=.*directory"):
        session.download(server, tmp_path)
    with pytest.raises(FileNotFoundError, match="path="):
        session.download(server, tmp_path / "no" / "such.bin")
    with pytest.raises(TypeError, match="path="):
        session.download(server, 42)
    assert app.seen == []
