"""Awaitable twins (aget, apost... astream) awaited from foreign running loops.

Real servers only: pytest-httpserver, the local httpbin, the counting keep-alive server,
and a raw asyncio server on its own loop thread that records requests and connection
closes. Every loop run and every wait is bounded; no sleeps as synchronisation.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import io
import json
import os
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

import syncwrap
from syncwrap import loop as loop_thread

uvloop = pytest.importorskip("uvloop")

WAIT = 10.0
LOOPS = ["asyncio", "uvloop"]


def run_foreign(kind: str, make: Callable[[], Coroutine[Any, Any, Any]],
                timeout: float = WAIT) -> Any:
    """Run ``make()`` on a fresh asyncio or uvloop loop in this thread, bounded."""
    factory = uvloop.new_event_loop if kind == "uvloop" else asyncio.new_event_loop

    async def bounded() -> Any:
        return await asyncio.wait_for(make(), timeout)

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(bounded())


def echo(request: WRequest) -> WResponse:
    body = {"method": request.method, "data": request.get_data().decode("latin-1"),
            "cookies": dict(request.cookies), "auth": request.headers.get("X-Auth")}
    return WResponse(json.dumps(body), content_type="application/json")


@pytest.fixture
def echo_url(httpserver) -> str:
    httpserver.expect_request("/echo").respond_with_handler(echo)
    return httpserver.url_for("/echo")


@pytest.fixture
def session() -> Iterator[syncwrap.Session]:
    with syncwrap.Session(timeout=WAIT) as s:
        yield s


# -- a raw asyncio server on its own loop thread --------------------------------------------


class LoopServer:
    """Accepts connections on its own asyncio loop thread; for each request head calls
    ``answer(transport)`` (default: never answers); records requests and closes."""

    def __init__(self, answer: Callable[[asyncio.Transport], None] | None = None) -> None:
        self.answer = answer
        self.got_request = threading.Event()
        self.closed = threading.Event()
        self.connections = 0
        self.transports: list[asyncio.Transport] = []
        self.loop = asyncio.new_event_loop()
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Conn(self), "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        def close_all() -> None:
            for transport in self.transports:
                transport.close()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(close_all)
        self.thread.join(WAIT)
        self.loop.close()


class _Conn(asyncio.Protocol):
    def __init__(self, server: LoopServer) -> None:
        self.server = server
        self.buffer = b""
        self.answered = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections += 1
        self.server.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.answered and b"\r\n\r\n" in self.buffer:
            self.answered = True
            self.server.got_request.set()
            if self.server.answer is not None:
                self.server.answer(self.transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.server.closed.set()


@pytest.fixture
def loop_server() -> Iterator[Callable[..., LoopServer]]:
    servers: list[LoopServer] = []

    def start(answer: Callable[[asyncio.Transport], None] | None = None) -> LoopServer:
        servers.append(LoopServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


async def wait_event(event: threading.Event) -> None:
    """Await a threading.Event from a loop without blocking it (bounded)."""
    assert await asyncio.get_running_loop().run_in_executor(None, event.wait, WAIT)


# -- every twin, from foreign loops ------------------------------------------------------


@pytest.mark.parametrize("kind", LOOPS)
def test_every_twin_from_a_foreign_loop(kind, session, echo_url):
    s = session

    async def main() -> list[Any]:
        return [
            await s.aget(echo_url),
            await s.apost(echo_url, data=b"posted"),
            await s.aput(echo_url, data="put"),
            await s.apatch(echo_url, json={"k": 1}),
            await s.adelete(echo_url),
            await s.ahead(echo_url),
            await s.aoptions(echo_url),
            await s.arequest("PROPFIND", echo_url),
        ]

    got = run_foreign(kind, main)
    assert all(isinstance(r, syncwrap.Response) and r.status_code == 200 for r in got)
    methods = [r.json()["method"] for r in got if r.request_info.method != "HEAD"]
    assert methods == ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]
    assert [got[1].json()["data"], got[2].json()["data"], got[3].json()["data"]] == [
        "posted", "put", '{"k": 1}']
    assert got[5].request_info.method == "HEAD" and got[5].content == b""


@pytest.mark.parametrize("kind", LOOPS)
def test_module_level_twins(kind, echo_url):
    async def main() -> list[Any]:
        return [
            await syncwrap.aget(echo_url),
            await syncwrap.apost(echo_url, data=b"x"),
            await syncwrap.aput(echo_url, data=b"y"),
            await syncwrap.apatch(echo_url, data=b"z"),
            await syncwrap.adelete(echo_url),
            await syncwrap.ahead(echo_url),
            await syncwrap.aoptions(echo_url),
            await syncwrap.arequest("GET", echo_url),
        ]

    got = run_foreign(kind, main)
    assert [r.status_code for r in got] == [200] * 8
    assert [r.json()["method"] for r in got if r.content] == [
        "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "GET"]


@pytest.mark.parametrize("kind", LOOPS)
def test_the_foreign_loop_keeps_ticking_while_a_twin_waits(kind, session, httpserver):
    arrived, release = threading.Event(), threading.Event()

    def slow(request: WRequest) -> WResponse:
        arrived.set()
        return WResponse("late" if release.wait(WAIT) else "the loop was blocked")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    ticks_while_waiting = 0

    async def main() -> str:
        loop = asyncio.get_running_loop()

        def tick() -> None:  # the loop's own timer; counts only once the server waits
            nonlocal ticks_while_waiting
            if arrived.is_set():
                ticks_while_waiting += 1
                if ticks_while_waiting == 5:
                    release.set()
            handle[0] = loop.call_later(0.01, tick)

        handle = [loop.call_later(0.01, tick)]
        try:
            return (await session.aget(httpserver.url_for("/slow"))).text
        finally:
            handle[0].cancel()

    assert run_foreign(kind, main) == "late"
    assert ticks_while_waiting >= 5


# -- shared state: cookies, pool --------------------------------------------------------


def test_cookies_cross_between_blocking_calls_and_twins(httpbin_url):
    with syncwrap.Session(cookie_jar=syncwrap.CookieJar(unsafe=True), timeout=WAIT) as s:
        s.get(httpbin_url + "/cookies/set", params={"blocking": "1"})

        async def main() -> Any:
            seen = (await s.aget(httpbin_url + "/cookies")).json()["cookies"]
            await s.aget(httpbin_url + "/cookies/set", params={"twin": "2"})
            return seen

        assert run_foreign("asyncio", main) == {"blocking": "1"}
        assert s.get(httpbin_url + "/cookies").json()["cookies"] == {"blocking": "1",
                                                                     "twin": "2"}


def test_twins_use_the_sessions_auth(httpbin_url):
    with syncwrap.Session(auth=("user", "pw"), timeout=WAIT) as s:
        async def main() -> list[int]:
            ok = await s.aget(httpbin_url + "/basic-auth/user/pw")
            s.auth = ("user", "wrong")  # a setting changed between twins applies at once
            refused = await s.aget(httpbin_url + "/basic-auth/user/pw")
            return [ok.status_code, refused.status_code]

        assert run_foreign("asyncio", main) == [200, 401]


def test_many_twins_at_once_on_one_loop(counting_server):
    url = counting_server.url + "/"
    with syncwrap.Session(timeout=WAIT) as s:
        async def main() -> list[Any]:
            return await asyncio.gather(*(s.aget(url) for _ in range(50)))

        got = run_foreign("uvloop", main)
    assert [r.status_code for r in got] == [200] * 50
    assert counting_server.total_requests == 50


def test_twins_and_blocking_calls_share_one_pool(counting_server):
    url = counting_server.url + "/"
    with syncwrap.Session(timeout=WAIT) as s:
        first = s.get(url).json()

        async def main() -> list[Any]:
            got = [(await s.aget(url)).json()]
            async with s.astream("GET", url) as r:
                got.append(json.loads(await r.aread()))
            async with s.astream("GET", url) as r:
                got.append(json.loads(b"".join([c async for c in r.aiter_content(4)])))
            return got

        twins = run_foreign("uvloop", main)
        last = s.get(url).json()
    assert [r["connection"] for r in [first, *twins, last]] == [1] * 5
    assert [r["request"] for r in [first, *twins, last]] == [1, 2, 3, 4, 5]
    assert counting_server.total_connections == 1


# -- cancellation ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "wait_for"])
@pytest.mark.parametrize("kind", LOOPS)
def test_cancelling_the_awaiting_task_closes_the_connection(kind, how, session, loop_server):
    server = loop_server()  # never answers

    async def main() -> None:
        if how == "wait_for":
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(session.aget(server.url), 0.2)
            return
        task = asyncio.ensure_future(session.aget(server.url))
        await wait_event(server.got_request)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_foreign(kind, main)
    assert server.got_request.is_set()
    assert server.closed.wait(2.0)  # before the session closes: the cancellation did it


# -- the streaming twin ------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOOPS)
def test_streaming_twin_gives_the_exact_bytes(kind, session, httpserver):
    body = os.urandom(3 * 1024 * 1024 + 12345)
    httpserver.expect_request("/big").respond_with_data(body)
    url = httpserver.url_for("/big")

    async def main() -> tuple[Any, ...]:
        async with session.astream("GET", url) as r:
            digest = hashlib.sha256()
            sizes = set()
            async for chunk in r.aiter_content(65536):
                digest.update(chunk)
                sizes.add(len(chunk))
            status = r.status_code
        async with syncwrap.astream("GET", url) as r2:
            whole = await r2.aread()
            again = r2.content
        return digest.hexdigest(), sizes, status, whole, again

    hexdigest, sizes, status, whole, again = run_foreign(kind, main)
    assert status == 200
    assert hexdigest == hashlib.sha256(body).hexdigest()
    assert sizes == {65536, len(body) % 65536}
    assert hashlib.sha256(whole).digest() == hashlib.sha256(body).digest() and again is whole


def test_streaming_twin_lines_and_text(session, httpserver):
    httpserver.expect_request("/lines").respond_with_data(
        "one\ntwo\r\nthree\r\n\nfour", content_type="text/plain; charset=utf-8")
    url = httpserver.url_for("/lines")

    async def main() -> tuple[Any, ...]:
        async with session.astream("GET", url) as r:
            lines = [line async for line in r.aiter_lines(chunk_size=3)]
        async with session.astream("GET", url) as r:
            with pytest.raises(syncwrap.StreamConsumedError):
                r.text  # noqa: B018 - not read yet
            with pytest.raises(AttributeError, match="aiter_content"):
                r.iter_content(4)
            await r.aread()
            text = r.text
            again = b"".join([c async for c in r.aiter_content(4)])  # the body read
        async with session.astream("GET", url) as r:
            [c async for c in r.aiter_content(4)]
            with pytest.raises(syncwrap.StreamConsumedError):
                await r.aread()
        async with session.astream("GET", url) as r:
            decoded = [line async for line in r.aiter_lines(decode_unicode=True)]
        return lines, text, decoded, again

    lines, text, decoded, again = run_foreign("asyncio", main)
    assert lines == [b"one", b"two", b"three", b"", b"four"]
    assert text == "one\ntwo\r\nthree\r\n\nfour" and again == text.encode()
    assert decoded == ["one", "two", "three", "", "four"]


def test_streaming_twin_hooks_see_the_head(session, echo_url):
    seen: list[Any] = []

    def hook(r: syncwrap.Response, *args: Any, **kwargs: Any) -> None:
        seen.append((r.status_code, r.headers["Content-Type"]))

    async def main() -> str:
        async with session.astream("GET", echo_url, hooks={"response": hook}) as r:
            return json.loads(await r.aread())["method"]

    assert run_foreign("asyncio", main) == "GET"
    assert seen == [(200, "application/json")]


def _big_head_then_silence(transport: asyncio.Transport) -> None:
    transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n" + b"x" * 1048576)


@pytest.mark.parametrize("kind", LOOPS)
def test_leaving_a_stream_early_closes_its_connection(kind, session, loop_server):
    server = loop_server(_big_head_then_silence)

    async def main() -> bytes:
        async with session.astream("GET", server.url) as r:
            async for chunk in r.aiter_content(65536):
                return chunk
        return b""

    assert run_foreign(kind, main) == b"x" * 65536
    assert server.closed.wait(2.0)


# -- errors and timeouts: the blocking calls' classes ---------------------------------------


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _error_of(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - returned for comparison
        return exc
    raise AssertionError("no exception")


@pytest.mark.parametrize("case", ["refused", "status", "bad_url", "timeout"])
def test_twins_raise_what_the_blocking_calls_raise(case, session, httpserver, loop_server):
    httpserver.expect_request("/missing").respond_with_data("not here", status=404)
    url, kwargs = {
        "refused": (_refused_url(), {}),
        "status": (httpserver.url_for("/missing"), {"raise_for_status": True}),
        "bad_url": ("http://", {}),
        "timeout": (loop_server().url, {"timeout": 0.3}),
    }[case]
    blocking = _error_of(lambda: session.get(url, **kwargs))

    async def main() -> BaseException:
        try:
            await session.aget(url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned for comparison
            return exc
        raise AssertionError("no exception")

    twin = run_foreign("asyncio", main)
    assert type(twin) is type(blocking)
    assert isinstance(twin, syncwrap.ClientError)
    if case == "status":
        assert twin.response.status_code == 404 and twin.response.text == "not here"
    if case == "timeout":
        assert isinstance(twin, syncwrap.Timeout)


def test_stream_argument_is_refused_by_the_reading_twins(session, echo_url):
    async def main() -> None:
        with pytest.raises(TypeError, match="stream="):
            await session.aget(echo_url, stream=True)
        with pytest.raises(TypeError, match="unexpected keyword"):
            await session.aget(echo_url, bogus=1)

    run_foreign("asyncio", main)


def test_bad_input_raises_at_the_call(session, echo_url):
    async def main() -> None:
        with pytest.raises(TypeError, match="unexpected keyword"):
            async with session.astream("GET", echo_url, bogus=1):
                pass
        with pytest.raises(ValueError, match="data= and json="):
            await session.apost(echo_url, data=b"x", json={})
        with pytest.raises(TypeError, match="stream="):
            session.astream("GET", echo_url, stream=False)

    run_foreign("asyncio", main)


class RecordingFile(io.FileIO):
    """A file body that records the threads its methods ran in."""

    threads: set[int]

    def _seen(self) -> None:
        self.threads.add(threading.get_ident())

    def read(self, *args: Any) -> Any:
        self._seen()
        return super().read(*args)

    def readinto(self, *args: Any) -> Any:
        self._seen()
        return super().readinto(*args)

    def seek(self, *args: Any) -> Any:
        self._seen()
        return super().seek(*args)

    def tell(self) -> int:
        self._seen()
        return super().tell()


def test_file_arguments_are_translated_off_the_awaiting_loop(session, echo_url, tmp_path,
                                                             httpbin_tls_url, ca_pem_path):
    path = tmp_path / "body.bin"
    path.write_bytes(b"from a file")

    async def main() -> tuple[Any, ...]:
        with RecordingFile(path, "rb") as f:
            f.threads = set()
            r = await session.apost(echo_url, data=f)
        tls = await session.aget(httpbin_tls_url + "/get", verify=ca_pem_path)
        return r.json()["data"], f.threads, threading.get_ident(), tls.status_code

    data, threads, awaiting, tls_status = run_foreign("asyncio", main)
    assert data == "from a file" and tls_status == 200
    assert threads and awaiting not in threads


# -- user code: in the awaiting loop's executor --------------------------------------------


def _loop_thread_ident() -> int:
    async def ident() -> int:
        return threading.get_ident()

    return syncwrap.run(ident())


@pytest.mark.parametrize("kind", LOOPS)
def test_user_code_runs_in_the_awaiting_loops_executor(kind, session, echo_url):
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: dict[str, Any] = {}

    def hook(r: syncwrap.Response, *args: Any, **kwargs: Any) -> None:
        seen["hook"] = (threading.get_ident(), request_id.get(None), r.json()["method"])

    def auth(prepared: Any) -> Any:
        seen["auth"] = threading.get_ident()
        prepared.headers["X-Auth"] = "yes"
        return prepared

    def body() -> Iterator[bytes]:
        seen["body"] = threading.get_ident()
        yield b"gen"
        yield b"erated"

    async def main() -> Any:
        request_id.set("abc")
        seen["awaiting"] = threading.get_ident()
        return await session.apost(echo_url, data=body(), auth=auth, hooks={"response": hook})

    r = run_foreign(kind, main)
    assert r.json()["data"] == "generated" and r.json()["auth"] == "yes"
    syncwrap_thread = _loop_thread_ident()
    for name in ("hook", "auth", "body"):
        ident = seen[name][0] if name == "hook" else seen[name]
        assert ident not in (syncwrap_thread, seen["awaiting"]), name
    assert seen["hook"][1:] == ("abc", "POST")


def test_a_failing_generator_body_fails_the_twin_and_closes(session, loop_server):
    server = loop_server()  # reads, never answers

    def body() -> Iterator[bytes]:
        yield b"start"
        raise ValueError("boom from the body")

    async def main() -> None:
        with pytest.raises(ValueError, match="boom from the body"):
            await session.apost(server.url, data=body())

    run_foreign("asyncio", main)
    assert server.closed.wait(2.0)


# -- inside syncwrap.run: on syncwrap's own loop thread --------------------------------------


def test_twins_inside_syncwrap_run(session, echo_url):
    seen: dict[str, int] = {}

    def hook(r: syncwrap.Response, *args: Any, **kwargs: Any) -> None:
        seen["hook"] = threading.get_ident()

    async def inside() -> tuple[Any, ...]:
        assert loop_thread.in_loop_thread()
        r = await session.aget(echo_url, hooks={"response": hook})
        r2 = await syncwrap.apost(echo_url, data=b"module")
        async with session.astream("GET", echo_url) as st:
            streamed = await st.aread()
        return r.json()["method"], r2.json()["data"], json.loads(streamed)["method"]

    assert syncwrap.run(inside(), timeout=WAIT) == ("GET", "module", "GET")
    assert seen["hook"] != _loop_thread_ident()
