"""The engine's WebSocket client against websockets' own server (tests/ws_peers.py).

ws and wss (trustme), with and without permessage-deflate; echo of text, binary (up to
16 MiB), JSON and fragmented messages; close codes and reasons both ways; the
handshake carrying the session's headers, cookies and auth; heartbeat against a
server that stops answering; flow control against a slow reader; a forward proxy.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
import time

import pytest

import syncwrap.engine as sw
from syncwrap.exceptions import ReadTimeout, WebSocketError
from tests.engine._util import SHORT, run
from tests.proxy_peers import ProxyPy
from tests.ws_peers import WSServer

MIB = 1024 * 1024



@pytest.fixture(scope="module")
def tls_context(tls_cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_cert.configure_cert(ctx)
    return ctx


async def _echo(ws, message):
    if isinstance(message, str):
        await ws.send_str(message)
        return await ws.receive_str(timeout=10)
    await ws.send_bytes(message)
    return await ws.receive_bytes(timeout=10)


def test_echo_text_binary_json(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo") as ws:
                assert await _echo(ws, "hello") == "hello"
                assert await _echo(ws, "héllo ✓") == "héllo ✓"
                assert await _echo(ws, b"\x00\xff" * 100) == b"\x00\xff" * 100
                await ws.send_json({"a": [1, 2]})
                assert await ws.receive_json() == {"a": [1, 2]}
                await ws.send_str("x")
                msg = await ws.receive()
                assert (msg.type, msg.data) == (sw.WSMsgType.TEXT, "x")
                assert ws.protocol is None and not ws.closed and ws.close_code is None
                assert ws.get_extra_info("peername")[0] == "127.0.0.1"
            assert ws.closed and ws.close_code == 1000
            assert (await ws.receive()).type is sw.WSMsgType.CLOSED
            return s.connector.stats()

    stats = run(main())
    assert stats["acquired"] == 0 and stats["idle"] == 0  # the connection left the pool


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_echo_sizes_over_ws_and_wss_with_and_without_compression(
        compression, secure, tls_context, client_ssl_context):
    server = WSServer(compression=compression, ssl=tls_context if secure else None)
    sizes = [0, 1, 125, 126, 65535, 65536, 1 * MIB + 3, 16 * MIB]

    async def main():
        async with sw.ClientSession(timeout=30) as s:
            async with s.ws_connect(server.url + "/echo", compress=15 if compression else 0,
                                    ssl=client_ssl_context if secure else True,
                                    max_msg_size=32 * MIB) as ws:
                for size in sizes:
                    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
                    assert await _echo(ws, data) == data
                text = "ünïcode " * 5000
                assert await _echo(ws, text) == text
                return ws.compress, ws.response.headers.get("Sec-WebSocket-Extensions")

    try:
        compress, header = run(main(), timeout=60)
    finally:
        server.close()
    if compression:
        assert compress == 15 and header.startswith("permessage-deflate")
        assert server.extensions[0] and "PerMessageDeflate" in server.extensions[0][0]
    else:
        assert compress == 0 and header is None and server.extensions == [[]]


def test_fragmented_messages_arrive_whole(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/fragments") as ws:
                return [await ws.receive(timeout=5) for _ in range(2)]

    text, binary = run(main())
    assert (text.type, text.data) == (sw.WSMsgType.TEXT, "fragmented")
    assert (binary.type, binary.data) == (sw.WSMsgType.BINARY, b"\x00\x01\x02")


def test_server_close_code_and_reason(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(ws_server.url + "/close/4001?reason=bye")
            msg = await ws.receive(timeout=5)
            after = await ws.receive(timeout=5)
            return msg, after, ws.closed, ws.close_code, await ws.close()

    msg, after, closed, code, close_result = run(main())
    assert (msg.type, msg.data, msg.extra) == (sw.WSMsgType.CLOSE, 4001, "bye")
    assert after.type is sw.WSMsgType.CLOSED
    assert closed and code == 4001
    assert close_result is False  # it was already closed


def test_async_for_stops_when_the_server_closes(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/fragments") as ws:
                seen = []
                async for msg in ws:
                    seen.append(msg.data)
                    if len(seen) == 2:
                        await ws.close(code=1000)
                return seen

    assert run(main()) == ["fragmented", b"\x00\x01\x02"]


def test_client_close_code_and_reason_reach_the_server(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(ws_server.url + "/quiet")
            first = await ws.close(code=4002, message=b"done here")
            return first, await ws.close(), ws.close_code

    before = len(ws_server.closes)
    first, second, code = run(main())
    assert first is True and second is False and code == 4002
    assert ws_server.wait_closes(before + 1)[-1] == (4002, "done here")


def test_handshake_carries_session_headers_cookies_auth_origin_and_protocols():
    server = WSServer(subprotocols=["chat", "superchat"])

    async def main():
        jar = sw.CookieJar(unsafe=True)
        async with sw.ClientSession(timeout=SHORT, headers={"X-Default": "d"}, cookie_jar=jar,
                                    auth=sw.BasicAuth("ada", "pw")) as s:
            jar.update_cookies({"flavour": "oat"}, response_url=sw.ClientSession and
                               __import__("yarl").URL(server.url.replace("ws", "http", 1)))
            async with s.ws_connect(server.url + "/headers", protocols=["superchat", "x"],
                                    origin="http://example.test",
                                    headers={"X-Call": "c"}) as ws:
                headers = dict(json.loads(await ws.receive_str(timeout=5)))
                return headers, ws.protocol

    try:
        headers, protocol = run(main())
    finally:
        server.close()
    assert protocol == "superchat"
    assert headers["X-Default"] == "d" and headers["X-Call"] == "c"
    assert headers["Cookie"] == "flavour=oat"
    assert headers["Authorization"] == sw.BasicAuth("ada", "pw").encode()
    assert headers["Origin"] == "http://example.test"
    assert headers["Sec-WebSocket-Protocol"] == "superchat, x"
    assert headers["Upgrade"] == "websocket" and headers["Sec-WebSocket-Version"] == "13"


def test_http_urls_and_base_url_work(ws_server):
    http = ws_server.url.replace("ws://", "http://")

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(http + "/echo") as ws:
                first = await _echo(ws, "over http://")
        async with sw.ClientSession(http, timeout=SHORT) as s:
            async with s.ws_connect("/echo", params={"q": "1"}) as ws:
                return first, await _echo(ws, "relative"), ws.response.url.query_string

    assert run(main()) == ("over http://", "relative", "q=1")


def test_bad_arguments_fail_at_the_call(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            with pytest.raises(sw.InvalidURL, match="ws://"):
                await s.ws_connect("ftp://127.0.0.1/")
            with pytest.raises(ValueError, match="compress="):
                await s.ws_connect(ws_server.url, compress=7)
            with pytest.raises(TypeError, match="protocols="):
                await s.ws_connect(ws_server.url, protocols="chat")
            with pytest.raises(ValueError, match="heartbeat="):
                await s.ws_connect(ws_server.url, heartbeat=0)
            with pytest.raises(TypeError, match="unexpected keyword"):
                await s.ws_connect(ws_server.url, bogus=1)
            async with s.ws_connect(ws_server.url + "/echo") as ws:
                with pytest.raises(TypeError, match="send_str"):
                    await ws.send_str(b"bytes")
                with pytest.raises(TypeError, match="send_bytes"):
                    await ws.send_bytes("text")
                with pytest.raises(ValueError, match="close\\(code="):
                    await ws.close(code=999)
                with pytest.raises(ValueError, match="125"):
                    await ws.ping(b"x" * 126)
                assert await _echo(ws, "still open") == "still open"

    run(main())


def test_receive_timeout_raises_and_leaves_the_websocket_open(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo", receive_timeout=0.1) as ws:
                with pytest.raises(ReadTimeout) as default:
                    await ws.receive()
                with pytest.raises(TimeoutError):
                    await ws.receive(timeout=0.05)
                return default.value, await _echo(ws, "after"), ws.closed

    error, echoed, closed = run(main())
    assert isinstance(error, sw.Timeout)
    assert echoed == "after" and not closed


def test_autoping_false_delivers_ping_and_pong(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo", autoping=False) as ws:
                await ws.ping(b"marco")
                pong = await ws.receive(timeout=5)
                await ws.send_frame(b"as a frame", sw.WSMsgType.TEXT)
                return pong, await ws.receive_str(timeout=5)

    pong, text = run(main())
    assert (pong.type, pong.data) == (sw.WSMsgType.PONG, b"marco")
    assert text == "as a frame"


def test_too_big_message_closes_with_1009(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(ws_server.url + "/echo", max_msg_size=1000)
            await ws.send_bytes(b"x" * 999)
            ok = await ws.receive_bytes(timeout=5)
            await ws.send_bytes(b"x" * 2000)  # the echo is over the limit
            error = await ws.receive(timeout=5)
            end = await ws.receive(timeout=5)
            return ok, error, end, ws.close_code, ws.exception()

    ok, error, end, code, exc = run(main())
    assert ok == b"x" * 999
    assert error.type is sw.WSMsgType.ERROR and isinstance(error.data, WebSocketError)
    assert error.data.code == 1009 and exc is error.data
    assert end.type is sw.WSMsgType.CLOSED and code == 1009


def test_heartbeat_closes_a_server_that_stops_answering(ws_server):
    heartbeat = 1.0

    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            ws = await s.ws_connect(ws_server.url + "/deaf", heartbeat=heartbeat)
            started = time.monotonic()
            error = await ws.receive(timeout=10)
            end = await ws.receive(timeout=10)
            return time.monotonic() - started, error, end, ws.close_code

    elapsed, error, end, code = run(main())
    assert error.type is sw.WSMsgType.ERROR and isinstance(error.data, ReadTimeout)
    assert end.type is sw.WSMsgType.CLOSED and code == 1006
    assert heartbeat <= elapsed <= 2 * heartbeat, elapsed


def test_heartbeat_keeps_a_live_connection_open(ws_server):
    async def main():
        async with sw.ClientSession(timeout=SHORT) as s:
            async with s.ws_connect(ws_server.url + "/echo", heartbeat=0.1) as ws:
                with pytest.raises(ReadTimeout):
                    await ws.receive(timeout=0.6)  # pings answered meanwhile: no failure
                return ws.closed, await _echo(ws, "alive")

    assert run(main()) == (False, "alive")


def test_a_slow_reader_pauses_the_socket(ws_server):
    size, count = 64 * 1024, 1000  # 64 MiB offered

    async def main():
        async with sw.ClientSession(timeout=30) as s:
            async with s.ws_connect(ws_server.url + f"/flood?size={size}&count={count}") as ws:
                blocked = await asyncio.get_running_loop().run_in_executor(
                    None, ws_server.blocked.wait, 20)
                in_flight = ws_server.sent * size
                numbers = []
                for _ in range(count):
                    data = await ws.receive_bytes(timeout=10)
                    numbers.append(struct.unpack("!Q", data[:8])[0])
                return blocked, in_flight, numbers

    ws_server.blocked.clear()
    blocked, in_flight, numbers = run(main(), timeout=60)
    assert blocked, "the server never had to wait: nothing paused the socket"
    assert in_flight < 24 * MIB, in_flight  # queue (~4 MiB) + reads + kernel buffers
    assert numbers == list(range(count))


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_through_a_forward_proxy(secure, tls_context, client_ssl_context):
    server = WSServer(ssl=tls_context if secure else None)
    proxy = ProxyPy()

    async def main():
        async with sw.ClientSession(timeout=10, proxy=proxy.url) as s:
            async with s.ws_connect(server.url + "/echo",
                                    ssl=client_ssl_context if secure else True) as ws:
                return await _echo(ws, "via the proxy"), await _echo(ws, b"\x01" * 70000)

    try:
        text, data = run(main())
    finally:
        server.close()
        proxy.close()
    assert (text, data) == ("via the proxy", b"\x01" * 70000)
    assert any("CONNECT" in line for line in proxy.output)  # a tunnel, for ws:// too


def test_session_close_closes_its_websockets(ws_server):
    async def main():
        s = sw.ClientSession(timeout=SHORT)
        ws = await s.ws_connect(ws_server.url + "/echo")
        await s.close()
        return await ws.receive(timeout=5), ws.closed

    msg, closed = run(main())
    assert msg.type is sw.WSMsgType.CLOSED and closed


def test_over_a_unix_socket(tmp_path):
    from urllib.parse import quote

    from websockets.asyncio.server import unix_serve

    path = str(tmp_path / "ws.sock")

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with unix_serve(echo, path):
            async with sw.ClientSession(timeout=SHORT) as s:
                async with s.ws_connect(f"http+unix://{quote(path, safe='')}/echo") as ws:
                    return await _echo(ws, "over a unix socket")

    assert run(main()) == "over a unix socket"
