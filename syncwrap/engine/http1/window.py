"""The receive window for a large body read directly (``direct.py``) over a short path.

Linux sizes a TCP socket's receive buffer by what its reader took in the last round trip
(receive-buffer autotuning). Over a path of a few microseconds (loopback, a host's own
containers) that settles near 0.8 MiB however fast the reader is, and the window the
server may fill ahead of the reader, a share of the buffer, near 0.4 MiB. A reader that
wakes finds 0.3-0.45 MiB waiting, so it makes 2.4-3.8 reads per MiB even while it is the
slower side, and each read costs a loop-mode reader its fixed work (the loop's wake-up,
the parser's and the StreamReader's bookkeeping, ~15 us on this bench's host).

So before a direct read of a large body over such a path, :func:`open_window` sets the
buffer to :data:`WINDOW` (the kernel doubles what it is asked for: 4 MiB) when that is
more than autotuning gave. Reads then take what a whole loop-mode read may (~1 MiB):
1.0-2.2 reads per MiB. The engine's ``iter_any`` download against a blocking
``recv_into`` loop (the bench's raw floor), paired by round, went from 0.81 to 0.91-0.92
on asyncio's loop and from 0.80 to 0.92-1.01 on uvloop (``bench/README.md``).

Cost and limits: two ``getsockopt`` and one ``setsockopt`` per large body (none once the
buffer is set: the connection keeps it, pooled too). Setting a size ends autotuning for
the connection and caps its window, which over a long path could slow it; so this applies
only when the connection's smoothed round trip (``TCP_INFO``) is under
:data:`SHORT_PATH_RTT`, where 2 MiB of window allows 4 GB/s. The buffer is a limit, not
memory: the kernel holds what the server sent ahead of the reader, at most that much.
Only on Linux (``TCP_INFO``'s layout), for TCP, never below what autotuning already chose,
and only where ``net.core.rmem_max`` (read once, at import) grants :data:`WINDOW`: many
hosts keep its default of 208 KiB, less than autotuning reaches, and there the buffer is
left to autotuning.
"""

from __future__ import annotations

import socket
import struct
import sys

__all__ = ["SHORT_PATH_RTT", "WINDOW", "open_window", "smoothed_rtt"]

#: What :func:`open_window` asks for (the kernel doubles it for its bookkeeping).
WINDOW = 2 * 1024 * 1024
#: Round trips shorter than this (microseconds) mark a short path.
SHORT_PATH_RTT = 500
#: ``struct tcp_info``: ``tcpi_rtt`` (u32, microseconds) follows 8 bytes of u8 fields and
#: 15 u32 fields; the struct has had these fields since Linux 2.6.
_RTT = struct.Struct("=I")
_RTT_OFFSET = 68
_INFO_SIZE = 104
_TCP = (socket.AF_INET, socket.AF_INET6)


def _rmem_max() -> int:
    """``net.core.rmem_max``: the most SO_RCVBUF grants an unprivileged process (0 when
    unknown)."""
    if sys.platform != "linux" or not hasattr(socket, "TCP_INFO"):
        return 0
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


_RMEM_MAX = _rmem_max()


def smoothed_rtt(sock: socket.socket) -> int | None:
    """The connection's smoothed round trip in microseconds (Linux), or None."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_SIZE)
    except (OSError, AttributeError):
        return None
    if len(info) < _RTT_OFFSET + _RTT.size:
        return None
    return _RTT.unpack_from(info, _RTT_OFFSET)[0]


def open_window(sock: socket.socket) -> bool:
    """Give ``sock`` a receive buffer of :data:`WINDOW` if its path is short and its
    buffer smaller (see the module docstring). True if it did."""
    if _RMEM_MAX < WINDOW or sock.family not in _TCP:
        return False
    try:
        if 2 * WINDOW <= sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF):
            return False
        rtt = smoothed_rtt(sock)
        if rtt is None or rtt >= SHORT_PATH_RTT:
            return False
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, WINDOW)
    except OSError:
        return False
    return True
