"""The engine's zlib backend (engine/zlib_backend.py): ISA-L's with the speedups installed,
any zlib-compatible module through ``set_zlib_backend`` (aiohttp's name), kept by a body for
its whole length. Every decoding test marked ``zlib_lib`` runs once per installed library."""

from __future__ import annotations

import gzip
import hashlib
import random
import zlib
from types import SimpleNamespace

import pytest

from syncwrap.engine import ClientSession, set_zlib_backend
from syncwrap.engine.zlib_backend import zlib_backend
from tests.engine._util import SHORT, canned, run
from tests.servers import http_response

MIB = 1 << 20
rnd = random.Random(16)
# 16 letters at random: 4 bits of entropy a byte, so gzip halves it and inflating does work.
BODY = rnd.randbytes(8 * MIB).translate(bytes(b"abcdefghijklmnop"[i % 16] for i in range(256)))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_speedups_make_isal_the_default():
    isal_zlib = pytest.importorskip("isal.isal_zlib")
    assert zlib_backend() is isal_zlib


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_large_body_decodes_exactly_with_each_library(raw_server, zlib_lib, encoding):
    encoded = gzip.compress(BODY) if encoding == "gzip" else zlib.compress(BODY)
    server = raw_server(canned(http_response(encoded, headers={"Content-Encoding": encoding})))

    async def main():
        digest, size, largest = hashlib.sha256(), 0, 0
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                async for piece in resp.content.iter_any():
                    digest.update(piece)
                    size += len(piece)
                    largest = max(largest, len(piece))
        return digest.hexdigest(), size, largest

    digest, size, largest = run(main())
    assert (digest, size) == (sha(BODY), len(BODY))
    assert largest <= 2 * MIB  # decoded in bounded steps, whatever the library


def counting(lib) -> SimpleNamespace:
    """``lib`` with a count of the decompressors made from it."""
    made = []

    def decompressobj(*args, **kwargs):
        made.append(1)
        return lib.decompressobj(*args, **kwargs)

    return SimpleNamespace(decompressobj=decompressobj, compressobj=lib.compressobj,
                           error=lib.error, MAX_WBITS=lib.MAX_WBITS, made=made)


def test_a_body_keeps_its_library_and_the_next_body_takes_the_new_one(raw_server):
    """The second gzip member starts after the switch: it is still inflated by the first
    library (a decoder that asked for the backend again would take the second)."""
    first, second = counting(zlib), counting(zlib)
    encoded = gzip.compress(BODY[: 6 * MIB]) + gzip.compress(BODY[6 * MIB :])
    small = gzip.compress(b"next")
    server = raw_server(canned(http_response(encoded, headers={"Content-Encoding": "gzip"}),
                               http_response(small, headers={"Content-Encoding": "gzip"})))
    before = zlib_backend()

    async def main():
        set_zlib_backend(first)
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                head = await resp.content.readexactly(64 * 1024)
                set_zlib_backend(second)
                rest = await resp.read()
            async with s.get(server.url) as resp:
                after = await resp.read()
        return head + rest, after

    try:
        body, after = run(main())
    finally:
        set_zlib_backend(before)
    assert sha(body) == sha(BODY) and after == b"next"
    assert len(first.made) == 2 and len(second.made) == 1


@pytest.mark.parametrize("lib, missing", [
    (object(), "decompressobj, compressobj, error, MAX_WBITS"),
    (SimpleNamespace(decompressobj=zlib.decompressobj, compressobj=zlib.compressobj,
                     MAX_WBITS=15), "error"),
])
def test_what_is_not_a_zlib_module_is_refused_naming_what_it_lacks(lib, missing):
    before = zlib_backend()
    with pytest.raises(TypeError, match=rf"set_zlib_backend\(lib\): .* \(it has no {missing}\)"):
        set_zlib_backend(lib)
    assert zlib_backend() is before


def test_an_error_attribute_that_is_no_exception_class_is_refused():
    lib = SimpleNamespace(decompressobj=zlib.decompressobj, compressobj=zlib.compressobj,
                          error="oops", MAX_WBITS=15)
    with pytest.raises(TypeError, match=r"set_zlib_backend\(lib\): .*error is not an exception"):
        set_zlib_backend(lib)
