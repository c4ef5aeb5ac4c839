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

# Every pattern repeats single characters only (no repeated group, whose backtracking
# state would grow with a hostile line): extensions are matched one at a time.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[^\r\n]*)?)\r\n")
_EXTENSION = re.compile(rb"[ \t]*;[ \t]*" + _TOKEN + rb'(?:[ \t]*=[ \t]*(?:' + _TOKEN
                        + rb'|"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]*"))?')
#: A quoted-pair, replaced by a byte valid in quoted text only before _EXTENSION applies.
_QUOTED_PAIR = re.compile(rb"\\[\t \x21-\x7e\x80-\xff]")
_TRAILER_LINE = re.compile(_TOKEN + rb":[\t \x21-\x7e\x80-\xff]*\r\n")
#: The fast path: a size line without extensions, alone or after the end of chunk data.
_LINE_AT = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n").match
_NEXT_AT = re.compile(rb"\r\n([0-9A-Fa-f]{1,16})\r\n").match

# Where the decoder is: a size line, chunk data, the CRLF after it, trailers, the end.
_LINE, _DATA, _CRLF, _TRAILER, _DONE = range(5)


class ChunkedDecoder:
    """The framing of one chunked body, fed as it is received (see the module docstring).

    ``max_overhead`` bounds the framing between two pieces of body data. With
    ``mark_ends``, :meth:`feed` puts None after each chunk's data (where an HTTP chunk ends).
    """

    __slots__ = ("_state", "_line", "_overhead", "_max_overhead", "_crlf", "data_left",
                 "last_size", "extra", "done", "mark_ends")

    def __init__(self, max_overhead: int, mark_ends: bool = False) -> None:
        self._state = _LINE
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
        #: The last chunk and the trailer section were received.
        self.done = False
        self.mark_ends = mark_ends

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
            elif state == _DONE:
                self.extra = True
                break
            elif self._line or self._crlf or state == _TRAILER:
                pos = self._line_from(data, pos, end) if state != _CRLF else (
                    self._after_data(data, pos, end, out))
            else:  # the common case: the whole size line is there, matched in place
                match = (_LINE_AT if state == _LINE else _NEXT_AT)(data, pos, end)
                if match is None:  # not all there yet, or malformed: line by line
                    pos = self._line_from(data, pos, end) if state == _LINE else (
                        self._after_data(data, pos, end, out))
                    continue
                after = match.end()
                self._count(after - pos)
                pos = after
                if state == _CRLF and self.mark_ends:
                    out.append(None)
                size = self.last_size = int(match[1], 16)
                if size:
                    self.data_left = size
                    self._state = _DATA
                else:
                    self._state = _TRAILER
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
            self._state = _LINE
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
        if self._state == _LINE:
            self._size_line(line)
        else:
            self._trailer_line(line)
        return stop

    def _size_line(self, line: bytes) -> None:
        match = _SIZE_LINE.fullmatch(line)
        if match is None or (match[2] and not _extensions_valid(match[2])):
            raise MalformedBodyError(f"Malformed chunked body: bad chunk size line {_show(line)}")
        self._start_chunk(int(match[1], 16))

    def _start_chunk(self, size: int) -> None:
        self.last_size = size
        if size:
            self.data_left = size
            self._state = _DATA
        else:
            self._state = _TRAILER

    def _trailer_line(self, line: bytes) -> None:
        if line == b"\r\n":
            self._state = _DONE
            self.done = True
        elif _TRAILER_LINE.fullmatch(line) is None:
            raise MalformedBodyError(f"Malformed chunked body: bad trailer field {_show(line)}")

    def _count(self, size: int) -> None:
        self._overhead += size
        if self._overhead > self._max_overhead:
            raise MalformedBodyError(
                f"Chunk extensions or trailer section longer than {self._max_overhead} bytes"
            )


def _extensions_valid(text: bytes) -> bool:
    """``text`` is a run of ``;name[=value]`` chunk extensions."""
    text = _QUOTED_PAIR.sub(b"\x80", text)
    pos = 0
    while pos < len(text):
        match = _EXTENSION.match(text, pos)
        if match is None:
            return False
        pos = match.end()
    return True


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
