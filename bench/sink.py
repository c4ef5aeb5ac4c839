"""Upload sink: a tiny HTTP/1.1 server that reads request bodies and throws them away.

Why not nginx: nginx has no "read the body and drop it" handler. ``return 200`` answers
BEFORE the body has been read (and drains it afterwards), which changes what clients do, and
the echo module's ``echo_read_request_body`` spools every body to a temp file (an extra copy
plus page-cache writeback on the server core). This sink receives straight into one
preallocated buffer (asyncio BufferedProtocol, on uvloop when available), understands
Content-Length and chunked bodies, and answers only after the last body byte, with the exact
number of body bytes it received - so a client that sends too little fails the case.

run.py starts it with :class:`UploadSink` in its own process (pinned like nginx). By hand:
python bench/sink.py PORT_FILE [CPU] - it writes its port to PORT_FILE once it listens and
exits on SIGTERM/SIGINT or after --max-seconds (default 3 h).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from server_process import ServerProcess, serve_main

BUFFER_SIZE = 1 << 20
MAX_LINE = 64 * 1024  # request line, header lines, chunk-size lines

HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER = range(6)


class BadRequest(Exception):
    pass


class SinkProtocol(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buf = bytearray(BUFFER_SIZE)
        self.view = memoryview(self.buf)
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.state = HEAD
        self.partial = b""  # unfinished line carried over between reads
        self.head_lines: list[bytes] = []
        self.left = 0  # body / chunk bytes still expected
        self.received = 0  # body bytes of the current request (without chunk framing)
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's isn't a subclass

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._consume(nbytes)
        except BadRequest as e:
            self._answer(400, f"{e}\n".encode(), close=True)

    def _consume(self, end: int) -> None:
        pos = 0
        while pos < end:
            if self.state in (BODY, CHUNK_DATA):
                take = min(self.left, end - pos)
                pos += take
                self.left -= take
                self.received += take
                if self.left == 0:
                    if self.state == BODY:
                        self._finish()
                    else:
                        self.state = CHUNK_END
                continue
            nl = self.buf.find(b"\r\n", pos, end)
            if nl < 0:
                self.partial += self.buf[pos:end]
                if len(self.partial) > MAX_LINE:
                    raise BadRequest("line too long")
                return
            line = self.partial + self.buf[pos:nl]
            self.partial = b""
            pos = nl + 2
            self._line(bytes(line))

    def _line(self, line: bytes) -> None:
        if self.state == HEAD:
            if line:
                self.head_lines.append(line)
            elif self.head_lines:
                self._start_body()
        elif self.state == CHUNK_SIZE:
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                self.state = TRAILER
            else:
                self.state, self.left = CHUNK_DATA, size
        elif self.state == CHUNK_END:
            if line:
                raise BadRequest("chunk data longer than its size")
            self.state = CHUNK_SIZE
        elif self.state == TRAILER and not line:
            self._finish()

    def _start_body(self) -> None:
        request_line, *fields = self.head_lines
        headers = {}
        for field in fields:
            name, _, value = field.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        self.keep_alive = headers.get(b"connection") != b"close" and not request_line.endswith(
            b"HTTP/1.0")
        if headers.get(b"expect") == b"100-continue":
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            self.state = CHUNK_SIZE
        else:
            try:
                self.left = int(headers.get(b"content-length", b"0"))
            except ValueError:
                raise BadRequest("bad Content-Length") from None
            self.state = BODY
            if self.left == 0:
                self._finish()

    def _finish(self) -> None:
        self._answer(200, b"%d\n" % self.received, close=not self.keep_alive)
        self._reset()

    def _answer(self, status: int, body: bytes, close: bool) -> None:
        assert self.transport is not None
        reason = b"OK" if status == 200 else b"Bad Request"
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d"
                             b"\r\n%s\r\n%s" % (status, reason, len(body),
                                                b"Connection: close\r\n" if close else b"", body))
        if close:
            self.transport.close()


async def serve(port_file: Path, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(SinkProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)
    try:
        await asyncio.wait_for(stop, max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()


class UploadSink(ServerProcess):
    """Context manager running this file as a subprocess; ``url`` is its upload endpoint."""

    script = __file__
    what = "the upload sink"

    def url_for(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/upload"


def main() -> None:
    serve_main("upload sink for the benchmarks", serve)


if __name__ == "__main__":
    main()
