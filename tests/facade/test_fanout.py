"""Fan-out from plain code: s.map / s.as_completed and the module-level twins (issue 15.1).

Peers: pytest-httpserver, and tests/fanout_peers.FanoutPeer (an asyncio server in a thread
that delays answers as the URL says, hangs on /hang, and counts connections opened and
closed and the peak of requests in progress).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading

import pytest
from yarl import URL

import syncwrap
from tests.facade._util import WAIT, LineReader, start_script
from tests.fanout_peers import FanoutPeer


@pytest.fixture
def fan_peer():
    peer = FanoutPeer()
    yield peer
    peer.stop()


@pytest.fixture
def session():
    with syncwrap.Session() as s:
        yield s


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


async def _stats(connector) -> dict[str, int]:
    return connector.stats()


def acquired(s: syncwrap.Session) -> int:
    return syncwrap.run(_stats(s.engine_session.connector))["acquired"]


def all_closed(peer: FanoutPeer, hanging: int = 0) -> bool:
    """The server saw the ``hanging`` requests' connections close and has none in progress."""
    return peer.wait_for(lambda p: p.closed >= hanging and p.active == 0, WAIT)


# -- order, completeness, finish order ------------------------------------------------------


def test_map_yields_in_input_order_items_of_every_kind(httpserver, session):
    httpserver.expect_request("/a").respond_with_data("A")
    httpserver.expect_request("/b", method="POST", json={"k": 1}).respond_with_data("B")
    httpserver.expect_request("/c", query_string="q=1").respond_with_data("C")
    items = [httpserver.url_for("/a"),
             {"method": "POST", "url": httpserver.url_for("/b"), "json": {"k": 1}},
             URL(httpserver.url_for("/c")).with_query(q=1),
             {"url": httpserver.url_for("/c"), "params": {"q": 1}}]
    assert [r.text for r in session.map(items)] == ["A", "B", "C", "C"]


def test_map_keeps_input_order_while_finishing_in_reverse(fan_peer, session):
    urls = [f"{fan_peer.url}/delay/{(20 - i) * 15}/{i}" for i in range(20)]
    assert [r.text for r in session.map(urls, concurrency=20)] == [str(i) for i in range(20)]
    assert fan_peer.served == 20


def test_as_completed_yields_in_finish_order(fan_peer, session):
    delays = [900, 0, 600, 300]
    urls = [f"{fan_peer.url}/delay/{d}/{d}" for d in delays]
    got = [r.text for r in session.as_completed(urls, concurrency=4)]
    assert got == ["0", "300", "600", "900"]


def test_completeness_of_a_long_lazy_input(fan_peer, session):
    urls = (f"{fan_peer.url}/delay/0/{i}" for i in range(300))
    got = sorted(int(r.text) for r in session.as_completed(urls, concurrency=16))
    assert got == list(range(300))


# -- the window: at most N in flight, lazy input, back-pressure -----------------------------


@pytest.mark.parametrize("verb", ["map", "as_completed"])
def test_at_most_concurrency_requests_in_flight(fan_peer, session, verb):
    urls = [f"{fan_peer.url}/delay/40/{i}" for i in range(40)]
    results = list(getattr(session, verb)(urls, concurrency=5))
    assert len(results) == 40
    assert fan_peer.peak == 5  # reached, never passed


def test_a_slow_consumer_starts_nothing_new(fan_peer, session):
    pulled = []

    def items():
        for i in range(10_000):
            pulled.append(i)
            yield f"{fan_peer.url}/delay/0/{i}"

    it = session.map(items(), concurrency=4)
    assert pulled == []  # nothing happens before the first next()
    for expected in range(3):
        assert next(it).text == str(expected)
    # The window: 4 from the oldest unyielded item, so at most 3 + 4 items ever pulled.
    assert len(pulled) <= 7
    assert fan_peer.wait_for(lambda p: p.active == 0)
    assert fan_peer.served <= 7
    it.close()


# -- errors ---------------------------------------------------------------------------------


def test_return_exceptions_yields_each_error_in_its_place(fan_peer, session):
    items = [f"{fan_peer.url}/delay/0/a",
             {"url": f"{fan_peer.url}/status/503/b", "raise_for_status": True},
             refused_url(),
             "http://[bad",
             {"url": f"{fan_peer.url}/delay/0/toolong", "max_body_size": 3},
             f"{fan_peer.url}/status/404/c"]
    out = list(session.map(items, return_exceptions=True))
    assert out[0].text == "a"
    assert isinstance(out[1], syncwrap.HTTPError) and out[1].response.status_code == 503
    assert isinstance(out[2], syncwrap.ConnectionError)
    assert isinstance(out[3], syncwrap.InvalidURL)
    assert isinstance(out[4], syncwrap.BodyTooLargeError)
    assert out[5].status_code == 404  # a status is not an error unless asked


def test_an_error_raises_at_its_item_and_cancels_the_rest(fan_peer, session):
    items = [f"{fan_peer.url}/delay/0/a", refused_url()] + [f"{fan_peer.url}/hang/{i}"
                                                            for i in range(4)]
    it = session.map(items, concurrency=6)
    assert next(it).text == "a"
    assert fan_peer.wait_for(lambda p: p.active == 4)
    with pytest.raises(syncwrap.ConnectionError):
        next(it)
    assert all_closed(fan_peer, 4)  # the hanging requests were cancelled: closed, not pooled
    assert acquired(session) == 0
    with pytest.raises(StopIteration):
        next(it)


def test_bad_arguments_raise_at_the_call(session):
    with pytest.raises(ValueError, match="concurrency="):
        session.map([], concurrency=0)
    with pytest.raises(TypeError, match="concurrency="):
        session.as_completed([], concurrency="8")
    with pytest.raises(TypeError, match="concurrency="):
        syncwrap.map([], concurrency=True)
    with pytest.raises(TypeError, match="reqs"):
        session.map("http://example.invalid/")
    with pytest.raises(TypeError, match="reqs"):
        session.map(42)


def test_a_bad_item_names_its_index(fan_peer, session):
    with pytest.raises(TypeError, match=r"item 2: expected a URL"):
        list(session.map([f"{fan_peer.url}/a", f"{fan_peer.url}/b", 42]))
    with pytest.raises(TypeError, match=r"item 0: a request dict needs a 'url'"):
        list(session.map([{"method": "GET"}]))
    with pytest.raises(TypeError, match=r"item 1: .*unexpected keyword argument.*bogus"):
        list(session.map([f"{fan_peer.url}/a", {"url": f"{fan_peer.url}/b", "bogus": 1}]))
    assert all_closed(fan_peer, 0)


# -- user code ------------------------------------------------------------------------------


def test_hooks_run_in_the_calling_thread_and_may_replace_the_response(fan_peer):
    seen = []

    def hook(r, **kwargs):
        seen.append(threading.get_ident())
        r.tagged = True
        return r

    with syncwrap.Session(hooks={"response": hook}) as s:
        out = list(s.as_completed([f"{fan_peer.url}/delay/0/{i}" for i in range(5)]))
        item_hooks = list(s.map([{"url": f"{fan_peer.url}/delay/0/x",
                                  "hooks": {"response": lambda r, **kw: "replaced"}}]))
    assert seen == [threading.get_ident()] * 5
    assert all(r.tagged for r in out)
    assert item_hooks == ["replaced"]


def test_user_code_needing_the_thread_during_the_request_is_refused(fan_peer, session):
    with pytest.raises(TypeError, match=r"item 1: a sync auth flow or callable"):
        list(session.map([f"{fan_peer.url}/a", {"url": f"{fan_peer.url}/b",
                                                 "auth": lambda req: req}]))
    with pytest.raises(TypeError, match=r"item 0: .*sync generator"):
        list(session.map([{"method": "POST", "url": f"{fan_peer.url}/b",
                           "data": iter([b"x"])}]))


# -- streaming and ending early -------------------------------------------------------------


def test_stream_true_yields_open_responses(fan_peer, session):
    urls = [f"{fan_peer.url}/delay/0/{i}" for i in range(6)]
    for i, r in enumerate(session.map(urls, stream=True, concurrency=3)):
        with r:
            assert b"".join(r.iter_content(None)) == str(i).encode()
    assert acquired(session) == 0


def _hanging(peer: FanoutPeer, n: int) -> list[str]:
    return [f"{peer.url}/delay/0/first"] + [f"{peer.url}/hang/{i}" for i in range(n)]


@pytest.mark.parametrize("stream", [False, True])
def test_break_cancels_what_is_in_flight(fan_peer, session, stream):
    for r in session.as_completed(_hanging(fan_peer, 8), concurrency=9, stream=stream):
        assert fan_peer.wait_for(lambda p: p.active == 8)
        r.close()
        break  # drops the iterator: it cancels its requests
    assert all_closed(fan_peer, 8)
    assert acquired(session) == 0


def test_close_cancels_and_closes_unyielded_streamed_responses(fan_peer, session):
    urls = ([f"{fan_peer.url}/delay/300/first"] + [f"{fan_peer.url}/partial/{i}" for i in range(3)]
            + [f"{fan_peer.url}/hang/x"])
    with session.map(urls, stream=True, concurrency=5) as it:
        assert it is iter(it)
        first = next(it)  # the partial ones came meanwhile: held open, not yielded yet
        assert fan_peer.wait_for(lambda p: p.active == 4)
    assert all_closed(fan_peer, 4)
    assert list(it) == []
    first.close()
    assert acquired(session) == 0


def test_garbage_collection_cancels(fan_peer, session):
    it = session.map(_hanging(fan_peer, 5), concurrency=6)
    assert next(it).text == "first"
    assert fan_peer.wait_for(lambda p: p.active == 5)
    del it
    assert all_closed(fan_peer, 5)
    assert acquired(session) == 0


def test_sigint_cancels_in_flight_requests_in_a_child(fan_peer):
    proc = start_script("fanout_sigint.py", fan_peer.url)
    reader = LineReader(proc)
    try:
        reader.wait_for("CALLING")
        assert fan_peer.wait_for(lambda p: p.active == 50), "the 50 requests never arrived"
        reader.wait_for("BLOCKED")
        proc.send_signal(signal.SIGINT)
        _, line = reader.wait_for("INTERRUPTED")
        assert line.split() == ["INTERRUPTED", "0"]  # no connection left leased
        assert all_closed(fan_peer, 50)  # while the child still lives
        assert proc.poll() is None
        reader.release()
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            pass
        reader.join()
    assert proc.returncode == 0
    assert proc.stderr is not None and proc.stderr.read() == ""


# -- module level ---------------------------------------------------------------------------


def test_module_level_map_and_as_completed(fan_peer):
    urls = [f"{fan_peer.url}/delay/{(6 - i) * 20}/{i}" for i in range(6)]
    assert [r.text for r in syncwrap.map(urls)] == [str(i) for i in range(6)]
    assert sorted(r.text for r in syncwrap.as_completed(urls, concurrency=2)) == [
        str(i) for i in range(6)]
    assert fan_peer.peak <= 6
    out = list(syncwrap.map([refused_url()], return_exceptions=True))
    assert isinstance(out[0], syncwrap.ConnectionError)


def test_module_level_map_keeps_no_cookies_between_items(httpserver):
    httpserver.expect_request("/set").respond_with_data(
        "", headers={"Set-Cookie": "k=v; Path=/"})
    httpserver.expect_request("/echo").respond_with_handler(
        lambda req: __import__("werkzeug").Response(req.headers.get("Cookie", "none")))
    out = list(syncwrap.map([httpserver.url_for("/set"), httpserver.url_for("/echo")],
                            concurrency=1))
    assert "k=v" in out[0].headers["Set-Cookie"]
    assert out[1].text == "none"


def test_the_loop_thread_is_refused():
    async def on_loop():
        return next(syncwrap.map(["http://127.0.0.1:9/"]))

    with pytest.raises(RuntimeError, match="event-loop thread"):
        syncwrap.run(on_loop())
