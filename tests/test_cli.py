"""The ``syncwrap`` command line and ``syncwrap tour``, run as real subprocesses."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from syncwrap.cli.main import ProgressBar

ROOT = Path(__file__).resolve().parents[1]
WAIT = 20.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWRAP_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONWARNINGS", None)
    return env


def cli(*args: str, stdin: bytes | None = None, timeout: float = WAIT
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "syncwrap", *args],
        cwd=str(ROOT),
        env=_env(),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
    )


def ok_json(result: subprocess.CompletedProcess[bytes]) -> dict:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return json.loads(result.stdout)


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("syncwrap: error: ")
    return lines[0]


# -- requests ------------------------------------------------------------------------------


def test_get_prints_body(httpbin_url: str) -> None:
    body = ok_json(cli(f"{httpbin_url}/get?x=1&y=two"))
    assert body["args"] == {"x": "1", "y": "two"}


def test_body_is_written_as_raw_bytes(httpbin_url: str) -> None:
    result = cli(f"{httpbin_url}/bytes/3000?seed=5")
    assert result.returncode == 0
    with urllib.request.urlopen(f"{httpbin_url}/bytes/3000?seed=5", timeout=WAIT) as r:
        assert result.stdout == r.read()


def test_url_without_scheme_gets_http(httpbin_url: str) -> None:
    body = ok_json(cli(httpbin_url.removeprefix("http://") + "/get"))
    assert body["url"] == f"{httpbin_url}/get"


def test_include_shows_status_line_and_headers(httpbin_url: str) -> None:
    result = cli("-i", f"{httpbin_url}/status/418")
    assert result.returncode == 0
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 418")
    assert any(line.lower().startswith(b"x-more-info: ") for line in lines[1:])
    assert b"teapot" in body


def test_include_shows_each_redirect(httpbin_url: str) -> None:
    result = cli("--include", f"{httpbin_url}/redirect/2")
    assert result.returncode == 0
    assert result.stdout.count(b"HTTP/1.1 302") == 2
    assert result.stdout.count(b"HTTP/1.1 200") == 1


def test_no_follow(httpbin_url: str) -> None:
    result = cli("-i", "--no-follow", f"{httpbin_url}/redirect/2")
    assert result.returncode == 0
    assert result.stdout.startswith(b"HTTP/1.1 302")
    assert b"HTTP/1.1 200" not in result.stdout


def test_header_option_sends_headers(httpbin_url: str) -> None:
    body = ok_json(cli(f"{httpbin_url}/headers", "-H", "X-Tour-Test: yes",
                       "--header", "Accept:text/plain"))
    assert body["headers"]["X-Tour-Test"] == "yes"
    assert body["headers"]["Accept"] == "text/plain"


def test_data_sends_a_form_with_post(httpbin_url: str) -> None:
    body = ok_json(cli(f"{httpbin_url}/anything", "-d", "name=Ada&lang=py", "-d", "n=1"))
    assert body["method"] == "POST"
    assert body["form"] == {"name": "Ada", "lang": "py", "n": "1"}
    assert body["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_explicit_method(httpbin_url: str) -> None:
    assert ok_json(cli("put", f"{httpbin_url}/anything", "-d", "a=1"))["method"] == "PUT"
    assert ok_json(cli("DELETE", f"{httpbin_url}/anything"))["method"] == "DELETE"


def test_json_option(httpbin_url: str) -> None:
    body = ok_json(cli(f"{httpbin_url}/anything", "--json", '{"id": 7, "tags": ["a"]}'))
    assert body["method"] == "POST"
    assert body["json"] == {"id": 7, "tags": ["a"]}
    assert body["headers"]["Content-Type"] == "application/json"


def test_data_from_file_and_stdin(httpbin_url: str, tmp_path: Path) -> None:
    path = tmp_path / "form.txt"
    path.write_bytes(b"from=file")
    assert ok_json(cli(f"{httpbin_url}/post", "-d", f"@{path}"))["form"] == {"from": "file"}
    body = ok_json(cli(f"{httpbin_url}/post", "-d", "-", stdin=b"from=stdin"))
    assert body["form"] == {"from": "stdin"}
    body = ok_json(cli(f"{httpbin_url}/post", "--json", "-", stdin=b'{"k": [1, 2]}'))
    assert body["json"] == {"k": [1, 2]}


def test_output_file_matches_body(httpbin_url: str, tmp_path: Path) -> None:
    url = f"{httpbin_url}/bytes/100000?seed=42"
    target = tmp_path / "out.bin"
    result = cli(url, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        assert target.read_bytes() == r.read()
    err = result.stderr.decode()
    assert err.startswith("\r") and err.endswith("\n")
    assert "100.0%" in err and "MB/s" in err


def test_output_large_body_with_progress(httpserver, tmp_path: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB
    httpserver.expect_request("/big").respond_with_data(
        data, content_type="application/octet-stream"
    )
    target = tmp_path / "big.bin"
    result = cli(httpserver.url_for("/big"), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == data
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1
    final = err.rstrip("\n").split("\r")[-1]
    assert "100.0%" in final and "3.0 MiB / 3.0 MiB" in final and "MB/s" in final
    assert len(final) <= 80


def test_output_silent(httpbin_url: str, tmp_path: Path) -> None:
    result = cli("-s", f"{httpbin_url}/bytes/10", "-o", str(tmp_path / "x"))
    assert result.returncode == 0 and result.stderr == b""
    assert (tmp_path / "x").stat().st_size == 10


def test_progress_bar_redraws_at_most_ten_times_a_second() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, out)
    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline:
        bar.update(0)
    bar.update(1000)
    bar.finish()
    text = out.getvalue()
    assert 2 <= text.count("\r") <= 5  # ~3 timed redraws in 0.25 s + the final one
    assert text.endswith("\n") and "100.0%" in text


def test_progress_bar_without_length() -> None:
    out = io.StringIO()
    bar = ProgressBar(None, out)
    bar.update(2 * 1024 * 1024)
    bar.finish()
    assert "2.0 MiB" in out.getvalue() and "%" not in out.getvalue()


def test_stream_prints_chunks(httpbin_url: str) -> None:
    result = cli("--stream", f"{httpbin_url}/stream/4")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2, 3]


def test_stream_output_arrives_before_the_end(httpbin_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncwrap", "--stream",
         f"{httpbin_url}/drip?duration=3&numbytes=3&delay=0"],
        cwd=str(ROOT), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1)  # flushed as soon as it arrives
        assert first == b"*"
        assert proc.poll() is None  # the rest is still dripping
        rest, err = proc.communicate(timeout=WAIT)
        assert first + rest == b"***"
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- errors and exit statuses ----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_one_line() -> None:
    port = _closed_port()
    result = cli(f"http://127.0.0.1:{port}/")
    assert result.returncode == 1
    assert result.stdout == b""
    line = one_error_line(result)
    assert line == f"syncwrap: error: Cannot connect to host 127.0.0.1:{port} [Connection refused]"


def test_timeout_is_one_line(httpbin_url: str) -> None:
    result = cli(f"{httpbin_url}/delay/3", "--timeout", "0.5")
    assert result.returncode == 1
    assert "timed out" in one_error_line(result).lower()


def test_fail_on_http_error(httpbin_url: str) -> None:
    result = cli(f"{httpbin_url}/status/404")
    assert result.returncode == 0  # without --fail an error status is still a response
    result = cli("--fail", f"{httpbin_url}/status/404")
    assert result.returncode == 1
    assert result.stdout == b""
    assert "404" in one_error_line(result)
    assert cli("-f", f"{httpbin_url}/status/204").returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "the following arguments are required"),
        (("http://x", "-H", "no colon"), "bad header"),
        (("http://x", "-H", ": empty name"), "bad header"),
        (("G@T", "http://x"), "not an HTTP method"),
        (("GET", "http://x", "extra"), "expected [METHOD] URL"),
        (("http://x", "--json", "{bad"), "not valid JSON"),
        (("http://x", "-d", "a", "--json", "{}"), "not allowed with"),
        (("http://x", "--timeout", "soon"), "not a number"),
        (("http://x", "-d", "@/no/such/file"), "cannot read"),
        (("http://[::1/",), "Invalid"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("usage: syncwrap")
    assert message in err


def test_help_shows_usage() -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert b"syncwrap [METHOD] URL" in result.stdout
    assert b"syncwrap tour" in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_quietly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncwrap", f"http://127.0.0.1:{port}/"],
            cwd=str(ROOT), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            conn, _ = listener.accept()  # the request is under way: interrupt it
            with conn:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130
    assert out == b""
    assert b"Traceback" not in err


# -- the tour --------------------------------------------------------------------------------


def test_tour_runs_to_completion() -> None:
    from syncwrap.cli.tour import STEPS

    started = time.monotonic()
    result = cli("tour", timeout=30)
    elapsed = time.monotonic() - started
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, out + result.stderr.decode()
    assert elapsed < 30
    assert result.stderr == b""
    for index, step in enumerate(STEPS, 1):
        assert f"== {index}/{len(STEPS)}  {step.title} " in out
    assert "step failed" not in out
    assert f"All {len(STEPS)} steps passed" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_tour_without_httpbin_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['httpbin'] = None\n"
        "from syncwrap.cli import main\n"
        "sys.exit(main(['tour']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=str(ROOT), env=_env(),
        capture_output=True, timeout=WAIT,
    )
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "pip install httpbin" in err
    assert "Traceback" not in err


def test_tour_reports_a_failing_step(httpbin_url: str) -> None:
    from syncwrap.cli.tour import Step, run_tour

    out = io.StringIO()
    steps = [
        Step("fine", ["1 + 1"], ["_ == 2"]),
        Step("broken", ['syncwrap.get(f"{httpbin}/status/500").raise_for_status()']),
        Step("wrong", ["x = 1"], ["x == 2"]),
        Step("still runs", ["'after'"]),
    ]
    assert run_tour(httpbin_url, out=out, steps=steps) == 2
    text = out.getvalue()
    assert "!! step failed: ClientResponseError" in text or "!! step failed: HTTPError" in text
    assert "x == 2 is false" in text
    assert "'after'" in text
    assert "2 of 4 steps failed" in text
