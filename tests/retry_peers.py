"""A raw server that answers each request in turn from a script, for the retry tests.

Each request (whatever its connection) takes the next step: bytes are sent as the
answer; ``RESET`` closes the connection with an RST before answering; ``HANG``
never answers. The arrival of each request is stamped with ``time.monotonic()``
so that tests check the waits.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from tests.servers import ParsedRequest, RawServer, parse_request, read_request

RESET = "reset"
HANG = "hang"  # never answers (until the server closes, or 10 s)


def response(status: int, *headers: str, body: bytes = b"") -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "X")
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 {status} {reason}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class ScriptedServer(RawServer):
    """``ScriptedServer([response(503), RESET, response(200, body=b"ok")])``; the steps
    past the end repeat the last one. ``requests`` and ``arrivals`` record each request."""

    def __init__(self, steps: list[bytes | str]) -> None:
        self.steps = steps
        self.requests: list[ParsedRequest] = []
        self.arrivals: list[float] = []
        self._step_lock = threading.Lock()
        super().__init__(self._handle)

    def _handle(self, conn: socket.socket) -> None:
        while raw := read_request(conn):
            with self._step_lock:
                self.arrivals.append(time.monotonic())
                self.requests.append(parse_request(raw))
                step = self.steps[min(len(self.requests), len(self.steps)) - 1]
            if step == HANG:
                self.stopping.wait(10)
                return
            if step == RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            conn.sendall(step)  # type: ignore[arg-type]

    def gaps(self) -> list[float]:
        """The time between each request's arrival and the next one's."""
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]
