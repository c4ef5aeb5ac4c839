"""Content-Encoding decoders: gzip, deflate (zlib and raw), br and zstd when available."""

from __future__ import annotations

import zlib
from typing import Any

from .exceptions import ContentDecodingError

try:
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the speedups extra
    try:
        import brotlicffi as _brotli  # type: ignore[no-redef]
    except ImportError:
        _brotli = None

try:
    import zstandard as _zstd
except ImportError:  # pragma: no cover - depends on the speedups extra
    _zstd = None

__all__ = ["ACCEPT_ENCODING", "make_decoder", "DecodingSink"]

_SUPPORTED = ["gzip", "deflate"] + (["br"] if _brotli else []) + (["zstd"] if _zstd else [])
ACCEPT_ENCODING = ", ".join(_SUPPORTED)


class _ZlibDecoder:
    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        # gzip: auto-detect header; deflate: try the zlib wrapper, fall back to raw.
        self._wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits=self._wbits)
        self._started = False

    def decompress(self, data: bytes) -> bytes:
        try:
            if not self._started and self._encoding == "deflate":
                self._started = True
                try:
                    return self._obj.decompress(data)
                except zlib.error:
                    self._obj = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
            return self._obj.decompress(data)
        except zlib.error as exc:
            raise ContentDecodingError(f"Cannot decode {self._encoding} body: {exc}") from None

    def flush(self) -> bytes:
        try:
            return self._obj.flush()
        except zlib.error as exc:
            raise ContentDecodingError(f"Cannot decode {self._encoding} body: {exc}") from None


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = _brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        try:
            if hasattr(self._obj, "process"):
                return self._obj.process(data)
            return self._obj.decompress(data)
        except Exception as exc:
            raise ContentDecodingError(f"Cannot decode br body: {exc}") from None

    def flush(self) -> bytes:
        return b""


class _ZstdDecoder:
    def __init__(self) -> None:
        self._obj = _zstd.ZstdDecompressor().decompressobj()

    def decompress(self, data: bytes) -> bytes:
        try:
            return self._obj.decompress(data)
        except Exception as exc:
            raise ContentDecodingError(f"Cannot decode zstd body: {exc}") from None

    def flush(self) -> bytes:
        return b""


def make_decoder(content_encoding: str) -> Any:
    """A decoder for a Content-Encoding value, or None if it is identity/unknown."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _ZlibDecoder("gzip")
    if encoding == "deflate":
        return _ZlibDecoder("deflate")
    if encoding == "br" and _brotli is not None:
        return _BrotliDecoder()
    if encoding == "zstd" and _zstd is not None:
        return _ZstdDecoder()
    return None


class DecodingSink:
    """Sits between the parser and a StreamReader, decoding the body on the way."""

    __slots__ = ("_reader", "_decoder")

    def __init__(self, reader: Any, decoder: Any) -> None:
        self._reader = reader
        self._decoder = decoder

    def feed_data(self, data: bytes) -> None:
        out = self._decoder.decompress(data)
        if out:
            self._reader.feed_data(out)

    def feed_eof(self) -> None:
        tail = self._decoder.flush()
        if tail:
            self._reader.feed_data(tail)
        self._reader.feed_eof()

    def end_http_chunk_receiving(self) -> None:
        self._reader.end_http_chunk_receiving()

    def set_exception(self, exc: BaseException) -> None:
        self._reader.set_exception(exc)
