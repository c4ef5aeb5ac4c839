"""Content-Encoding decoders (gzip, deflate, br, zstd) with bounded output, and the
:class:`DecodingSink` that runs them between the parser and a StreamReader.

Every decoder inflates at most ``limit`` bytes per call and keeps the input it has not
used yet, so a compression bomb never costs more than one step of memory at a time. The
sink decodes only while the StreamReader is below its high-water mark: above it, undecoded
input waits and the socket is paused; decoding goes on as the reader drains.

gzip and deflate: inflated by the library that ``zlib_backend.py`` names (ISA-L's when
installed, else zlib), the one current when the body's decoder is made.

zstd: the ``zstandard`` package's C objects inflate a whole input in one call, so the
decoder drives libzstd's streaming function (with an output limit) through that package's
cffi binding; without ``cffi`` installed, zstd is not offered. Frames may use a window of
at most 8 MiB (RFC 9659), which bounds the decoder's own memory too.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections import deque
from typing import Any

from ...exceptions import ContentDecodingError
from ..streams import StreamReader
from ..zlib_backend import zlib_backend

try:
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the speedups extra
    try:
        import brotlicffi as _brotli  # type: ignore[no-redef]
    except ImportError:
        _brotli = None
if _brotli is not None and not hasattr(_brotli.Decompressor, "can_accept_more_data"):
    _brotli = None  # pragma: no cover - brotli < 1.2 cannot bound its output

__all__ = ["ACCEPT_ENCODING", "DECODE_STEP", "make_decoder", "DecodingSink"]

#: The most one decoding step inflates (brotli's buffer growth may give up to twice this).
DECODE_STEP = 256 * 1024
#: RFC 9659: zstd frames of an HTTP content coding use windows of at most 8 MiB.
ZSTD_WINDOW_LOG_MAX = 23

_HAS_ZSTD = (importlib.util.find_spec("zstandard") is not None
             and importlib.util.find_spec("_cffi_backend") is not None)
_SUPPORTED = ["gzip", "deflate"] + (["br"] if _brotli else []) + (["zstd"] if _HAS_ZSTD else [])
ACCEPT_ENCODING = ", ".join(_SUPPORTED)


def _error(encoding: str, detail: object) -> ContentDecodingError:
    return ContentDecodingError(f"Cannot decode {encoding} body: {detail}")


class _ZlibDecoder:
    """gzip (any number of members, zero padding after the last) or deflate (zlib-wrapped,
    or raw as some servers send it)."""

    __slots__ = ("_encoding", "_gzip", "_lib", "_obj", "_tail", "_probe", "_in_member",
                 "needs_input")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._gzip = encoding == "gzip"
        self._lib = zlib_backend()  # kept for the whole body (see zlib_backend.py)
        self._obj = self._lib.decompressobj(
            wbits=16 + self._lib.MAX_WBITS if self._gzip else self._lib.MAX_WBITS)
        self._tail = b""  # input given but not used yet
        # deflate: what came before zlib accepted or refused its header (then: raw deflate)
        self._probe: bytes | None = None if self._gzip else b""
        self._in_member = False  # inside a gzip member / the deflate stream
        self.needs_input = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        """Up to ``limit`` decoded bytes from ``data`` plus what earlier calls left over."""
        if self._tail:
            data = self._tail + data if data else self._tail
        if not self._in_member:
            data = self._start_member(data)
            if not data:
                self._tail = b""
                self.needs_input = True
                return b""
        if self._probe is not None:
            self._probe += data
        try:
            out = self._obj.decompress(data, limit)
        except self._lib.error as exc:
            if self._probe is None:
                raise _error(self._encoding, exc) from None
            return self._retry_raw(limit)
        obj = self._obj
        if self._probe is not None and (out or len(self._probe) >= 2):
            self._probe = None  # zlib accepted the header
        self._tail = obj.unconsumed_tail
        if obj.eof:
            self._in_member = False
            self._tail = obj.unused_data
        self.needs_input = not self._tail and len(out) < limit
        return out

    def _start_member(self, data: bytes) -> bytes:
        """Between members: zero padding is skipped; gzip starts a new member, deflate
        refuses anything else after its stream."""
        if self._obj.eof:
            data = data.lstrip(b"\x00")
            if not data:
                return b""
            if not self._gzip:
                raise _error(self._encoding, "data after the end of the compressed stream")
            self._obj = self._lib.decompressobj(wbits=16 + self._lib.MAX_WBITS)
        elif not data:
            return b""
        self._in_member = True
        return data

    def _retry_raw(self, limit: int) -> bytes:
        data, self._probe = self._probe or b"", None
        self._obj = self._lib.decompressobj(wbits=-self._lib.MAX_WBITS)
        self._tail = b""
        return self.decompress(data, limit)

    def finish(self) -> None:
        """The body ended: raise if it stopped inside a member."""
        if self._in_member:
            raise _error(self._encoding, "the compressed stream is truncated")


class _BrotliDecoder:
    __slots__ = ("_obj", "_started", "needs_input")

    def __init__(self) -> None:
        self._obj = _brotli.Decompressor()
        self._started = False
        self.needs_input = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        obj = self._obj
        if data:
            self._started = True
        try:
            out = obj.process(data, output_buffer_limit=limit)
            # Below the limit the decoder stopped for lack of input: nothing is pending.
            self.needs_input = len(out) < limit and obj.can_accept_more_data()
        except Exception as exc:  # brotli.error, or brotlicffi's
            raise _error("br", exc) from None
        return out

    def finish(self) -> None:
        if self._started and not self._obj.is_finished():
            raise _error("br", "the compressed stream is truncated")


_zstd_binding: tuple[Any, Any] | None = None


def _zstd_lib() -> tuple[Any, Any]:
    """(ffi, lib) of libzstd from the zstandard package's cffi backend, imported once."""
    global _zstd_binding
    if _zstd_binding is None:
        from zstandard import backend_cffi

        _zstd_binding = (backend_cffi.ffi, backend_cffi.lib)
    return _zstd_binding


class _ZstdDecoder:
    """Any number of zstd frames, ``ZSTD_decompressStream`` with a bounded output buffer."""

    __slots__ = ("_ffi", "_lib", "_dctx", "_in", "_out", "_src", "_dst", "_in_frame",
                 "needs_input")

    def __init__(self) -> None:
        ffi, lib = self._ffi, self._lib = _zstd_lib()
        dctx = lib.ZSTD_createDCtx()
        if dctx == ffi.NULL:
            raise MemoryError("cannot create a zstd decoder")
        self._dctx = ffi.gc(dctx, lib.ZSTD_freeDCtx)
        lib.ZSTD_DCtx_setParameter(self._dctx, lib.ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)
        self._in = ffi.new("ZSTD_inBuffer *")
        self._out = ffi.new("ZSTD_outBuffer *")
        self._src: Any = None  # keeps the input alive while libzstd points into it
        self._dst: Any = None
        self._in_frame = False
        self.needs_input = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        ffi, lib, inbuf, out = self._ffi, self._lib, self._in, self._out
        if data:
            if inbuf.pos < inbuf.size:
                data = ffi.buffer(self._src)[inbuf.pos:inbuf.size] + data
            self._src = ffi.from_buffer(data)
            inbuf.src, inbuf.size, inbuf.pos = self._src, len(data), 0
        if self._dst is None or len(self._dst) < limit:
            self._dst = ffi.new("char[]", limit)
        out.dst, out.size, out.pos = self._dst, limit, 0
        result = lib.ZSTD_decompressStream(self._dctx, out, inbuf)
        if lib.ZSTD_isError(result):
            name = ffi.string(lib.ZSTD_getErrorName(result)).decode("ascii", "replace")
            raise _error("zstd", name)
        self._in_frame = result != 0  # 0: a frame ended, fully flushed
        self.needs_input = inbuf.pos == inbuf.size and out.pos < limit
        return ffi.buffer(self._dst, out.pos)[:]

    def finish(self) -> None:
        if self._in_frame:
            raise _error("zstd", "the compressed stream is truncated")


def make_decoder(content_encoding: str) -> Any:
    """A decoder for a Content-Encoding value, or None if it is identity/unknown."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _ZlibDecoder("gzip")
    if encoding == "deflate":
        return _ZlibDecoder("deflate")
    if encoding == "br" and _brotli is not None:
        return _BrotliDecoder()
    if encoding == "zstd" and _HAS_ZSTD:
        return _ZstdDecoder()
    return None


class DecodingSink:
    """Decodes a body between the parser and its StreamReader (:attr:`reader`), one bounded
    step at a time, and stands between that reader's flow control and the connection.

    While the reader is above its high-water mark nothing is decoded: the undecoded input
    waits here and the socket is paused. When the reader drains, decoding resumes (from
    the loop, not inside the reader's call), and the socket reads again once the input
    held here is used up. Decoding errors reach the reader as ContentDecodingError.
    """

    __slots__ = ("reader", "_decoder", "_flow", "_loop", "_pending", "_paused", "_eof",
                 "_scheduled", "_failed")

    def __init__(self, decoder: Any, flow: Any, high_water: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.reader = StreamReader(self, high_water=high_water, loop=loop)
        self._decoder = decoder
        self._flow = flow  # the connection (pause_reading / resume_reading / close)
        self._loop = loop
        self._pending: deque[bytes] = deque()  # undecoded input
        self._paused = False  # the reader is full
        self._eof = False
        self._scheduled = False
        self._failed = False

    # -- from the parser -------------------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        if self._paused or self._pending or not self._decoder.needs_input:
            self._pending.append(data)
        else:
            self._decode(data)

    def feed_eof(self) -> None:
        """The body is complete: the connection is no longer ours to pause or close."""
        self._eof = True
        self._flow = None
        if not self._paused and not self._scheduled:
            self._decode_safely()

    def end_http_chunk_receiving(self) -> None:
        if not self._pending and self._decoder.needs_input:
            self.reader.end_http_chunk_receiving()

    def set_exception(self, exc: BaseException) -> None:
        if not self._failed:
            self._failed = True
            self._pending.clear()
            self.reader.set_exception(exc)

    # -- from the reader ---------------------------------------------------------------

    def pause_reading(self) -> None:
        self._paused = True
        if self._flow is not None:
            self._flow.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self._pending or not self._decoder.needs_input or self._eof:
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._resume_decoding)
        elif self._flow is not None:
            self._flow.resume_reading()

    # -- decoding ------------------------------------------------------------------------

    def _resume_decoding(self) -> None:
        self._scheduled = False
        if self._paused:
            return
        if self._decode_safely() and self._flow is not None:
            self._flow.resume_reading()

    def _decode_safely(self) -> bool:
        """:meth:`_decode` from the loop or at the end of the body: errors go to the reader
        (and close the connection if the body is still arriving)."""
        try:
            return self._decode(b"")
        except Exception as exc:  # noqa: BLE001 - handed to whoever reads the body
            flow = self._flow
            self.set_exception(exc)
            if flow is not None:
                flow.close()
            return False

    def _decode(self, data: bytes) -> bool:
        """Decode until the input runs out (True) or the reader is full (False)."""
        if self._failed:
            return False
        decoder, reader, pending = self._decoder, self.reader, self._pending
        while True:
            if data or not decoder.needs_input:
                out = decoder.decompress(data, DECODE_STEP)
                data = b""
                if out:
                    reader.feed_data(out)  # may pause us
            elif pending:
                data = pending.popleft()
                continue
            else:
                break
            if self._paused:
                return False
        if self._eof:
            decoder.finish()
            reader.feed_eof()
        return True
