"""Bulk reads (syncwrap.engine.websocket.bulk): on uvloop, after a large read the connection
drains what the kernel holds from a dup of the socket; small messages stay with the
transport.

Checked: exact bytes and order for large and small messages mixed (websockets' server),
flow control during drains (a slow reader pauses the socket, memory stays bounded), a
reset in the middle of a large frame (met by a bulk read or by the transport: ERROR
then CLOSED either way), a close frame right after a large message, and asyncio's
loop, where bulk reads never happen.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading

import pytest

import syncwrap.engine as sw
from syncwrap.engine.websocket import WSMsgType
from syncwrap.engine.websocket.bulk import BulkReader
from syncwrap.exceptions import ClientConnectionError
from tests.engine._util import run_on
from tests.ws_peers import WSServer, frame, raw_handshake, read_close_code

uvloop = pytest.importorskip("uvloop")

MIB = 1024 * 1024


@pytest.fixture
def ws_server():
    server = WSServer()
    yield server
    server.close()


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_large_and_small_messages_exact_bytes_and_order(ws_server, loop_name):
    messages = [os.urandom(3 * MIB + 17), "small", os.urandom(MIB), b"x", os.urandom(200_000),
                "é" * 300_000, os.urandom(70_000), "last"]

    async def main():
        async with sw.ClientSession() as s, s.ws_connect(ws_server.url + "/echo") as ws:
            got = []
            for message in messages:  # one at a time, then all at once
                await (ws.send_str(message) if isinstance(message, str)
                       else ws.send_bytes(message))
                got.append((await ws.receive(timeout=10)).data)
            for message in messages:
                await (ws.send_str(message) if isinstance(message, str)
                       else ws.send_bytes(message))
            for _ in messages:
                got.append((await ws.receive(timeout=10)).data)
            bulk = ws.connection._bulk
            return got, None if bulk is None else bulk.reads

    got, reads = run_on(loop_name, main())
    assert got == messages + messages
    assert all(type(g) is type(m) for g, m in zip(got, messages + messages, strict=True))
    if loop_name == "uvloop":
        assert reads
    else:
        assert reads is None


def test_a_slow_reader_pauses_the_socket_during_bulk_reads(ws_server):
    size, count = MIB, 48  # 48 MiB offered

    async def main():
        async with sw.ClientSession() as s, \
                s.ws_connect(ws_server.url + f"/flood?size={size}&count={count}") as ws:
            blocked = await asyncio.get_running_loop().run_in_executor(
                None, ws_server.blocked.wait, 20)
            in_flight = ws_server.sent * size
            numbers = []
            for _ in range(count):
                data = await ws.receive_bytes(timeout=10)
                assert len(data) == size
                numbers.append(struct.unpack("!Q", data[:8])[0])
            return blocked, in_flight, numbers, ws.connection._bulk.reads

    ws_server.blocked.clear()
    blocked, in_flight, numbers, reads = run_on("uvloop", main(), timeout=60)
    assert blocked, "the server never had to wait: nothing paused the socket"
    assert in_flight < 24 * MIB, in_flight
    assert numbers == list(range(count)) and reads


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("when", ["at once", "after bulk reads"])
def test_a_reset_in_the_middle_of_a_large_frame(raw_server, bulk, when, monkeypatch):
    """ERROR (ClientConnectionError) then CLOSED, code 1006: as without bulk reads. At
    once, the reset is what a bulk read meets (its error is consumed there)."""
    if not bulk:
        monkeypatch.setattr(BulkReader, "applies", staticmethod(lambda loop, t: False))
    reset = threading.Event()
    if when == "at once":
        reset.set()

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x2, os.urandom(4 * MIB))[:3 * MIB])
        reset.wait(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession() as s:
            ws = await s.ws_connect(server.url)
            reader = ws.connection._bulk
            for _ in range(1000):  # until the bulk reader has taken a read (bounded)
                if reader is None or reader.reads:
                    break
                await asyncio.sleep(0.01)
            reset.set()
            messages = [await ws.receive(timeout=10), await ws.receive(timeout=10)]
            return messages, ws.close_code, reader and reader.reads

    messages, close_code, reads = run_on("uvloop", main())
    if when == "after bulk reads":
        assert bool(reads) is bulk
    assert [m.type for m in messages] == [WSMsgType.ERROR, WSMsgType.CLOSED]
    assert isinstance(messages[0].data, ClientConnectionError) and close_code == 1006


def test_a_close_frame_right_after_a_large_message(raw_server):
    big = os.urandom(4 * MIB)
    codes: list = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x2, big) + frame(0x8, struct.pack("!H", 4001) + b"bye"))
        codes.append(read_close_code(conn))

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession() as s:
            ws = await s.ws_connect(server.url)
            messages = [await ws.receive(timeout=10) for _ in range(3)]
            await ws.close()
            return messages, ws.close_code, ws.connection._bulk.reads

    messages, close_code, reads = run_on("uvloop", main())
    assert reads
    assert [m.type for m in messages] == [WSMsgType.BINARY, WSMsgType.CLOSE, WSMsgType.CLOSED]
    assert messages[0].data == big and (messages[1].data, messages[1].extra) == (4001, "bye")
    assert close_code == 4001 and server.join(10) and codes == [4001]
