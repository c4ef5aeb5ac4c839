"""Bulk reads: the rest of a large message taken from a duplicate of the socket.

uvloop's transports receive into their own buffer and copy every read into a fresh
``bytes`` for ``data_received``. When a read is large (at least :data:`BULK_READ`
bytes: more is probably waiting), the connection drains what is already in the
kernel from a duplicate of the socket (``os.dup``: the same socket, the same
O_NONBLOCK flag), whose ``recv`` fills one fresh ``bytes`` of up to 1 MiB per read:
the kernel's copy only, and fewer reallocations of the protocol's buffer. It does so
inside ``data_received``, before the transport reads again, so the byte order holds;
the transport keeps watching the socket (nothing is paused or re-registered), sees
an EOF itself, and a failed read (a reset, whose error the read consumes) is reported
by the connection, which drops the transport. Small messages never touch the
duplicate. Only where it pays off: loops other than asyncio's own (whose transports
already ``recv`` into fresh bytes), plain TCP, POSIX.
"""

from __future__ import annotations

import asyncio
import socket

from ..http1.direct import dup_socket, loop_mode_applies

__all__ = ["BULK_READ", "BulkReader"]

#: A read at least this big makes the connection drain the socket.
BULK_READ = 64 * 1024
#: One bulk read.
READ_SIZE = 1024 * 1024


class BulkReader:
    """Non-blocking reads from a duplicate of one connection's socket."""

    __slots__ = ("_sock", "reads")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._sock: socket.socket | None = dup_socket(transport)
        self._sock.settimeout(0)  # never wait (the flag is shared, and already set)
        #: Reads that returned data so far.
        self.reads = 0

    @staticmethod
    def applies(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> bool:
        """Whether bulk reads pay off for ``transport`` on ``loop``."""
        if not loop_mode_applies(loop) or transport.get_extra_info("sslcontext") is not None:
            return False
        raw = transport.get_extra_info("socket")
        return raw is not None and raw.type == socket.SOCK_STREAM

    def read(self) -> bytes | None:
        """What the kernel holds (up to 1 MiB), b"" at the end, None if nothing is
        waiting (or after :meth:`close`); raises OSError if the connection failed."""
        sock = self._sock
        if sock is None:
            return None
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        if data:
            self.reads += 1
        return data

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
