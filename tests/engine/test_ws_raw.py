"""The engine's WebSocket client against raw servers that misbehave (tests/ws_peers.py).

A refused handshake raises WSServerHandshakeError with the status and headers; a
server that breaks the protocol gets a close frame with the right code (1002, 1007,
1009) and the client an ERROR message, then CLOSED: within the timeout, never a hang.
Also the HTTP/1.1 connection's upgrade seam: frames that arrive with the 101 head, and
a 101 nobody takes over.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest

import syncwrap.engine as sw
from syncwrap.engine.http1.parser import ResponseParser
from syncwrap.exceptions import WebSocketError, WSServerHandshakeError
from tests.engine._util import SHORT, run
from tests.servers import read_request
from tests.ws_peers import frame, raw_handshake, read_close_code, read_frame

CLIENT_WAIT = 5.0


def _misbehaving(payload: bytes, codes: list) -> object:
    """Handshake, then ``payload``; record the code of the client's close frame."""

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(payload)
        codes.append(read_close_code(conn))

    return handler


async def _failure(url: str, **kwargs):
    async with sw.ClientSession(timeout=SHORT) as s:
        ws = await s.ws_connect(url, **kwargs)
        first = await ws.receive(timeout=CLIENT_WAIT)
        second = await ws.receive(timeout=CLIENT_WAIT)
        await ws.close()
        return first, second, ws.close_code


@pytest.mark.parametrize(("name", "payload", "code"), [
    ("reserved bits", frame(0x1, b"hi", rsv=0b100), 1002),
    ("unknown opcode", frame(0x3, b"hi"), 1002),
    ("fragmented ping", frame(0x9, b"p", fin=False), 1002),
    ("continuation without start", frame(0x0, b"x"), 1002),
    ("invalid UTF-8", frame(0x1, b"ok \xff\xfe"), 1007),
    ("invalid UTF-8 across fragments", frame(0x1, b"\xe2\x82", fin=False) + frame(0x0, b"("),
     1007),
    ("oversize frame header", bytes([0x82, 127]) + struct.pack("!Q", 1 << 40), 1009),
    ("oversize fragments", frame(0x2, b"a" * 600, fin=False) + frame(0x0, b"b" * 600), 1009),
])
def test_protocol_violations_close_with_the_right_code(raw_server, name, payload, code):
    codes: list = []
    server = raw_server(_misbehaving(payload, codes))
    first, second, close_code = run(_failure(server.url, max_msg_size=1000))
    assert first.type is sw.WSMsgType.ERROR, first
    assert isinstance(first.data, WebSocketError) and first.data.code == code
    assert second.type is sw.WSMsgType.CLOSED
    assert close_code == code
    assert server.join(CLIENT_WAIT)
    assert codes == [code]  # the close frame the client sent, with that code


def test_messages_before_the_violation_are_delivered_first(raw_server):
    codes: list = []
    server = raw_server(_misbehaving(frame(0x1, b"fine") + frame(0x3, b""), codes))
    first, second, code = run(_failure(server.url))
    assert (first.type, first.data) == (sw.WSMsgType.TEXT, "fine")
    assert second.type is sw.WSMsgType.ERROR and code == 1002


def test_non_101_answer_raises_handshake_error(raw_server):
    head = (b"HTTP/1.1 403 Forbidden\r\nX-Reason: no entry\r\nContent-Length: 6\r\n\r\n"
            b"denied")
    server = raw_server(lambda conn: raw_handshake(conn, head))

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            await s.ws_connect(server.url)

    with pytest.raises(WSServerHandshakeError) as info:
        run(main())
    assert info.value.status == 403
    assert info.value.headers["X-Reason"] == "no entry"
    assert isinstance(info.value, sw.ClientResponseError)


def test_a_raising_session_still_raises_handshake_error(raw_server):
    head = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
    server = raw_server(lambda conn: raw_handshake(conn, head))

    async def main():
        async with sw.ClientSession(timeout=SHORT, raise_for_status=True) as s:
            await s.ws_connect(server.url)

    with pytest.raises(WSServerHandshakeError) as info:
        run(main())
    assert info.value.status == 500


@pytest.mark.parametrize(("head", "match"), [
    (None, "Sec-WebSocket-Accept"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "Connection"),
    (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
     "Upgrade"),
])
def test_a_101_that_does_not_complete_the_handshake_raises(raw_server, head, match):
    closed = threading.Event()

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn, head, accept="d3JvbmcgYWNjZXB0IGtleQ==")
        if not conn.recv(1):
            closed.set()

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            await s.ws_connect(server.url)

    with pytest.raises(WSServerHandshakeError, match=match) as info:
        run(main())
    assert info.value.status == 101
    assert closed.wait(CLIENT_WAIT)  # the connection was closed, not pooled


def test_a_subprotocol_not_offered_is_refused(raw_server):
    def handler(conn: socket.socket) -> None:
        headers = raw_handshake(conn, b"")
        from websockets.utils import accept_key

        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Protocol: other\r\n"
                     b"Sec-WebSocket-Accept: "
                     + accept_key(headers["sec-websocket-key"]).encode() + b"\r\n\r\n")
        conn.recv(1)

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            await s.ws_connect(server.url, protocols=["chat"])

    with pytest.raises(WSServerHandshakeError, match="subprotocol"):
        run(main())


def test_frames_in_the_same_packet_as_the_101_head(raw_server):
    def handler(conn: socket.socket) -> None:
        headers = raw_handshake(conn, b"")  # answered below, together with two frames
        from websockets.utils import accept_key

        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                f"Upgrade\r\nSec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}"
                "\r\n\r\n").encode()
        conn.sendall(head + frame(0x1, b"early") + frame(0x2, b"\x01\x02"))
        read_close_code(conn)

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(server.url) as ws:
                return await ws.receive(timeout=5), await ws.receive(timeout=5)

    text, binary = run(main())
    assert (text.data, binary.data) == ("early", b"\x01\x02")


def test_server_drops_the_connection_without_close_frame(raw_server):
    server = raw_server(lambda conn: (raw_handshake(conn), conn.sendall(frame(0x1, b"bye"))))

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(server.url)
            return ([await ws.receive(timeout=5) for _ in range(2)], ws.close_code,
                    ws.exception())

    (text, end), code, exc = run(main())
    assert text.data == "bye" and end.type is sw.WSMsgType.CLOSED
    assert code == 1006 and exc is None


def test_server_that_never_closes_after_close_frame_is_dropped(raw_server):
    done = threading.Event()

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        assert read_frame(conn)[0] == 0x8  # the client's close frame; no answer, no close
        done.wait(10)

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(server.url, timeout=0.3)
            result = await ws.close()
            return result, await ws.receive(timeout=1)

    try:
        result, end = run(main(), timeout=5)
    finally:
        done.set()
    assert result is True and end.type is sw.WSMsgType.CLOSED


def test_the_client_masks_its_frames_and_answers_pings(raw_server):
    seen: list = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x9, b"are you there") + frame(0x1, b"go"))
        seen.append(read_frame(conn))  # the pong, answered before "go" was read
        seen.append(read_frame(conn))  # a text message
        raw = conn.recv(2)  # the next frame's header: the mask bit is set
        seen.append(raw[1] & 0x80)

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(server.url) as ws:
                assert await ws.receive_str(timeout=5) == "go"
                await ws.send_str("masked")
                await ws.send_bytes(b"x")

    run(main())
    assert server.join(5)
    assert seen == [(0xA, b"are you there"), (0x1, b"masked"), 0x80]


def test_a_101_that_is_not_upgraded_closes_its_connection(raw_server):
    requests = []

    def handler(conn: socket.socket) -> None:
        requests.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n"
                     b"Connection: Upgrade\r\n\r\nnot http")
        requests.append(conn.recv(100))  # b"": the client closed

    server = raw_server(handler)

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.get(server.url) as resp:
                status = resp.status
            return status, s.connector.stats()

    status, stats = run(main())
    assert server.join(5)
    assert status == 101 and requests[1] == b""
    assert stats["idle"] == 0 and stats["acquired"] == 0


def test_parser_keeps_the_bytes_after_a_101_head():
    heads = []
    parser = ResponseParser(heads.append, lambda data: None, lambda: heads.append("complete"))
    parser.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
    parser.feed(b"Connection: Upgrade\r\n\r\n\x81\x02hi")
    parser.feed(b"\x81\x01!")
    parser.feed_eof()
    assert [h.status for h in heads] == [101]  # never "complete": HTTP ended there
    assert parser.switched and parser.upgraded_data == b"\x81\x02hi\x81\x01!"
    bare = ResponseParser(heads.append, lambda data: None, lambda: None)
    bare.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\nnext protocol")  # no Upgrade header
    assert bare.upgraded_data == b"next protocol"
