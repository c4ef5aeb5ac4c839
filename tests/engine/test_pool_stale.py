"""The pool and stale connections (issue 11, point 5), against real raw-socket peers:
an idle connection the server closed is never handed out; an idempotent request that
fails on a stale kept-alive connection before any response byte is retried once on a
fresh connection, a POST never; the wait for a free slot counts under the connect
timeout; ``await resp.release()`` works and a bare ``resp.release()`` warns nothing."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

import pytest

from syncwrap import ClientConnectionError, ConnectTimeout, ServerDisconnectedError, Timeout
from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector, TraceConfig
from tests.engine._util import SHORT, run
from tests.pool_peers import Tally, answer_then_close, drop_second, hold_slow, idle_close
from tests.servers import wait_client_close

IDEMPOTENT = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]


async def _call(s: ClientSession, method: str, url: str, **kwargs) -> tuple[int, bytes]:
    async with s.request(method, url, **kwargs) as resp:
        return resp.status, await resp.read()


# -- stale kept-alive connections: retried once when idempotent ----------------------------

def test_server_closing_after_each_answer(raw_server):
    """The server closes every kept-alive connection right after its answer: each GET
    still succeeds, on a connection of its own (closed one seen before reuse, or retried)."""
    tally = Tally()
    server = raw_server(answer_then_close(tally))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            return [await _call(s, "GET", f"{server.url}/{i}") for i in range(3)]

    results = run(main())
    assert [status for status, _ in results] == [200] * 3
    assert tally.connections == 3
    assert [(n, target) for n, _, target, _ in tally.answered] == [(1, "/0"), (2, "/1"), (3, "/2")]


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("method", IDEMPOTENT)
def test_idempotent_request_is_retried_once_on_a_fresh_connection(raw_server, method, abort):
    tally = Tally()
    server = raw_server(drop_second(tally, abort=abort))
    data = b"payload" if method == "PUT" else None

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            first = await _call(s, "GET", server.url + "/first")
            second = await _call(s, method, server.url + "/second", data=data)
            return first, second

    first, second = run(main())
    assert first == (200, b"conn=1 answer=1")
    assert second[0] == 200
    assert tally.dropped == [(1, method, "/second", len(data or b""))]  # sent on the stale one
    assert tally.answered[1] == (2, method, "/second", len(data or b""))  # then once, fresh
    assert tally.connections == 2


def test_a_large_replayable_body_is_sent_again_whole(raw_server):
    """A PUT whose body goes out after its head (not inline) is replayed whole."""
    tally = Tally()
    server = raw_server(drop_second(tally))
    body = bytes(range(256)) * 2048  # 512 KiB

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _call(s, "GET", server.url)
            return await _call(s, "PUT", server.url + "/big", data=body)

    assert run(main())[0] == 200
    assert tally.dropped == [(1, "PUT", "/big", len(body))]
    assert tally.answered[1] == (2, "PUT", "/big", len(body))


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_request_is_not_retried(raw_server, method, abort):
    tally = Tally()
    server = raw_server(drop_second(tally, abort=abort))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _call(s, "GET", server.url)
            with pytest.raises(ClientConnectionError) as err:
                await _call(s, method, server.url + "/once", data=b"k=v")
            return err.value

    err = run(main())
    if not abort:
        assert isinstance(err, ServerDisconnectedError)
    assert tally.dropped == [(1, method, "/once", 3)]  # the server saw it once
    assert len(tally.answered) == 1  # the first GET only
    assert tally.connections == 1  # no second attempt


def test_retried_only_once(raw_server):
    """The fresh connection fails too: the error surfaces, no third attempt."""
    tally = Tally()
    server = raw_server(drop_second(tally, fresh=1))  # connection 2 drops its first too

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _call(s, "GET", server.url)
            with pytest.raises(ServerDisconnectedError):
                await _call(s, "GET", server.url + "/again")

    run(main())
    assert [(n, target) for n, _, target, _ in tally.dropped] == [(1, "/again"), (2, "/again")]
    assert tally.connections == 2


# -- idle connections the server closed: never handed out ------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_idle_connection_closed_by_the_server_is_not_reused(raw_server, method):
    """After the server's idle close, a new connection is opened: no error, no retry (a
    POST could not be retried), and nothing is sent on the closed one."""
    tally = Tally()
    server = raw_server(idle_close(tally, idle=0.1))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _call(s, "GET", server.url)
            assert await asyncio.to_thread(tally.closed.wait, 5)
            return await _call(s, method, server.url + "/after", data=b"x")

    assert run(main()) == (200, b"conn=2 answer=2")
    assert tally.late == []
    assert tally.connections == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_close_seen_before_reuse_even_when_the_loop_has_not_read_it(raw_server, method):
    """The server's FIN is in the socket but the loop has not run since: the pool still
    sees it (the socket is readable) and opens a new connection."""
    tally = Tally()
    server = raw_server(idle_close(tally, idle=0.1))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await _call(s, "GET", server.url)
            assert tally.closed.wait(5)  # blocks the loop on purpose: it reads nothing
            return await _call(s, method, server.url + "/after", data=b"x")

    assert run(main()) == (200, b"conn=2 answer=2")
    assert tally.late == []
    assert tally.connections == 2


# -- the wait for a free connection counts under the connect timeout -------------------------

def _held_slot_test(raw_server, trace_configs=None):
    tally = Tally()
    server = raw_server(hold_slow(tally))

    async def main():
        connector = TCPConnector(limit=1)
        async with ClientSession(connector=connector, timeout=SHORT,
                                 trace_configs=trace_configs) as s:
            slow = asyncio.ensure_future(_call(s, "GET", server.url + "/slow"))
            try:
                assert await asyncio.to_thread(tally.arrived.wait, 5)  # it holds the slot
                started = time.monotonic()
                with pytest.raises(ConnectTimeout) as err:
                    await _call(s, "GET", server.url + "/fast",
                                timeout=ClientTimeout(total=5, connect=0.2))
                waited = time.monotonic() - started
                stats = connector.stats()
            finally:
                tally.gate.set()
            return err.value, waited, stats, await slow

    err, waited, stats, slow = run(main())
    assert isinstance(err, Timeout) and isinstance(err, TimeoutError)
    assert "pool" in str(err) and "limit=1" in str(err) and "connect timeout" in str(err)
    assert 0.2 <= waited < 2
    assert stats == {"acquired": 1, "idle": 0, "waiting": 0}  # the waiter left the queue
    assert slow[0] == 200
    assert [target for _, _, target, _ in tally.answered] == ["/slow"]  # /fast never sent
    return tally


def test_waiting_for_a_free_slot_hits_the_connect_timeout(raw_server):
    _held_slot_test(raw_server)


def test_waiting_for_a_free_slot_hits_the_connect_timeout_when_traced(raw_server):
    events: list[str] = []

    async def record(session, ctx, params, name=""):
        events.append(name)

    trace = TraceConfig()
    for name in ("queued_start", "queued_end"):
        getattr(trace, f"on_connection_{name}").append(
            lambda session, ctx, params, name=name: record(session, ctx, params, name))
    _held_slot_test(raw_server, [trace])
    assert events == ["queued_start"]  # the second request never left the queue


def test_a_slot_freed_within_the_connect_timeout_is_taken(raw_server):
    tally = Tally()
    server = raw_server(hold_slow(tally))

    async def main():
        async with ClientSession(connector=TCPConnector(limit=1), timeout=SHORT) as s:
            slow = asyncio.ensure_future(_call(s, "GET", server.url + "/slow"))
            assert await asyncio.to_thread(tally.arrived.wait, 5)
            fast = asyncio.ensure_future(_call(s, "GET", server.url + "/fast",
                                               timeout=ClientTimeout(total=5, connect=3)))
            while s.connector.stats()["waiting"] < 1:
                await asyncio.sleep(0)
            tally.gate.set()
            return await slow, await fast

    slow, fast = run(main())
    assert slow[0] == fast[0] == 200
    assert tally.connections == 1  # the freed connection was reused


def test_the_pool_wait_and_the_connecting_share_one_connect_budget(raw_server):
    """A request that waited 0.3 s for the only slot has 0.2 s of its 0.5 s left to
    connect (to a server that never answers the TLS handshake)."""
    server = raw_server(lambda conn: wait_client_close(conn, 10))
    url = f"https://127.0.0.1:{server.port}/"

    async def timed(s: ClientSession, connect: float) -> tuple[BaseException, float]:
        started = time.monotonic()
        with pytest.raises(ConnectTimeout) as err:
            await s.get(url, ssl=False, timeout=ClientTimeout(total=5, connect=connect))
        return err.value, time.monotonic() - started

    async def main():
        async with ClientSession(connector=TCPConnector(limit=1)) as s:
            holder = asyncio.ensure_future(timed(s, 0.3))
            while s.connector.stats()["acquired"] < 1:
                await asyncio.sleep(0)
            waiter = asyncio.ensure_future(timed(s, 0.5))
            return await holder, await waiter

    (_, held), (err, waited) = run(main())
    assert 0.3 <= held < 0.6
    assert "pool" not in str(err) and "0.5 s (connect timeout)" in str(err)  # connecting
    assert 0.45 <= waited < 0.75  # not 0.3 + 0.5


# -- release() is awaitable, as in aiohttp ----------------------------------------------------

def test_release_can_be_awaited_or_not(raw_server):
    tally = Tally()
    server = raw_server(idle_close(tally, idle=5))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            resp = await s.get(server.url)
            await resp.read()
            assert await resp.release() is None  # aiohttp's spelling
            assert await resp.release() is None  # twice is fine
            resp = await s.get(server.url)
            await resp.read()
            resp.release()  # no await: takes effect at once
            return s.connector.stats()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = run(main())
        gc.collect()
    assert stats == {"acquired": 0, "idle": 1, "waiting": 0}
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert tally.connections == 1
