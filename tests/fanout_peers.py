"""A keep-alive HTTP/1.1 server on its own asyncio loop, for the fan-out tests.

``FanoutPeer()`` runs in a daemon thread of the test process; ``python -m
tests.fanout_peers`` runs one in its own process (it prints its port, and serves until
its stdin closes), for the memory test, which needs 1,000 connections at once.

Paths (``<tag>`` is echoed back as the body):

- ``/delay/<ms>/<tag>``: the answer after ``ms`` milliseconds;
- ``/hang/<tag>``: no answer; the request stays open until the client closes;
- ``/status/<code>/<tag>``: that status;
- ``/partial/<tag>``: the head and ``<tag>`` of a 1000-byte body, then nothing until the
  client closes;
- anything else: 200 with the path.

Counters (thread-safe, with :meth:`FanoutPeer.wait_for`): ``opened`` and ``closed``
connections, ``active`` requests being answered and their ``peak``, ``served``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable


class FanoutPeer:
    def __init__(self, host: str = "127.0.0.1", backlog: int = 1024) -> None:
        self.opened = self.closed = self.active = self.peak = self.served = 0
        self._cond = threading.Condition()
        self._writers: dict[asyncio.StreamReader, asyncio.StreamWriter] = {}
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(host, backlog, ready),
                                        daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fanout peer did not start")
        self.url = f"http://{host}:{self.port}"

    def _run(self, host: str, backlog: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, host, 0, backlog=backlog))
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def _count(self, change: Callable[[], None]) -> None:
        with self._cond:
            change()
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[FanoutPeer], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def stop(self) -> None:
        def shut() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_later(0.2, self._loop.stop)

        self._loop.call_soon_threadsafe(shut)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # -- the loop side ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count(self._open)
        self._writers[reader] = writer
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                target, length = _parse(head)
                if length:
                    await reader.readexactly(length)
                self._count(self._begin)
                try:
                    answer = await self._answer(target, reader)
                finally:
                    self._count(self._end)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            del self._writers[reader]
            self._count(self._close)

    async def _answer(self, target: str, reader: asyncio.StreamReader) -> bytes | None:
        parts = target.split("/")
        status, body = 200, target.encode()
        if len(parts) == 4 and parts[1] == "delay":
            await asyncio.sleep(int(parts[2]) / 1000)  # simulated work, not synchronisation
            body = parts[3].encode()
        elif len(parts) == 3 and parts[1] == "hang":
            await reader.read()  # until the client closes
            return None
        elif len(parts) == 3 and parts[1] == "partial":
            self._writers[reader].write(b"HTTP/1.1 200 X\r\nContent-Length: 1000\r\n\r\n"
                                        + parts[2].encode())
            await reader.read()  # until the client closes
            return None
        elif len(parts) == 4 and parts[1] == "status":
            status, body = int(parts[2]), parts[3].encode()
        return (b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s"
                % (status, len(body), body))

    def _open(self) -> None:
        self.opened += 1

    def _close(self) -> None:
        self.closed += 1

    def _begin(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)

    def _end(self) -> None:
        self.active -= 1
        self.served += 1


def _parse(head: bytes) -> tuple[str, int]:
    lines = head.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return target.split("?")[0], length


if __name__ == "__main__":
    peer = FanoutPeer()
    print(peer.port, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    peer.stop()
