"""ClientTimeout: defaults, total / connect / sock_connect / sock_read, per-request
override, disabling, and the ConnectTimeout / ReadTimeout split (point 11)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from syncwrap.engine import (
    ClientSession,
    ClientTimeout,
    ConnectTimeout,
    ReadTimeout,
    TCPConnector,
    Timeout,
)
from tests.engine._util import SHORT, run
from tests.servers import dribble, never_respond, respond, wait_client_close

SLOW_BODY = b"0123456789"  # dribbled 1 byte / 0.05 s: about 0.5 s in all


def test_defaults_and_normalisation():
    assert ClientTimeout() == ClientTimeout(total=None, connect=None, sock_read=None,
                                            sock_connect=None)
    assert ClientTimeout(total=0).total is None  # 0 disables
    assert ClientTimeout(sock_read=0, connect=0).sock_read is None
    with pytest.raises(ValueError):
        ClientTimeout(total=-1)
    with pytest.raises(TypeError):
        ClientTimeout(total="5")

    async def main():
        async with ClientSession() as s:
            default = s.timeout
        async with ClientSession(timeout=ClientTimeout(total=7, sock_read=2)) as s:
            custom = s.timeout
        async with ClientSession(timeout=None) as s:
            disabled = s.timeout
        return default, custom, disabled

    default, custom, disabled = run(main())
    assert default.total == 300
    assert default.connect is None and default.sock_read is None
    assert (custom.total, custom.sock_read) == (7, 2)
    assert disabled.total is None


def _timed(coro_factory, limit: float):
    async def main():
        start = time.monotonic()
        with pytest.raises(Timeout) as info:
            await coro_factory()
        return info.value, time.monotonic() - start

    err, elapsed = run(main())
    assert elapsed < limit, elapsed
    assert isinstance(err, TimeoutError) and isinstance(err, asyncio.TimeoutError)
    return err, elapsed


def test_total_timeout_waiting_for_headers_is_read_timeout(raw_server):
    server = raw_server(never_respond)

    async def go():
        async with ClientSession(timeout=ClientTimeout(total=0.3)) as s:
            await s.get(server.url)

    err, elapsed = _timed(go, 2.0)
    assert isinstance(err, ReadTimeout) and not isinstance(err, ConnectTimeout)
    assert elapsed >= 0.25


def test_total_timeout_covers_reading_the_body(raw_server):
    server = raw_server(dribble(SLOW_BODY, interval=0.1))

    async def go():
        async with ClientSession(timeout=ClientTimeout(total=0.3)) as s:
            resp = await s.get(server.url)  # headers come at once
            await resp.read()  # the body takes ~1 s

    err, _ = _timed(go, 2.0)
    assert isinstance(err, ReadTimeout)


def test_request_timeout_overrides_session(raw_server):
    slow = raw_server(dribble(SLOW_BODY))
    stuck = raw_server(never_respond)

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=0.2)) as s:
            async with s.get(slow.url, timeout=ClientTimeout(total=5)) as r:
                longer = await r.read()
            async with s.get(slow.url, timeout=None) as r:  # None disables
                disabled = await r.read()
            async with s.get(slow.url, timeout=0) as r:  # 0 disables too
                zero = await r.read()
            async with s.get(slow.url, timeout=ClientTimeout(total=0)) as r:
                zero_total = await r.read()
        async with ClientSession(timeout=ClientTimeout(total=None)) as s:
            start = time.monotonic()
            with pytest.raises(ReadTimeout):
                await s.get(stuck.url, timeout=ClientTimeout(total=0.3))
            shorter = time.monotonic() - start
        return longer, disabled, zero, zero_total, shorter

    longer, disabled, zero, zero_total, shorter = run(main())
    assert longer == disabled == zero == zero_total == SLOW_BODY
    assert shorter < 2.0


def test_session_timeout_applies_without_override(raw_server):
    server = raw_server(dribble(SLOW_BODY))

    async def go():
        async with ClientSession(timeout=ClientTimeout(total=0.2)) as s:
            async with s.get(server.url) as r:
                await r.read()

    _timed(go, 2.0)


def test_sock_read_headers_then_stall(raw_server):
    server = raw_server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nfirst", hang=True))

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=5, sock_read=0.3)) as s:
            resp = await s.get(server.url)
            assert resp.status == 200
            assert await resp.content.readexactly(5) == b"first"
            start = time.monotonic()
            with pytest.raises(ReadTimeout) as info:
                await resp.read()
            return info.value, time.monotonic() - start

    err, elapsed = run(main())
    assert isinstance(err, TimeoutError) and not isinstance(err, ConnectTimeout)
    assert 0.2 <= elapsed < 2.0


def test_sock_read_is_per_read_not_total(raw_server):
    server = raw_server(dribble(SLOW_BODY, interval=0.05))  # ~0.5 s, gaps of 0.05 s

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=5, sock_read=0.3)) as s:
            async with s.get(server.url) as r:
                return await r.read()

    assert run(main()) == SLOW_BODY


def test_sock_read_while_waiting_for_headers(raw_server):
    server = raw_server(never_respond)

    async def go():
        async with ClientSession(timeout=ClientTimeout(sock_read=0.3)) as s:
            await s.get(server.url)

    err, _ = _timed(go, 2.0)
    assert isinstance(err, ReadTimeout)


def test_connect_timeout_waiting_for_a_pool_slot(counting_server):
    async def main():
        connector = TCPConnector(limit=1)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            holder = asyncio.ensure_future(s.get(counting_server.url + "/?delay=1"))
            while connector.stats()["acquired"] < 1:
                await asyncio.sleep(0)
            start = time.monotonic()
            with pytest.raises(ConnectTimeout) as info:
                await s.get(counting_server.url, timeout=ClientTimeout(total=5, connect=0.2))
            elapsed = time.monotonic() - start
            resp = await holder
            await resp.read()
            resp.release()
            return info.value, elapsed, connector.stats()

    err, elapsed, stats = run(main())
    assert isinstance(err, Timeout) and isinstance(err, TimeoutError)
    assert not isinstance(err, ReadTimeout)
    assert 0.15 <= elapsed < 0.9  # long before the holder's 1 s answer
    assert stats == {"acquired": 0, "idle": 1, "waiting": 0}  # the waiter left cleanly
    assert counting_server.total_requests == 1  # the timed-out request was never sent


def _tls_stall(raw_server):
    """A server that accepts TCP but never answers the TLS ClientHello."""
    return raw_server(lambda conn: wait_client_close(conn, 30))


@pytest.mark.parametrize(
    "timeout",
    [ClientTimeout(total=5, sock_connect=0.3), ClientTimeout(total=5, connect=0.3),
     ClientTimeout(total=0.3)],
    ids=["sock_connect", "connect", "total"],
)
def test_connect_phase_timeouts_are_connect_timeout(raw_server, timeout):
    server = _tls_stall(raw_server)

    async def go():
        async with ClientSession(timeout=timeout) as s:
            await s.get(f"https://127.0.0.1:{server.port}/", ssl=False)

    err, elapsed = _timed(go, 2.0)
    assert isinstance(err, ConnectTimeout) and not isinstance(err, ReadTimeout)
    assert elapsed >= 0.25


def test_sock_connect_timeout_on_unanswered_syn():
    """A listener whose accept queue is full drops SYNs: connect() itself stalls."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept backlog (never accepted)
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)

        async def go():
            async with ClientSession(timeout=ClientTimeout(total=5, sock_connect=0.3)) as s:
                await s.get(f"http://127.0.0.1:{port}/")

        async def probe():
            try:
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.3)
            except (TimeoutError, asyncio.TimeoutError):
                return True
            except OSError:
                return False
            return False

        if not run(probe()):
            pytest.skip("this kernel completes connections despite a full backlog")
        err, _ = _timed(go, 2.0)
        assert isinstance(err, ConnectTimeout)
    finally:
        for f in fillers:
            f.close()
        listener.close()


def test_timeout_tuple_is_connect_and_read(raw_server):
    server = raw_server(never_respond)

    async def go():
        async with ClientSession() as s:
            await s.get(server.url, timeout=(5, 0.3))

    err, _ = _timed(go, 2.0)
    assert isinstance(err, ReadTimeout)


def test_no_timeout_after_the_response_is_done(raw_server):
    """A finished response cancels its deadline: nothing fires later."""
    server = raw_server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=0.2)) as s:
            async with s.get(server.url) as r:
                body = await r.read()
            await asyncio.sleep(0.3)  # past the deadline: the task must not be cancelled
            return body

    assert run(main()) == b"ok"


def test_slow_consumer_does_not_trigger_sock_read(raw_server):
    """sock_read measures the server, not the reader: a paused transport never times out."""
    body = b"z" * (4 * 1024 * 1024)
    server = raw_server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(body), body)))

    async def main():
        timeout = ClientTimeout(total=10, sock_read=0.2)
        async with ClientSession(timeout=timeout, read_bufsize=64 * 1024) as s:
            async with s.get(server.url) as r:
                first = await r.content.readexactly(1024)
                for _ in range(10):
                    await asyncio.sleep(0)
                assert r.connection.protocol._reading_paused
                await asyncio.sleep(0.5)  # a busy consumer: the socket stays paused meanwhile
                return first + await r.read()

    assert run(main()) == body


def test_deadlines_share_one_loop_timer_and_fire_in_order():
    """Request deadlines live in one heap per loop: each fires at its time (an earlier one
    added later re-arms the loop timer), a cancelled one never fires, and the heap does not
    grow with finished requests."""
    from syncwrap.engine.timeouts import DeadlineQueue, DeadlineTimer

    async def main():
        loop = asyncio.get_running_loop()
        queue = DeadlineQueue.for_loop(loop)
        assert DeadlineQueue.for_loop(loop) is queue
        fired: list[str] = []

        async def guarded(name: str, total: float) -> None:
            timer = DeadlineTimer(queue, total)
            try:
                with timer:
                    await asyncio.sleep(5)
            except ReadTimeout:
                fired.append(name)
            finally:
                timer.cancel()

        late = asyncio.ensure_future(guarded("late", 0.6))
        await asyncio.sleep(0)
        early = asyncio.ensure_future(guarded("early", 0.1))  # earlier than the armed one
        cancelled = DeadlineTimer(queue, 0.05)
        cancelled.cancel()
        started = loop.time()
        await asyncio.wait_for(asyncio.gather(late, early), 3)
        elapsed = loop.time() - started
        assert fired == ["early", "late"]
        assert 0.5 <= elapsed < 2.0
        assert not cancelled.expired

        for _ in range(10_000):  # finished requests: dead entries are compacted away
            DeadlineTimer(queue, 300).cancel()
        assert len(queue._heap) < 200

    run(main())
