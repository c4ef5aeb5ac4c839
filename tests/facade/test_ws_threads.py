"""The blocking WebSocket across threads and at interpreter exit.

One reader and eight senders share one WebSocket: every message arrives, in order per
sender. A script that leaves WebSockets open ends within a second, silently, and the
server sees their close frames.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

import syncwrap
from syncwrap import WSMsgType
from tests.facade._util import WAIT, LineReader, start_script
from tests.ws_peers import WSServer


@pytest.fixture
def ws_server():
    server = WSServer()
    yield server
    server.close()


def test_one_reader_and_eight_senders(ws_server):
    senders, per_sender = 8, 300
    received: dict[int, list[int]] = {n: [] for n in range(senders)}
    start = threading.Barrier(senders + 1)
    errors: list[BaseException] = []

    with syncwrap.ws_connect(ws_server.url + "/echo") as ws:
        def send(n: int) -> None:
            try:
                start.wait(WAIT)
                for i in range(per_sender):
                    if i % 3:
                        ws.send_str(f"{n}:{i}")
                    else:
                        ws.send_bytes(f"{n}:{i}".encode())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def read() -> None:
            try:
                for _ in range(senders * per_sender):
                    msg = ws.receive(timeout=WAIT)
                    assert msg.type in (WSMsgType.TEXT, WSMsgType.BINARY), msg
                    data = msg.data if msg.type is WSMsgType.TEXT else msg.data.decode()
                    n, i = map(int, data.split(":"))
                    received[n].append(i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        reader = threading.Thread(target=read)
        reader.start()
        for thread in threads:
            thread.start()
        start.wait(WAIT)
        for thread in [*threads, reader]:
            thread.join(30)
        assert not any(t.is_alive() for t in [*threads, reader])
    assert errors == []
    assert all(received[n] == list(range(per_sender)) for n in range(senders))


def test_sends_from_threads_while_the_reader_waits(ws_server):
    with syncwrap.ws_connect(ws_server.url + "/echo") as ws:
        got = []
        reader = threading.Thread(target=lambda: got.append(ws.receive(timeout=WAIT)))
        reader.start()
        sender = threading.Thread(target=ws.send_str, args=("from another thread",))
        sender.start()
        sender.join(WAIT)
        reader.join(WAIT)
    assert got[0].data == "from another thread"


@pytest.mark.skipif(sys.platform == "win32", reason="subprocess exit timing")
@pytest.mark.parametrize("mode", ["open", "reading"])
def test_script_with_open_websockets_exits_promptly_and_quietly(ws_server, mode):
    proc = start_script("ws_exit.py", ws_server.url + "/quiet", mode)
    reader = LineReader(proc)
    try:
        last_at, _ = reader.wait_for("LAST", timeout=20)
        proc.wait(WAIT)
        exited_at = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        reader.join()
    stderr = proc.stderr.read()
    assert proc.returncode == 0
    assert stderr == ""
    assert exited_at - last_at < 1.0, f"exit took {exited_at - last_at:.2f} s after LAST"
    expected = 2 if mode == "open" else 1
    closes = ws_server.wait_closes(expected, WAIT)
    assert [code for code, _ in closes] == [1001] * expected  # a close frame, not a drop
