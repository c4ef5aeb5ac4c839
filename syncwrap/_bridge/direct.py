"""A streamed body received by the calling thread itself, straight from the socket.

The engine hands the rest of such a body off (``syncwrap.engine.http1.direct``, thread
mode): a dup of the connection's socket, the bytes left, what arrived before. The
calling thread receives it with blocking ``recv`` calls, with ``sock_read`` as
``SO_RCVTIMEO``. The loop is not involved per chunk; at the end the connection goes
back to the pool through the loop. :class:`~syncwrap._bridge.downloads.DirectChannel`
reads through it.

Which bodies. A Content-Length body is taken when at least ``MIN_BODY`` (1 MiB) of it
is still to come, an until-close body always. A chunked body is taken whatever its
size, but only when streamed (``stream=True``; a body read whole is read on the loop)
and not already whole when the response is returned (a small API response that came
with its head never is). The take-over costs a fixed handful of system calls (dup, the
blocking flag and ``SO_RCVTIMEO`` set and reset, the transport's pause and resume,
close) and one wake-up of the loop at the end; the pump it replaces costs a wake-up of
the loop and of the reader per batch, so it pays from the second batch on.

Cost model of a plain body, per read: one ``recv`` whose fresh ``bytes`` is exactly as
big as what it returns, filled by the kernel's copy (the only one). Exact sizes
(``iter_content(n)``, ``raw.read(n)``) use ``MSG_WAITALL``: the kernel fills the ``n``
bytes, waking the thread as data arrives. "What has arrived" (``iter_content(None)``,
``read1``) first asks the kernel how much is waiting (``FIONREAD``; when nothing is, a
one-byte ``MSG_PEEK`` waits for it), then receives exactly that (at most 1 MiB): a
``recv`` asked for more than it returns leaves a shrunk object that keeps glibc's
malloc from reusing its heap, and every read then faults in fresh pages (one fault per
4 KiB; see the engine's ``direct.py``).

Cost model of a chunked body. The engine's framing (``RawBody.framing``, a
``ChunkedDecoder``) is told what arrives and says where the body data is in it (offsets,
no copy) and how much chunk data is certainly coming next (``data_left``). An exact read
(``iter_content(n)``, ``raw.read(n)``; n >= ``DIRECT_CHUNK``) fills its result in place
(``inplace.InPlaceBytes``: the caller's ``bytes`` itself, lent as a buffer): chunk data of
at least ``DIRECT_CHUNK`` (16 KiB) still to come is received straight into it with
``MSG_WAITALL`` (the kernel's copy, the only one); the rest (a size line, the short rest
of a chunk, small chunks) is received into a scratch buffer reused for the whole body
and copied into the result. With large chunks a framing read asks for the chunk's short
rest and ``FRAMING_READ`` (512) bytes more: two ``recv`` calls a chunk, at most ~512 bytes
a chunk copied twice. With small chunks the scratch buffer (64 KiB at first, doubled
while reads fill it, up to 1 MiB) takes many chunks a ``recv``, each byte copied once
more. Each result is a fresh object, allocated without a zero-fill where CPython allows
(else zero-filled once: a write, not a copy); a handed-out ``bytes`` is never written
again (see ``inplace``). Reads under ``DIRECT_CHUNK`` and
"what has arrived" (``iter_content(None)``, ``read1``; chunk data straight into a fresh
``bytes`` when ``DIRECT_CHUNK`` of it is coming) join what the scratch buffer framed.
Body bytes beyond what a read asked for wait in memory (at most one scratch buffer's
worth). The facade knows no chunk rule: malformed framing and the limits raise the
engine's ClientPayloadError.

Over TLS (the engine's own transport, ``engine/http1/tls_transport.py``) no dup can share
the TLS session: the engine lends the connection's own ``ssl.SSLSocket``
(``RawBody.give_back``), which is handed back on the loop at the end, non-blocking again
and never closed here. ``sock_read`` is the socket's own timeout (Python polls before an
``SSL_read`` that would wait), Ctrl-C interrupts the wait, and an early close or the
loop's ``stop()`` shuts the TCP connection down under a blocked reader (the plain
socket's ``shutdown``: the SSLSocket's own would drop its TLS state). A cut without
close_notify ends the body as an EOF does: a Content-Length or chunked body cut short is
a ClientPayloadError; an until-close body ends there, as on the loop. Cost model, per
read: ``SSL_read`` record by record (16 KiB at most each: OpenSSL's two ``read`` calls,
its decryption into its own buffer and its copy out of it; in Python, the stdlib's
``recv_into`` and a slice of the view, nothing more). An exact read
(``iter_content(n)``, ``raw.read(n)``) is filled in place (``inplace.InPlaceBytes``, in
parts of at most ``MAX_IN_PLACE``): the records are decrypted straight into the result
until it is full (``MSG_WAITALL`` does not exist for TLS), so OpenSSL's copy is the
only one and no buffer lives beside the result (the allocation alone: no zero-fill,
see ``inplace``). "What has arrived" reads records into a buffer reused for
the whole body until ``FIONREAD`` says nothing more came in, then copies them out into
the bytes returned (its size is not known before). A chunked body's framing is fed from
the same reads, and its exact reads are filled in place as on a plain socket, record by
record instead of ``MSG_WAITALL``.

Wake-ups over TLS. Waiting between records, a reader is woken by every segment the
server's writes make (~6 a MiB from nginx on loopback, ~64 from a server writing 16 KiB
at a time with TCP_NODELAY), and each wake-up costs system time on both sides: the
scheduler's, and on loopback the server's CPU wakes the reader. So an exact read of at
least ``4 * TLS_WAKE_BATCH`` (512 KiB; ``iter_content(1 MiB)``) sets ``SO_RCVLOWAT`` to
``TLS_WAKE_BATCH`` (128 KiB) while it fills, back to the default for its last
``2 * TLS_WAKE_BATCH`` and when it returns. Its wait always ends: at least that many
bytes of the body are still to come when it waits (OpenSSL holds at most a part of one
record, 16 KiB), and an end or a reset of the connection wakes it too; an exact read
waits for all its bytes anyway. Cost: one ``setsockopt`` at each end of a fill (~2 us a
MiB). Measured (256 MiB from nginx, client and server pinned to one CPU each, six
alternating rounds): 1.4-1.7 wake-ups a MiB instead of 5.5-6.4, the client's system time
a MiB 139-158 us instead of 145-194, and the throughput, where nginx is the bottleneck,
1,937 MB/s by median instead of 1,860 (urllib3: 1,865). A trickle (fewer than 128 KiB
within ``sock_read``) is told from a stall by ``FIONREAD`` when the wait times out:
bytes waiting end the batching for the rest of the body and the read goes on, so such a
server is never a ReadTimeout it would not have been; a stall is reported after
``sock_read``, or after at most twice that when a few bytes came first.
"""

from __future__ import annotations

import functools
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..engine.http1.direct import MIN_BODY, UNTIL_CLOSE, RawBody, waiting
from ..exceptions import ClientPayloadError, ReadTimeout
from .inplace import InPlaceBytes

__all__ = ["SocketBody", "take_body"]

#: The most one ``recv`` asks for when the caller takes "what has arrived".
THREAD_READ_SIZE = 1024 * 1024
#: The most one exact ``recv`` allocates (larger reads are joined from parts).
_MAX_EXACT = 64 * 1024 * 1024
#: A chunked body's scratch buffer (framing, small chunks): its first size (doubled up to
#: THREAD_READ_SIZE while reads of small chunks fill it).
FRAMED_READ_SIZE = 64 * 1024
#: Chunk data at least this long, still to come and asked for, is received straight into
#: the result (no copy but the kernel's).
DIRECT_CHUNK = 16 * 1024
#: One read of the framing when chunks are large: the size line (extensions included, as
#: a rule) and the first bytes of the chunk's data (the rest comes straight into place).
FRAMING_READ = 512
#: The largest exact read of a chunked body built in place (larger ones join such parts).
MAX_IN_PLACE = 4 * 1024 * 1024
#: Over TLS, an exact read of at least four times this many bytes is woken by the kernel
#: only once this many wait, until the last ``2 * TLS_WAKE_BATCH`` of it.
TLS_WAKE_BATCH = 128 * 1024


def take_body(response: Any, min_size: int = MIN_BODY) -> SocketBody | None:
    """On the loop thread: hand the rest of ``response``'s body to a calling thread.

    Returns None (nothing changed) unless the engine hands it off (a large plain body,
    at least ``min_size`` bytes of it still to come, or read until close; see
    ``ClientResponse.hand_off_body``), or a chunked one (see the module docstring). What
    arrived before is :attr:`SocketBody.buffered`.
    """
    return response.hand_off_body(functools.partial(SocketBody, response), min_size,
                                  chunked=True)


class SocketBody:
    """The rest of one body, received by a calling thread from a dup socket.

    :attr:`buffered` holds what arrived before the hand-off (deliver it first); then
    :meth:`recv` returns the following bytes, b"" at the end of the body. :meth:`close`
    (any thread, idempotent) gives the connection back: pooled if the body was read to
    the end, closed otherwise. The loop calls :meth:`stop` when the connection is torn
    down (a total timeout, a closed session): a blocked :meth:`recv` wakes up and raises.

    The dup is closed only by a thread that holds the lock while nobody is inside
    ``recv()`` (never under a blocked reader's feet); others wake the reader with
    ``shutdown()``, after which the connection is never pooled.
    """

    def __init__(self, response: Any, raw: RawBody) -> None:
        self.buffered = raw.buffered
        self._response = response
        self._complete = raw.complete
        self._loop = raw.loop
        self._sock: socket.socket | None = raw.sock
        self._left = raw.left
        self._content_length = raw.content_length
        self._read_timeout = raw.read_timeout
        self._lock = threading.Lock()
        self._blocking = False
        self._reading = False  # a thread is inside recv()
        self._done = False  # the body was received to its end
        self._closed = False  # close() was called
        self._shut = False  # shutdown() was called: the connection is dead
        self._ended = False  # the loop was told (pool or close the connection)
        self._error: BaseException | None = None  # set by stop(): raise it in the reader
        self._framing = raw.framing  # a chunked body's (the engine's ChunkedDecoder)
        self._spare: deque[bytes] = deque()  # body bytes framed beyond the last read
        self._spare_size = 0
        self._scratch: bytearray | None = None  # a chunked body's receive buffer
        self._results = InPlaceBytes()  # a chunked body's exact reads, filled in place
        if self._framing is not None and self.buffered:  # served as framed bytes are, so
            self._spare.append(self.buffered)  # a first exact read is filled in place too
            self._spare_size = len(self.buffered)
            self.buffered = b""
        self._view: memoryview | None = None  # over TLS: the receive buffer of a plain body
        self._give_back = raw.give_back  # over TLS: the connection's SSLSocket, lent
        self._batching = True  # large exact reads over TLS: see _wake_at
        self._lowat = 0  # the SO_RCVLOWAT set (0: the default)

    # -- the loop side -------------------------------------------------------------------

    def pause_reading(self) -> None:
        """Flow control does not apply: the reading thread reads on demand."""

    def resume_reading(self) -> None:
        """Flow control does not apply: the reading thread reads on demand."""

    def stop(self, error: BaseException | None) -> None:
        """On the loop: the connection is going (or the body completed). Wake the reader,
        which raises ``error`` (e.g. the total timeout's ReadTimeout) if there is one."""
        with self._lock:
            if self._sock is None:
                return
            if self._error is None:
                self._error = error
            if self._reading:
                self._shutdown()  # the reading thread wakes up and ends the body
            else:
                self._release_socket()  # the next recv() or close() reports the end

    # -- the reading thread ------------------------------------------------------------------

    def recv(self, n: int, exact: bool = False) -> bytes:
        """Up to ``n`` (> 0) bytes of the body, exactly ``n`` with ``exact`` unless the body
        ends first; b"" at its end. Blocks; never reads past the Content-Length."""
        with self._lock:
            spare = self._spare_size
            if spare and (spare >= n or not exact or self._done) and not self._closed:
                return self._take_spare(n, exact)
            if self._done:
                return b""
            if self._closed or self._ended:
                raise self._error or _closed_error()
            sock = self._sock
            self._reading = sock is not None
        try:
            # sock is None: the loop tore the connection down while nobody was reading.
            data = self._at_eof(b"") if sock is None else self._receive(sock, n, exact)
        except BaseException:  # timeouts, resets, KeyboardInterrupt: the connection is lost
            self._end(ok=False)
            raise
        finally:
            self._reading = False
        if self._closed:  # closed by another thread meanwhile
            self._end(ok=False)
            raise _closed_error()
        return data

    def _receive(self, sock: socket.socket, n: int, exact: bool) -> bytes:
        if self._framing is not None:
            return self._receive_framed(sock, n, exact)
        left = self._left
        want = n if left == UNTIL_CLOSE else min(n, left)
        if not exact:
            want = min(want, THREAD_READ_SIZE)
        if not self._blocking:
            self._set_blocking(sock, True)
        receive = self._part if self._give_back is None else self._part_tls
        parts: list[bytes] = []
        got = 0
        while got < want:
            data = receive(sock, want - got, exact)
            if not data:
                return self._at_eof(b"".join(parts))
            got += len(data)
            parts.append(data)
            if not exact:
                break
        if left != UNTIL_CLOSE:
            self._left = left - got
            if self._left == 0:
                self._end(ok=True)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _part(self, sock: socket.socket, most: int, exact: bool) -> bytes:
        """One receive of a plain body: exactly ``most`` bytes (``MSG_WAITALL``, at most
        ``_MAX_EXACT`` at once), or what has arrived, up to ``most`` (b"": the end)."""
        if exact:
            return self._received(b"", sock.recv, min(most, _MAX_EXACT),  # type: ignore[no-any-return]
                                  socket.MSG_WAITALL)
        return self._received(b"", lambda: sock.recv(_arrived(sock, most)))  # type: ignore[no-any-return]

    def _part_tls(self, sock: socket.socket, most: int, exact: bool) -> bytes:
        """The same over TLS: an exact part decrypted straight into its result (filled in
        place, at most ``MAX_IN_PLACE`` at once), "what has arrived" into a reused buffer
        and copied out (see the module docstring)."""
        if not exact:
            return self._arrived_tls(sock, most)
        result, view = self._results.start(min(most, MAX_IN_PLACE))
        return self._results.finish(result, view, self._recv_into(sock, view, exact=True))

    def _received(self, empty: Any, receive: Callable[..., Any], *args: Any) -> Any:
        """One ``receive(*args)`` from the socket: ``SO_RCVTIMEO`` expiring without a byte
        is a ReadTimeout, a reset ends the body as an EOF does (``empty``, as in
        connection_lost), and an error :meth:`stop` set (the total timeout) wins."""
        try:
            data = receive(*args)
        except (BlockingIOError, TimeoutError):  # SO_RCVTIMEO; over TLS, the socket timeout
            raise ReadTimeout(
                f"No data from the server for {self._read_timeout} s (sock_read timeout)"
            ) from None
        except OSError:
            data = empty
        if self._error is not None:
            raise self._error
        return data

    def _receive_framed(self, sock: socket.socket, n: int, exact: bool) -> bytes:
        """A chunked body: ``n`` body bytes (any, at least one, unless ``exact``), or fewer
        at its end. The framing (the engine's) says where body data is in what arrives."""
        if not self._blocking:
            self._set_blocking(sock, True)
        if exact:
            return self._framed_exact(sock, n)
        framing = self._framing
        assert framing is not None
        while not framing.done:
            direct = min(framing.data_left, n)
            if direct >= DIRECT_CHUNK and self._give_back is None:  # chunk data: received
                data = self._received(b"", _recv_arrived, sock, direct)  # into a fresh bytes
                if not data:
                    self._at_eof(b"")  # raises: the chunk had not ended
                framing.skip(len(data))
                return data
            pieces = self._framed_read(sock, n)
            if pieces:
                return self._deliver(pieces, n)
        return b""

    def _framed_exact(self, sock: socket.socket, n: int) -> bytes:
        """Exactly ``n`` body bytes unless the body ends first, built in place: the spare,
        then chunk data received straight into the result, or copied there from the
        scratch buffer with the framing around it."""
        if n > MAX_IN_PLACE:
            parts = []
            while n > 0 and (self._spare_size or not self._done):
                part = self._framed_exact(sock, min(n, MAX_IN_PLACE))
                if not part:
                    break
                parts.append(part)
                n -= len(part)
            return b"".join(parts)
        framing = self._framing
        assert framing is not None
        if n < DIRECT_CHUNK:  # no chunk data would come straight: join from the spare
            while self._spare_size < n and not framing.done:
                for piece in self._framed_read(sock, n):
                    self._keep(piece)
            return self._take_spare(n, exact=True)
        result, view = self._results.start(n)
        filled = 0
        for piece in self._spare:
            view[filled:filled + len(piece)] = piece
            filled += len(piece)
        self._spare.clear()
        self._spare_size = 0
        while filled < n and not framing.done:
            want = n - filled
            direct = min(framing.data_left, want)
            if direct >= DIRECT_CHUNK:
                got = self._recv_into(sock, view[filled:filled + direct], exact=True)
                if not got:
                    self._at_eof(b"")  # raises: the chunk had not ended
                framing.skip(got)
                filled += got
                continue
            for piece in self._framed_read(sock, want):
                size = min(len(piece), n - filled)
                view[filled:filled + size] = piece[:size]
                filled += size
                if size < len(piece):
                    self._keep(piece[size:])
        return self._results.finish(result, view, filled)

    def _framed_read(self, sock: socket.socket, want: int) -> list[memoryview]:
        """One receive into the scratch buffer, fed to the framing: the body data in it
        (views of the buffer, valid until the next receive). Ends the body at its end."""
        framing = self._framing
        assert framing is not None
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = bytearray(FRAMED_READ_SIZE)
        large = framing.last_size >= DIRECT_CHUNK  # the next chunk's data will come straight
        size = len(scratch)
        if large and want >= DIRECT_CHUNK:  # the chunk's short rest, the next size line
            size = min(size, framing.data_left + FRAMING_READ)
        view = memoryview(scratch)
        got = self._recv_into(sock, view[:size] if size < len(scratch) else view)
        if not got:
            self._at_eof(b"")  # raises: the body had not ended
        pieces = [view[start:stop] for start, stop in framing.feed(scratch, 0, got)]
        if framing.done:
            self._end(ok=True)
        elif got == len(scratch) < THREAD_READ_SIZE and not large:  # reads fill it: grow
            self._scratch = bytearray(2 * got)
        return pieces

    def _deliver(self, pieces: list[memoryview], n: int) -> bytes:
        """Up to ``n`` bytes of ``pieces`` as one bytes (one copy); the rest is kept."""
        taken = []
        size = 0
        for piece in pieces:
            if size < n:
                room = n - size
                if len(piece) > room:
                    self._keep(piece[room:])
                    piece = piece[:room]
                taken.append(piece)
                size += len(piece)
            else:
                self._keep(piece)
        return bytes(taken[0]) if len(taken) == 1 else b"".join(taken)

    def _keep(self, piece: memoryview) -> None:
        """Body bytes beyond what the read asked for: a copy (the scratch is reused)."""
        self._spare.append(bytes(piece))
        self._spare_size += len(piece)

    def _recv_into(self, sock: socket.socket, view: memoryview, exact: bool = False) -> int:
        """Bytes received into ``view`` (0: the connection's end): with ``exact``, until it
        is full (``MSG_WAITALL`` on a plain socket), else what has arrived. Over TLS,
        record after record (one ``SSL_read`` gives one at most) until ``view`` is full,
        or without ``exact`` until nothing more has arrived (``FIONREAD`` says 0 after a
        record that did not fill it)."""
        if self._give_back is None:
            flags = socket.MSG_WAITALL if exact else 0
            return self._received(0, sock.recv_into, view, 0, flags)  # type: ignore[no-any-return]
        return self._received(0, self._tls_fill, sock, view, exact)  # type: ignore[no-any-return]

    def _tls_fill(self, sock: socket.socket, view: memoryview, exact: bool) -> int:
        """The TLS loop of :meth:`_recv_into`, one ``SSL_read`` a step. A first read's
        error propagates; a later one's waits for the next call (what came is kept). A
        large exact fill batches its wake-ups (:meth:`_wake_at`)."""
        size = len(view)
        if exact and self._batching and size >= 4 * TLS_WAKE_BATCH:
            self._wake_at(sock, TLS_WAKE_BATCH)
        got = 0
        try:
            while True:
                if self._lowat and size - got < 2 * self._lowat:
                    self._wake_at(sock, 0)  # what is still to come may be all there is
                try:
                    n = sock.recv_into(view[got:] if got else view)
                except TimeoutError:
                    if self._lowat and self._trickled(sock):
                        continue
                    raise
                except BlockingIOError:
                    raise
                except OSError:  # a reset: as an EOF, once the bytes before it are delivered
                    if not got:
                        raise
                    return got
                got += n
                # the end (the next call returns 0), full, or (not exact) a record used
                # up with no other come in
                if not n or got == size or not (exact or waiting(sock.fileno())):
                    return got
        finally:
            if self._lowat:
                self._wake_at(sock, 0)

    def _trickled(self, sock: socket.socket) -> bool:
        """A batched wait timed out. Bytes waiting make it a trickle, not a stall (the read
        goes on, as it would have gone on at the first of them); batching ends for the
        rest of the body either way."""
        self._batching = False
        self._wake_at(sock, 0)
        return bool(waiting(sock.fileno()))

    def _wake_at(self, sock: socket.socket, low: int) -> None:
        """Have the kernel wake the reader only once ``low`` bytes wait (``SO_RCVLOWAT``;
        0: at every byte, the default the connection must go back to the pool with)."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(low, 1))
        except OSError:
            if low:
                return  # not batched: the default stays
            self._shut = True  # the default could not be restored: never pooled
        self._lowat = low

    def _arrived_tls(self, sock: socket.socket, most: int) -> bytes:
        """What has arrived over TLS, up to ``most`` bytes: decrypted into the buffer reused
        for the whole body, then copied out (b"": the connection's end)."""
        view = self._view
        if view is None or (len(view) < most and len(view) < THREAD_READ_SIZE):
            view = self._view = memoryview(bytearray(min(max(most, FRAMED_READ_SIZE),
                                                         THREAD_READ_SIZE)))
        size = min(most, len(view))
        filled = self._recv_into(sock, view[:size] if size < len(view) else view)
        return bytes(view[:filled])

    def _take_spare(self, n: int, exact: bool) -> bytes:
        """Up to ``n`` of the body bytes framed so far (b"" if none): as many pieces as
        that takes if ``exact``, else one piece (no join: one copy less)."""
        spare = self._spare
        parts = []
        size = 0
        while spare and size < n and (exact or not parts):
            piece = spare.popleft()
            room = n - size
            if len(piece) > room:
                spare.appendleft(piece[room:])
                piece = piece[:room]
            parts.append(piece)
            size += len(piece)
        self._spare_size -= size
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _at_eof(self, tail: bytes) -> bytes:
        """The connection ended: the end of an until-close body, else an incomplete one."""
        if self._error is not None:
            raise self._error
        if self._framing is not None:
            self._framing.feed_eof()  # raises unless the framing saw the end
            return tail
        if self._left == UNTIL_CLOSE:
            self._end(ok=True)
            return tail
        missing = self._left - len(tail)
        raise ClientPayloadError(
            f"Response payload is not completed: {missing} of {self._content_length} "
            "bytes missing"
        )

    def close(self) -> None:
        """Any thread: done with the body (pool the connection if it was read to the end)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reading:  # another thread is inside recv(): wake it, it ends the body
                self._shutdown()
                return
        self._end(ok=self._done)

    # -- ending ----------------------------------------------------------------------------------

    def _set_blocking(self, sock: socket.socket, blocking: bool) -> None:
        if self._give_back is not None:  # TLS: the socket's own timeout (poll, then read)
            sock.settimeout((self._read_timeout or None) if blocking else 0.0)
            self._blocking = blocking
            return
        sock.setblocking(blocking)
        if self._read_timeout:
            # sock_read as SO_RCVTIMEO (a zero timeval would mean "no timeout": at least 1 us)
            micros = max(round(self._read_timeout * 1_000_000), 1) if blocking else 0
            value = struct.pack("ll", *divmod(micros, 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self._blocking = blocking

    def _shutdown(self) -> None:
        """Wake a reader blocked in recv() (lock held); the connection is dead afterwards."""
        self._shut = True
        if self._sock is not None:
            try:  # (the socket's own shutdown: an SSLSocket's would drop its TLS state)
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def _release_socket(self) -> None:
        """Restore the shared flags and close the dup (lock held, nobody inside recv())."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if self._blocking:
                self._set_blocking(sock, False)
        except OSError:
            pass
        finally:
            if self._give_back is None:
                sock.close()
            else:  # the connection's own SSLSocket: back to its transport, on the loop
                try:
                    self._loop.call_soon_threadsafe(self._give_back)
                except RuntimeError:  # the loop is closed (interpreter exit)
                    pass

    def _end(self, ok: bool) -> None:
        """Close the dup and tell the loop: pool the connection (ok) or close it."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            ok = ok and not self._shut
            self._done = ok
            self._release_socket()
            self._scratch = None  # a chunked body's receive buffer
        try:
            self._loop.call_soon_threadsafe(self._finish_on_loop, ok)
        except RuntimeError:  # the loop is closed (interpreter exit): nothing to give back
            pass

    def _finish_on_loop(self, ok: bool) -> None:
        if ok and self._complete(self):  # the response completes: its connection is pooled
            self._response.release()
        else:
            self._response.close()


def _arrived(sock: socket.socket, most: int) -> int:
    """How much one "what has arrived" read takes: what the kernel holds, up to ``most``
    (waiting for a first byte when nothing is there; ``most`` at the end of the body)."""
    size = waiting(sock.fileno())
    if not size:
        sock.recv(1, socket.MSG_PEEK)  # blocks (SO_RCVTIMEO applies) until a byte or the end
        size = waiting(sock.fileno())
    return min(size, most) if size else most


def _recv_arrived(sock: socket.socket, most: int) -> bytes:
    """One "what has arrived" receive, up to ``most`` bytes (see :func:`_arrived`)."""
    return sock.recv(_arrived(sock, most))


def _closed_error() -> ClientPayloadError:
    return ClientPayloadError("The response was closed while its body was being read")
