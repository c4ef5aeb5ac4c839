"""TLS of our own: :class:`TLSTransport`, an ``asyncio.Transport`` over an ``ssl.SSLSocket``.

The connector opens every TLS connection it makes from a socket (direct, SOCKS, Unix)
with :func:`open_tls`: the connected socket is wrapped in a non-blocking
``ssl.SSLSocket`` (``suppress_ragged_eofs=False``), the handshake runs against the loop's
``add_reader``/``add_writer``, and the transport then reads and writes through the
SSLSocket from the loop's readiness callbacks. Loops without ``add_reader`` (Windows'
proactor) keep the loop's own TLS (:func:`own_tls_applies`); so does TLS inside a
CONNECT tunnel (``loop.start_tls`` over the proxy's transport, ``tunnel.py``).

Why not the loops' SSL transports: they read the socket into a bytes object, copy it
into a ``MemoryBIO``, decrypt from there through an ``SSLObject`` and hand the protocol
the plaintext, and keep the TLS session where nobody else can reach it. Here OpenSSL
reads the socket itself and decrypts into the protocol's buffer, and the session is one
object (the SSLSocket) that can be lent to a reader on another thread and taken back
(:meth:`TLSTransport.lend`, for ``direct.py``'s thread mode).

Cost model, per readiness callback: one buffer from the protocol (a
``BufferedProtocol``, :class:`~.tls_reads.TLSReader`, is asked for one as big as the last
read got, twice that when it filled it), filled by ``SSLSocket.read`` record by record:
per record, OpenSSL's two ``read`` calls (header, body; OpenSSL has no read-ahead here,
so it never holds ciphertext beyond the record it decrypts and the socket's readiness
tells the whole story) and its decryption straight into the buffer, the kernel's copy
into OpenSSL's record buffer being the only other one. After a record that did not fill
the buffer, one ``FIONREAD`` says whether another has come in; when none has, reading
stops there instead of asking OpenSSL once more for the ``SSLWantReadError`` that a
Python exception costs. One buffer per callback: what the read woke (e.g. the hand-off
of a body to a reading thread) runs before the next read, which the socket's readiness
brings (or a call_soon, when only decrypted bytes are left). A plain protocol gets its
bytes copied out of one reused buffer (one copy more). Writes: one ``SSL_write`` per
``write()`` when nothing is pending; what the socket does not take is kept (the
caller's bytes, joined up to 256 KiB per ``SSL_write``) and sent when the loop says the
socket is writable, the same bytes retried after ``SSLWantWriteError`` as OpenSSL
requires.

Endings: close_notify from the server is ``eof_received`` (the protocol says whether to
keep the transport open); a connection cut without it (``SSLEOFError``) or reset is
``connection_lost(exc)``, never a silent EOF. :meth:`close` sends our close_notify once
(best effort: it never waits for the server's) after what is pending has been written;
:meth:`abort` drops everything at once.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
from collections.abc import Callable
from typing import Any

from .direct import waiting

__all__ = ["TLSTransport", "open_tls", "own_tls_applies"]

#: The buffer a plain ``asyncio.Protocol`` is read into (reused: its bytes are copied out).
PLAIN_READ_SIZE = 256 * 1024
#: The most one ``SSL_write`` is given (pieces written together are joined up to this).
WRITE_SIZE = 256 * 1024
_HIGH_WATER = 64 * 1024

_WANTS = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def own_tls_applies(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` can drive :class:`TLSTransport` (it implements ``add_reader``)."""
    return type(loop).add_reader is not asyncio.AbstractEventLoop.add_reader


async def open_tls(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                   context: ssl.SSLContext, server_hostname: str | None,
                   protocol_factory: Callable[[], Any]) -> tuple[TLSTransport, Any]:
    """TLS over the connected ``sock``: the handshake, then ``protocol_factory()``'s
    protocol on a :class:`TLSTransport` (its ``connection_made`` called, reading on).

    The handshake raises what ``ssl`` raises (``SSLCertVerificationError``, other
    ``SSLError``, ``OSError`` for a reset); it is bounded by the caller (cancel it). On
    any failure the socket is closed.
    """
    sock.setblocking(False)
    try:
        tls = context.wrap_socket(sock, server_hostname=server_hostname,
                                  do_handshake_on_connect=False, suppress_ragged_eofs=False)
    except BaseException:
        sock.close()
        raise
    try:
        await _handshake(loop, tls)
        protocol = protocol_factory()
        transport = TLSTransport(loop, tls, context, protocol)
    except BaseException:
        tls.close()
        raise
    return transport, protocol


async def _handshake(loop: asyncio.AbstractEventLoop, tls: ssl.SSLSocket) -> None:
    fd = tls.fileno()
    while True:
        try:
            tls.do_handshake()
            return
        except ssl.SSLWantReadError:
            add, remove = loop.add_reader, loop.remove_reader
        except ssl.SSLWantWriteError:
            add, remove = loop.add_writer, loop.remove_writer
        ready: asyncio.Future[None] = loop.create_future()
        add(fd, _wake, ready)
        try:
            await ready
        finally:
            remove(fd)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class TLSTransport(asyncio.Transport):
    """One TLS connection on the loop, read and written through its SSLSocket (see the
    module docstring). The protocol may be a ``BufferedProtocol`` or a plain one, and
    may change (``set_protocol``: a WebSocket taking the connection over)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tls: ssl.SSLSocket,
                 context: ssl.SSLContext, protocol: Any) -> None:
        super().__init__()
        self._loop = loop
        self._tls = tls
        self._fd = tls.fileno()
        self._context = context
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._plain_view: memoryview | None = None
        self._hint = 0  # the buffer size asked for: what the last read got (twice if full)
        self._names: dict[str, Any] = {}
        self._paused = False  # pause_reading()
        self._reader_on = False  # the loop watches the fd for reading
        self._writer_on = False  # ... for writing
        self._read_wants_write = False  # SSL_read needs the socket writable first
        self._write_wants_read = False  # SSL_write needs the socket readable first
        self._pending: collections.deque[bytes | memoryview] = collections.deque()
        self._pending_size = 0
        self._retry: bytes | memoryview | None = None  # given to SSL_write, not yet taken
        self._high = _HIGH_WATER
        self._low = _HIGH_WATER // 4
        self._writing_paused = False  # the protocol was told pause_writing()
        self._closing = False
        self._lost_sent = False  # connection_lost() was scheduled
        self._lent = False  # lend(): another thread reads the SSLSocket
        protocol.connection_made(self)
        if not self._closing and not self._paused:
            self._watch_reads(True)

    # -- asyncio.Transport -----------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        tls = self._tls
        if name == "sslcontext":
            return self._context
        if name in ("ssl_object", "socket"):
            return tls
        try:
            if name == "peercert":
                return tls.getpeercert()
            if name == "cipher":
                return tls.cipher()
            if name == "compression":
                return tls.compression()
            if name in ("sockname", "peername"):
                if name not in self._names:
                    self._names[name] = (tls.getsockname() if name == "sockname"
                                         else tls.getpeername())
                return self._names[name]
        except (OSError, ValueError):
            return default
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            self._watch_reads(False)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._closing or self._lent:
                return
            self._watch_reads(True)
            if self._tls.pending():  # decrypted bytes the socket's readiness won't show
                self._loop.call_soon(self._on_readable)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._check_pause()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return self._pending_size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if type(data) is not bytes:
            if not isinstance(data, bytearray | memoryview):
                raise TypeError(f"data: expected bytes, bytearray or memoryview, got {data!r}")
            data = bytes(data)  # the caller may reuse its buffer
        if not data or self._closing:
            return
        if not self._pending_size and not self._write_wants_read and not self._lent:
            try:  # the common case: the socket takes it all at once
                sent = self._tls.write(data)
                if sent == len(data):
                    return
                data = data[sent:]
            except ssl.SSLWantWriteError:  # OpenSSL holds part: retry with the same bytes
                self._retry = data
                self._pending_size += len(data)
                self._watch_writes(True)
                self._check_pause()
                return
            except ssl.SSLWantReadError:
                pass
            except (OSError, ValueError) as exc:
                self._fail(exc)
                return
        self._pending.append(data)
        self._pending_size += len(data)
        if not self._writer_on and not self._write_wants_read and not self._lent:
            self._flush()
        self._check_pause()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS cannot half-close; close() sends close_notify")

    def close(self) -> None:
        """Stop reading; once what is pending is written, send close_notify (without
        waiting for the server's) and close the socket."""
        if self._closing:
            return
        self._closing = True
        self._watch_reads(False)
        if not self._pending_size:
            self._shut(None, notify=True)

    def abort(self) -> None:
        """Close at once: nothing pending is written, no close_notify."""
        self._closing = True
        self._shut(None, notify=False)

    # -- lending the session ----------------------------------------------------------

    def lend(self) -> ssl.SSLSocket:
        """The SSLSocket, for a reader on another thread (``direct.py``'s thread mode):
        the loop stops watching it until :meth:`take_back`. Nothing may be pending to
        write. The borrower may change its blocking mode and timeout, and must restore
        non-blocking mode before giving it back; it never closes it. Decrypted bytes
        OpenSSL holds are the borrower's first read."""
        if self._lent or self._closing or self._pending_size:
            raise RuntimeError("TLSTransport.lend(): closing, lent, or writes pending")
        self._lent = True
        self._watch_reads(False)
        self._watch_writes(False)
        return self._tls

    def take_back(self) -> None:
        """On the loop, from the borrower done with the SSLSocket: the transport reads it
        again (unless paused), or closes it now if it was closed while lent."""
        if not self._lent:
            return
        self._lent = False
        if self._lost_sent:  # closed or failed meanwhile: the socket waited for us
            self._tls.close()
            return
        if self._pending_size:  # written while lent (OpenSSL takes one thread at a time)
            self._flush()
        if not self._paused and not self._closing:
            self._watch_reads(True)
            if self._tls.pending():
                self._loop.call_soon(self._on_readable)

    # -- reading ---------------------------------------------------------------------

    def _watch_reads(self, on: bool) -> None:
        if on and not self._reader_on and not self._lent:
            self._reader_on = True
            self._loop.add_reader(self._fd, self._on_readable)
        elif not on and self._reader_on:
            self._reader_on = False
            self._loop.remove_reader(self._fd)

    def _on_readable(self) -> None:
        if self._write_wants_read:
            self._write_wants_read = False
            self._on_writable()
        if self._paused or self._closing or self._lent:
            return
        try:
            if self._buffered:
                self._read_buffered()
            else:
                self._read_plain()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fail(exc)

    def _read_buffered(self) -> None:
        protocol = self._protocol
        view = protocol.get_buffer(self._hint)
        if type(view) is not memoryview:
            view = memoryview(view)
        got, end = self._fill(view)
        self._hint = 2 * got if got == len(view) else got
        if got:
            protocol.buffer_updated(got)
        if end is not None:
            self._at_end(end)
        elif got == len(view):
            self._more()

    def _read_plain(self) -> None:
        view = self._plain_view
        if view is None:
            view = self._plain_view = memoryview(bytearray(PLAIN_READ_SIZE))
        got, end = self._fill(view)
        if got:
            self._protocol.data_received(bytes(view[:got]))
        if end is not None:
            self._at_end(end)
        elif got == len(view):
            self._more()

    def _more(self) -> None:
        """After one full buffer: the loop runs what that read woke before this transport
        reads on (e.g. the hand-off of a body to a reading thread, which then reads
        the rest). The socket's readiness brings the next read, unless all that is left
        is decrypted already (then it is asked for)."""
        if self._tls.pending() and not (self._paused or self._closing or self._lent):
            self._loop.call_soon(self._on_readable)

    def _fill(self, view: memoryview) -> tuple[int, BaseException | bool | None]:
        """Decrypt into ``view`` until it is full or the socket has no more: (bytes
        read, None; or True at close_notify; or the error that ended the connection)."""
        tls = self._tls
        fd = self._fd
        size = len(view)
        got = 0
        try:
            while got < size:
                n = tls.read(size - got, view[got:] if got else view)
                if not n:
                    return got, True
                got += n
                if got < size and not waiting(fd):
                    # less than asked: the record is used up, and no other has come in
                    break  # (no SSLWantReadError raised and caught: see the cost model)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLWantWriteError:  # e.g. answering a key update: wait until writable
            self._read_wants_write = True
            self._watch_writes(True)
        except (OSError, ValueError) as exc:  # SSLEOFError: cut without close_notify
            return got, exc
        return got, None

    def _at_end(self, end: BaseException | bool) -> None:
        if end is True:
            self._watch_reads(False)
            if not self._protocol.eof_received():
                self.close()
        else:
            self._fail(end)  # type: ignore[arg-type]

    # -- writing ---------------------------------------------------------------------

    def _watch_writes(self, on: bool) -> None:
        if on and not self._writer_on:
            self._writer_on = True
            self._loop.add_writer(self._fd, self._on_writable)
        elif not on and self._writer_on:
            self._writer_on = False
            self._loop.remove_writer(self._fd)

    def _on_writable(self) -> None:
        if self._read_wants_write:
            self._read_wants_write = False
            if not self._pending_size:
                self._watch_writes(False)
            self._loop.call_soon(self._on_readable)
        self._flush()
        self._check_pause()

    def _flush(self) -> None:
        """Write what is pending until the socket takes no more (then wait for it)."""
        pending = self._pending
        tls = self._tls
        while self._pending_size:
            chunk = self._retry
            if chunk is None:
                chunk = self._retry = self._next_chunk()
            try:
                sent = tls.write(chunk)
            except ssl.SSLWantWriteError:
                self._watch_writes(True)
                return
            except ssl.SSLWantReadError:
                self._write_wants_read = True
                self._watch_writes(False)
                return
            except (OSError, ValueError) as exc:
                self._fail(exc)
                return
            self._retry = None
            self._pending_size -= sent
            if sent < len(chunk):  # a partial write: the rest goes back in front
                pending.appendleft(memoryview(chunk)[sent:])
        if not self._read_wants_write:
            self._watch_writes(False)
        if self._closing:
            self._shut(None, notify=True)

    def _next_chunk(self) -> bytes | memoryview:
        pending = self._pending
        first = pending.popleft()
        if len(first) >= WRITE_SIZE or not pending:
            if len(first) > WRITE_SIZE:
                pending.appendleft(memoryview(first)[WRITE_SIZE:])
                return memoryview(first)[:WRITE_SIZE]
            return first
        parts = [first]
        size = len(first)
        while pending and size + len(pending[0]) <= WRITE_SIZE:
            part = pending.popleft()
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def _check_pause(self) -> None:
        size = self._pending_size
        if not self._writing_paused and size > self._high and not self._closing:
            self._writing_paused = True
            self._protocol.pause_writing()
        elif self._writing_paused and size <= self._low:
            self._writing_paused = False
            self._protocol.resume_writing()

    # -- the end ---------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        self._closing = True
        self._shut(exc, notify=False)

    def _shut(self, exc: BaseException | None, notify: bool) -> None:
        """Stop watching, send close_notify if ``notify`` (best effort, never waiting),
        close the socket; the protocol's ``connection_lost(exc)`` follows on the loop."""
        if self._lost_sent:
            return
        self._lost_sent = True
        tls = self._tls
        self._watch_reads(False)
        self._watch_writes(False)
        self._pending.clear()
        self._pending_size = 0
        self._retry = None
        if self._lent:  # another thread may be inside a read: take_back() closes it
            self._loop.call_soon(self._lost, exc)
            return
        if notify:
            try:
                tls.unwrap()
            except (OSError, ValueError):  # SSLWantReadError: the server's is not awaited
                pass
        tls.close()
        self._loop.call_soon(self._lost, exc)

    def _lost(self, exc: BaseException | None) -> None:
        self._protocol.connection_lost(exc)
