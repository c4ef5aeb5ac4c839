"""Sans-I/O HTTP/1.1 response parsing on top of httptools (llhttp).

:class:`ResponseParser` is fed bytes and reports events through callbacks; it
never touches a socket. It enforces the :class:`HeaderLimits`: sizes of the
status line and headers, how many interim (1xx) responses may come, how much
chunk framing (extensions, trailers) may pass without body data. It handles
Content-Length, chunked (with trailers), read-until-close, HEAD, 1xx, 204 and
304 responses, and ``101 Switching Protocols``, after which it parses nothing: the
bytes that follow are kept for the protocol switched to (:attr:`upgraded_data`).

llhttp parses the heads (and the bodies that need no parsing, in the read that ended a
head); a chunked body is framed by the engine's own :class:`~.chunked.ChunkedDecoder`
(``chunked.py`` says why), which :meth:`ResponseParser.hand_over_chunked` can give to a
reader on another thread, where the loop left it (``direct.py``, thread mode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from ...exceptions import (
    ClientPayloadError,
    MalformedResponseError,
    ServerDisconnectedError,
)
from .chunked import ChunkedDecoder

__all__ = ["ResponseHead", "ResponseParser", "HeaderLimits"]


class HeaderLimits:
    """Limits on what a server may send besides the body.

    ``max_head_size`` bounds the status line and headers together, and also each
    chunk-size line with its extensions and the trailer section of a chunked body
    (counted as they arrive: the refusal comes at the limit).

    ``max_interim`` is how many interim (1xx) responses may come before the final
    one. A real exchange has a handful at most: one ``100 Continue``, an ``103 Early
    Hints`` or two, an occasional ``102 Processing``; 32 leaves room for those while
    a server that sends 1xx responses forever is refused at once instead of at the
    timeout. Each interim response is dropped from memory as soon as it is parsed.
    """

    __slots__ = ("max_line_size", "max_field_size", "max_headers", "max_head_size",
                 "max_interim")

    def __init__(
        self,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_headers: int = 128,
        max_head_size: int = 65536,
        max_interim: int = 32,
    ) -> None:
        self.max_line_size = max_line_size
        self.max_field_size = max_field_size
        self.max_headers = max_headers
        self.max_head_size = max_head_size
        self.max_interim = max_interim


DEFAULT_LIMITS = HeaderLimits()


_needles: dict[bytes, bytes] = {}


def _needle(name: bytes) -> bytes:
    """``b"\\r\\nname:"``, what a header line starts with in the lower-cased block."""
    needle = _needles.get(name)
    if needle is None:
        if len(_needles) >= 256:
            _needles.clear()
        needle = _needles[name] = b"\r\n" + name + b":"
    return needle


class ResponseHead:
    """The status line and headers of one response.

    ``headers`` (a CIMultiDictProxy) and ``raw_headers`` are built on first
    use; the engine itself reads only a few fields, with :meth:`first`.
    """

    __slots__ = (
        "status",
        "reason",
        "version",
        "_block",
        "lower_block",
        "_headers",
        "_raw_headers",
        "keep_alive",
        "chunked",
        "content_length",
        "upgrade",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        version: tuple[int, int],
        block: bytes,
        keep_alive: bool,
        upgrade: bool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._block = block  # b"\r\nName: value\r\nName: value" (after the status line)
        self.lower_block = block.lower()
        self._headers: CIMultiDictProxy[str] | None = None
        self._raw_headers: tuple[tuple[bytes, bytes], ...] | None = None
        self.keep_alive = keep_alive
        self.chunked = False
        self.content_length: int | None = None
        self.upgrade = upgrade

    def count(self, name: bytes) -> int:
        """How many times the lower-case header ``name`` occurs."""
        return self.lower_block.count(_needle(name))

    def first(self, name: bytes) -> str | None:
        """The first value of the lower-case header ``name``, or None."""
        needle = _needle(name)
        start = self.lower_block.find(needle)
        if start < 0:
            return None
        start += len(needle)
        end = self._block.find(b"\r\n", start)
        value = self._block[start:end] if end >= 0 else self._block[start:]
        return value.strip(b" \t").decode("utf-8", "surrogateescape")

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            pairs = []
            for line in self._block.decode("utf-8", "surrogateescape").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                pairs.append((name, value.strip(" \t")))
            self._headers = CIMultiDictProxy(CIMultiDict(pairs))
        return self._headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The header (name, value) pairs as bytes, exactly as received."""
        if self._raw_headers is None:
            pairs = []
            for line in self._block.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                pairs.append((name, value.strip(b" \t")))
            self._raw_headers = tuple(pairs)
        return self._raw_headers


_NO_BODY_STATUSES = frozenset({204, 304})
# Body framing modes once the head is parsed (_SWITCHED: after a 101, no more HTTP;
# _CHUNKED: a chunked body, framed by a ChunkedDecoder; _HANDED: by another thread).
_PARSER, _LENGTH, _UNTIL_CLOSE, _DONE, _SWITCHED, _CHUNKED, _HANDED = range(7)


class _BodyFollows(Exception):
    """Raised in llhttp's head callback to stop it where a chunked body starts."""


class ResponseParser:
    """Parse HTTP/1.1 responses (plus any 1xx before each), one per :meth:`start`.

    Callbacks: ``on_head(ResponseHead)``, ``on_body(bytes)``,
    ``on_chunk_end()`` after each chunk of a chunked body,
    ``on_complete()`` when the message is whole (never after a 101 head, which ends
    HTTP on the connection), ``on_informational(head)`` for a 1xx response. Errors
    raise :class:`MalformedResponseError` from :meth:`feed`. A connection keeps one
    parser for all its responses.
    """

    def __init__(
        self,
        on_head: Callable[[ResponseHead], None],
        on_body: Callable[[bytes], None],
        on_complete: Callable[[], None],
        *,
        on_chunk_end: Callable[[], None] | None = None,
        on_informational: Callable[[ResponseHead], None] | None = None,
    ) -> None:
        self._on_head = on_head
        self._on_body_cb = on_body
        self._on_complete = on_complete
        self._on_chunk_end = on_chunk_end
        self._on_informational = on_informational
        self._parser: Any = None
        #: llhttp saw the last message to its end and is ready for the next one.
        self._llhttp_ready = False
        self.start("GET")

    def start(self, method: str, limits: HeaderLimits = DEFAULT_LIMITS) -> None:
        """Expect a new response, to a request made with ``method``."""
        self._is_head_request = method == "HEAD"
        self._is_connect = method == "CONNECT"  # a 2xx answer has no body: the tunnel follows
        self._limits = limits
        if not self._llhttp_ready:
            self._parser = httptools.HttpResponseParser(self)
        self._llhttp_ready = False
        self._buf = b""  # bytes fed while the head is incomplete
        self._scan = 0  # where the next head starts in _buf (after any 1xx)
        self._interim = 0  # 1xx responses so far
        self._head: ResponseHead | None = None
        self._mode = _PARSER
        self._chunked: ChunkedDecoder | None = None  # a chunked body's framing
        self._body_start = b""  # what followed a chunked body's head in its read
        self._remaining = 0
        self.received_any = False
        #: True when bytes arrived after the end of the message (never reuse the connection).
        self.extra_data = False
        #: After a 101 head: the bytes that followed it (the switched-to protocol's).
        self.upgraded_data = b""

    def close(self) -> None:
        """Drop llhttp (it holds our bound callbacks: this breaks the cycle)."""
        self._parser = None
        self._llhttp_ready = False

    @property
    def head(self) -> ResponseHead | None:
        return self._head

    @property
    def done(self) -> bool:
        return self._mode == _DONE

    @property
    def switched(self) -> bool:
        """A 101 head arrived: the connection speaks another protocol from then on."""
        return self._mode == _SWITCHED

    @property
    def remaining(self) -> int | None:
        """Bytes of a Content-Length body still to come; None for a chunked body, one
        read until the connection closes, or before the head."""
        head = self._head
        if head is None or head.chunked or head.content_length is None:
            return None
        return 0 if self._mode == _DONE else self._remaining

    # -- feeding -------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Consume bytes from the connection."""
        mode = self._mode
        if mode == _LENGTH:
            remaining = self._remaining
            n = len(data)
            if n < remaining:
                self._remaining = remaining - n
                self._on_body_cb(data)
                return
            if n > remaining:
                self.extra_data = True
                data = data[:remaining]
            self._remaining = 0
            if data:
                self._on_body_cb(data)
            self._finish()
            return
        if mode == _UNTIL_CLOSE:
            self._on_body_cb(data)
            return
        if mode == _DONE:
            if data:
                self.extra_data = True
            return
        if mode == _CHUNKED:
            self._feed_chunked(data)
            return
        if mode == _SWITCHED:
            self.upgraded_data += data
            return
        if mode == _HANDED:  # the transport is paused meanwhile: never happens
            raise MalformedResponseError("Response bytes arrived while a reader frames the body")
        self.received_any = True
        if self._head is None:
            self._buf = self._buf + data if self._buf else data
        self._parse(self._parser, data)

    def _parse(self, llhttp: Any, data: bytes | memoryview) -> None:
        """Feed llhttp (a head, a chunked body) and enforce the limits."""
        try:
            llhttp.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError as exc:
            self._llhttp_ready = False
            if isinstance(exc.__context__, _BodyFollows):  # llhttp stopped at a chunked body
                exc.__context__ = None  # (its traceback holds the loop's frames)
            elif self._mode == _SWITCHED:  # llhttp stops after a 101 (the bytes are kept)
                return
            elif self._mode == _DONE:
                self.extra_data = True
                return
            else:
                self._raise_parse_error(exc)
        if self._body_start:  # what followed the head of a chunked body
            rest, self._body_start = self._body_start, b""
            self._feed_chunked(rest)
            return
        head = self._head
        if head is None:
            if self._scan:  # drop the interim (1xx) responses parsed so far
                self._buf = self._buf[self._scan:]
                self._scan = 0
            if len(self._buf) > self._limits.max_head_size:
                raise MalformedResponseError(
                    f"Response head larger than {self._limits.max_head_size} bytes"
                )
        elif self._mode == _PARSER:
            # The rest of the body needs no parsing: count it past llhttp.
            self._mode = _UNTIL_CLOSE if head.content_length is None else _LENGTH

    @staticmethod
    def _raise_parse_error(exc: Exception) -> None:
        """llhttp refused the bytes, or one of our callbacks raised ``exc.__context__``."""
        cause = exc.__context__  # e.g. a ContentDecodingError raised by on_body
        if isinstance(cause, MalformedResponseError | ClientPayloadError) or (
                cause is not None and not isinstance(cause, Exception)):
            raise cause from None  # (Ctrl-C in a callback, off the loop, stays itself)
        raise MalformedResponseError(f"Malformed HTTP response: {_describe(exc)}") from None

    def _feed_chunked(self, data: bytes | memoryview) -> None:
        """A chunked body's bytes: its framing says where the data is (and ends). A view
        (TLS reads) is passed on as a view only where the piece is at least half of it."""
        decoder = self._chunked
        assert decoder is not None
        whole = len(data)
        for span in decoder.feed(data):
            if span is None:
                if self._on_chunk_end is not None:
                    self._on_chunk_end()
                continue
            start, stop = span
            if stop - start == whole:
                self._on_body_cb(data)
            elif (stop - start) * 2 < whole and isinstance(data, memoryview):
                self._on_body_cb(bytes(data[start:stop]))
            else:
                self._on_body_cb(data[start:stop])
        if decoder.done:
            self.extra_data = self.extra_data or decoder.extra
            self._finish()

    def feed_eof(self) -> None:
        """The connection closed; finish a read-until-close body or raise."""
        mode = self._mode
        if mode == _DONE or mode == _SWITCHED:
            return
        if mode == _UNTIL_CLOSE or (mode == _HANDED and self._handed_done):
            self.end_body()
            return
        if self._head is None:
            if not self.received_any:
                raise ServerDisconnectedError("Server disconnected without sending a response")
            raise MalformedResponseError("Connection closed in the middle of the response head")
        if self._head.chunked:
            raise ClientPayloadError(
                "Response payload is not completed: connection closed inside a chunked body"
            )
        raise ClientPayloadError(
            f"Response payload is not completed: {self._remaining} of "
            f"{self._head.content_length} bytes missing"
        )

    def end_body(self) -> None:
        """The rest of a Content-Length or until-close body was received without passing
        through :meth:`feed` (read straight from the socket), or the reader a chunked one
        was handed to framed its end: the message is complete. (Otherwise nothing happens:
        see :attr:`done`.)"""
        if self._mode in (_LENGTH, _UNTIL_CLOSE):
            self._remaining = 0
            self._finish()
        elif self._mode == _HANDED and self._handed_done:
            self.extra_data = self.extra_data or self._chunked.extra  # type: ignore[union-attr]
            self._finish()

    def hand_over_chunked(self) -> ChunkedDecoder:
        """The framing of the current chunked body, for a reader on another thread that
        feeds it what it receives (it says where the body data is); :meth:`feed` takes
        nothing meanwhile. Raises RuntimeError unless a chunked body is being parsed."""
        decoder = self._chunked
        if self._mode != _CHUNKED or decoder is None:
            raise RuntimeError("No chunked body is being parsed")
        self._mode = _HANDED
        decoder.mark_ends = False
        return decoder

    @property
    def _handed_done(self) -> bool:
        return self._chunked is not None and self._chunked.done

    def _finish(self) -> None:
        self._mode = _DONE
        self._on_complete()

    # -- httptools callbacks ---------------------------------------------------

    def on_message_begin(self) -> None:
        if self._mode == _DONE:  # another message after ours: stop
            # (_parse flags extra_data)
            raise MalformedResponseError("Data after the end of the response")

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        limits = self._limits
        buf = self._buf
        start = self._scan
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            raise MalformedResponseError("Malformed HTTP response: no end of the head found")
        self._scan = end + 4
        line_end = buf.find(b"\r\n", start, end)
        if line_end < 0:
            line_end = end
        if line_end - start > limits.max_line_size:
            raise MalformedResponseError(f"Status line longer than {limits.max_line_size} bytes")
        block = buf[line_end:end]
        if block.count(b"\r\n") > limits.max_headers or len(block) > limits.max_field_size:
            _check_header_limits(block, limits)
        # llhttp checked the line: "HTTP/x.y NNN reason", the reason after column 13
        reason = buf[start + 13:line_end].decode("utf-8", "surrogateescape")
        version_text = parser.get_http_version()
        version = (1, 1) if version_text == "1.1" else (1, 0) if version_text == "1.0" else (
            int(version_text[0]),
            int(version_text[2]) if len(version_text) > 2 else 0,
        )
        head = ResponseHead(status, reason, version, block, parser.should_keep_alive(),
                            status == 101)
        lower = head.lower_block
        chunked = False
        content_length = None
        if b"\r\ntransfer-encoding:" in lower:
            te = head.first(b"transfer-encoding")
            if head.count(b"transfer-encoding") > 1:
                te = ", ".join(head.headers.getall("Transfer-Encoding"))
            chunked = head.chunked = te is not None and "chunked" in te.lower()
        if not chunked:
            pos = lower.find(b"\r\ncontent-length:")
            if pos >= 0:
                cl_end = lower.find(b"\r\n", pos + 17)
                cl = lower[pos + 17:cl_end if cl_end >= 0 else len(lower)].strip(b" \t")
                if not cl.isdigit() or (
                    lower.count(b"\r\ncontent-length:") > 1
                    and len(set(head.headers.getall("Content-Length"))) != 1
                ):
                    values = head.headers.getall("Content-Length")
                    raise MalformedResponseError(f"Invalid Content-Length header: {values!r}")
                content_length = head.content_length = int(cl)
        if 100 <= status < 200 and status != 101:
            self._interim += 1
            if self._interim > limits.max_interim:
                raise MalformedResponseError(
                    f"More than {limits.max_interim} interim (1xx) responses before the "
                    "final response"
                )
            if self._on_informational is not None:
                self._on_informational(head)
            return
        self._head = head
        self._buf = b""
        if status == 101:  # HTTP ends here: what follows is the new protocol's
            head.content_length = 0
            self._llhttp_ready = False
            self._mode = _SWITCHED
            self.upgraded_data = buf[end + 4:]
            self._on_head(head)
            return
        if (self._is_head_request or status == 204 or status == 304
                or (self._is_connect and 200 <= status < 300)):
            if not self._is_head_request:
                head.content_length = 0
            self._on_head(head)
            self._finish()
            return
        if content_length is None and not chunked:
            head.keep_alive = False
        self._remaining = content_length or 0
        self._on_head(head)
        if content_length == 0:
            self._finish()
        elif chunked and self._mode == _PARSER:  # the framing is ours: stop llhttp here
            self._mode = _CHUNKED
            self._chunked = ChunkedDecoder(limits.max_head_size, mark_ends=True)
            self._body_start = buf[end + 4:]
            raise _BodyFollows

    def on_body(self, body: bytes) -> None:
        if self._mode == _SWITCHED:  # a 101's "body" is the new protocol's (kept already)
            return
        if self._mode == _DONE:
            self.extra_data = True
            return
        if self._remaining:  # a Content-Length body, in the read that completed the head
            self._remaining -= len(body)
        self._on_body_cb(body)

    def on_message_complete(self) -> None:
        if self._head is None:  # the end of a 1xx response
            return
        if self._mode == _PARSER:
            self._llhttp_ready = True  # llhttp saw this message whole
            self._finish()


def _check_header_limits(block: bytes, limits: HeaderLimits) -> None:
    if block.count(b"\r\n") > limits.max_headers:
        raise MalformedResponseError(f"More than {limits.max_headers} response headers")
    if len(block) > limits.max_field_size and max(
        map(len, block.split(b"\r\n"))
    ) > limits.max_field_size:
        raise MalformedResponseError(
            f"A response header is longer than {limits.max_field_size} bytes"
        )


def _describe(exc: Any) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\r", "\\r").replace("\n", "\\n")
