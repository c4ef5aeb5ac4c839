"""Retries in the blocking facade: Session(retries=), per call, and mounted HTTPAdapters."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import syncwrap
from syncwrap.adapters import HTTPAdapter
from syncwrap.exceptions import ClientConnectionError, ClientResponseError, RetryError
from tests.retry_peers import RESET, response

OK = response(200, body=b"ok")



def test_session_retries_with_backoff(scripted) -> None:
    server = scripted(response(503), response(503), OK)
    policy = syncwrap.Retry(total=2, status_forcelist={503}, backoff_factor=0.05)
    with syncwrap.Session(retries=policy, timeout=5) as s:
        r = s.get(server.url)
    assert (r.status_code, r.text, r.history) == (200, "ok", [])
    first, second = server.gaps()
    assert 0.05 <= first < 0.55 and 0.1 <= second < 0.6


def test_per_call_retries_win(scripted) -> None:
    server = scripted(response(503), response(503), OK)
    with syncwrap.Session(retries=syncwrap.Retry(total=1, status_forcelist={503}),
                          timeout=5) as s:
        assert s.get(server.url, retries=None).status_code == 503
        assert s.get(server.url).status_code == 200  # a 503, retried
    assert len(server.requests) == 3


def test_mounted_adapter_longest_prefix_wins(scripted) -> None:
    server = scripted(response(503), OK)
    with syncwrap.Session(timeout=5) as s:
        s.mount("http://", HTTPAdapter(max_retries=0))
        s.mount(server.url + "/api", HTTPAdapter(
            max_retries=syncwrap.Retry(total=1, status_forcelist={503})))
        assert s.get(server.url + "/other").status_code == 503
        server.steps[:] = [response(503), OK]
        server.requests.clear()
        assert s.get(server.url + "/api/x").status_code == 200
        assert [r.target for r in server.requests] == ["/api/x", "/api/x"]
        assert isinstance(s.get_adapter(server.url.upper() + "/API/y"), HTTPAdapter)


def test_int_max_retries_retries_connect_errors_only(scripted) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"  # bound, not listening
        with syncwrap.Session(timeout=5) as s:
            s.mount("http://", HTTPAdapter(max_retries=2))
            with pytest.raises(RetryError) as info:
                s.get(url)
    assert isinstance(info.value.__cause__, ClientConnectionError)
    server = scripted(RESET, OK)
    with syncwrap.Session(timeout=5) as s:
        s.mount("http://", HTTPAdapter(max_retries=2))
        with pytest.raises(ClientConnectionError):  # sent: not retried, as in requests
            s.get(server.url)
    assert len(server.requests) == 1


def test_post_not_retried_and_retry_error_cause(scripted) -> None:
    server = scripted(response(503))
    policy = syncwrap.Retry(total=2, status_forcelist={503})
    with syncwrap.Session(retries=policy, timeout=5) as s:
        assert s.post(server.url, data=b"x").status_code == 503
        assert len(server.requests) == 1
        with pytest.raises(syncwrap.exceptions.RequestException) as info:
            s.get(server.url)
    assert isinstance(info.value, RetryError)
    assert isinstance(info.value.reason, ClientResponseError) and info.value.reason.status == 503
    assert len(server.requests) == 4


def test_streamed_upload_not_retried(scripted) -> None:
    server = scripted(response(503), OK)
    policy = syncwrap.Retry(total=2, status_forcelist={503}, allowed_methods=None)
    with syncwrap.Session(retries=policy, timeout=5) as s:
        r = s.put(server.url, data=(part for part in [b"a", b"b"]))
    assert r.status_code == 503 and len(server.requests) == 1


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="max_retries="):
        HTTPAdapter(max_retries="3")
    with pytest.raises(ValueError, match="pool_maxsize="):
        HTTPAdapter(pool_maxsize=0)
    with syncwrap.Session() as s, pytest.raises(TypeError, match="adapter"):
        s.mount("http://", object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retries="):
        syncwrap.Session(retries="x")


def test_pool_block_sets_the_limit_per_host() -> None:
    with syncwrap.Session() as s:
        s.mount("https://", HTTPAdapter(pool_maxsize=3, pool_block=True))
        assert s.connector.limit_per_host == 3


def test_requests_spelling_in_a_fresh_process() -> None:
    import subprocess
    import sys

    code = ("import syncwrap as requests\n"
            "s = requests.Session()\n"
            "s.mount('https://', requests.adapters.HTTPAdapter(max_retries=3, pool_maxsize=20))\n"
            "print(s.get_adapter('https://x/').max_retries.total)\n")
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3"
