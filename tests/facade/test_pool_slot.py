"""The facade on a pool of one: a streamed response whose connection is torn down
mid-body, and kept unclosed, does not hold the pool's slot (the engine gives it back:
tests/engine/test_pool_slot.py; the facade has no rule of its own).

``stream=True`` responses from a server that sends a head and a first piece of the body,
then stalls (the total or the sock_read timeout fires), closes (FIN) or resets (RST).
Read by the pump on the loop (a small Content-Length body) and by the calling thread
from the socket (``_bridge/direct.py``: a body >= 1 MiB, a chunked body; over TLS too),
the timeout firing while the thread reads or while nobody does. The next request must
complete within a short wait for a slot (connect=2), the counts stay right after the
response's late close, and a pool of one still serves a request after it.
Real servers on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import pytest

import syncwrap
from syncwrap._bridge.channel import ByteChannel
from syncwrap._bridge.downloads import DirectChannel
from syncwrap.adapters import HTTPAdapter
from syncwrap.engine.http1.direct import MIN_BODY
from syncwrap.exceptions import ClientPayloadError, ReadTimeout
from tests.facade._util import WAIT
from tests.slot_peers import FIRST, SlotPeer, part_url

SMALL, LARGE = 100_000, 4 * MIN_BODY
#: (framing, size, the channel that reads it)
PATHS = {
    "pump": ("length", SMALL, ByteChannel),
    "direct": ("length", LARGE, DirectChannel),
    "direct_chunked": ("chunked", LARGE, DirectChannel),
}
#: (the first request's timeout, what the server does after its first bytes, the error)
FAILURES = {
    "total": (syncwrap.ClientTimeout(total=0.3), "stall", ReadTimeout),
    "sock_read": (syncwrap.ClientTimeout(total=10, sock_read=0.3), "stall", ReadTimeout),
    "cut": (syncwrap.ClientTimeout(total=10), "cut", ClientPayloadError),
    "reset": (syncwrap.ClientTimeout(total=10), "reset", ClientPayloadError),
}
NEXT = syncwrap.ClientTimeout(total=5, connect=2)
IDLE_POOL = {"acquired": 0, "idle": 1, "waiting": 0}


def pool_stats(s: syncwrap.Session) -> dict[str, int]:
    async def stats() -> dict[str, int]:
        return s.connector.stats()

    return syncwrap.run(stats(), timeout=WAIT)


def fail_then_next(s: syncwrap.Session, peer: SlotPeer, base: str, path: str,
                   failure: str, order: str = "read_first") -> None:
    """The failure under a kept, unclosed streamed response, and the next request.

    ``order``: ``read_first``, the body read fails first; ``idle``, the first piece is
    read, then the total timeout fires while nobody reads (the server sees the close),
    then the read fails; ``next_first``, the next request is made while the connection
    is still to fail (nobody reads: the engine's teardown alone frees the slot), then
    the read fails.
    """
    framing, size, channel = PATHS[path]
    timeout, then, error = FAILURES[failure]
    r = s.get(part_url(base, framing, size, then), stream=True, timeout=timeout)
    assert isinstance(r._channel, channel)
    if order == "next_first":
        assert s.get(base + "/ok", timeout=NEXT).content == b"ok"
    with pytest.raises(error):
        if order == "idle":
            assert len(r.raw.read(FIRST)) == FIRST
            assert peer.client_closed.wait(WAIT)
        for _ in r.iter_content(65536):
            pass
    # r is kept, unclosed: the next request must not wait for its slot
    assert s.get(base + "/ok", timeout=NEXT).content == b"ok"
    assert pool_stats(s) == IDLE_POOL
    r.close()  # late: the slot was given back already, once
    assert pool_stats(s) == IDLE_POOL
    assert s.get(base + "/ok", timeout=NEXT).content == b"ok"
    assert pool_stats(s) == IDLE_POOL


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_torn_down_streamed_body_gives_its_slot_back(raw_server, path, failure):
    peer = SlotPeer()
    server = raw_server(peer.handler)
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1)) as s:
        fail_then_next(s, peer, server.url, path, failure)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_total_timeout_while_nobody_reads(raw_server, path):
    peer = SlotPeer()
    server = raw_server(peer.handler)
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1)) as s:
        fail_then_next(s, peer, server.url, path, "total", order="idle")


@pytest.mark.parametrize(("path", "failure"), [
    ("pump", "total"), ("pump", "sock_read"), ("pump", "cut"), ("pump", "reset"),
    ("direct", "total"), ("direct_chunked", "total"),
])
def test_the_next_request_before_anyone_reads(raw_server, path, failure):
    # A body the calling thread reads (direct) is read from the socket by nobody else:
    # only the total timeout's teardown ends it while nobody reads.
    peer = SlotPeer()
    server = raw_server(peer.handler)
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1)) as s:
        fail_then_next(s, peer, server.url, path, failure, order="next_first")


@pytest.mark.parametrize("failure", ["total", "cut"])
def test_pool_maxsize_one_too(raw_server, failure):
    peer = SlotPeer()
    server = raw_server(peer.handler)
    with syncwrap.Session() as s:
        s.mount("http://", HTTPAdapter(pool_maxsize=1, pool_block=True))
        fail_then_next(s, peer, server.url, "direct", failure)


@pytest.mark.parametrize("path", ["direct", "direct_chunked"])
@pytest.mark.parametrize("failure", ["total", "sock_read", "cut"])
def test_tls_direct_too(raw_server, server_ssl_context, ca_pem_path, path, failure):
    peer = SlotPeer(server_ssl_context)
    server = raw_server(peer.handler)
    base = server.url.replace("http://", "https://")
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1), verify=ca_pem_path) as s:
        fail_then_next(s, peer, base, path, failure)


@pytest.mark.parametrize("path", ["direct", "direct_chunked"])
def test_tls_direct_next_request_before_anyone_reads(raw_server, server_ssl_context,
                                                     ca_pem_path, path):
    peer = SlotPeer(server_ssl_context)
    server = raw_server(peer.handler)
    base = server.url.replace("http://", "https://")
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=1), verify=ca_pem_path) as s:
        fail_then_next(s, peer, base, path, "total", order="next_first")
