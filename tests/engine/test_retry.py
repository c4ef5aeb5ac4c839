"""Retries in the engine session against a raw server that fails the first attempts."""

from __future__ import annotations

import socket
import time

import pytest

from syncwrap.engine import ClientSession, Retry, TraceConfig
from syncwrap.exceptions import (
    ClientConnectionError,
    ClientConnectorError,
    ClientResponseError,
    ReadTimeout,
    RetryError,
)
from tests.engine._util import SHORT, run
from tests.retry_peers import HANG, RESET, response

OK = response(200, body=b"ok")



async def _get(url: str, method: str = "GET", **kwargs) -> tuple[int, bytes, list]:
    async with ClientSession(timeout=SHORT, retries=kwargs.pop("retries", None)) as s:
        async with s.request(method, url, **kwargs) as r:
            return r.status, await r.read(), list(r.history)


def test_503_then_200_waits_the_backoff(scripted) -> None:
    server = scripted(response(503), response(503), OK)
    policy = Retry(total=3, status_forcelist={503}, backoff_factor=0.1, backoff_max=1.0)
    status, body, history = run(_get(server.url, retries=policy))
    assert (status, body, history) == (200, b"ok", [])  # history does not show retries
    assert len(server.requests) == 3
    first, second = server.gaps()
    assert 0.1 <= first < 0.1 + 0.5 and 0.2 <= second < 0.2 + 0.5


def test_retry_after_is_honoured_and_capped(scripted) -> None:
    server = scripted(response(503, "Retry-After: 1"), response(429, "Retry-After: 3600"), OK)
    policy = Retry(total=3, backoff_factor=5.0, backoff_max=0.4)
    status, _, _ = run(_get(server.url, retries=policy))
    assert status == 200
    first, second = server.gaps()
    assert 0.4 <= first < 0.4 + 0.5  # 1 s asked, capped at backoff_max
    assert 0.4 <= second < 0.4 + 0.5  # an hour asked, capped


def test_retry_after_seconds_under_the_cap(scripted) -> None:
    server = scripted(response(503, "Retry-After: 1"), OK)
    start = time.monotonic()
    status, _, _ = run(_get(server.url, retries=Retry(total=1, backoff_max=5.0)))
    assert status == 200
    (gap,) = server.gaps()
    assert 1.0 <= gap < 1.6 and time.monotonic() - start < 2.5


def test_reset_is_retried_for_get(scripted) -> None:
    server = scripted(RESET, OK)
    status, body, _ = run(_get(server.url, retries=Retry(total=1)))
    assert (status, body) == (200, b"ok") and len(server.requests) == 2


def test_post_is_not_retried_after_sending(scripted) -> None:
    server = scripted(RESET, OK)
    with pytest.raises(ClientConnectionError) as info:  # the reset, as it is
        run(_get(server.url, "POST", data=b"x", retries=Retry(total=3)))
    assert not isinstance(info.value, RetryError)
    assert len(server.requests) == 1
    server.steps[:] = [RESET, OK]
    server.requests.clear()
    policy = Retry(total=3, allowed_methods={"POST"})
    status, _, _ = run(_get(server.url, "POST", data=b"x", retries=policy))
    assert status == 200 and [r.body for r in server.requests] == [b"x", b"x"]


def test_streamed_upload_is_not_retried(scripted) -> None:
    server = scripted(response(503), OK)

    async def chunks():
        yield b"part"

    policy = Retry(total=3, status_forcelist={503}, allowed_methods=None)
    status, _, _ = run(_get(server.url, "PUT", data=chunks(), retries=policy))
    assert status == 503 and len(server.requests) == 1


def test_running_out_raises_retry_error_with_the_cause(scripted) -> None:
    server = scripted(response(503))
    policy = Retry(total=2, status_forcelist={503})
    with pytest.raises(RetryError) as info:
        run(_get(server.url, retries=policy))
    assert isinstance(info.value.reason, ClientResponseError)
    assert info.value.__cause__ is info.value.reason and info.value.reason.status == 503
    assert len(server.requests) == 3
    lenient = Retry(total=1, status_forcelist={503}, raise_on_status=False)
    assert run(_get(server.url, retries=lenient))[0] == 503


def test_connect_errors_run_out(scripted) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        start = time.monotonic()
        with pytest.raises(RetryError) as info:
            run(_get(f"http://127.0.0.1:{port}/", "POST", data=b"x",
                     retries=Retry(total=2, backoff_factor=0.1)))
    assert isinstance(info.value.__cause__, ClientConnectorError)
    assert info.value.reason is info.value.__cause__
    assert time.monotonic() - start >= 0.1 + 0.2


def test_session_default_and_per_request_override(scripted) -> None:
    server = scripted(response(503), OK)

    async def go() -> list[int]:
        async with ClientSession(timeout=SHORT,
                                 retries=Retry(total=1, status_forcelist={503})) as s:
            async with s.get(server.url, retries=None) as r:
                first = r.status
            async with s.get(server.url) as r:
                return [first, r.status]

    server.steps[:] = [response(503), response(503), OK]
    assert run(go()) == [503, 200]


def test_trace_sees_each_attempt(scripted) -> None:
    server = scripted(RESET, response(503), OK)
    seen: list[tuple[str, object]] = []
    config = TraceConfig()

    async def on_create(session, ctx, params) -> None:
        seen.append(("connect", None))

    async def on_retry(session, ctx, params) -> None:
        seen.append(("retry", (params.attempt, params.reason.split(":")[0])))

    config.on_connection_create_end.append(on_create)
    config.on_request_retry.append(on_retry)

    async def go() -> int:
        policy = Retry(total=2, status_forcelist={503})
        async with ClientSession(timeout=SHORT, retries=policy, trace_configs=[config]) as s:
            async with s.get(server.url) as r:
                return r.status

    assert run(go()) == 200
    assert seen == [("connect", None), ("retry", (1, "read error")),
                    ("connect", None), ("retry", (2, "status 503"))]  # the 3rd reuses


def test_total_timeout_bounds_the_waits(scripted) -> None:
    server = scripted(response(503, "Retry-After: 30"), OK)
    start = time.monotonic()

    async def go() -> None:
        async with ClientSession(timeout=0.5, retries=Retry(total=1, backoff_max=30)) as s:
            await s.get(server.url)

    with pytest.raises(TimeoutError):
        run(go())
    assert time.monotonic() - start < 3 and len(server.requests) == 1


def test_total_timeout_bounds_a_retried_attempt(scripted) -> None:
    server = scripted(response(503), HANG)
    start = time.monotonic()

    async def go() -> None:
        policy = Retry(total=2, status_forcelist={503}, backoff_factor=0.1)
        async with ClientSession(timeout=0.8, retries=policy) as s:
            await s.get(server.url)

    with pytest.raises(ReadTimeout):
        run(go())
    assert 0.8 <= time.monotonic() - start < 2.5 and len(server.requests) == 2
