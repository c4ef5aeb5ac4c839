"""The HTTP/1.1 connection's state, driven through its public seam against real servers.

A connection (``syncwrap.engine.http1.connection.ResponseHandler``) is opened to a raw
socket server on 127.0.0.1 with ``loop.create_connection`` and used only through its
seam (start_response, send, wait_head, take_body, hand_off, fail, abandon, close,
reusable, detach); its state (``syncwrap.engine.http1.state``) is checked at each step.
Reusable after a complete body and pooled again; never reusable after Connection: close,
bytes after the body, abandon, fail, a close mid-body, or a failed hand-off; reusable
again after a hand-off read to its end. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import SimpleNamespace

import pytest

from syncwrap.engine import ClientPayloadError, ReadTimeout
from syncwrap.engine.http1.connection import ResponseHandler
from syncwrap.engine.http1.direct import RawBody
from syncwrap.engine.http1.parser import DEFAULT_LIMITS
from syncwrap.engine.http1.state import Event, State, StateError, next_state
from syncwrap.engine.streams import DEFAULT_HIGH_WATER
from tests.engine._util import run
from tests.servers import Gate, read_request, wait_client_close

OPTIONS = SimpleNamespace(auto_decompress=True, raw_statuses=frozenset(),
                          high_water=DEFAULT_HIGH_WATER, read_timeout=None,
                          limits=DEFAULT_LIMITS, expect100=False)
BODY = bytes(range(256)) * 256  # 64 KiB
REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def head(length: int = len(BODY), extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (length, extra)


def gated(gate: Gate, extra: bytes = b"", after: bytes = b"",
          closed: threading.Event | None = None):
    """Keep-alive handler: each response's head and first 10 body bytes, then (once the
    gate opens) the rest of BODY and ``after``; ``closed`` is set when the client closes."""

    def handler(conn: socket.socket) -> None:
        while read_request(conn):
            gate.send(conn, head(extra=extra) + BODY[:10], BODY[10:] + after)
        if closed is not None:
            closed.set()

    return handler


async def connect(server) -> ResponseHandler:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: ResponseHandler(loop), *server), 5)
    return protocol


async def start(protocol: ResponseHandler):
    """Send a GET and wait for its head; the body is then on its way (RECEIVING)."""
    protocol.start_response("GET", OPTIONS)
    assert protocol.state is State.WAITING_HEAD
    protocol.send(REQUEST)
    await protocol.wait_head()
    reader, whole = protocol.take_body()
    assert whole is None and reader is not None
    return reader


async def settle() -> None:
    """Let the loop run the callbacks a close schedules (connection_lost)."""
    for _ in range(5):
        await asyncio.sleep(0)


# -- reusable ---------------------------------------------------------------------------------


def test_a_complete_body_leaves_the_connection_reusable_and_pooled_again(raw_server):
    gate = Gate()
    server = raw_server(gated(gate))

    async def main():
        protocol = await connect(server)
        seen = [protocol.state]
        for _ in range(2):
            reused = protocol.reused
            reader = await start(protocol)
            seen += [reused, protocol.state, protocol.reusable]
            gate.open()
            assert await reader.read() == BODY
            seen += [protocol.state, protocol.reusable]
            protocol.detach()  # what the pool does with a reusable connection
            seen += [protocol.state, protocol.reused]
        protocol.close()
        return seen

    assert run(main()) == [
        State.NEW,
        False, State.RECEIVING, False, State.COMPLETE, True, State.IDLE, True,
        True, State.RECEIVING, False, State.COMPLETE, True, State.IDLE, True,
    ]
    assert server.connections == 1


# -- never reusable ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["connection_close", "bytes_after_the_body", "abandon"])
def test_a_body_read_to_its_end_that_must_not_be_reused(raw_server, how):
    gate = Gate()
    extra = b"Connection: close\r\n" if how == "connection_close" else b""
    after = b"HTTP/1.1 200 OK\r\n" if how == "bytes_after_the_body" else b""
    server = raw_server(gated(gate, extra, after))

    async def main():
        protocol = await connect(server)
        reader = await start(protocol)
        if how == "abandon":  # e.g. the server answered before the request body was sent
            protocol.abandon()
        assert protocol.state is State.RECEIVING
        assert protocol.should_close is (how != "bytes_after_the_body")  # those come later
        gate.open()
        body = await reader.read()  # the response itself is still whole
        outcome = body, protocol.state, protocol.reusable
        with pytest.raises(StateError):
            protocol.detach()  # the pool closes it instead
        protocol.close()
        await settle()
        return outcome + (protocol.state,)

    assert run(main()) == (BODY, State.MUST_CLOSE, False, State.MUST_CLOSE)


@pytest.mark.parametrize("how", ["fail", "close"])
def test_a_body_cut_short_leaves_the_connection_closed(raw_server, how):
    gate = Gate()
    closed = threading.Event()
    server = raw_server(gated(gate, closed=closed))

    async def main():
        protocol = await connect(server)
        reader = await start(protocol)
        if how == "fail":  # e.g. the total timeout fired
            protocol.fail(ReadTimeout("total timeout"))
        else:  # the response was released half-read
            protocol.close()
        state = protocol.state
        with pytest.raises(ReadTimeout if how == "fail" else ClientPayloadError):
            await reader.read()
        await settle()
        return state, protocol.state, protocol.reusable, protocol.closed

    assert run(main()) == (State.CLOSED, State.CLOSED, False, True)
    gate.open()
    assert closed.wait(5)


def test_events_that_cannot_happen_in_a_state_raise(raw_server):
    gate = Gate()
    server = raw_server(gated(gate))

    async def main():
        protocol = await connect(server)
        await start(protocol)
        with pytest.raises(StateError, match="START cannot happen in RECEIVING"):
            protocol.start_response("GET", OPTIONS)  # one exchange at a time
        with pytest.raises(StateError, match="RELEASE cannot happen in RECEIVING"):
            protocol.detach()  # never pooled half-read
        protocol.close()

    run(main())
    gate.open()
    with pytest.raises(StateError):
        next_state(State.IDLE, Event.HEAD, True)
    assert next_state(State.RECEIVING, Event.BODY_END, False) is State.MUST_CLOSE
    assert next_state(State.COMPLETE, Event.CLOSE, True) is State.MUST_CLOSE
    assert next_state(State.HANDED_OFF, Event.CLOSE, True) is State.CLOSED


# -- hand-off (direct body reads) --------------------------------------------------------------


class Taker:
    """A body taker receiving the handed-off body with the loop's sock_recv on the dup."""

    def __init__(self, raw: RawBody) -> None:
        self.raw = raw
        self.stops: list[BaseException | None] = []

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def stop(self, error: BaseException | None) -> None:
        self.stops.append(error)
        self.raw.sock.close()

    async def receive(self) -> bytes:
        parts, left = [self.raw.buffered], self.raw.left
        while left:
            data = await self.raw.loop.sock_recv(self.raw.sock, left)
            if not data:
                break
            parts.append(data)
            left -= len(data)
        return b"".join(parts)


def test_a_hand_off_read_to_its_end_leaves_the_connection_reusable(raw_server):
    gate = Gate()
    server = raw_server(gated(gate))

    async def main():
        protocol = await connect(server)
        await start(protocol)
        taker = protocol.hand_off(Taker, min_size=1)
        assert isinstance(taker, Taker) and taker.raw.left == len(BODY) - 10
        handed_off = protocol.state
        gate.open()
        body = await taker.receive()
        completed = taker.raw.complete(taker)  # on the loop: the taker read it all
        after = (protocol.state, protocol.reusable, taker.stops)
        protocol.detach()
        reader = await start(protocol)  # the same connection, pooled again
        gate.open()
        again = await reader.read()
        protocol.close()
        return handed_off, body, completed, after, again

    handed_off, body, completed, after, again = run(main())
    assert handed_off is State.HANDED_OFF
    assert body == BODY and completed
    assert after == (State.COMPLETE, True, [None])  # the taker was stopped, then reusable
    assert again == BODY
    assert server.connections == 1


@pytest.mark.parametrize("how", ["short_body", "failed_meanwhile"])
def test_a_failed_hand_off_leaves_the_connection_closed(raw_server, how):
    gate = Gate()
    closed = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        end = len(BODY) // 2 if how == "short_body" else len(BODY)
        try:
            gate.send(conn, head() + BODY[:10], BODY[10:end])
        except ConnectionError:  # the client closed first
            closed.set()
        if how == "failed_meanwhile" and wait_client_close(conn, 5):
            closed.set()

    server = raw_server(handler)

    async def main():
        protocol = await connect(server)
        await start(protocol)
        taker = protocol.hand_off(Taker, min_size=1)
        assert protocol.state is State.HANDED_OFF
        error = ReadTimeout("total timeout")
        if how == "failed_meanwhile":
            protocol.fail(error)  # the connection is torn down under the taker
        else:
            gate.open()
            assert len(await taker.receive()) == len(BODY) // 2  # EOF before its end
            protocol.close()  # what the response does when its taker fails
        completed = taker.raw.complete(taker)
        await settle()
        return (completed, protocol.state, protocol.reusable,
                taker.stops == ([error] if how == "failed_meanwhile" else [None]))

    assert run(main()) == (False, State.CLOSED, False, True)
    if how == "failed_meanwhile":
        gate.open()
        assert closed.wait(5)
    else:
        assert server.join(5)
