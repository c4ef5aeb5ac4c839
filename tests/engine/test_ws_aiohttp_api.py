"""aiohttp 3.14's smaller WebSocket API on the engine: ``ws_connect(method=,
decode_text=)``, ``send_json_bytes``, per-message ``compress=`` and
``client_notakeover``, against websockets' own server and raw servers."""

from __future__ import annotations

import json
import socket

import pytest

import syncwrap.engine as sw
from syncwrap.exceptions import WSServerHandshakeError
from tests.engine._util import SHORT, run
from tests.servers import read_request
from tests.ws_peers import WSServer, frame, raw_handshake, read_close_code


def test_decode_text_false_keeps_text_as_bytes(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo", decode_text=False) as ws:
                await ws.send_str("héllo ✓")
                msg = await ws.receive(timeout=10)
                await ws.send_json({"a": 1})
                as_json = await ws.receive_json(timeout=10)
                return msg, as_json

    msg, as_json = run(main())
    assert msg.type is sw.WSMsgType.TEXT and msg.data == "héllo ✓".encode()
    assert as_json == {"a": 1}


def test_decode_text_false_still_checks_utf8(raw_server):
    codes: list[int | None] = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x1, b"\xff\xfe"))
        codes.append(read_close_code(conn))

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{server.port}/", decode_text=False)
            first = await ws.receive(timeout=5)
            await ws.close()
            return first, ws.close_code

    first, code = run(main())
    assert first.type is sw.WSMsgType.ERROR and code == 1007
    server.join()
    assert codes == [1007]


def test_send_json_bytes_goes_as_a_binary_message(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo") as ws:
                await ws.send_json_bytes({"k": [1, 2]}, dumps=lambda d: json.dumps(d).encode())
                return await ws.receive(timeout=10)

    msg = run(main())
    assert msg.type is sw.WSMsgType.BINARY and json.loads(msg.data) == {"k": [1, 2]}


def test_per_message_compress_is_refused_not_ignored():
    server = WSServer(compression="deflate")
    try:
        async def main():
            async with sw.ClientSession(timeout=SHORT) as s:
                async with s.ws_connect(server.url + "/echo", compress=15) as ws:
                    await ws.send_str("kept", compress=None)
                    echoed = await ws.receive_str(timeout=10)
                    with pytest.raises(ValueError, match="compress=9"):
                        await ws.send_str("x", compress=9)
                    with pytest.raises(ValueError, match="compress=0"):
                        await ws.send_bytes(b"x", compress=0)
                    return echoed, ws.compress, ws.client_notakeover

        echoed, compress, notakeover = run(main())
    finally:
        server.close()
    assert echoed == "kept" and compress == 15 and notakeover is False


def test_method_is_the_handshakes_method(raw_server):
    lines: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        lines.append(read_request(conn).split(b"\r\n", 1)[0])
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            with pytest.raises(WSServerHandshakeError) as info:
                await s.ws_connect(f"ws://127.0.0.1:{server.port}/x", method="PUT")
            return info.value.status

    assert run(main()) == 405
    server.join()
    assert lines == [b"PUT /x HTTP/1.1"]
