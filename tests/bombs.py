"""Compression bombs and a raw-socket server that sends them (never imports syncwrap).

Each bomb is a valid stream that decodes to :data:`BOMB_SIZE` bytes of zeros, built cheaply
once per test session: gzip and deflate repeat one deflate block (1 MiB of zeros compressed
after a full flush, which resets the window, so the block decodes alone) between a header
and a trailer; br and zstd stream-compress zeros at their fastest level.
"""

from __future__ import annotations

import functools
import socket
import struct
import zlib
from collections.abc import Callable

import brotli
import zstandard

from tests.servers import http_response, parse_request, read_request

MIB = 1 << 20
BOMB_SIZE = 2 << 30  # decoded size of every bomb: 2 GiB
ENCODINGS = ("gzip", "deflate", "br", "zstd")
FRAMINGS = ("length", "chunked")
_ZEROS = bytes(MIB)


@functools.cache
def _deflate_block() -> tuple[bytes, bytes]:
    """(one self-contained raw deflate block of 1 MiB of zeros, the final empty block)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = co.compress(_ZEROS) + co.flush(zlib.Z_FULL_FLUSH)
    return block, co.flush()


def _deflate_body(size: int) -> bytes:
    block, final = _deflate_block()
    return block * (size // MIB) + final


@functools.cache
def bomb(encoding: str, size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes (a multiple of 1 MiB) encoded with ``encoding``."""
    if encoding == "gzip":
        crc = 0
        for _ in range(size // MIB):
            crc = zlib.crc32(_ZEROS, crc)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        return header + _deflate_body(size) + struct.pack("<II", crc, size & 0xFFFFFFFF)
    if encoding == "deflate":  # zlib-wrapped; the Adler-32 of n zeros is (n mod 65521) << 16 | 1
        return b"\x78\xda" + _deflate_body(size) + struct.pack(">I", (size % 65521) << 16 | 1)
    if encoding == "br":
        compressor = brotli.Compressor(quality=1)
        parts = [compressor.process(_ZEROS) for _ in range(size // MIB)]
        return b"".join(parts) + compressor.finish()
    if encoding == "zstd":
        compressor = zstandard.ZstdCompressor(level=1).compressobj()
        parts = [compressor.compress(_ZEROS) for _ in range(size // MIB)]
        return b"".join(parts) + compressor.flush()
    raise ValueError(encoding)


def frame(body: bytes, framing: str, status: int = 200, headers: dict | None = None) -> bytes:
    """A whole response: ``body`` with a Content-Length or chunked in 64 KiB chunks."""
    if framing == "length":
        return http_response(body, status=status, reason="Found" if status == 302 else "OK",
                             headers=headers)
    lines = [f"HTTP/1.1 {status} {'Found' if status == 302 else 'OK'}",
             "Transfer-Encoding: chunked", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    step = 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                      for i in range(0, len(body), step))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


def bomb_routes(size: int = BOMB_SIZE) -> dict[str, bytes]:
    """GET paths → whole responses:

    - ``/warm``: a small gzip body (for warming up a client)
    - ``/bomb/{encoding}/{framing}``: 200 with a bomb
    - ``/redirect/{encoding}/{framing}``: 302 to ``/ok`` with a bomb as its body
    - ``/ok``: 200 ``ok``
    """
    routes = {"/warm": http_response(zlib.compress(b"warm " * 1000),
                                     headers={"Content-Encoding": "deflate"}),
              "/ok": http_response(b"ok")}
    for encoding in ENCODINGS:
        enc = {"Content-Encoding": encoding}
        for framing in FRAMINGS:
            routes[f"/bomb/{encoding}/{framing}"] = frame(bomb(encoding, size), framing,
                                                          headers=enc)
            routes[f"/redirect/{encoding}/{framing}"] = frame(
                bomb(encoding, size), framing, status=302, headers={**enc, "Location": "/ok"})

    return routes


def serve_routes(routes: dict[str, bytes]) -> Callable[[socket.socket], None]:
    """Keep-alive handler: each GET is answered with ``routes[path]`` verbatim (404 if
    unknown). A client that closes in the middle of a bomb just ends the connection."""

    def handler(conn: socket.socket) -> None:
        try:
            while raw := read_request(conn):
                target = parse_request(raw).target
                conn.sendall(routes.get(target) or http_response(b"", status=404,
                                                                  reason="Not Found"))
        except OSError:  # reset or closed by the client mid-body: what a bomb expects
            pass

    return handler
