"""Sans-I/O tests of request bodies: payloads written into a collecting BodyWriter."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import threading
import tracemalloc

import pytest
from multidict import MultiDict

from syncwrap.engine.payload import (
    AsyncIterablePayload,
    BytesPayload,
    FilePayload,
    JsonPayload,
    StreamReaderPayload,
    StringPayload,
    TextIOPayload,
    form_payload,
    get_payload,
)
from syncwrap.exceptions import BodyNotReplayableError, ClientPayloadError


class Collect:
    """The engine's BodyWriter interface, keeping what is written."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(chunk))

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class Count:
    """A BodyWriter that only counts (keeps nothing alive)."""

    def __init__(self) -> None:
        self.n = 0

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.n += len(chunk)


def body_of(payload, times: int = 1) -> list[bytes]:
    async def go():
        out = []
        for _ in range(times):
            w = Collect()
            await payload.write(w)
            out.append(w.data)
        return out

    return asyncio.run(go())


# -- in-memory and form bodies -------------------------------------------------


def test_bytes_str_json():
    p = get_payload(b"abc")
    assert isinstance(p, BytesPayload) and p.size == 3 and p.body == b"abc"
    s = get_payload("héllo")
    assert isinstance(s, StringPayload) and s.body == "héllo".encode()
    assert s.content_type == "text/plain; charset=utf-8"
    latin = get_payload("é", content_type="text/plain; charset=latin-1")
    assert latin.body == b"\xe9"
    j = JsonPayload({"a": [1, 2]})
    assert body_of(j) == [b'{"a": [1, 2]}'] and j.size == len(j.body)


def test_form_encoding_repeated_keys():
    expected = b"a=1&a=2&b=x+y&c=%C3%A9%26"
    for data in (
        {"a": [1, 2], "b": "x y", "c": "é&"},
        [("a", "1"), ("a", 2), ("b", "x y"), ("c", "é&")],
        MultiDict([("a", "1"), ("a", "2"), ("b", "x y"), ("c", "é&")]),
    ):
        p = get_payload(data)
        assert p.content_type == "application/x-www-form-urlencoded"
        assert body_of(p) == [expected] and p.size == len(expected)
    assert form_payload({}).body == b""


# -- file bodies -----------------------------------------------------------------


def test_bytesio_size_and_replay():
    f = io.BytesIO(b"0123456789")
    f.seek(4)
    p = get_payload(f)
    assert isinstance(p, FilePayload)
    assert p.size == 6 and p.replayable
    assert p.content_type == "application/octet-stream"
    assert body_of(p, times=2) == [b"456789", b"456789"]


def test_real_file_size_type_and_replay(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 1000 + b"tail")
    with open(path, "rb") as f:
        f.read(10)  # the body starts at the current position
        p = get_payload(f)
        assert p.size == 994 and p.replayable and p.filename == "notes.txt"
        assert p.content_type == "text/plain"
        first, second = body_of(p, times=2)
        assert first == second == b"x" * 990 + b"tail"
        assert len(first) == p.size


def test_small_chunks_replay_identically(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(100_000)
    path.write_bytes(data)
    with open(path, "rb") as f:
        p = FilePayload(f, chunk_size=4096)
        assert body_of(p, times=3) == [data] * 3


class ThreadRecordingFile:
    """A file-like object (not io.IOBase) that records which thread reads it."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.readers: set[int] = set()
        self.name = "/some/dir/report.csv"

    def read(self, n: int = -1) -> bytes:
        self.readers.add(threading.get_ident())
        return self._f.read(n)

    def seek(self, *a):
        return self._f.seek(*a)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True


def test_file_reads_happen_off_the_loop_thread():
    f = ThreadRecordingFile(b"a,b\n" * 1000)
    p = get_payload(f)
    assert isinstance(p, FilePayload) and p.size == 4000
    assert p.content_type == "text/csv" and p.filename == "report.csv"

    async def go():
        w = Collect()
        await p.write(w)
        return threading.get_ident(), w.data

    loop_thread, data = asyncio.run(go())
    assert data == b"a,b\n" * 1000
    assert f.readers and loop_thread not in f.readers


def test_bytesio_is_read_directly_on_the_loop():
    class Spy(io.BytesIO):
        pass  # a subclass might do real I/O: it goes through the executor

    async def go(p):
        await p.write(Collect())

    p = FilePayload(io.BytesIO(b"abc"))
    assert p._direct
    asyncio.run(go(p))
    assert not FilePayload(Spy(b"abc"))._direct


def test_pipe_is_chunked_and_not_replayable():
    r, w = os.pipe()
    with open(r, "rb") as reader:
        threading.Thread(target=lambda: (os.write(w, b"streamed"), os.close(w))).start()
        p = get_payload(reader)
        assert p.size is None and not p.replayable
        assert body_of(p) == [b"streamed"]
        with pytest.raises(BodyNotReplayableError, match="data="):
            body_of(p)


def test_unseekable_file_like():
    class OneShot:
        def __init__(self):
            self._f = io.BytesIO(b"once")

        def read(self, n=-1):
            return self._f.read(n)

    p = get_payload(OneShot())
    assert p.size is None and not p.replayable
    assert body_of(p) == [b"once"]


def test_closed_file_is_a_value_error(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    f = open(path, "rb")
    f.close()
    with pytest.raises(ValueError, match="data="):
        get_payload(f)
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(ValueError, match="data=.*closed"):
        get_payload(closed)


def test_text_file_sent_with_its_encoding(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café\n".encode("latin-1"))
    with open(path, encoding="latin-1") as f:
        p = get_payload(f)
        assert isinstance(p, TextIOPayload)
        assert p.size is None  # the encoded length is unknown: chunked
        assert p.content_type == "text/plain; charset=latin-1"
        assert body_of(p, times=2) == [b"caf\xe9\n"] * 2
    s = get_payload(io.StringIO("naïve"))
    assert body_of(s) == ["naïve".encode()] and s.content_type == "text/plain; charset=utf-8"


def test_binary_file_like_returning_str_is_refused():
    class Liar:
        def read(self, n=-1):
            return "text"

    with pytest.raises(TypeError, match="data=.*binary mode"):
        body_of(get_payload(Liar()))


def test_size_is_fixed_at_creation(tmp_path):
    path = tmp_path / "grow.bin"
    path.write_bytes(b"a" * 100)
    with open(path, "rb") as f:
        p = get_payload(f)
        with open(path, "ab") as g:
            g.write(b"b" * 50)  # growth after the size was sent: not sent
        assert body_of(p) == [b"a" * 100]
    with open(path, "rb") as f:
        p = get_payload(f)
        assert p.size == 150
        with open(path, "r+b") as g:
            g.truncate(40)  # shorter than the Content-Length already promised
        with pytest.raises(ClientPayloadError, match="110 bytes short"):
            body_of(p)


def test_decompressing_reader_is_not_seeked_to_its_end():
    raw = io.BytesIO(gzip.compress(b"z" * 5000))
    g = gzip.GzipFile(fileobj=raw)
    p = get_payload(g)
    assert p.size is None and p.replayable  # seek(0, END) would decompress it all
    assert body_of(p, times=2) == [b"z" * 5000] * 2


def test_replay_after_a_failed_send():
    class Broken:
        async def write(self, chunk):
            raise ConnectionResetError("peer went away")

    data = os.urandom(50_000)
    p = FilePayload(ThreadRecordingFile(data), chunk_size=1000)

    async def go():
        with pytest.raises(ConnectionResetError):
            await p.write(Broken())  # leaves a read-ahead in flight
        w = Collect()
        await p.write(w)
        return w.data

    assert asyncio.run(go()) == data


class GatedFile:
    """A seekable file-like object whose first read waits for ``gate``; it records
    whether two threads ever used it at once (a seek or read while a read runs)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.gate = threading.Event()
        self.reading = threading.Event()  # the gated read has started
        self.seek_while_reading = threading.Event()
        self.active = 0
        self.overlapped = False

    def _enter(self) -> None:
        self.active += 1
        if self.active > 1:
            self.overlapped = True

    def read(self, n: int = -1) -> bytes:
        self._enter()
        try:
            if not self.reading.is_set():
                self.reading.set()
                self.gate.wait(10)
            return self._f.read(n)
        finally:
            self.active -= 1

    def seek(self, *a):
        if self.reading.is_set() and not self.gate.is_set():
            self.seek_while_reading.set()
            self.overlapped = True
            self.gate.set()  # let the stuck read go: the overlap is recorded
        self._enter()
        try:
            return self._f.seek(*a)
        finally:
            self.active -= 1

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True


def test_a_replay_waits_for_the_read_a_cancelled_send_left_running():
    """The payload holds no thread lock: a write() cancelled while its read runs in a
    thread leaves that read running, and the next write() must not seek or read the
    file until it has finished."""
    data = os.urandom(5000)
    f = GatedFile(data)
    p = FilePayload(f, chunk_size=1000)

    async def go():
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(p.write(Collect()))
        assert await loop.run_in_executor(None, f.reading.wait, 10)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        w = Collect()
        second = asyncio.ensure_future(p.write(w))
        for _ in range(5):  # let the replay start: it must not touch the file yet
            await asyncio.sleep(0)
        # Bounded wait for something that must not happen (a seek during the read).
        assert not await loop.run_in_executor(None, f.seek_while_reading.wait, 0.3)
        f.gate.set()
        await asyncio.wait_for(second, 10)
        return w.data

    assert asyncio.run(go()) == data
    assert not f.overlapped


def test_64_mib_file_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.bin"
    size = 64 * 1024 * 1024
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: quick to make, still read in full

    async def go(p):
        w = Count()
        await p.write(w)
        return w.n

    with open(path, "rb") as f:
        p = get_payload(f)
        assert p.size == size
        tracemalloc.start()
        try:
            sent = asyncio.run(go(p))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert sent == size
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# -- streams ---------------------------------------------------------------------


def test_async_generator_body():
    closed = []

    async def gen():
        try:
            yield b"ab"
            yield b""  # skipped: an empty chunk would end a chunked body
            yield bytearray(b"cd")
            yield memoryview(b"ef")
        finally:
            closed.append(True)

    p = get_payload(gen())
    assert isinstance(p, AsyncIterablePayload)
    assert p.size is None and not p.replayable
    w = Collect()

    async def go():
        await p.write(w)
        await p.close()

    asyncio.run(go())
    assert w.chunks == [b"ab", b"cd", b"ef"] and closed == [True]
    with pytest.raises(BodyNotReplayableError, match="data="):
        body_of(p)


@pytest.mark.parametrize("bad", ["text", 7])
def test_async_generator_with_non_bytes_item(bad):
    async def gen():
        yield b"ok"
        yield bad

    async def go(p):
        try:
            await p.write(Collect())
        finally:
            await p.close()

    with pytest.raises(TypeError, match=f"data=.*yielded a {type(bad).__name__}"):
        asyncio.run(go(get_payload(gen())))


class FakeStreamReader:
    """Duck-typed like the engine's StreamReader (readany/at_eof, async line iteration)."""

    def __init__(self, chunks):
        self._chunks = list(chunks)

    def at_eof(self):
        return not self._chunks

    async def readany(self):
        return self._chunks.pop(0) if self._chunks else b""

    async def read(self, n=-1):
        raise AssertionError("read() is not used")

    def __aiter__(self):
        raise AssertionError("line iteration is not used")


def test_stream_reader_body():
    p = get_payload(FakeStreamReader([b"one", b"two"]))
    assert isinstance(p, StreamReaderPayload)
    assert p.size is None and not p.replayable
    assert body_of(p) == [b"onetwo"]


def test_engine_stream_reader_body():
    streams = pytest.importorskip("syncwrap.engine.streams")

    async def go():
        reader = streams.StreamReader(loop=asyncio.get_running_loop())
        reader.feed_data(b"piped ")
        reader.feed_data(b"body")
        reader.feed_eof()
        p = get_payload(reader)
        assert isinstance(p, StreamReaderPayload)
        w = Collect()
        await p.write(w)
        return w.data

    assert asyncio.run(go()) == b"piped body"


# -- choosing and refusing -------------------------------------------------------


def test_dict_with_a_file_becomes_multipart():
    p = get_payload({"name": "x", "upload": io.BytesIO(b"content")})
    assert p.content_type.startswith("multipart/form-data; boundary=")
    body = body_of(p)[0]
    assert b'name="upload"; filename="upload"' in body and b"content" in body
    assert p.size == len(body)


def test_dict_with_a_closed_file_names_data():
    f = io.BytesIO()
    f.close()
    with pytest.raises(ValueError, match="data="):
        get_payload({"f": f})


def test_sync_generators_are_refused_with_advice():
    def gen():
        yield b"x"

    for data in (gen(), iter([b"x"]), {b"x"}):
        with pytest.raises(TypeError, match="data=.*async generator"):
            get_payload(data)


@pytest.mark.parametrize("data", [None, 42, 1.5, object()])
def test_unsupported_types_name_data(data):
    with pytest.raises(TypeError, match="data="):
        get_payload(data)


def test_bad_form_values_name_data():
    with pytest.raises(TypeError, match="data="):
        get_payload({"a": None})
    with pytest.raises(TypeError, match="data="):
        get_payload([("a", 1, 2)])
    with pytest.raises(TypeError, match="data="):
        get_payload({"f": io.BytesIO(b"x"), "bad": object()})
