"""The engine's chunked framing (syncwrap.engine.http1.chunked.ChunkedDecoder), sans-I/O.

Checked: the body data comes back exactly, as offsets into what was fed, however the
bytes are split (whole, byte by byte, memoryviews); chunk data reported through
``skip`` instead; chunk ends; the strict rules (hex sizes of at most 16 digits,
extensions, trailers, CRLF everywhere) with a MalformedBodyError for a bad byte at every
position of the framing; truncation at every position; the overhead limit, counted as
bytes arrive; bytes after the end. The network paths are tested in
tests/engine/test_response_limits.py, test_malformed.py and tests/facade/test_direct_chunked*.
"""

from __future__ import annotations

import pytest

from syncwrap.engine.http1.chunked import ChunkedDecoder
from syncwrap.exceptions import ClientPayloadError, MalformedBodyError

LIMIT = 65536

CHUNKS = [b"hello", b" ", b"x" * 300, b"chunked world"]
FRAMED = (b"5;name=value\r\nhello\r\n"
          b"1 ; flag ;q=\"a;\\\"b\"\r\n \r\n"
          b"12C\r\n" + b"x" * 300 + b"\r\n"
          b"0000d\r\nchunked world\r\n"
          b"0;last\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n")
BODY = b"".join(CHUNKS)


def data_positions(framed: bytes) -> set[int]:
    """Where body data is in ``framed`` (every other byte is framing), as the decoder
    reports it (its offsets are checked against the body in the tests below)."""
    spans = ChunkedDecoder(LIMIT).feed(framed)
    assert b"".join(framed[a:b] for a, b in spans) == BODY  # type: ignore[misc]
    return {i for a, b in spans for i in range(a, b)}  # type: ignore[misc]


def decode(pieces: list[bytes | bytearray | memoryview], limit: int = LIMIT,
           mark_ends: bool = False) -> tuple[list[bytes | None], ChunkedDecoder]:
    decoder = ChunkedDecoder(limit, mark_ends=mark_ends)
    out: list[bytes | None] = []
    for piece in pieces:
        for span in decoder.feed(piece):
            out.append(None if span is None else bytes(piece[span[0]:span[1]]))
    return out, decoder


def splits(data: bytes) -> dict[str, list[bytes]]:
    return {
        "whole": [data],
        "bytes": [data[i:i + 1] for i in range(len(data))],
        "sevens": [data[i:i + 7] for i in range(0, len(data), 7)],
        "halves": [data[:len(data) // 2], data[len(data) // 2:]],
    }


@pytest.mark.parametrize("split", ["whole", "bytes", "sevens", "halves"])
def test_body_data_comes_back_exactly_however_it_is_split(split):
    out, decoder = decode(splits(FRAMED)[split])
    assert b"".join(p for p in out if p is not None) == BODY
    assert decoder.done and not decoder.extra
    decoder.feed_eof()  # whole: no error


def test_offsets_point_into_what_was_fed_and_nothing_is_copied():
    buf = bytearray(b"junk" + FRAMED + b"more")
    decoder = ChunkedDecoder(LIMIT)
    spans = decoder.feed(buf, 4, 4 + len(FRAMED))
    assert b"".join(buf[a:b] for a, b in spans) == BODY  # type: ignore[misc]
    assert all(4 <= a < b <= 4 + len(FRAMED) for a, b in spans)  # type: ignore[misc]
    assert decoder.done and not decoder.extra


def test_memoryviews_are_fed_as_they_are():
    view = memoryview(bytearray(FRAMED))
    out, decoder = decode([view[i:i + 100] for i in range(0, len(view), 100)])
    assert b"".join(p for p in out if p is not None) == BODY and decoder.done


def test_chunk_ends_are_marked_when_asked():
    out, _ = decode([FRAMED], mark_ends=True)
    assert out == [b"hello", None, b" ", None, b"x" * 300, None, b"chunked world", None]
    out, _ = decode(splits(FRAMED)["bytes"], mark_ends=True)
    joined: list[bytes] = [b""]
    for piece in out:
        if piece is None:
            joined.append(b"")
        else:
            joined[-1] += piece
    assert joined == [*CHUNKS, b""]


def test_chunk_data_may_be_received_elsewhere_and_skipped():
    decoder = ChunkedDecoder(LIMIT)
    assert decoder.feed(b"10;x=y\r\nab") == [(8, 10)]
    assert decoder.data_left == 14 and decoder.last_size == 16
    with pytest.raises(ValueError, match="data_left"):
        decoder.skip(15)
    decoder.skip(10)
    assert decoder.data_left == 4
    decoder.skip(4)  # the chunk's data is all there: its CRLF comes next
    assert decoder.data_left == 0
    with pytest.raises(MalformedBodyError, match="no CRLF after the chunk data"):
        decoder.feed(b"X\r\n")


def test_skip_then_feed_the_rest():
    decoder = ChunkedDecoder(LIMIT)
    decoder.feed(b"a\r\n")
    decoder.skip(10)
    assert decoder.feed(b"\r\n3\r\nabc\r\n0\r\n\r\n") == [(5, 8)]
    assert decoder.done


def test_a_bad_byte_anywhere_in_the_framing_is_refused():
    """Every framing byte (sizes, extensions, CRLFs, trailers) replaced by a NUL or a bare
    LF: a MalformedBodyError, fed whole or byte by byte (the last LF replaced leaves a line
    that never ends: an incomplete body)."""
    data = data_positions(FRAMED)
    framing = [i for i in range(len(FRAMED)) if i not in data]
    assert len(framing) > 60
    for position in framing:
        for bad in (b"\0", b"\n"):
            broken = FRAMED[:position] + bad + FRAMED[position + 1:]
            if bad == b"\n" and FRAMED[position:position + 1] == b"\n":
                continue  # not a change
            for name in ("whole", "bytes"):
                if position == len(FRAMED) - 1 and bad == b"\0":
                    _, decoder = decode(splits(broken)[name])
                    with pytest.raises(ClientPayloadError, match="inside a chunked body"):
                        decoder.feed_eof()
                    continue
                with pytest.raises(MalformedBodyError):
                    decode(splits(broken)[name])


def test_truncation_anywhere_is_an_incomplete_body():
    for end in range(len(FRAMED)):
        out, decoder = decode([FRAMED[:end]])
        assert not decoder.done
        assert BODY.startswith(b"".join(p for p in out if p is not None))
        with pytest.raises(ClientPayloadError, match="inside a chunked body"):
            decoder.feed_eof()


@pytest.mark.parametrize(
    "framed",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"-5\r\nhello\r\n0\r\n\r\n",  # negative
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"1" * 17 + b"\r\n",  # 17 hex digits: more than 64 bits may hold
        b"\r\nhello\r\n0\r\n\r\n",  # no size
        b" 5\r\nhello\r\n0\r\n\r\n",  # blank before the size
        b"5 \r\nhello\r\n0\r\n\r\n",  # blank after it, without an extension
        b"5;\r\nhello\r\n0\r\n\r\n",  # an extension without a name
        b"5;=v\r\nhello\r\n0\r\n\r\n",
        b"5;n=\r\nhello\r\n0\r\n\r\n",  # ... without a value after "="
        b'5;n="unterminated\r\nhello\r\n0\r\n\r\n',
        b"5;n=a b\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",  # bare LF
        b"5\r\rhello\r\n0\r\n\r\n",  # CR without LF
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nNo-Colon\r\n\r\n",  # trailers
        b"5\r\nhello\r\n0\r\n: empty-name\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n",
        b"5\r\nhello\r\n0\r\nBad Name: 1\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T: a\0b\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
    ],
)
def test_malformed_framing_is_refused(framed):
    for name in ("whole", "bytes"):
        with pytest.raises(MalformedBodyError, match="^Malformed chunked body: "):
            decode(splits(framed)[name])


@pytest.mark.parametrize(
    "framed",
    [
        b"0000000000000005\r\nhello\r\n0\r\n\r\n",  # 16 digits
        b"ffffffffffffffff\r\n",  # the largest size: the data follows (not here)
        b"5;a=b;c;d=\"q\\\"\";e = f\r\nhello\r\n0\r\n\r\n",
        b"5\t;\tn\t=\tv\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-T:\tv a l\x80\r\n\r\n",
        b"5\r\nhello\r\n00\r\n\r\n",
    ],
)
def test_well_formed_framing_is_accepted(framed):
    for name in ("whole", "bytes"):
        out, _ = decode(splits(framed)[name])
        assert b"".join(p for p in out if p is not None) in (b"hello", b"")


def test_bytes_after_the_end_are_flagged_not_parsed():
    decoder = ChunkedDecoder(LIMIT)
    assert decoder.feed(b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n") == [(3, 5)]
    assert decoder.done and decoder.extra
    assert decoder.feed(b"garbage") == [] and decoder.done


@pytest.mark.parametrize(
    ("prefix", "endless"),
    [(b"5;", b"a"), (b"5;", b"n=v;"), (b"5\r\nhello\r\n0\r\nX-T: ", b"v"),
     (b"5\r\nhello\r\n0\r\n", b"X-T: 1\r\n"), (b"", b"0")],
    ids=["extension", "extensions", "trailer-value", "trailer-fields", "size"],
)
def test_endless_framing_is_refused_at_the_limit(prefix, endless):
    limit = 1000
    decoder = ChunkedDecoder(limit)
    decoder.feed(prefix)
    fed = len(prefix)
    with pytest.raises(MalformedBodyError,
                       match="Chunk extensions or trailer section longer than 1000 bytes"):
        while True:
            decoder.feed(endless)
            fed += len(endless)
            assert fed <= limit + 2 * len(endless) + 10  # refused as the bytes arrive


def test_body_data_resets_the_overhead_count():
    """Each size line with its extensions is bounded on its own, between pieces of data."""
    limit = 100
    ext = b";" + b"e" * 80
    framed = b"".join(b"1%s\r\n%d\r\n" % (ext, i % 10) for i in range(50)) + b"0\r\n\r\n"
    for name in ("whole", "bytes"):
        out, decoder = decode(splits(framed)[name], limit=limit)
        assert len(b"".join(p for p in out if p is not None)) == 50 and decoder.done


def test_the_limit_covers_the_end_of_one_chunk_and_the_next_size_line():
    limit = 20
    ok = b"1\r\na\r\n" + b"1;" + b"e" * 12 + b"\r\nb\r\n0\r\n\r\n"  # 2 + 17 < 20
    out, _ = decode([ok], limit=limit)
    assert b"".join(p for p in out if p is not None) == b"ab"
    too_long = b"1\r\na\r\n" + b"1;" + b"e" * 16 + b"\r\nb\r\n0\r\n\r\n"
    with pytest.raises(MalformedBodyError, match="longer than 20 bytes"):
        decode([too_long], limit=limit)


def test_skipped_data_resets_the_overhead_count_too():
    limit = 20
    decoder = ChunkedDecoder(limit)
    line = b"1;" + b"e" * 12 + b"\r\n"  # 16 bytes
    decoder.feed(line)
    decoder.skip(1)  # the data, received elsewhere
    decoder.feed(b"\r\n" + line)  # 18 more bytes since the data: within the limit
    decoder.skip(1)
    assert decoder.feed(b"\r\n0\r\n\r\n") == [] and decoder.done


def test_a_long_run_of_extensions_is_checked_in_bounded_memory():
    """Extensions are matched one at a time: no regex state grows with the line."""
    import tracemalloc

    line = b"5;" + b"n=v;" * 15_000 + b"x\r\n"  # ~60 KB, under the 64 KiB limit
    tracemalloc.start()
    try:
        decoder = ChunkedDecoder(LIMIT)
        decoder.feed(line)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoder.data_left == 5
    assert peak < 4 * len(line), peak
