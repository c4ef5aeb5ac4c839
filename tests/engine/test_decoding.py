"""Transparent Content-Encoding decoding: gzip, deflate (zlib and raw), br, zstd, and
auto_decompress=False (point 9)."""

from __future__ import annotations

import gzip
import os
import zlib

import brotli
import pytest
import zstandard

from syncwrap.engine import ClientSession, ContentDecodingError
from tests.engine._util import SHORT, canned, run
from tests.servers import chunked_body, http_response

PLAIN = b"syncwrap decodes this transparently. " * 2000 + os.urandom(3000).hex().encode()


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


ENCODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # zlib-wrapped, as RFC 9110 says
    "deflate-raw": raw_deflate,  # what some servers send for "deflate"
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def _header(name: str) -> str:
    return "deflate" if name == "deflate-raw" else name


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("name", list(ENCODINGS))
def test_decoded_transparently_httpserver(httpserver, name):
    encoded = ENCODINGS[name](PLAIN)
    httpserver.expect_request("/enc").respond_with_data(
        encoded, headers={"Content-Encoding": _header(name)}, content_type="text/plain")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(httpserver.url_for("/enc")) as resp:
                return resp.headers["Content-Encoding"], await resp.read(), await resp.text()

    header, body, text = run(main())
    assert header == _header(name)
    assert body == PLAIN and text == PLAIN.decode()
    request, _ = httpserver.log[0]
    accepted = {v.strip() for v in request.headers["Accept-Encoding"].split(",")}
    assert {"gzip", "deflate", "br", "zstd"} <= accepted


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_auto_decompress_false_gives_raw_bytes(httpserver, name):
    encoded = ENCODINGS[name](PLAIN)
    httpserver.expect_request("/enc").respond_with_data(
        encoded, headers={"Content-Encoding": _header(name)})

    async def main():
        async with ClientSession(auto_decompress=False, timeout=SHORT) as s:
            async with s.get(httpserver.url_for("/enc")) as resp:
                session_level = await resp.read()
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(httpserver.url_for("/enc"), auto_decompress=False) as resp:
                per_request = await resp.read()
        return session_level, per_request

    assert run(main()) == (encoded, encoded)


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("name", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
def test_decoding_across_many_small_chunks(raw_server, name):
    """A chunked, compressed body split into tiny chunks decodes the same, read in pieces."""
    encoded = ENCODINGS[name](PLAIN)
    pieces = [encoded[i:i + 7] for i in range(0, len(encoded), 7)]
    head = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: "
            + _header(name).encode() + b"\r\n\r\n")
    server = raw_server(canned(head + chunked_body(pieces), http_response(b"next")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                parts = [p async for p in resp.content.iter_chunked(1000)]
            async with s.get(server.url) as resp:
                after = await resp.read()
            return parts, after

    parts, after = run(main())
    assert b"".join(parts) == PLAIN
    assert all(len(p) == 1000 for p in parts[:-1])
    assert after == b"next" and server.connections == 1


@pytest.mark.usefixtures("zlib_lib")
def test_decoding_with_content_length_over_raw_socket(raw_server):
    server = raw_server(canned(http_response(raw_deflate(PLAIN),
                                             headers={"Content-Encoding": "deflate"})))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                return await resp.read()

    assert run(main()) == PLAIN


def test_httpbin_gzip_and_deflate(httpbin_url):
    async def main():
        out = {}
        async with ClientSession(timeout=SHORT) as s:
            for path in ("gzip", "deflate", "brotli"):
                async with s.get(f"{httpbin_url}/{path}") as resp:
                    out[path] = (resp.headers.get("Content-Encoding"), await resp.json())
        return out

    out = run(main())
    assert out["gzip"][0] == "gzip" and out["gzip"][1]["gzipped"] is True
    assert out["deflate"][0] == "deflate" and out["deflate"][1]["deflated"] is True
    assert out["brotli"][0] == "br" and out["brotli"][1]["brotli"] is True


def test_identity_and_unknown_encodings_pass_through(httpserver):
    httpserver.expect_request("/id").respond_with_data(b"plain", headers={"Content-Encoding":
                                                                           "identity"})
    httpserver.expect_request("/unknown").respond_with_data(b"\x01\x02",
                                                            headers={"Content-Encoding": "foo"})

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(httpserver.url_for("/id")) as r1:
                a = await r1.read()
            async with s.get(httpserver.url_for("/unknown")) as r2:
                b = await r2.read()
            return a, b

    assert run(main()) == (b"plain", b"\x01\x02")


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("name", ["gzip", "deflate", "br", "zstd"])
def test_corrupt_body_raises_content_decoding_error(httpserver, name):
    httpserver.expect_request("/bad").respond_with_data(
        b"\xff\xfenot compressed at all" * 10, headers={"Content-Encoding": name})

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.get(httpserver.url_for("/bad"))
            with pytest.raises(ContentDecodingError):
                await resp.read()

    run(main())


def test_head_response_with_content_encoding(httpserver):
    httpserver.expect_request("/h", method="HEAD").respond_with_data(
        b"", headers={"Content-Encoding": "gzip"})

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.head(httpserver.url_for("/h")) as resp:
                return resp.status, await resp.read()

    assert run(main()) == (200, b"")
