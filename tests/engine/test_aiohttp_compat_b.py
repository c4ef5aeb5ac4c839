"""Issue 14, cookies and bodies as aiohttp 3.14's client does them, against real servers:
a raw socket server that records each request, and httpbin for multipart parsing."""

from __future__ import annotations

import io
import json
from http.cookies import Morsel

from multidict import MultiDict

import syncwrap.engine as aiohttp
from syncwrap.engine import ClientSession, CookieJar
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _morsel(key: str, value: str, **attrs: str | bool) -> Morsel[str]:
    morsel: Morsel[str] = Morsel()
    morsel.set(key, value, value)
    for name, val in attrs.items():
        morsel[name.replace("_", "-")] = val
    return morsel


async def _send(url: str, answer: bytes = OK, jar: CookieJar | None = None, **kw) -> None:
    async with ClientSession(timeout=SHORT, cookie_jar=jar) as s:
        async with s.post(url, **kw) if "data" in kw else s.get(url, **kw) as r:
            await r.read()


def _server(raw_server, answer: bytes = OK):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(answer, seen))
    return f"http://127.0.0.1:{server.port}/", seen


# ------------------------------------------------------------------------- cookies


def test_morsel_is_sent_under_its_own_name(raw_server):
    url, seen = _server(raw_server)
    run(_send(url, cookies={"dict-key": _morsel("real", "v1"), "plain": "v2"}))
    assert seen[0].headers["cookie"] == "real=v1; plain=v2"


def test_caller_cookie_attributes_are_ignored_secure_sent_over_http(raw_server):
    url, seen = _server(raw_server)
    run(_send(url, cookies={"s": _morsel("s", "1", secure=True, path="/elsewhere",
                                         domain="example.org")}))
    assert seen[0].headers["cookie"] == "s=1"


def test_set_cookie_with_illegal_name_is_not_stored(raw_server):
    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
              b"Set-Cookie: bad name=1\r\nSet-Cookie: bad,name=2\r\n"
              b'Set-Cookie: bad"q=3\r\nSet-Cookie: good[0]=4\r\n\r\n')
    url, _ = _server(raw_server, answer)
    jar = CookieJar(unsafe=True)
    run(_send(url, jar=jar))
    assert [m.key for m in jar] == ["good[0]"]


def test_jar_cookies_keep_max_age_and_expiry_after_malformed_path(raw_server):
    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
              b"Set-Cookie: a=1; Max-Age=100\r\n"
              b"Set-Cookie: b=2; Path=nope; Max-Age=0\r\n"
              b"Set-Cookie: c=3; Path; Expires=Thu, 01 Jan 1970 00:00:01 GMT\r\n"
              b"Set-Cookie: d=4; Path=x; Max-Age=50\r\n\r\n")
    url, _ = _server(raw_server, answer)
    jar = CookieJar(unsafe=True)
    run(_send(url, jar=jar))
    kept = {m.key: m for m in jar}
    assert sorted(kept) == ["a", "d"]  # b and c expired by the attributes after Path
    assert kept["a"]["max-age"] == "100"
    assert kept["d"]["max-age"] == "50" and kept["d"]["path"] == "/"


# -------------------------------------------------------------------------- bodies


def test_stringio_body_has_a_content_length(raw_server):
    url, seen = _server(raw_server)
    run(_send(url, data=io.StringIO("héllo")))
    assert seen[0].headers["content-length"] == str(len("héllo".encode()))
    assert "transfer-encoding" not in seen[0].headers
    assert seen[0].body == "héllo".encode()
    assert seen[0].headers["content-type"] == "text/plain; charset=utf-8"


def _multipart(httpbin_url: str, data) -> dict:
    async def go() -> dict:
        async with ClientSession(timeout=SHORT) as s:
            async with s.post(httpbin_url + "/post", data=data) as r:
                assert r.status == 200
                return await r.json()

    return run(go())


def test_data_list_of_a_file_is_multipart(httpbin_url, tmp_path):
    path = tmp_path / "report.txt"
    path.write_bytes(b"file body")
    with open(path, "rb") as f:
        got = _multipart(httpbin_url, [f])
    assert got["files"] == {"report.txt": "file body"}
    assert got["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")


def test_data_tuple_of_pair_multidict_and_file_is_multipart(httpbin_url, tmp_path):
    path = tmp_path / "up.bin"
    path.write_bytes(b"\x00\x01bin")
    with open(path, "rb") as f:
        got = _multipart(httpbin_url, (("a", "1"), MultiDict([("b", "2"), ("b", "3")]), f))
    assert got["form"] == {"a": "1", "b": ["2", "3"]}
    assert got["files"] == {"up.bin": "\x00\x01bin"}


def _parts(body: bytes) -> list[bytes]:
    boundary = body.split(b"\r\n", 1)[0]
    return [p for p in body.split(boundary)[1:-1]]


def test_formdata_field_charset_is_honoured(raw_server):
    url, seen = _server(raw_server)
    form = aiohttp.FormData()
    form.add_field("ru", "привет", content_type="text/plain; charset=koi8-r")
    form.add_field("plain", "é")
    run(_send(url, data=form))
    ru, plain = _parts(seen[0].body)
    assert b"Content-Type: text/plain; charset=koi8-r" in ru
    assert ru.endswith("привет".encode("koi8-r") + b"\r\n")
    assert plain.endswith("é".encode() + b"\r\n")


def test_formdata_charset_encodes_multipart_and_urlencoded(raw_server):
    url, seen = _server(raw_server)
    multi = aiohttp.FormData(charset="cp1251")
    multi.add_field("t", "привет")
    multi.add_field("f", b"x", filename="f.bin")
    run(_send(url, data=multi))
    text_part = _parts(seen[0].body)[0]
    assert text_part.endswith("привет".encode("cp1251") + b"\r\n")
    run(_send(url, data=aiohttp.FormData({"t": "привет"}, charset="cp1251")))
    assert seen[1].headers["content-type"] == "application/x-www-form-urlencoded; charset=cp1251"
    assert seen[1].body == b"t=%EF%F0%E8%E2%E5%F2"


def test_payload_classes_are_exported_and_chosen_by_get_payload(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")

    async def gen():
        yield b"x"

    with open(path, "rb") as f:
        assert isinstance(aiohttp.get_payload(f), aiohttp.BufferedReaderPayload)
    with open(path, encoding="utf-8") as f:
        assert isinstance(aiohttp.get_payload(f), aiohttp.TextIOPayload)
    assert isinstance(aiohttp.get_payload(io.BytesIO(b"abc")), aiohttp.BytesIOPayload)
    assert aiohttp.get_payload(io.BytesIO(b"abc")).size == 3
    assert isinstance(aiohttp.get_payload(io.StringIO("é")), aiohttp.StringIOPayload)
    assert isinstance(aiohttp.get_payload(gen()), aiohttp.AsyncIterablePayload)
    assert isinstance(aiohttp.PAYLOAD_REGISTRY, aiohttp.PayloadRegistry)


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_payload_registry_serialises_a_registered_type(raw_server):
    def point_payload(value: Point, **kw) -> aiohttp.Payload:
        return aiohttp.JsonPayload({"x": value.x, "y": value.y}, **kw)

    aiohttp.PAYLOAD_REGISTRY.register(point_payload, Point)
    url, seen = _server(raw_server)
    run(_send(url, data=Point(1, 2)))
    assert json.loads(seen[0].body) == {"x": 1, "y": 2}
    assert seen[0].headers["content-type"] == "application/json"


def test_payload_registry_order_and_bad_order():
    class Marker(aiohttp.BytesPayload):
        pass

    from syncwrap.engine.payload import Order, PayloadRegistry

    registry = PayloadRegistry()
    registry.register(lambda v, **kw: Marker(b"first", **kw), bytes, order=Order.try_first)
    assert isinstance(registry.get(b"x"), Marker)
    try:
        registry.register(Marker, bytes, order="sometimes")
    except ValueError as exc:
        assert "order=" in str(exc)
    else:
        raise AssertionError("a bad order was accepted")
