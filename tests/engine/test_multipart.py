"""Sans-I/O tests of multipart bodies: exact bytes, and parsed back by real parsers."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import tracemalloc

import pytest
from multidict import MultiDict
from werkzeug.formparser import parse_form_data

from syncwrap.engine.multipart import (
    FormData,
    MultipartWriter,
    content_disposition,
    requests_files_to_formdata,
)
from syncwrap.engine.payload import BytesPayload, get_payload


class Collect:
    """The engine's BodyWriter interface, keeping what is written."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(chunk))


def body_of(payload) -> bytes:
    async def go():
        w = Collect()
        await payload.write(w)
        return b"".join(w.chunks)

    return asyncio.run(go())


def werkzeug_parse(payload, body: bytes):
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": payload.content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, storages = parse_form_data(environ)
    files = MultiDict()
    for name, storage in storages.items(multi=True):
        files.add(name, Upload(storage))
        storage.close()  # werkzeug spools uploads to temporary files
    return form, files


class Upload:
    """What werkzeug parsed for one file part (its temporary file already closed)."""

    def __init__(self, storage) -> None:
        self.filename = storage.filename
        self.content_type = storage.content_type
        self.headers = storage.headers
        self._data = storage.read()

    def read(self) -> bytes:
        return self._data


def email_parse(payload, body: bytes):
    head = f"Content-Type: {payload.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    return email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)


# -- MultipartWriter -------------------------------------------------------------


def test_exact_layout():
    with MultipartWriter("mixed", boundary="BOUNDARY") as mp:
        mp.append("hello")
        mp.append(b"\x00\x01", headers={"X-Tag": "raw"})
        mp.append_json({"a": 1})
        mp.append_form([("k", "v 1"), ("k", "2")])
    assert mp.content_type == "multipart/mixed; boundary=BOUNDARY"
    expected = (
        b"--BOUNDARY\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"hello\r\n"
        b"--BOUNDARY\r\n"
        b"X-Tag: raw\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"\r\n"
        b"\x00\x01\r\n"
        b"--BOUNDARY\r\n"
        b"Content-Type: application/json\r\n"
        b"\r\n"
        b'{"a": 1}\r\n'
        b"--BOUNDARY\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"\r\n"
        b"k=v+1&k=2\r\n"
        b"--BOUNDARY--\r\n"
    )
    body = body_of(mp)
    assert body == expected
    assert mp.size == len(expected) and mp.replayable and len(mp) == 4


def test_empty_writer_is_just_the_closing_boundary():
    mp = MultipartWriter(boundary="b")
    assert body_of(mp) == b"--b--\r\n" and mp.size == 7


def test_parsed_back_by_the_email_package():
    mp = MultipartWriter("related")
    mp.append("first part")
    mp.append(io.BytesIO(b"\r\n--not-a-boundary\r\n" * 3), headers={"Content-ID": "<f>"})
    inner = MultipartWriter("alternative")
    inner.append("plain")
    inner.append(b"<b>html</b>", headers={"Content-Type": "text/html"})
    mp.append(inner)
    body = body_of(mp)
    assert mp.size == len(body)
    msg = email_parse(mp, body)
    assert msg.is_multipart() and msg.get_content_subtype() == "related"
    assert msg.get_boundary() == mp.boundary
    first, second, third = msg.get_payload()
    assert first.get_payload(decode=True) == b"first part"
    assert second["Content-ID"] == "<f>"
    assert second.get_payload(decode=True) == b"\r\n--not-a-boundary\r\n" * 3
    assert third.get_content_type() == "multipart/alternative"
    assert [p.get_payload(decode=True) for p in third.get_payload()] == [b"plain", b"<b>html</b>"]
    assert not msg.defects


def test_size_unknown_when_a_part_is_streamed():
    async def gen():
        yield b"chunk"

    mp = MultipartWriter(boundary="xyz")
    mp.append(b"known")
    mp.append(gen())
    assert mp.size is None and not mp.replayable
    body = body_of(mp)
    assert body.endswith(b"\r\n\r\nchunk\r\n--xyz--\r\n")


def test_writer_replays_file_parts(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"file body")
    with open(path, "rb") as f:
        mp = MultipartWriter()
        mp.append(f)
        assert mp.replayable
        assert body_of(mp) == body_of(mp)


def test_small_parts_are_coalesced_large_ones_streamed():
    mp = MultipartWriter(boundary="b")
    for i in range(50):
        mp.append(str(i))
    mp.append(io.BytesIO(b"x" * 3_000_000))
    w = Collect()
    asyncio.run(mp.write(w))
    # one write for the 50 small parts and the next head, then the file's chunks, the end
    assert w.chunks[0].count(b"--b\r\n") == 51
    assert b"".join(w.chunks[1:-1]) == b"x" * 3_000_000 and len(w.chunks) > 3
    assert w.chunks[-1] == b"\r\n--b--\r\n"


@pytest.mark.parametrize("boundary", ["", "a" * 71, "ends with space ", "no\r\nway", "semi;colon"])
def test_bad_boundaries(boundary):
    with pytest.raises(ValueError, match="boundary"):
        MultipartWriter(boundary=boundary)


def test_boundary_with_spaces_is_quoted_in_content_type():
    mp = MultipartWriter(boundary="has space")
    assert mp.content_type == 'multipart/mixed; boundary="has space"'
    mp.append("x")
    assert email_parse(mp, body_of(mp)).get_payload()[0].get_payload() == "x"


def test_header_injection_is_refused():
    mp = MultipartWriter()
    with pytest.raises(ValueError, match="CR, LF"):
        mp.append(b"x", headers={"X-Evil": "a\r\nContent-Type: text/html"})
    with pytest.raises(ValueError, match="token"):
        mp.append_payload(BytesPayload(b"x", headers={"Bad Name": "v"}))
    with pytest.raises(ValueError, match="Content-Transfer-Encoding"):
        mp.append(b"x", headers={"Content-Transfer-Encoding": "base64"})


def test_append_refuses_bad_bodies_naming_data():
    with pytest.raises(TypeError, match="data="):
        MultipartWriter().append(object())


# -- Content-Disposition -----------------------------------------------------------


def test_content_disposition_quoting():
    assert (
        content_disposition("form-data", name='a"b\\c', filename="ü.txt")
        == 'form-data; name="a\\"b\\\\c"; filename="ü.txt"'
    )
    assert content_disposition("form-data", quote_fields=False, name="a%22b") == (
        'form-data; name="a%22b"'
    )
    for bad in ("a\rb", "a\nb", "a\0b"):
        with pytest.raises(ValueError, match="CR, LF"):
            content_disposition("form-data", name=bad)


# -- FormData ------------------------------------------------------------------------


def test_formdata_urlencoded_when_simple():
    form = FormData({"a": ["1", "2"]})
    form.add_field("b", 3)
    form.add_field("c", b"raw\xff")
    form.add_fields(("d", "x y"), MultiDict([("e", "é")]))
    payload = form()
    assert not form.is_multipart
    assert payload.content_type == "application/x-www-form-urlencoded"
    assert body_of(payload) == b"a=1&a=2&b=3&c=raw%FF&d=x+y&e=%C3%A9"
    assert payload.size == len(body_of(payload))
    assert form.to_payload() is payload  # the same body until a field is added


def test_formdata_charset():
    form = FormData([("name", "é")], charset="latin-1")
    assert body_of(form()) == b"name=%E9"


def test_formdata_multipart_exact_layout():
    form = FormData()
    form.add_field("title", "Hi")
    form.add_field("doc", b"%PDF", filename="a.pdf")
    form.add_field("meta", '{"k": 1}', content_type="application/json")
    payload = form()
    assert form.is_multipart
    boundary = payload.boundary
    assert payload.content_type == f"multipart/form-data; boundary={boundary}"
    expected = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="title"\r\n'
        "\r\n"
        "Hi\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="doc"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n"
        "\r\n"
        "%PDF\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="meta"\r\n'
        "Content-Type: application/json\r\n"
        "\r\n"
        '{"k": 1}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    assert body_of(payload) == expected and payload.size == len(expected)


def test_formdata_with_files_parsed_by_werkzeug(tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with open(path, "rb") as f:
        form = FormData({"user": "ann", "tags": ["x", "y"]})
        form.add_field("upload", f)
        form.add_field("blob", io.BytesIO(b"\x00\xff"), content_type="image/png")
        payload = form()
        body = body_of(payload)
    assert payload.size == len(body)
    fields, files = werkzeug_parse(payload, body)
    assert fields["user"] == "ann" and fields.getlist("tags") == ["x", "y"]
    assert files["upload"].filename == "report.csv"
    assert files["upload"].content_type == "text/csv"
    assert files["upload"].read() == b"a,b\n1,2\n"
    assert files["blob"].filename == "blob"  # unnamed file objects are named after the field
    assert files["blob"].content_type == "image/png" and files["blob"].read() == b"\x00\xff"


@pytest.mark.parametrize(
    "filename", ["résumé.pdf", "日本語ファイル.txt", 'quote"and\\slash.txt', "100%22.txt"]
)
def test_awkward_filenames_round_trip_through_werkzeug(filename):
    form = FormData()
    form.add_field("f", b"data", filename=filename)
    form.add_field('na"me é', "v")
    payload = form()
    body = body_of(payload)
    assert filename.encode() in body or '"' in filename  # raw UTF-8, never filename*=
    assert b"filename*" not in body
    fields, files = werkzeug_parse(payload, body)
    expected = filename if "%22" not in filename else filename.replace("%22", '"')
    # werkzeug also decodes the WHATWG %22 escape, so a literal "%22" cannot survive it
    assert files["f"].filename == expected and files["f"].read() == b"data"
    assert fields['na"me é'] == "v"


def test_crlf_in_names_and_filenames_is_refused():
    form = FormData()
    with pytest.raises(ValueError, match="CR, LF"):
        form.add_field("a\r\nContent-Type: evil", "x")
    with pytest.raises(ValueError, match="CR, LF"):
        form.add_field("a", b"x", filename="evil\n.txt")
    with pytest.raises(ValueError, match="CR, LF"):
        get_payload({"bad\nname": io.BytesIO(b"x")})


def test_quote_fields_false_is_verbatim():
    form = FormData(quote_fields=False)
    form.add_field("a%22b", b"x", filename="f.bin")
    assert b'name="a%22b"; filename="f.bin"' in body_of(form())


def test_formdata_refuses_bad_values():
    form = FormData()
    for bad in (None, True, object(), ["list"]):
        with pytest.raises(TypeError, match="form field"):
            form.add_field("x", bad)
    with pytest.raises(TypeError):
        form.add_field(b"bytes-name", "x")
    with pytest.raises(ValueError, match="content_transfer_encoding"):
        form.add_field("x", b"y", content_transfer_encoding="base64")
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        form.add_field("x", closed)
    with pytest.raises(TypeError, match="form fields"):
        form.add_fields(("a", "b", "c"))


def test_add_fields_accepts_files_named_after_them(tmp_path):
    path = tmp_path / "pic.png"
    path.write_bytes(b"\x89PNG")
    with open(path, "rb") as f:
        form = FormData()
        form.add_fields(f, {"k": "v"}, ("k2", "v2"))
        payload = form()
        fields, files = werkzeug_parse(payload, body_of(payload))
    assert files["pic.png"].filename == "pic.png" and files["pic.png"].read() == b"\x89PNG"
    assert files["pic.png"].content_type == "image/png"
    assert dict(fields) == {"k": "v", "k2": "v2"}


def test_adding_a_field_makes_a_new_payload():
    form = FormData({"a": "1"})
    first = form()
    form.add_field("f", io.BytesIO(b"x"))
    second = form.to_payload()
    assert second is not first and second.content_type.startswith("multipart/form-data")


def test_formdata_as_data():
    form = FormData({"a": "1"})
    assert get_payload(form) is form()


def test_async_generator_field_streams():
    async def gen():
        yield b"part1"
        yield b"part2"

    form = FormData()
    form.add_field("stream", gen(), filename="s.bin")
    payload = form()
    assert payload.size is None
    fields, files = werkzeug_parse(payload, body_of(payload))
    assert files["stream"].read() == b"part1part2"
    assert files["stream"].content_type == "application/octet-stream"


def test_64_mib_file_part_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.bin"
    size = 64 * 1024 * 1024
    with open(path, "wb") as f:
        f.truncate(size)

    class Count:
        n = 0

        async def write(self, chunk):
            self.n += len(chunk)

    with open(path, "rb") as f:
        payload = get_payload({"note": "big one", "file": f})
        expected = payload.size
        assert expected is not None and expected > size
        counter = Count()
        tracemalloc.start()
        try:
            asyncio.run(payload.write(counter))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert counter.n == expected
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# -- requests' files= ------------------------------------------------------------------


def test_requests_files_forms(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"JPEG")
    with open(path, "rb") as plain, open(path, "rb") as named, open(path, "rb") as typed:
        form = requests_files_to_formdata(
            {
                "plain": plain,
                "named": ("renamed.bin", named),
                "typed": ("t.dat", typed, "application/x-custom"),
                "hdrs": ("h.txt", b"bytes body", "text/plain", {"X-Extra": "1"}),
                "text": ("s.txt", "str body"),
                "raw": b"raw bytes",
                "field": (None, "just a value"),
                "skipped": None,
            },
            data={"first": "1", "many": ["a", "b"], "num": 5, "none": None},
        )
        payload = form()
        body = body_of(payload)
    assert payload.size == len(body)
    fields, files = werkzeug_parse(payload, body)
    assert list(fields.items(multi=True)) == [
        ("first", "1"),
        ("many", "a"),
        ("many", "b"),
        ("num", "5"),
        ("field", "just a value"),
    ]
    assert files["plain"].filename == "photo.jpg" and files["plain"].content_type == "image/jpeg"
    assert files["named"].filename == "renamed.bin" and files["named"].read() == b"JPEG"
    assert files["typed"].content_type == "application/x-custom"
    assert files["hdrs"].headers["X-Extra"] == "1" and files["hdrs"].read() == b"bytes body"
    assert files["text"].read() == b"str body"
    assert files["raw"].filename == "raw" and files["raw"].read() == b"raw bytes"
    assert "skipped" not in files and "skipped" not in fields
    # data= fields come first, in order
    assert body.index(b'name="first"') < body.index(b'name="plain"')


def test_requests_files_as_list_of_pairs_and_forced_multipart():
    form = requests_files_to_formdata([("f", ("a.txt", b"1")), ("f", ("b.txt", b"2"))])
    payload = form()
    fields, files = werkzeug_parse(payload, body_of(payload))
    assert [u.filename for u in files.getall("f")] == ["a.txt", "b.txt"]
    only_fields = requests_files_to_formdata({"x": (None, "1")})
    assert only_fields().content_type.startswith("multipart/form-data")


def test_requests_files_bad_input():
    with pytest.raises(TypeError, match="files="):
        requests_files_to_formdata("nope")
    with pytest.raises(TypeError, match="files="):
        requests_files_to_formdata({"f": ("a", b"b", "c", {}, "extra")})
    with pytest.raises(ValueError, match="data="):
        requests_files_to_formdata({"f": b"x"}, data="raw body")
