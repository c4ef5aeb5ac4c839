"""TLS connections read into their own buffers: :class:`TLSReader`.

asyncio's and uvloop's SSL transports give a plain ``asyncio.Protocol`` each TLS record
(16 KiB at most) as its own bytes object, and join the records of one read into another
bytes object: an allocation per record and one more copy of every byte. A
``BufferedProtocol`` is given no bytes: the transport decrypts straight into the buffer
its ``get_buffer()`` returns. uvloop only takes that path for a protocol that is not an
``asyncio.Protocol``, so the connection's :class:`~.connection.ResponseHandler` stays as
it is and a :class:`TLSReader` stands between the transport and it, passing every other
event on unchanged.

On the engine's own TLS transport (``tls_transport.py``, every TLS connection the
connector opens from a socket) the same protocol is given buffers by that transport;
on a loop without ``add_reader`` the loop's SSL transport gives them: :class:`TLSReader`
serves both. (TLS inside a CONNECT tunnel, ``loop.start_tls``, feeds the connection
directly.)

Cost model, per byte of a body that is not decoded: on our transport, OpenSSL's read of
the record from the socket and its decryption into a buffer sized to the last read, up
to 120 KiB (``bytearray(n)`` zero-fills it first: a write, not a copy); on the loops'
transports, one more copy into their memory BIO. No other copy until a reader needs
bytes: the facade's channel joins the views into the chunks it hands out, and an engine
reader (``StreamReader``) turns a view into bytes. A head, a decoded body's input, or a
read that fills less than half its buffer is copied out as bytes, so that a view never
holds more than twice its bytes (a server sending tiny records cannot make memory
balloon). Memory, per read: none fresh once the allocator is primed (``allocator.py``;
without it, 130-250 page faults per MiB were measured on asyncio's loop).

A direct TLS read by the facade's calling thread (as ``_bridge/direct.py`` does for plain
bodies) takes the SSLSocket itself from our transport (``TLSTransport.lend``).
"""

from __future__ import annotations

import asyncio

from .allocator import prime_allocator
from .connection import ResponseHandler

__all__ = ["TLSReader", "TLS_READ_MIN", "TLS_READ_MAX"]

#: The smallest buffer a TLS read gets.
TLS_READ_MIN = 16 * 1024
#: The largest: below glibc's 128 KiB mmap threshold. 256 KiB buffers were measured
#: with 4x the page faults per MiB (and more system time) on uvloop.
TLS_READ_MAX = 120 * 1024


class TLSReader(asyncio.BufferedProtocol):
    """The transport's protocol for one TLS connection; the HTTP work is ``handler``'s."""

    __slots__ = ("handler", "_buffer")

    def __init__(self, handler: ResponseHandler) -> None:
        self.handler = handler
        self._buffer: memoryview | None = None
        prime_allocator()  # the buffers' memory reused, not faulted in afresh

    def get_buffer(self, sizehint: int) -> memoryview:
        # sizehint: the encrypted bytes pending, a bound on the plaintext they hold
        size = TLS_READ_MIN if sizehint < TLS_READ_MIN else min(sizehint, TLS_READ_MAX)
        view = self._buffer
        if view is None or len(view) < size:  # else: the last one, left unused (no record)
            view = self._buffer = memoryview(bytearray(size))
        return view

    def buffer_updated(self, nbytes: int) -> None:
        view, self._buffer = self._buffer, None
        if view is None:
            return
        if self.handler.body_views and nbytes * 2 >= len(view):
            self.handler.data_received(view if nbytes == len(view) else view[:nbytes])
        else:
            self.handler.data_received(bytes(view[:nbytes]))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handler.connection_made(transport)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()
