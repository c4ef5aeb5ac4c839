"""Writing a request body onto a connection: framing, compression, backpressure, length."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ...exceptions import ClientConnectionResetError, RequestBodyLengthError
from .writer import LAST_CHUNK, Compressor, frame_chunk

if TYPE_CHECKING:
    from .connection import ResponseHandler

__all__ = ["BodyWriter"]


class BodyWriter:
    """Writes a request body: compression, chunk framing, socket backpressure, and the
    declared ``length`` (the Content-Length; None when chunked), which it never exceeds.

    With a length, the write that completes it is held back until :meth:`finish`: a
    body that runs past its length fails (:class:`RequestBodyLengthError`) before the
    server has received all of it, so it can never take an incomplete upload for a
    whole one. :meth:`finish` raises the same error for a body that ended short.
    """

    __slots__ = ("_protocol", "_chunked", "_compressor", "bytes_written", "_length", "_left",
                 "_held")

    def __init__(
        self, protocol: ResponseHandler, *, chunked: bool, compressor: Compressor | None = None,
        length: int | None = None,
    ) -> None:
        self._protocol = protocol
        self._chunked = chunked
        self._compressor = compressor
        self.bytes_written = 0
        self._length = length
        self._left = length
        self._held: bytes | bytearray | memoryview | None = None

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if not chunk:
            return
        if self._compressor is not None:
            chunk = self._compressor.compress(chunk)
            if not chunk:
                return
        if self._left is not None:
            left = self._left - len(chunk)
            if left < 0:
                raise RequestBodyLengthError(
                    f"data=: the body runs past its Content-Length of {self._length} bytes "
                    f"(it produced at least {self._length - self._left + len(chunk)}); the "
                    "request was abandoned, the excess was not sent"
                )
            self._left = left
            if not left:  # held: a byte more would be an error, which the server must see
                self._held = chunk if type(chunk) is bytes else bytes(chunk)
                return
        self._send(chunk)
        await self._protocol.drain()

    def _send(self, chunk: bytes | bytearray | memoryview) -> None:
        transport = self._protocol.transport
        if transport is None or transport.is_closing():
            raise ClientConnectionResetError("Connection closed while sending the request body")
        self.bytes_written += len(chunk)
        if self._chunked:
            transport.writelines(frame_chunk(chunk))
        else:
            transport.write(chunk)

    async def sendfile(self, file: Any, offset: int, count: int) -> bool:
        """Send ``count`` bytes of an OS file with the kernel's sendfile, if this
        connection allows it (plain TCP on asyncio's loop, no framing or compression).
        False means the caller should send the bytes itself; nothing was sent."""
        protocol = self._protocol
        transport = protocol.transport
        if (self._chunked or self._compressor is not None or transport is None
                or (self._left is not None and count > self._left)
                or transport.get_extra_info("sslcontext") is not None
                or not isinstance(protocol.loop, asyncio.selector_events.BaseSelectorEventLoop)):
            return False
        try:
            sent = await protocol.loop.sendfile(transport, file, offset, count, fallback=False)
        except (asyncio.SendfileNotAvailableError, NotImplementedError):
            return False
        self.bytes_written += sent
        if self._left is not None:
            self._left -= sent
        return True

    async def finish(self) -> None:
        """Flush the compressor and send the last chunk, or the held-back end of a body
        with a length (raising :class:`RequestBodyLengthError` if it ended short)."""
        if self._compressor is not None:
            tail = self._compressor.flush()
            if tail:
                self._send(tail)
        if self._left:
            raise RequestBodyLengthError(
                f"data=: the body ended after {self._length - self._left} bytes, short of its "
                f"Content-Length of {self._length}; the request was abandoned"
            )
        held, self._held = self._held, None
        if held is not None:
            self._send(held)
        if self._chunked:
            self._protocol.send(LAST_CHUNK)
        await self._protocol.drain()
