"""Sans-I/O decoding of a chunked response body's framing (RFC 9112, section 7.1).

:class:`ChunkedDecoder` is fed received bytes and says where the body data is among them:
``(start, stop)`` offsets into what it was fed, so a reader copies each body byte once,
straight from its own buffer, and the framing is never copied. It also says how much
chunk data is certainly coming next (:attr:`ChunkedDecoder.data_left`), so a reader may
receive that much straight into its result and only report it (:meth:`~ChunkedDecoder.skip`).

Why not llhttp, which parses the response head: httptools reports body data only as a
fresh ``bytes`` per piece (a copy) and exposes neither offsets nor the chunk size, so a
reader could neither copy body bytes once nor receive them into place.

The rules are strict: hex sizes (at most 16 digits), extensions as ``;name[=value]``
(token or quoted string, blanks around ``;`` and ``=``), trailer fields as
``name: value``, every line ended by CRLF, CRLF after each chunk's data. Anything else is a
:class:`~syncwrap.exceptions.MalformedBodyError` (also a ClientPayloadError). Framing
that passes between two pieces of body data (size lines with their extensions, the
trailer section) is bounded by ``max_overhead`` bytes, counted as it arrives, so an
endless line is refused at the limit and memory stays bounded. Bytes after the end are
not parsed: :attr:`ChunkedDecoder.extra` says they came (the connection is not reusable).

Cost model: per chunk, one regular-expression match of its size line; per feed, a few
attribute reads. Body bytes are never touched.
"""

from __future__ import annotations

import re

from ...exceptions import ClientPayloadError, MalformedBodyError

__all__ = ["ChunkedDecoder"]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_SIZE_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*" + _TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*)\r\n"
)
_TRAILER_LINE = re.compile(_TOKEN + rb":[\t \x21-\x7e\x80-\xff]*\r\n")

# Where the decoder is: a size line, chunk data, the CRLF after it, trailers, the end.
_SIZE, _DATA, _CRLF, _TRAILER, _DONE = range(5)


class ChunkedDecoder:
    """The framing of one chunked body, fed as it is received (see the module docstring).

    ``max_overhead`` bounds the framing between two pieces of body data. With
    ``mark_ends``, :meth:`feed` puts None after each chunk's data (where an HTTP chunk ends).
    """

    __slots__ = ("_state", "_line", "_overhead", "_max_overhead", "_crlf", "data_left",
                 "last_size", "extra", "mark_ends")

    def __init__(self, max_overhead: int, mark_ends: bool = False) -> None:
        self._state = _SIZE
        self._line = bytearray()  # a size or trailer line received in parts
        self._overhead = 0  # framing bytes since the last body data
        self._max_overhead = max_overhead
        self._crlf = 0  # bytes of the CRLF after chunk data seen so far
        #: Bytes of the current chunk's data still to come (0 between chunks).
        self.data_left = 0
        #: The size of the last chunk announced (a hint: chunks tend to be alike).
        self.last_size = 0
        #: Bytes came after the end of the body.
        self.extra = False
        self.mark_ends = mark_ends

    @property
    def done(self) -> bool:
        """The last chunk and the trailer section were received."""
        return self._state == _DONE

    def feed(self, data: bytes | bytearray | memoryview, start: int = 0,
             stop: int | None = None) -> list[tuple[int, int] | None]:
        """The body data in ``data[start:stop]``: a list of ``(start, stop)`` offsets into
        ``data`` (and None after each chunk with ``mark_ends``). Raises MalformedBodyError."""
        pos = start
        end = len(data) if stop is None else stop
        out: list[tuple[int, int] | None] = []
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self.data_left, end - pos)
                out.append((pos, pos + take))
                pos += take
                self._overhead = 0
                self.data_left -= take
                if not self.data_left:
                    self._state = _CRLF
            elif state == _CRLF:
                pos = self._after_data(data, pos, end, out)
            elif state == _DONE:
                self.extra = True
                break
            else:
                pos = self._line_from(data, pos, end)
        return out

    def skip(self, count: int) -> None:
        """``count`` bytes of chunk data (at most :attr:`data_left`) were received without
        passing through :meth:`feed` (straight into the reader's result)."""
        if not 0 <= count <= self.data_left:
            raise ValueError(f"count must be between 0 and data_left ({self.data_left})")
        if count:
            self._overhead = 0
            self.data_left -= count
            if not self.data_left:
                self._state = _CRLF

    def feed_eof(self) -> None:
        """The connection ended: raises ClientPayloadError unless the body was whole."""
        if self._state != _DONE:
            raise ClientPayloadError(
                "Response payload is not completed: connection closed inside a chunked body"
            )

    # -- framing ------------------------------------------------------------------------

    def _after_data(self, data: bytes | bytearray | memoryview, pos: int, end: int,
                    out: list[tuple[int, int] | None]) -> int:
        """The CRLF that ends a chunk's data, possibly split across feeds."""
        first = pos
        while self._crlf < 2 and pos < end:
            if data[pos] != b"\r\n"[self._crlf]:
                raise MalformedBodyError("Malformed chunked body: no CRLF after the chunk data")
            self._crlf += 1
            pos += 1
        self._count(pos - first)
        if self._crlf == 2:
            self._crlf = 0
            self._state = _SIZE
            if self.mark_ends:
                out.append(None)
        return pos

    def _line_from(self, data: bytes | bytearray | memoryview, pos: int, end: int) -> int:
        """Take a size or trailer line (or its next part) from ``data[pos:end]``."""
        newline = _find_newline(data, pos, end)
        stop = end if newline < 0 else newline + 1
        self._count(stop - pos)
        if newline < 0:
            self._line += data[pos:end]
            return end
        if self._line:
            self._line += data[pos:stop]
            line = bytes(self._line)
            self._line.clear()
        else:
            line = bytes(data[pos:stop])
        if self._state == _SIZE:
            self._size_line(line)
        else:
            self._trailer_line(line)
        return stop

    def _size_line(self, line: bytes) -> None:
        match = _SIZE_LINE.fullmatch(line)
        if match is None:
            raise MalformedBodyError(f"Malformed chunked body: bad chunk size line {_show(line)}")
        size = self.last_size = int(match[1], 16)
        if size:
            self.data_left = size
            self._state = _DATA
        else:
            self._state = _TRAILER

    def _trailer_line(self, line: bytes) -> None:
        if line == b"\r\n":
            self._state = _DONE
        elif _TRAILER_LINE.fullmatch(line) is None:
            raise MalformedBodyError(f"Malformed chunked body: bad trailer field {_show(line)}")

    def _count(self, size: int) -> None:
        self._overhead += size
        if self._overhead > self._max_overhead:
            raise MalformedBodyError(
                f"Chunk extensions or trailer section longer than {self._max_overhead} bytes"
            )


def _find_newline(data: bytes | bytearray | memoryview, pos: int, end: int) -> int:
    """Where the next LF is in ``data[pos:end]`` (-1: none). A memoryview has no ``find``:
    it is searched a window at a time (the work grows with the line, not the buffer)."""
    if not isinstance(data, memoryview):
        return data.find(b"\n", pos, end)
    while pos < end:
        window = min(end, pos + 256)
        found = bytes(data[pos:window]).find(b"\n")
        if found >= 0:
            return pos + found
        pos = window
    return -1


def _show(line: bytes) -> str:
    """A bounded, printable excerpt of a refused line."""
    text = repr(line[:60])[2:-1]
    return text + "..." if len(line) > 60 else text
