"""Where the body of the response in flight goes, as the parser delivers it.

A connection keeps one :class:`IncomingBody`, reset for each exchange. A plain body
is first held as the parts that arrived: a small response is usually whole before its
response object exists, and is then taken as bytes without a StreamReader. A chunked
body, a large one, or one taken before its end goes into a :class:`StreamReader`
(through a :class:`~.decoders.DecodingSink` when it is decoded), whose flow control
pauses the connection. A body being dropped goes to a :class:`Discard`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..streams import DEFAULT_HIGH_WATER, StreamReader
from .decoders import DecodingSink

if TYPE_CHECKING:
    from .connection import ResponseHandler

__all__ = ["IncomingBody", "Discard"]


class IncomingBody:
    """The current response's body between the parser and the response object."""

    __slots__ = ("_conn", "_loop", "reader", "_sink", "_early", "_early_size", "_high_water")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # The connection, during an exchange (flow control, whether the response is whole);
        # forgotten between exchanges, so that an idle connection is in no reference cycle.
        self._conn: Any = None
        self._loop = loop
        #: The body's StreamReader, once it has one.
        self.reader: StreamReader | None = None
        self._sink: Any = None  # what the parser's bytes are fed to, if not held
        self._early: list[bytes] | None = None  # the parts held (a plain body, not taken)
        self._early_size = 0
        self._high_water = DEFAULT_HIGH_WATER

    def start(self, conn: ResponseHandler, high_water: int) -> None:
        """A new exchange on ``conn``: nothing received yet."""
        self._conn = conn
        self.reader = None
        self._sink = None
        self._early = None
        self._high_water = high_water

    def clear(self) -> None:
        """The exchange is over: forget its body."""
        self._conn = None
        self.reader = None
        self._sink = None
        self._early = None

    # -- from the parser --------------------------------------------------------

    def on_head(self, decoder: Any, chunked: bool) -> None:
        """The head arrived: choose where the body goes (``decoder``: it is decoded)."""
        if decoder is not None:
            sink = self._sink = DecodingSink(decoder, self._conn, self._high_water, self._loop)
            self.reader = sink.reader
        elif chunked:  # chunk boundaries matter to readchunk(): a reader from the start
            self._start_reader()
        else:
            self._early = []
            self._early_size = 0

    def feed_data(self, data: bytes) -> None:
        sink = self._sink
        if sink is not None:
            sink.feed_data(data)
            return
        self._early.append(data)  # type: ignore[union-attr]
        self._early_size += len(data)
        if self._early_size > self._high_water:
            self._start_reader()  # its flow control pauses the socket

    def end_chunk(self) -> None:
        self._sink.end_http_chunk_receiving()

    def feed_eof(self) -> None:
        """The body is whole."""
        if self._sink is not None:
            self._sink.feed_eof()

    def set_exception(self, exc: BaseException) -> None:
        """The body failed: whoever reads it gets ``exc``."""
        if self._sink is not None:
            self._sink.set_exception(exc)
        elif self._early is not None:
            self._start_reader().set_exception(exc)

    # -- for the response object ----------------------------------------------------

    def take(self) -> tuple[StreamReader | None, bytes | None]:
        """``(None, body)`` if it is already whole and was never handed out, else
        ``(reader, None)`` (``reader`` None: no body expected)."""
        if self._early is not None:
            if self._conn.response_complete:
                early, self._early = self._early, None
                return None, bytes(early[0]) if len(early) == 1 else b"".join(early)
            return self._start_reader(), None
        return self.reader, None

    def discard(self, fut: asyncio.Future[bool], limit: int) -> None:
        """Drop the rest as it arrives (see ``ResponseHandler.discard_body``)."""
        self._early = None
        self._sink = Discard(fut, limit, self._conn)

    def _start_reader(self) -> StreamReader:
        """Put the body behind a StreamReader from now on (with what arrived so far)."""
        reader = self.reader = StreamReader(self._conn, high_water=self._high_water,
                                            loop=self._loop)
        self._sink = reader
        early, self._early = self._early, None
        if early:
            for part in early:
                reader.feed_data(part)
        if self._conn.response_complete:
            reader.feed_eof()
        return reader

    # -- for direct reads (direct.py) ---------------------------------------------------

    def plain_received(self) -> int | None:
        """Bytes received of a plain body (not decoded, not failed) that a direct reader
        could continue; None otherwise."""
        reader = self.reader
        if reader is not None:  # the response object took the body: it has a StreamReader
            if self._sink is not reader or reader.exception() is not None:
                return None
            return reader.total_bytes
        if self._early is not None and self._sink is None:  # not taken yet
            return self._early_size
        return None


class Discard:
    """The sink of a body being dropped: counts it and ends a future (see discard_body)."""

    __slots__ = ("_fut", "_left", "_conn")

    def __init__(self, fut: asyncio.Future[bool], limit: int, conn: ResponseHandler) -> None:
        self._fut = fut
        self._left = limit
        self._conn = conn

    def feed_data(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0 and not self._fut.done():
            self._fut.set_result(False)
            self._conn.close()

    def feed_eof(self) -> None:
        if not self._fut.done():
            self._fut.set_result(True)

    def end_http_chunk_receiving(self) -> None:
        pass

    def set_exception(self, exc: BaseException) -> None:
        if not self._fut.done():
            self._fut.set_result(False)
