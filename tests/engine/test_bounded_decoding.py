"""Hostile encoded bodies (issue 9): bounded decoding steps and flow control on decoded bytes,
multi-member gzip, truncated, corrupt and padded streams, max_body_size for whole-body
reads, and redirect bodies dropped raw."""

from __future__ import annotations

import gzip
import json
import random
import zlib

import brotli
import pytest
import zstandard

from syncwrap.engine import (
    AuthFlow,
    BodyTooLargeError,
    ClientPayloadError,
    ClientSession,
    ContentDecodingError,
)
from syncwrap.engine.http1.decoders import DECODE_STEP
from tests.bombs import MIB, bomb, frame
from tests.engine._util import SHORT, Event, canned, recording, run
from tests.servers import (
    chunked_body,
    http_response,
    keep_alive,
    read_request,
    respond,
    wait_client_close,
)

rnd = random.Random(9)
WORDS = [bytes(rnd.choice(b"abcdefghij") for _ in range(rnd.randint(2, 8))) for _ in range(400)]
TEXT = b" ".join(rnd.choice(WORDS) for _ in range(60000))  # ~330 KB, compresses ~3:1


def encode(name: str, data: bytes) -> bytes:
    if name == "gzip":
        return gzip.compress(data)
    if name == "deflate":
        return zlib.compress(data)
    if name == "br":
        return brotli.compress(data)
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def encoded_response(body: bytes, encoding: str, framing: str = "length",
                     pieces: list[bytes] | None = None) -> bytes:
    """A 200 with ``Content-Encoding: encoding``; chunked in ``pieces`` if given."""
    if pieces is None:
        return frame(body, framing, headers={"Content-Encoding": encoding})
    head = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: {encoding}"
    return head.encode() + b"\r\n\r\n" + chunked_body(pieces)


def split(data: bytes, *offsets: int) -> list[bytes]:
    cuts = [0, *sorted(offsets), len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


async def read_whole(url: str, **kwargs) -> bytes:
    async with ClientSession(timeout=SHORT, **kwargs) as s:
        async with s.get(url) as resp:
            return await resp.read()


async def whole_then_streamed(url: str, n: int) -> tuple[bytes, bytes]:
    """Two GETs on one session: the first body read(), the second in iter_chunked(n)."""
    async with ClientSession(timeout=SHORT) as s:
        async with s.get(url) as r1:
            whole = await r1.read()
        async with s.get(url) as r2:
            streamed = b"".join([p async for p in r2.content.iter_chunked(n)])
    return whole, streamed


async def read_streamed(url: str, n: int = 1000) -> bytes:
    async with ClientSession(timeout=SHORT) as s:
        async with s.get(url) as resp:
            return b"".join([p async for p in resp.content.iter_chunked(n)])


# -- multi-member gzip, padding, garbage ---------------------------------------------------

MEMBERS = [TEXT[:70000], TEXT[70000:70001], TEXT[70001:]]  # one member of a single byte
TWO_GZ = b"".join(gzip.compress(m) for m in MEMBERS)
FIRST = len(gzip.compress(MEMBERS[0]))


@pytest.mark.usefixtures("zlib_lib")
def test_multi_member_gzip_decodes_fully(raw_server):
    server = raw_server(canned(encoded_response(TWO_GZ, "gzip"),
                               encoded_response(TWO_GZ, "gzip", "chunked")))

    assert run(whole_then_streamed(server.url, 4096)) == (TEXT, TEXT)
    assert server.connections == 1  # both bodies ended where their framing said


@pytest.mark.parametrize("offsets", [
    (1,), (9,), (10,), (FIRST - 8,), (FIRST - 1,), (FIRST,), (FIRST + 1,), (FIRST + 10,),
    (FIRST - 4, FIRST + 3, FIRST + 25), tuple(range(7, len(TWO_GZ), 4093)),
], ids=lambda o: f"cuts{len(o)}@{o[0]}")
@pytest.mark.usefixtures("zlib_lib")
def test_multi_member_gzip_split_at_awkward_offsets(raw_server, offsets):
    """Each piece is its own HTTP chunk, so the decoder gets them as separate inputs: cuts
    inside the header, the trailer and the boundary between members."""
    pieces = split(TWO_GZ, *offsets)
    server = raw_server(canned(encoded_response(b"", "gzip", pieces=pieces),
                               encoded_response(b"", "gzip", pieces=pieces)))

    assert run(whole_then_streamed(server.url, 777)) == (TEXT, TEXT)


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_trailing_zero_padding_is_accepted(raw_server, encoding):
    body = encode(encoding, TEXT) + bytes(600)
    pieces = split(body, len(body) - 600, len(body) - 599, len(body) - 10)
    server = raw_server(canned(encoded_response(body, encoding),
                               encoded_response(b"", encoding, pieces=pieces)))

    assert run(whole_then_streamed(server.url, 5000)) == (TEXT, TEXT)


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("garbage", [b"garbage", b"\x00\x00\x01", b"\x1f"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_trailing_garbage_raises(raw_server, encoding, garbage):
    body = encode(encoding, TEXT) + garbage
    server = raw_server(respond(encoded_response(body, encoding)))
    with pytest.raises(ContentDecodingError, match=f"Cannot decode {encoding} body"):
        run(read_whole(server.url))


# -- truncated and corrupt streams ----------------------------------------------------------


def test_content_decoding_error_is_a_payload_error():
    assert issubclass(ContentDecodingError, ClientPayloadError)


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("cut", ["half", "last-byte"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_truncated_stream_raises(raw_server, encoding, framing, cut):
    """The HTTP framing is complete; the compressed stream inside it is not."""
    data = encode(encoding, TEXT)
    body = data[:len(data) // 2] if cut == "half" else data[:-1]
    server = raw_server(canned(encoded_response(body, encoding, framing),
                               encoded_response(body, encoding, framing)))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r1:
                with pytest.raises(ContentDecodingError, match="truncated"):
                    await r1.read()
            async with s.get(server.url) as r2:
                with pytest.raises(ContentDecodingError, match="truncated"):
                    async for _ in r2.content.iter_chunked(1000):
                        pass

    run(main())


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_corruption_in_the_middle_raises_when_streamed(raw_server, encoding):
    """Flipped bytes half-way through (gzip/deflate/zstd carry a checksum)."""
    data = bytearray(encode(encoding, TEXT))
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0x55
    server = raw_server(respond(encoded_response(bytes(data), encoding, "chunked")))
    with pytest.raises(ContentDecodingError):
        run(read_streamed(server.url))


def zstd_with_window(window_log: int) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    return compressor.compress(TEXT) + compressor.flush()  # streamed: the window is declared


def test_zstd_window_larger_than_8_mib_is_refused(raw_server):
    """RFC 9659: a zstd content coding uses a window of at most 8 MiB."""
    server = raw_server(canned(encoded_response(zstd_with_window(23), "zstd"),
                               encoded_response(zstd_with_window(24), "zstd")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r1:
                ok = await r1.read()
            async with s.get(server.url) as r2:
                with pytest.raises(ContentDecodingError, match="zstd"):
                    await r2.read()
        return ok

    assert run(main()) == TEXT


# -- flow control counts decoded bytes --------------------------------------------------------


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_reader_buffer_stays_bounded_while_a_bomb_is_streamed(raw_server, encoding):
    """With read_bufsize=64 KiB, the decoded bytes buffered never pass the high-water mark
    by more than a decoding step (brotli: two), whatever the bomb's ratio."""
    high = 65536
    server = raw_server(respond(encoded_response(bomb(encoding, 256 * MIB), encoding)))

    async def main():
        peak = got = 0
        async with ClientSession(timeout=SHORT, read_bufsize=high) as s:
            async with s.get(server.url) as resp:
                while got < 16 * MIB:
                    got += len(await resp.content.read(8192))
                    peak = max(peak, resp.content.buffered)
        return got, peak

    got, peak = run(main())
    assert got >= 16 * MIB
    assert peak <= high + 2 * DECODE_STEP


# -- max_body_size -----------------------------------------------------------------------------

BIG = TEXT[:5000]


def test_default_limit_is_1_gib_and_none_disables(raw_server):
    server = raw_server(keep_alive(b"x"))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as r1:
                default = r1.max_body_size
            async with s.get(server.url, max_body_size=None) as r2:
                per_request = r2.max_body_size
        async with ClientSession(timeout=SHORT, max_body_size=None) as s:
            async with s.get(server.url) as r3:
                session = r3.max_body_size
        return default, per_request, session

    assert run(main()) == (1 << 30, None, None)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_session_limit_applies_to_read_text_and_json(raw_server, framing):
    body = json.dumps({"data": BIG.decode()}).encode()
    server = raw_server(recording(
        lambda req: frame(body, framing, headers={"Content-Type": "application/json"}), []))

    async def main():
        errors = []
        async with ClientSession(timeout=SHORT, max_body_size=1000) as s:
            for method in ("read", "text", "json"):
                async with s.get(server.url) as resp:
                    with pytest.raises(BodyTooLargeError) as info:
                        await getattr(resp, method)()
                    errors.append(info.value)
        return errors

    errors = run(main())
    assert [e.limit for e in errors] == [1000] * 3
    assert str(errors[0]) == ("Response body passed max_body_size=1000 bytes; read it as a "
                              "stream or raise max_body_size")
    assert all(isinstance(e, ClientPayloadError) for e in errors)


def test_request_limit_overrides_the_session_one(raw_server):
    server = raw_server(keep_alive(BIG))

    async def main():
        async with ClientSession(timeout=SHORT, max_body_size=100_000) as s:
            async with s.get(server.url, max_body_size=4999) as r1:
                with pytest.raises(BodyTooLargeError, match="max_body_size=4999 "):
                    await r1.read()
            async with s.get(server.url, max_body_size=5000) as r2:
                exact = await r2.read()
        async with ClientSession(timeout=SHORT, max_body_size=10) as s:
            async with s.get(server.url, max_body_size=None) as r3:
                unlimited = await r3.read()
        return exact, unlimited

    assert run(main()) == (BIG, BIG)


def test_known_content_length_over_the_limit_fails_at_once(raw_server):
    """The server announces 10 GiB and sends nothing more: no waiting for a body."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n"
    server = raw_server(respond(head, hang=True))

    async def main():
        async with ClientSession(timeout=SHORT, max_body_size=1 << 20) as s:
            async with s.get(server.url) as resp:
                with pytest.raises(BodyTooLargeError):
                    await resp.read()

    run(main(), timeout=3)


@pytest.mark.usefixtures("zlib_lib")
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_limit_counts_decoded_bytes(raw_server, encoding):
    """A 64 MiB bomb under a 1 MiB limit: refused once 1 MiB is decoded, with about that
    much buffered; the next request on the session gets a clean response (the connection
    is pooled only if its body had arrived whole)."""
    server = raw_server(recording(
        lambda req: encoded_response(bomb(encoding, 64 * MIB), encoding), []))

    async def main():
        async with ClientSession(timeout=SHORT, max_body_size=MIB, read_bufsize=65536) as s:
            async with s.get(server.url) as resp:
                with pytest.raises(BodyTooLargeError):
                    await resp.read()
                buffered = resp.content.buffered
            async with s.get(server.url) as resp:
                first = await resp.content.read(10)
        return buffered, first

    buffered, first = run(main())
    assert buffered <= MIB + 2 * DECODE_STEP
    assert first == bytes(10)


def test_streamed_reads_are_not_limited(raw_server):
    server = raw_server(respond(encoded_response(encode("gzip", TEXT), "gzip")))

    async def main():
        async with ClientSession(timeout=SHORT, max_body_size=1000) as s:
            async with s.get(server.url) as resp:
                return b"".join([p async for p in resp.content.iter_chunked(65536)])

    assert run(main()) == TEXT


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError),
                                          ("1000", TypeError), (True, TypeError),
                                          (1.5, TypeError)])
def test_bad_max_body_size_is_refused_at_the_call(raw_server, value, error):
    server = raw_server(keep_alive(b"x"))
    with pytest.raises(error, match="max_body_size="):
        ClientSession(max_body_size=value)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(error, match="max_body_size="):
                await s.get(server.url, max_body_size=value)

    run(main())


# -- redirect and retried bodies are dropped raw -----------------------------------------------

UNDECODABLE = b"\x1f\x8b\x08\x00" + b"\xff" * 4092  # decoding it fails at once


def redirect(body: bytes, framing: str = "length", status: int = 302) -> bytes:
    return frame(body, framing, status=status,
                 headers={"Content-Encoding": "gzip", "Location": "/next"})


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_small_redirect_body_is_dropped_raw_and_the_connection_reused(raw_server, framing):
    server = raw_server(canned(redirect(UNDECODABLE, framing), http_response(b"landed")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                return await resp.read(), await resp.history[0].read()

    assert run(main()) == (b"landed", b"")
    assert server.connections == 1


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_large_redirect_body_closes_the_connection(raw_server, framing):
    """More than 64 KiB of raw body: not worth reading, the connection is closed."""
    closed = Event()

    def handler(conn):
        if server.connections > 1:
            return keep_alive(b"landed")(conn)
        read_request(conn)
        try:
            conn.sendall(redirect(bomb("gzip", 256 * MIB), framing))
        except OSError:
            pass  # the client closed first
        if wait_client_close(conn, 5):
            closed.set()

    server = raw_server(handler)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                body = await resp.read()
            return body, await closed.wait_async()

    assert run(main()) == (b"landed", True)
    assert server.connections == 2


def test_redirect_announcing_a_large_body_is_not_waited_for(raw_server):
    """A Content-Length beyond 64 KiB closes the connection at once, even if the server
    then sends nothing more."""
    head = (b"HTTP/1.1 302 Found\r\nContent-Length: 10737418240\r\nLocation: /next\r\n"
            b"Content-Encoding: gzip\r\n\r\n")
    server = raw_server(lambda conn: respond(head, hang=True)(conn) if server.connections == 1
                        else keep_alive(b"landed")(conn))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                return await resp.read()

    assert run(main(), timeout=3) == b"landed"


def test_redirect_not_followed_is_decoded(raw_server):
    """allow_redirects=False, or a 3xx without Location: the body is the caller's, decoded."""
    data = encode("gzip", TEXT)
    server = raw_server(canned(redirect(data), frame(data, "length", status=302,
                                                     headers={"Content-Encoding": "gzip"})))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url, allow_redirects=False) as r1:
                first = r1.status, await r1.read()
            async with s.get(server.url) as r2:
                second = r2.status, await r2.read()
        return first, second

    assert run(main()) == ((302, TEXT), (302, TEXT))


def test_auth_retry_drains_the_challenge_body(raw_server):
    """The 401's body (a truncated gzip stream) is dropped before the retry, which goes out
    on the same connection."""

    class Retry(AuthFlow):
        async def on_response(self, response):
            return response.status == 401

    truncated = bomb("gzip", MIB)[:512]
    challenge = frame(truncated, "length", status=401, headers={"Content-Encoding": "gzip"})
    server = raw_server(canned(challenge, http_response(b"welcome")))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(server.url, auth=Retry()) as resp:
                return resp.status, await resp.read()

    assert run(main()) == (200, b"welcome")
    assert server.connections == 1
