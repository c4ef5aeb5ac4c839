"""Sans-I/O request serialisation: validation, the request head, chunk framing."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...exceptions import InvalidHeader, RequestBodyLengthError
from ..zlib_backend import zlib_backend

__all__ = ["validate_method", "validate_header", "build_request_head", "frame_chunk", "Compressor",
           "check_content_length"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\r\n\x00]")

LAST_CHUNK = b"0\r\n\r\n"
COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def validate_method(method: str) -> str:
    """Return ``method`` upper-cased, or raise ValueError if it is not an HTTP token."""
    if method in COMMON_METHODS:
        return method  # type: ignore[no-any-return]
    if not isinstance(method, str) or not _TOKEN.match(method):
        raise ValueError(f"method=: {method!r} is not a valid HTTP method")
    return method.upper()


def validate_header(name: str, value: str) -> None:
    """Raise :class:`InvalidHeader` for a name that is not a token or a value with CR/LF/NUL."""
    if not _TOKEN.match(name):
        raise InvalidHeader(f"headers=: invalid header name {name!r}")
    if _BAD_VALUE.search(value):
        raise InvalidHeader(f"headers=: value of {name!r} contains CR, LF or NUL: {value!r}")


def check_content_length(values: list[str], size: int | None) -> None:
    """Check the Content-Length header ``values`` a caller set against the body's ``size``
    (0 without a body; None for a stream, whose length is enforced as it is sent).

    Raises :class:`InvalidHeader` for anything but one decimal number, and
    :class:`RequestBodyLengthError` (a ValueError) when ``size`` is known and differs.
    """
    if len(values) != 1:
        raise InvalidHeader(f"headers=: more than one Content-Length header: {values!r}")
    value = values[0].strip(" \t")
    if not (value.isascii() and value.isdigit()):
        raise InvalidHeader(f"headers=: Content-Length must be a byte count, not {values[0]!r}")
    declared = int(value)
    if size is not None and size != declared:
        raise RequestBodyLengthError(
            f"headers=: Content-Length is {declared} but the body is {size} bytes; leave "
            "the header out (it is computed) or make it match"
        )


def build_request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise the request line and headers (already validated) to bytes."""
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"{method} {target} HTTP/1.1\r\n{fields}\r\n".encode()


def frame_chunk(data: bytes | bytearray | memoryview) -> list[bytes | bytearray | memoryview]:
    """The pieces of one chunk of a chunked body (for ``transport.writelines``)."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


class Compressor:
    """Compresses a request body for ``Content-Encoding: deflate`` or ``gzip``."""

    def __init__(self, encoding: str) -> None:
        if encoding not in ("gzip", "deflate"):
            raise ValueError(
                f"compress=: unsupported encoding {encoding!r}; use 'deflate' or 'gzip'"
            )
        lib = zlib_backend()
        self.encoding = encoding
        self._obj = lib.compressobj(
            wbits=16 + lib.MAX_WBITS if encoding == "gzip" else lib.MAX_WBITS)

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush()
