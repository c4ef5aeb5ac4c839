"""Small helpers for the engine tests (no mocks: everything talks to real local servers)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from syncwrap.engine import ClientTimeout
from tests.servers import ParsedRequest, parse_request, read_request, wait_client_close

T = TypeVar("T")

#: A small bound for every request in the engine tests: nothing may hang.
SHORT = ClientTimeout(total=5)


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run ``coro`` on a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def run_on(loop_name: str, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` on a fresh event loop of ``loop_name`` ("asyncio" or "uvloop"), bounded
    by ``timeout`` seconds."""
    if loop_name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(asyncio.wait_for(coro, timeout))


def canned(*responses: bytes, requests: list[ParsedRequest] | None = None,
           linger: float = 10.0) -> Callable[[socket.socket], None]:
    """Handler: answer the n-th request on a connection with ``responses[n]`` verbatim.

    Every parsed request is appended to ``requests``.  After the last canned response the
    connection stays open until the client closes it (or ``linger`` seconds pass).
    """

    def handler(conn: socket.socket) -> None:
        for data in responses:
            raw = read_request(conn)
            if not raw:
                return
            if requests is not None:
                requests.append(parse_request(raw))
            conn.sendall(data)
        wait_client_close(conn, linger)

    return handler


def recording(answer: bytes | Callable[[ParsedRequest], bytes],
              requests: list[ParsedRequest]) -> Callable[[socket.socket], None]:
    """Keep-alive handler: every request is recorded and answered with ``answer``."""

    def handler(conn: socket.socket) -> None:
        while raw := read_request(conn):
            req = parse_request(raw)
            requests.append(req)
            data = answer(req) if callable(answer) else answer
            conn.sendall(data)

    return handler


class Event(threading.Event):
    """A threading.Event that can be awaited from the loop without blocking it."""

    async def wait_async(self, timeout: float = 5.0) -> bool:
        return await asyncio.to_thread(self.wait, timeout)
