"""The pool and stale connections through the blocking facade (issue 11, point 5): an
idempotent request on a kept-alive connection the server dropped is retried once, a POST
raises ConnectionError; an idle connection the server closed is never reused; the wait for
a free connection counts under the connect timeout (``timeout=(connect, read)``).

Peers: tests.pool_peers (raw sockets on 127.0.0.1); every call has a timeout.
"""

from __future__ import annotations

import threading
import time

import pytest

import syncwrap
from tests.pool_peers import Tally, answer_then_close, drop_second, hold_slow, idle_close
from tests.servers import read_request, serve_http, wait_client_close

T = 10  # seconds: the bound of every request here


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "rst"])
def test_stale_get_is_retried_post_is_not(raw_server, abort):
    tally = Tally()
    server = raw_server(drop_second(tally, abort=abort))
    with syncwrap.Session() as s:
        assert s.get(server.url, timeout=T).text == "conn=1 answer=1"
        assert s.get(server.url + "/get", timeout=T).text == "conn=2 answer=2"  # retried
        with pytest.raises(syncwrap.ConnectionError):
            s.post(server.url + "/post", data=b"k=v", timeout=T)
    assert [(n, m, target) for n, m, target, _ in tally.dropped] == [
        (1, "GET", "/get"), (2, "POST", "/post")]  # the POST was seen once, never again
    assert [(n, target) for n, _, target, _ in tally.answered] == [(1, "/"), (2, "/get")]
    assert tally.connections == 2


def test_module_verbs_retry_on_their_shared_pool(raw_server):
    tally = Tally()
    server = raw_server(drop_second(tally))
    assert syncwrap.get(server.url + "/a", timeout=T).status_code == 200
    assert syncwrap.delete(server.url + "/b", timeout=T).status_code == 200
    assert tally.dropped == [(1, "DELETE", "/b", 0)]
    assert [(n, target) for n, _, target, _ in tally.answered] == [(1, "/a"), (2, "/b")]


def test_server_closing_after_each_answer(raw_server):
    tally = Tally()
    server = raw_server(answer_then_close(tally))
    with syncwrap.Session() as s:
        assert [s.get(f"{server.url}/{i}", timeout=T).status_code for i in range(3)] == [200] * 3
    assert tally.connections == 3 and len(tally.answered) == 3


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_idle_connection_closed_by_the_server_is_not_reused(raw_server, method):
    tally = Tally()
    server = raw_server(idle_close(tally, idle=0.1))
    with syncwrap.Session() as s:
        assert s.get(server.url, timeout=T).ok
        assert tally.closed.wait(T)
        r = s.request(method, server.url + "/after", data=b"x", timeout=T)
    assert r.text == "conn=2 answer=2"
    assert tally.late == []  # nothing was sent on the closed connection
    assert tally.connections == 2


def test_waiting_for_the_only_connection_hits_the_connect_timeout(raw_server):
    tally = Tally()
    server = raw_server(hold_slow(tally))
    results: list[int] = []
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1)) as s:
        slow = threading.Thread(
            target=lambda: results.append(s.get(server.url + "/slow", timeout=T).status_code))
        slow.start()
        try:
            assert tally.arrived.wait(T)  # the slow request holds the only connection
            started = time.monotonic()
            with pytest.raises(syncwrap.ConnectTimeout) as err:
                s.get(server.url + "/fast", timeout=(0.2, T))
            waited = time.monotonic() - started
        finally:
            tally.gate.set()
            slow.join(T)
        assert results == [200]
        assert s.get(server.url + "/fast", timeout=(0.2, T)).ok  # the slot is free again
    assert isinstance(err.value, syncwrap.Timeout) and isinstance(err.value, TimeoutError)
    assert "pool" in str(err.value) and "0.2 s (connect timeout)" in str(err.value)
    assert 0.2 <= waited < 2
    assert [target for _, _, target, _ in tally.answered] == ["/slow", "/fast"]


def test_an_open_stream_holds_the_only_connection(raw_server):
    """A streamed response whose body is still coming keeps its connection: with limit=1
    the next request waits for the pool until its connect timeout."""
    tally = Tally()

    def handler(conn):
        if tally.connection() == 1:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.")
            wait_client_close(conn, T)
        else:
            serve_http(conn, lambda req: (b"ok", {}))

    server = raw_server(handler)
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1)) as s:
        stream = s.get(server.url, stream=True, timeout=T)
        with pytest.raises(syncwrap.ConnectTimeout, match="pool"):
            s.get(server.url, timeout=(0.2, T))
        stream.close()
        assert s.get(server.url, timeout=(0.2, T)).text == "ok"
    assert tally.connections == 2
