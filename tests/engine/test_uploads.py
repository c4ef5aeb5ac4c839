"""Request bodies end to end in the engine: forms, multipart, streams, compression,
Expect: 100-continue, redirects with bodies and bad input (issue 5).

Servers: httpbin (echoes forms, files, json, data), a chunk-capable httpbin for
chunked bodies, and raw-socket Sinks that de-chunk, decompress and hash.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import io
import json
import os
import threading
import zlib

import pytest
from multidict import MultiDict

from syncwrap.engine import (
    BodyNotReplayableError,
    ClientError,
    ClientSession,
    FormData,
    MultipartWriter,
    StreamReader,
)
from tests.engine._util import SHORT, run
from tests.servers import http_response, read_request
from tests.upload_servers import ExpectServer

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


async def send(method: str, url: str, **kwargs):
    """One request in a fresh session: (status, parsed JSON body, response headers)."""
    async with ClientSession(timeout=SHORT) as s:
        async with s.request(method, url, **kwargs) as r:
            return r.status, await r.json(), r.headers


def echo(url: str, method: str = "POST", **kwargs) -> dict:
    status, body, _ = run(send(method, url, **kwargs))
    assert status == 200, body
    return body


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PATTERN = bytes(range(256)) * 4096  # 1 MiB, cheap and deterministic


# -- 1. forms, text, bytes, json ---------------------------------------------------------

FORMS = {
    "dict": {"a": "1", "b": ["x", "y z"], "é": "ü&="},
    "pairs": [("a", "1"), ("b", "x"), ("b", "y z"), ("é", "ü&=")],
    "multidict": MultiDict([("a", "1"), ("b", "x"), ("b", "y z"), ("é", "ü&=")]),
}


@pytest.mark.parametrize("endpoint", ["/post", "/anything"])
@pytest.mark.parametrize("kind", list(FORMS))
def test_form_fields_are_urlencoded(httpbin_url, endpoint, kind):
    got = echo(httpbin_url + endpoint, data=FORMS[kind])
    assert got["form"] == {"a": "1", "b": ["x", "y z"], "é": "ü&="}
    assert got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert got["files"] == {} and got["json"] is None


@pytest.mark.parametrize("endpoint", ["/post", "/anything"])
def test_str_bytes_and_json_bodies(httpbin_url, endpoint):
    text = echo(httpbin_url + endpoint, data="héllo wörld")
    assert text["data"] == "héllo wörld"
    assert text["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert text["headers"]["Content-Length"] == str(len("héllo wörld".encode()))
    raw = echo(httpbin_url + endpoint, data=b"raw \x01 bytes")
    assert raw["data"] == "raw \x01 bytes"
    assert raw["headers"]["Content-Type"] == "application/octet-stream"
    js = echo(httpbin_url + endpoint, json={"k": [1, "é", None]})
    assert js["json"] == {"k": [1, "é", None]}
    assert js["headers"]["Content-Type"] == "application/json"


def test_put_and_patch_carry_bodies(httpbin_url):
    assert echo(httpbin_url + "/put", "PUT", data={"a": "1"})["form"] == {"a": "1"}
    assert echo(httpbin_url + "/patch", "PATCH", data=b"p")["data"] == "p"


# -- 2. multipart --------------------------------------------------------------------------


def test_formdata_add_field_and_add_fields(httpbin_url, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"file on disk\n")
    form = FormData()
    form.add_field("plain", "value")
    form.add_field("blob", b"\x00\x01 binary", filename="blob.bin",
                   content_type="application/x-thing")
    form.add_field("memory", io.BytesIO(b"from BytesIO"), filename="m.txt")
    with open(path, "rb") as f:
        form.add_fields(("pair", "p"), {"mapping": "m"}, f)
        got = echo(httpbin_url + "/post", data=form)
    assert got["form"] == {"plain": "value", "pair": "p", "mapping": "m"}
    assert got["files"]["memory"] == "from BytesIO"
    assert got["files"]["notes.txt"] == "file on disk\n"  # add_fields names a file after it
    assert got["files"]["blob"] == "\x00\x01 binary"
    assert got["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(got["headers"]["Content-Length"]) > 0  # every part's size is known


def test_dict_holding_a_file_object_becomes_multipart(httpbin_url, tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with open(path, "rb") as f:
        got = echo(httpbin_url + "/post", data={"name": "x", "report": f})
    assert got["form"] == {"name": "x"}
    assert got["files"] == {"report": "a,b\n1,2\n"}
    assert got["headers"]["Content-Type"].startswith("multipart/form-data")


def test_non_ascii_names_and_filenames(httpbin_url, sink):
    form = FormData()
    form.add_field("champ é", b"contents", filename="résumé 日本 \"q\".txt",
                   content_type="text/plain")
    form.add_field("nom", "Zoë")
    got = echo(httpbin_url + "/post", data=form)
    assert got["files"] == {"champ é": "contents"}  # parsed as a file: the filename was read
    assert got["form"] == {"nom": "Zoë"}
    # The exact filename, as a multipart parser (werkzeug's) reads it back:
    from werkzeug.formparser import parse_form_data

    form2 = FormData()
    form2.add_field("champ é", b"contents", filename="résumé 日本 \"q\".txt")
    status, summary, _ = run(send("POST", sink.url, data=form2))
    body = sink.sink.requests[0].body
    assert b'filename="r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \\"q\\".txt"' in body
    assert b"filename*" not in body  # RFC 7578 4.2: raw UTF-8, not RFC 2231
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": summary["headers"]["content-type"],
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    _, _, files = parse_form_data(environ)
    assert files["champ é"].filename == 'résumé 日本 "q".txt'
    assert files["champ é"].read() == b"contents"


def test_multipart_writer_with_a_json_part(httpbin_url):
    with MultipartWriter("form-data") as mp:
        mp.append_json({"id": 7, "tags": ["a"]},
                       {"Content-Disposition": 'form-data; name="meta"'})
        part = mp.append("document body", {"Content-Type": "text/markdown"})
        part.headers["Content-Disposition"] = 'form-data; name="doc"; filename="doc.md"'
    got = echo(httpbin_url + "/post", data=mp)
    assert json.loads(got["form"]["meta"]) == {"id": 7, "tags": ["a"]}
    assert got["files"] == {"doc": "document body"}
    assert got["headers"]["Content-Type"] == f"multipart/form-data; boundary={mp.boundary}"


def test_multipart_mixed_parts_parse_back(httpbin_url):
    mp = MultipartWriter("mixed")
    mp.append_json({"k": "v"})
    mp.append(b"\x89PNG...", {"Content-Type": "image/png"})
    mp.append("texte é")
    got = echo(httpbin_url + "/anything", data=mp)
    content_type = got["headers"]["Content-Type"]
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + got["data"].encode("latin-1")
    if got["data"].startswith("data:"):  # httpbin base64-encodes what is not UTF-8
        import base64

        raw = (f"Content-Type: {content_type}\r\n\r\n".encode()
               + base64.b64decode(got["data"].split(",", 1)[1]))
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["application/json", "image/png",
                                                     "text/plain"]
    assert json.loads(parts[0].get_payload(decode=True)) == {"k": "v"}
    assert parts[1].get_payload(decode=True) == b"\x89PNG..."
    assert parts[2].get_payload(decode=True).decode("utf-8") == "texte é"


# -- 3. streaming bodies --------------------------------------------------------------------


def test_async_generator_body_is_chunked(chunked_httpbin):
    async def gen():
        for piece in (b"alpha ", b"", bytearray(b"beta "), memoryview(b"gamma")):
            await asyncio.sleep(0)
            yield piece

    got = echo(chunked_httpbin + "/post", data=gen())
    assert got["data"] == "alpha beta gamma"
    assert got["headers"]["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in got["headers"]


def test_async_iterable_object_body(sink):
    class Numbers:
        def __aiter__(self):
            return self._gen()

        async def _gen(self):
            for i in range(100):
                yield b"%d," % i

    run(send("POST", sink.url, data=Numbers()))
    req = sink.sink.requests[0]
    assert req.body == b"".join(b"%d," % i for i in range(100))
    assert req.framing == "chunked"


def test_file_body_gets_content_length_from_its_size(sink, tmp_path):
    path = tmp_path / "three.bin"
    path.write_bytes(PATTERN * 3)
    with open(path, "rb") as f:
        f.seek(10)  # sent from the current position
        run(send("PUT", sink.url, data=f))
    req = sink.sink.requests[0]
    assert req.framing == "length"
    assert req.headers["content-length"] == str(3 * len(PATTERN) - 10)
    assert req.sha256 == sha((PATTERN * 3)[10:])


def test_unsized_file_is_sent_chunked(sink):
    read_fd, write_fd = os.pipe()

    def produce():
        with os.fdopen(write_fd, "wb") as w:
            for _ in range(4):
                w.write(PATTERN)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_fd, "rb") as r:
        run(send("POST", sink.url, data=r))
    producer.join(5)
    req = sink.sink.requests[0]
    assert req.framing == "chunked" and "content-length" not in req.headers
    assert req.sha256 == sha(PATTERN * 4)


def test_file_is_read_off_the_loop_thread(sink):
    loop_thread: list[int] = []
    reader_threads: set[int] = set()

    class Recording(io.RawIOBase):
        def __init__(self):
            self.left = 3 * len(PATTERN)

        def readable(self):
            return True

        def readinto(self, buffer):
            reader_threads.add(threading.get_ident())
            n = min(len(buffer), self.left, len(PATTERN))
            buffer[:n] = PATTERN[:n]
            self.left -= n
            return n

    async def main():
        loop_thread.append(threading.get_ident())
        return await send("POST", sink.url, data=Recording())

    run(main())
    assert reader_threads and loop_thread[0] not in reader_threads
    assert sink.sink.requests[0].length == 3 * len(PATTERN)


def test_streamed_response_is_the_body_of_another_request(raw_server, sink):
    payload = PATTERN * 5

    def source(conn):
        read_request(conn)
        conn.sendall(http_response(payload))

    src = raw_server(source)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(src.url) as download:
                async with s.post(sink.url, data=download.content) as up:
                    return await up.json()

    summary = run(main())
    assert summary["length"] == len(payload) and summary["sha256"] == sha(payload)
    assert summary["framing"] == "chunked"


@pytest.mark.parametrize("construct", ["no-arguments", "None-and-loop"])
def test_stream_reader_fed_by_user_code(sink, construct):
    async def main():
        if construct == "no-arguments":
            stream = StreamReader()  # aiohttp's docs: created by the user ...
        else:
            stream = StreamReader(None, loop=asyncio.get_running_loop())

        async def feed():  # ... and fed from another task
            for i in range(50):
                stream.feed_data(b"piece %d;" % i)
                await asyncio.sleep(0)
            stream.feed_eof()

        feeder = asyncio.ensure_future(feed())
        async with ClientSession(timeout=SHORT) as s:
            async with s.post(sink.url, data=stream) as r:
                summary = await r.json()
        await feeder
        return summary

    summary = run(main())
    expected = b"".join(b"piece %d;" % i for i in range(50))
    assert summary["sha256"] == sha(expected) and summary["framing"] == "chunked"


def test_sync_generator_is_refused_by_the_engine_before_sending(sink):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(TypeError, match=r"data=.*async generator"):
                await s.post(sink.url, data=(b"x" for _ in range(3)))
            await (await s.post(sink.url, data=b"after")).read()

    run(main())
    assert sink.connections == 1 and [r.body for r in sink.sink.requests] == [b"after"]


# -- 4. compression and chunked framing ------------------------------------------------------


async def _agen(data: bytes, piece: int = 65536):
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("compress", [True, "deflate", "gzip"])
@pytest.mark.parametrize("source", ["bytes", "async-generator", "file"])
def test_compress_encodes_the_body(sink, compress, source):
    data = PATTERN * 2
    body = {"bytes": data, "async-generator": _agen(data), "file": io.BytesIO(data)}[source]
    status, summary, _ = run(send("POST", sink.url, data=body, compress=compress))
    assert status == 200
    req = sink.sink.requests[0]
    assert req.headers["content-encoding"] == ("deflate" if compress is True else compress)
    assert req.framing == "chunked"  # the compressed length is unknown up front
    assert req.length == len(data) and req.sha256 == sha(data)  # the server decompressed it
    assert req.wire_length < len(data) // 10


def test_compress_false_sends_precompressed_bytes_untouched(sink):
    data = PATTERN * 2
    packed = zlib.compress(data)
    run(send("POST", sink.url, data=packed, compress=False,
             headers={"Content-Encoding": "deflate"}))
    req = sink.sink.requests[0]
    assert req.framing == "length" and req.headers["content-length"] == str(len(packed))
    assert req.wire_sha256 == sha(packed)  # not compressed twice
    assert req.sha256 == sha(data)


def test_chunked_true_forces_chunked_framing(sink):
    run(send("POST", sink.url, data=b"forced " * 100, chunked=True))
    run(send("POST", sink.url, data=io.BytesIO(PATTERN), chunked=True))
    first, second = sink.sink.requests
    assert first.framing == second.framing == "chunked"
    assert "content-length" not in first.headers and "content-length" not in second.headers
    assert first.body == b"forced " * 100 and second.sha256 == sha(PATTERN)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compress": True, "headers": {"Content-Encoding": "gzip"}}, "compress="),
        ({"compress": "br"}, "compress="),
        ({"chunked": True, "headers": {"Content-Length": "3"}}, "chunked="),
    ],
)
def test_contradictory_framing_options_fail_before_sending(sink, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(send("POST", sink.url, data=b"abc", **kwargs))
    assert sink.connections == 0


# -- 5. Expect: 100-continue ----------------------------------------------------------------


@pytest.mark.parametrize("source", ["bytes", "async-generator"])
def test_expect100_body_sent_only_after_100_continue(raw_server, source):
    data = PATTERN
    server = ExpectServer()
    srv = raw_server(server)
    body = data if source == "bytes" else _agen(data)
    status, summary, _ = run(send("POST", srv.url, data=body, expect100=True))
    assert status == 200
    assert server.head[2]["expect"] == "100-continue"
    assert server.early == b""  # nothing of the body before the 100
    assert summary["sha256"] == sha(data) and summary["length"] == len(data)


@pytest.mark.parametrize("close_after_final", [False, True])
@pytest.mark.parametrize("final_status", [417, 401])
def test_expect100_final_status_skips_the_body(raw_server, final_status, close_after_final):
    final = http_response(b"nope", status=final_status, reason="No")
    server = ExpectServer(final, close_after_final=close_after_final)
    srv = raw_server(server)
    consumed = []

    async def gen():
        for i in range(8):
            consumed.append(i)
            yield PATTERN

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.post(srv.url, data=gen(), expect100=True) as r:
                first = (r.status, await r.read())
            async with s.post(srv.url, data=b"next request") as r:  # the session still works
                second = (r.status, await r.json())
        return first, second

    (status, text), (status2, summary) = run(main())
    assert (status, text) == (final_status, b"nope")
    assert consumed == []  # the body was never even produced
    assert server.early == b""
    if not close_after_final:
        assert server.client_closed.wait(5)  # the client closed it: not reused mid-request
        assert server.after_final == b""  # and sent no body after the final status
    assert status2 == 200 and summary["sha256"] == sha(b"next request")
    assert srv.connections == 2


# -- 6. redirects with bodies ---------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("source", ["bytes", "file"])
def test_307_308_replay_a_replayable_body(httpbin_url, tmp_path, status, source):
    data = b"replayed body \xe2\x9c\x93"
    path = tmp_path / "body.bin"
    path.write_bytes(data)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with open(path, "rb") as f:
                body = data if source == "bytes" else f
                url = f"{httpbin_url}/redirect-to?url=/post&status_code={status}"
                async with s.post(url, data=body) as r:
                    return r.status, [h.status for h in r.history], await r.json()

    final, history, got = run(main())
    assert final == 200 and history == [status]
    assert got["data"] == data.decode()
    assert got["headers"]["Content-Length"] == str(len(data))


def test_307_with_a_one_shot_async_generator_is_refused(chunked_httpbin):
    async def gen():
        yield b"once"

    url = f"{chunked_httpbin}/redirect-to?url=/post&status_code=307"
    with pytest.raises(BodyNotReplayableError, match="307") as info:
        run(send("POST", url, data=gen()))
    assert isinstance(info.value, ClientError) and isinstance(info.value, ValueError)


# -- 7. bad input ---------------------------------------------------------------------------


class _Closed(io.BytesIO):
    pass


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": object()}, TypeError, r"data=: unsupported body type object"),
        ({"data": 3.5}, TypeError, r"data=: unsupported body type float"),
        ({"data": "closed-file"}, ValueError, r"data=: the file .* is closed"),
        ({"data": b"x", "json": {"a": 1}}, ValueError, r"data= and json="),
        ({"data": {"k": object()}}, TypeError, r"data="),
    ],
)
def test_bad_bodies_fail_before_anything_is_sent(sink, kwargs, error, match):
    if kwargs["data"] == "closed-file":
        f = _Closed(b"abc")
        f.close()
        kwargs = {"data": f}

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(error, match=match):
                await s.post(sink.url, **kwargs)
            await (await s.post(sink.url, data=b"ok")).read()

    run(main())
    assert sink.connections == 1 and [r.body for r in sink.sink.requests] == [b"ok"]


@pytest.mark.parametrize("bad", ["text", 7])
def test_async_generator_yielding_non_bytes_closes_the_connection(sink, bad):
    async def gen():
        yield b"good start "
        yield bad

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(TypeError, match=r"data=: the async iterable yielded"):
                await s.post(sink.url, data=gen())
            async with s.post(sink.url, data=b"fresh") as r:
                return await r.json()

    summary = run(main())
    assert summary["sha256"] == sha(b"fresh")
    assert sink.connections == 2  # the failed request's connection was not reused
    assert sink.join(5)
    assert sink.sink.closed_connections == 2 and len(sink.sink.requests) == 1


# -- payload.close() --------------------------------------------------------------------------


def test_unfinished_async_generator_is_closed_when_the_server_answers_early(raw_server):
    def answer_early(conn):  # answers after the head, then drains the body
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(1)
        conn.sendall(http_response(b"too big", status=413, reason="Too Large"))
        while conn.recv(65536):  # drain until the client gives up
            pass

    srv = raw_server(answer_early)
    state = {"yielded": 0, "closed": False}

    async def endless():
        try:
            while True:
                state["yielded"] += 1
                yield PATTERN
        finally:
            state["closed"] = True

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.post(srv.url, data=endless())
            closed_at_return = state["closed"]
            resp.close()
            return resp.status, closed_at_return

    status, closed_at_return = run(main())
    assert status == 413
    assert closed_at_return  # closed by the request itself, not later by the GC
