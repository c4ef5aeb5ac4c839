"""The blocking WebSocket (``Session.ws_connect``, ``syncwrap.ws_connect``) against real
servers: websockets' own (tests/ws_peers.py) and raw misbehaving ones.

Every wait is bounded: ``receive(timeout=)`` everywhere, events for the server's side.
"""

from __future__ import annotations

import gc
import json
import socket
import ssl
import struct
import threading

import pytest

import syncwrap
from syncwrap import WSMsgType
from tests.facade._util import WAIT
from tests.proxy_peers import ProxyPy
from tests.ws_peers import WSServer, frame, raw_handshake, read_close_code

MIB = 1024 * 1024



def test_session_ws_connect_echo_and_close_on_with_exit(ws_server):
    with syncwrap.Session(timeout=10) as s:
        with s.ws_connect(ws_server.url + "/echo") as ws:
            ws.send_str("hello")
            assert ws.receive(timeout=WAIT) == (WSMsgType.TEXT, "hello", "")
            ws.send_bytes(b"\x00" * 70000)
            assert ws.receive_bytes(timeout=WAIT) == b"\x00" * 70000
            ws.send_json({"k": [1]})
            assert ws.receive_json(timeout=WAIT) == {"k": [1]}
            assert not ws.closed and ws.protocol is None and ws.response.status == 101
        assert ws.closed and ws.close_code == 1000
        assert ws.receive(timeout=WAIT).type is WSMsgType.CLOSED
        with pytest.raises(syncwrap.ClientConnectionError, match="closed"):
            ws.send_str("too late")


def test_module_level_ws_connect_and_close(ws_server):
    before = len(ws_server.closes)
    ws = syncwrap.ws_connect(ws_server.url + "/quiet")
    assert ws.close(code=4003, message="bye") is True
    assert ws.close() is False
    assert ws_server.wait_closes(before + 1, WAIT)[-1] == (4003, "bye")


def test_receive_timeout_raises_syncwrap_timeout_and_the_websocket_stays_open(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/echo", receive_timeout=0.1) as ws:
        with pytest.raises(syncwrap.Timeout):
            ws.receive()
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.05)
        ws.send_str("still here")
        assert ws.receive_str(timeout=WAIT) == "still here"


def test_for_msg_in_ws_until_the_server_closes(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/fragments") as ws:
        seen = []
        for msg in ws:
            seen.append(msg.data)
            if len(seen) == 2:
                ws.send_str("last")
            if len(seen) == 3:
                break
    assert seen == ["fragmented", b"\x00\x01\x02", "last"]
    with syncwrap.ws_connect(ws_server.url + "/close/4000?reason=done") as ws:
        assert list(ws) == []  # CLOSE ends the iteration
        assert ws.close_code == 4000


def test_close_message_then_closed(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/close/1001?reason=going") as ws:
        msg = ws.receive(timeout=WAIT)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1001, "going")
        assert ws.receive(timeout=WAIT).type is WSMsgType.CLOSED
        assert ws.closed and ws.close_code == 1001


def test_a_dropped_websocket_is_closed(ws_server):
    before = len(ws_server.closes)

    def open_and_drop() -> None:
        ws = syncwrap.ws_connect(ws_server.url + "/quiet")
        ws.send_str("x")

    open_and_drop()
    gc.collect()
    assert ws_server.wait_closes(before + 1, WAIT)[-1][0] == 1001


def test_handshake_carries_the_session_state():
    server = WSServer(subprotocols=["v2"])
    try:
        with syncwrap.Session(headers={"X-Default": "d"}, auth=("ada", "pw"),
                              cookie_jar=syncwrap.CookieJar(unsafe=True)) as s:
            s.cookies.set("flavour", "oat")
            with s.ws_connect(server.url + "/headers", protocols=["v2"],
                              headers={"X-Call": "c"}) as ws:
                headers = dict(json.loads(ws.receive_str(timeout=WAIT)))
                assert ws.protocol == "v2"
    finally:
        server.close()
    assert headers["X-Default"] == "d" and headers["X-Call"] == "c"
    assert headers["Cookie"] == "flavour=oat"
    assert headers["Authorization"] == syncwrap.BasicAuth("ada", "pw").encode()


def test_a_requests_style_auth_callable_runs_in_the_calling_thread(ws_server):
    threads = []

    def token(request):
        threads.append(threading.get_ident())
        request.headers["Authorization"] = "Bearer t0k"
        return request

    with syncwrap.ws_connect(ws_server.url + "/headers", auth=token) as ws:
        headers = dict(json.loads(ws.receive_str(timeout=WAIT)))
    assert headers["Authorization"] == "Bearer t0k"
    assert threads == [threading.get_ident()]


def test_wss_with_verify_and_compression(tls_cert, ca_pem_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_cert.configure_cert(ctx)
    server = WSServer(ssl=ctx, compression="deflate", max_size=None)
    try:
        with syncwrap.Session(verify=ca_pem_path) as s:
            with s.ws_connect(server.url + "/echo", compress=15, max_msg_size=0) as ws:
                data = bytes(range(256)) * (16 * MIB // 256)
                ws.send_bytes(data)
                assert ws.receive_bytes(timeout=30) == data
                assert ws.get_extra_info("sslcontext") is not None
        with pytest.raises(syncwrap.SSLError):
            syncwrap.ws_connect(server.url + "/echo")  # the test CA is not trusted
    finally:
        server.close()


def test_through_the_forward_proxy(ws_server):
    proxy = ProxyPy()
    try:
        with syncwrap.Session(proxies={"http": proxy.url}) as s:
            with s.ws_connect(ws_server.url + "/echo") as ws:
                ws.send_str("proxied")
                assert ws.receive_str(timeout=WAIT) == "proxied"
    finally:
        proxy.close()
    assert any("CONNECT" in line for line in proxy.output)


def test_a_slow_reader_pauses_the_socket(ws_server):
    size, count = 64 * 1024, 1000
    ws_server.blocked.clear()
    with syncwrap.ws_connect(ws_server.url + f"/flood?size={size}&count={count}") as ws:
        assert ws_server.blocked.wait(20), "the server never had to wait"
        in_flight = ws_server.sent * size
        numbers = [struct.unpack("!Q", ws.receive_bytes(timeout=WAIT)[:8])[0]
                   for _ in range(count)]
    assert in_flight < 24 * MIB, in_flight
    assert numbers == list(range(count))


def test_heartbeat_against_a_server_that_stops_answering(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/deaf", heartbeat=0.5) as ws:
        error = ws.receive(timeout=WAIT)
        assert error.type is WSMsgType.ERROR and isinstance(error.data, syncwrap.Timeout)
        assert ws.receive(timeout=WAIT).type is WSMsgType.CLOSED
        assert ws.close_code == 1006 and ws.exception() is error.data


def test_protocol_violation_gives_error_then_closed(raw_server):
    codes: list = []

    def handler(conn: socket.socket) -> None:
        raw_handshake(conn)
        conn.sendall(frame(0x1, b"\xc3\x28"))  # invalid UTF-8
        codes.append(read_close_code(conn))

    server = raw_server(handler)
    with syncwrap.ws_connect(server.url) as ws:
        error = ws.receive(timeout=WAIT)
        assert error.type is WSMsgType.ERROR and error.data.code == 1007
        assert isinstance(error.data, syncwrap.WebSocketError)
        assert ws.receive(timeout=WAIT).type is WSMsgType.CLOSED
    assert server.join(WAIT) and codes == [1007]


def test_refused_handshake_raises_at_the_call(raw_server):
    head = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
    server = raw_server(lambda conn: raw_handshake(conn, head))
    with pytest.raises(syncwrap.WSServerHandshakeError) as info:
        syncwrap.ws_connect(server.url)
    assert info.value.status == 401 and info.value.headers["WWW-Authenticate"] == "Basic"


def test_bad_input_fails_at_the_call(ws_server):
    with pytest.raises(syncwrap.InvalidURL):
        syncwrap.ws_connect("gopher://127.0.0.1/")
    with pytest.raises(TypeError, match="bogus"):
        syncwrap.ws_connect(ws_server.url, bogus=True)
    with syncwrap.ws_connect(ws_server.url + "/echo") as ws:
        with pytest.raises(TypeError, match="send_str"):
            ws.send_str(b"bytes")
        with pytest.raises(TypeError, match="send_bytes"):
            ws.send_bytes("text")
        with pytest.raises(ValueError, match="125"):
            ws.ping(b"p" * 200)
        with pytest.raises(ValueError, match="code="):
            ws.close(code=1005)
        ws.send_str("open")  # nothing above closed it
        assert ws.receive_str(timeout=WAIT) == "open"


def test_receive_on_the_loop_thread_is_refused(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/echo") as ws:
        async def on_loop():
            ws.receive(timeout=1)

        with pytest.raises(RuntimeError, match="loop"):
            syncwrap.run(on_loop())
