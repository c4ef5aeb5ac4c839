"""A connection torn down under a streamed response gives its pool slot back at once.

The first response's body read fails (the total timeout, the sock_read timeout, the
server's FIN or RST mid-body) while the response is kept, unclosed; with a pool of one
(``limit=1`` or ``limit_per_host=1``) the next request to the same server must get the
slot at once: its connect timeout (the wait for a slot) is short, so a slot still held
by the dead connection fails it with ConnectTimeout. The response's late ``close()``
then changes no count: one request at a time still. Bodies read by the transport (small)
and in loop mode (``http1/direct.py``, >= 1 MiB), plain and TLS (the engine's TLS
transport), on asyncio's loop and on uvloop; the next request made after the failed
read, or before anyone reads (it waits for the slot until the connection fails).
Real servers on 127.0.0.1; waits bounded.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from syncwrap.engine import ClientSession, ClientTimeout, TCPConnector, TraceConfig
from syncwrap.engine.http1.direct import MIN_BODY, LoopReader
from syncwrap.exceptions import ClientPayloadError, ReadTimeout
from tests.engine._util import Event, run_on
from tests.servers import read_request, wait_client_close
from tests.slot_peers import SlotPeer, part_url

uvloop = pytest.importorskip("uvloop")

LOOPS = ["asyncio", "uvloop"]
SMALL, LARGE = 100_000, 4 * MIN_BODY
#: The failures: (the first request's timeout, what the server does after its first
#: bytes, what the body read raises).
FAILURES = {
    "total": (ClientTimeout(total=0.3), "stall", ReadTimeout),
    "sock_read": (ClientTimeout(total=10, sock_read=0.3), "stall", ReadTimeout),
    "cut": (ClientTimeout(total=10), "cut", ClientPayloadError),
    "reset": (ClientTimeout(total=10), "reset", ClientPayloadError),
}
#: The next request's bound: a short wait for a slot (connect), the whole under 5 s.
NEXT = ClientTimeout(total=5, connect=2)


async def fail_then_next(connector: TCPConnector, peer: SlotPeer, base: str, size: int,
                         failure: str, ssl_context: ssl.SSLContext | None = None,
                         next_first: bool = False) -> None:
    """The failure under an unclosed response, then one request at a time still.
    ``next_first``: the next request is made before anyone reads the first body (it
    waits for the slot until the connection fails), then the read fails."""
    timeout, then, error = FAILURES[failure]
    extra = {} if ssl_context is None else {"ssl": ssl_context}
    queued = asyncio.Event()
    trace = TraceConfig()
    trace.on_connection_queued_start.append(lambda *_: _set(queued))
    async with ClientSession(connector=connector, trace_configs=[trace]) as s:
        resp = await s.get(part_url(base, "length", size, then), timeout=timeout, **extra)
        if size >= MIN_BODY and ssl_context is None:  # loop mode took the body over
            assert isinstance(resp.connection.protocol._direct, LoopReader)
        if next_first:
            async with s.get(base + "/ok", timeout=NEXT, **extra) as nxt:
                assert await nxt.read() == b"ok"
        with pytest.raises(error):
            await resp.content.read()
        # resp is kept, unclosed: the next request must not wait for its slot
        async with s.get(base + "/ok", timeout=NEXT, **extra) as nxt:
            assert await nxt.read() == b"ok"
        assert connector.stats() == {"acquired": 0, "idle": 1, "waiting": 0}
        resp.close()  # late: the slot was given back already, once
        assert connector.stats() == {"acquired": 0, "idle": 1, "waiting": 0}
        # one request at a time still: the second waits until the first is done
        queued.clear()
        first = asyncio.ensure_future(s.get(base + "/slow", timeout=NEXT, **extra))
        assert await Event.wait_async(peer.slow_arrived)  # type: ignore[arg-type]
        second = asyncio.ensure_future(s.get(base + "/ok", timeout=NEXT, **extra))
        await asyncio.wait_for(queued.wait(), 5)
        assert connector.stats() == {"acquired": 1, "idle": 0, "waiting": 1}
        peer.gate.set()
        async with await first as r1:
            assert await r1.read() == b"slow"
        async with await second as r2:
            assert await r2.read() == b"ok"
        assert peer.slow_most == 1
        assert connector.stats() == {"acquired": 0, "idle": 1, "waiting": 0}


async def _set(event: asyncio.Event) -> None:
    event.set()


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["transport", "loop_mode"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("next_first", [False, True], ids=["after_the_error",
                                                           "before_anyone_reads"])
def test_a_torn_down_connection_gives_its_slot_back(raw_server, loop, size, failure,
                                                    next_first):
    """The next request comes after the first body's error, or before anyone read it."""
    peer = SlotPeer()
    server = raw_server(peer.handler)
    run_on(loop, fail_then_next(TCPConnector(limit=1), peer, server.url, size, failure,
                                next_first=next_first))


@pytest.mark.parametrize("failure", ["total", "cut"])
def test_limit_per_host_one_too(raw_server, failure):
    peer = SlotPeer()
    server = raw_server(peer.handler)
    run_on("asyncio", fail_then_next(TCPConnector(limit_per_host=1), peer, server.url, SMALL,
                                     failure))


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("failure", ["total", "sock_read", "cut"])
def test_tls_too(raw_server, server_ssl_context, client_ssl_context, loop, failure):
    peer = SlotPeer(server_ssl_context)
    server = raw_server(peer.handler)
    base = server.url.replace("http://", "https://")
    run_on(loop, fail_then_next(TCPConnector(limit=1), peer, base, LARGE, failure,
                                client_ssl_context))


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"


def switch_then_wait(conn) -> None:
    read_request(conn)
    conn.sendall(SWITCH)
    wait_client_close(conn, 10)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_lost_101_response_frees_its_slot_too(raw_server, loop):
    # Lost before upgrade(), a 101's connection is freed like any other; upgrade() then
    # raises (as it did for a lost connection before), and the late close changes nothing.
    server = raw_server(switch_then_wait)

    async def main() -> None:
        connector = TCPConnector(limit=1)
        async with ClientSession(connector=connector) as s:
            resp = await s.get(server.url, timeout=NEXT,
                               headers={"Connection": "Upgrade", "Upgrade": "websocket"})
            assert resp.status == 101
            protocol = resp.connection.protocol
            protocol.abort()
            while not protocol.closed:  # connection_lost comes on a next loop iteration
                await asyncio.sleep(0)
            assert connector.stats() == {"acquired": 0, "idle": 0, "waiting": 0}
            with pytest.raises(RuntimeError):
                resp.upgrade()
            resp.close()
            assert connector.stats() == {"acquired": 0, "idle": 0, "waiting": 0}

    run_on(loop, main())
