"""Compression bombs in bounded memory: the client runs in a subprocess and reports its peak RSS.

The server (a raw socket in this process, tests/bombs.py) sends gzip, deflate, br and zstd
bodies that decode to 2 GiB each, with a Content-Length or chunked, as 200s and as 302s.
The client (tests/scripts/bomb_client.py) takes its baseline after its imports, its session
and one warm request; the peak growth over that baseline is what the limits below bound.

As in test_upload_memory, the client is started from a backgrounded child of ``/bin/sh`` so
that its ``ru_maxrss`` is its own (Linux carries a parent's peak over fork and exec); VmHWM
(the peak of the client's own image) cross-checks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bombs import ENCODINGS, FRAMINGS, MIB, bomb_routes, serve_routes
from tests.facade._util import script_env

SCRIPT = Path(__file__).resolve().parent / "scripts" / "bomb_client.py"
LAYERS = ("engine", "facade")
#: Decoded bytes a streamed reader consumes from each 2 GiB bomb.
STREAMED = 256 * MIB
#: Streamed reads: the engine's StreamReader (4 MiB by default) plus one decoding step, and
#: the facade's channel (8 MiB) on top; this leaves room for the allocator, not for a leak.
STREAM_GROWTH_LIMIT = 32 * MIB
#: Whole-body reads stop at max_body_size; the body read so far is what stays in memory.
WHOLE_LIMIT = 16 * MIB
WHOLE_GROWTH_LIMIT = WHOLE_LIMIT + 16 * MIB
#: A followed redirect's body is dropped undecoded.
REDIRECT_GROWTH_LIMIT = 8 * MIB
EVERY_BOMB = pytest.mark.parametrize(
    "layer, encoding, framing",
    [(layer, encoding, framing) for layer in LAYERS for encoding in ENCODINGS
     for framing in FRAMINGS])


@pytest.fixture(scope="module")
def bomb_server():
    from tests.servers import RawServer

    server = RawServer(serve_routes(bomb_routes()), conn_timeout=30)
    try:
        yield server
    finally:
        server.close()


def run_client(*args: str) -> dict:
    cmd = ["/bin/sh", "-c", '"$@" & wait $!', "sh",  # see the module docstring
           sys.executable, str(SCRIPT), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=script_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing printed, from the loop thread or anywhere
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["growth"] = (report["maxrss_kib"] - report["baseline_kib"]) * 1024
    report["hwm_growth"] = (report["vm_hwm_kib"] - report["baseline_kib"]) * 1024
    return report


def check_growth(report: dict, limit: int) -> None:
    assert report["growth"] < limit, report
    assert report["hwm_growth"] < limit, report


@EVERY_BOMB
def test_streamed_bomb_in_bounded_memory(bomb_server, layer, encoding, framing):
    report = run_client(layer, "stream", bomb_server.url, f"/bomb/{encoding}/{framing}",
                        str(STREAMED))
    assert report["results"] == [{"status": 200, "read": STREAMED}]
    check_growth(report, STREAM_GROWTH_LIMIT)
    print(f"\n[bomb] {layer} {encoding}/{framing}: 256 MiB in {report['seconds']:.2f} s, "
          f"growth {report['growth'] / MIB:.1f} MiB")


@EVERY_BOMB
def test_whole_body_of_a_bomb_stops_at_max_body_size(bomb_server, layer, encoding, framing):
    report = run_client(layer, "whole", bomb_server.url, f"/bomb/{encoding}/{framing}",
                        str(WHOLE_LIMIT))
    assert report["results"] == [{
        "error": "BodyTooLargeError",
        "message": f"Response body passed max_body_size={WHOLE_LIMIT} bytes; read it as a "
                   "stream or raise max_body_size",
    }]
    check_growth(report, WHOLE_GROWTH_LIMIT)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("layer", LAYERS)
def test_redirect_bomb_is_not_decoded(bomb_server, layer, framing):
    """A 302 whose body is a bomb (each encoding in turn) is followed; the bomb is dropped."""
    paths = [f"/redirect/{encoding}/{framing}" for encoding in ENCODINGS]
    report = run_client(layer, "redirect", bomb_server.url, *paths)
    assert report["results"] == [{"status": 200, "body": "ok", "history": [302]}] * 4
    check_growth(report, REDIRECT_GROWTH_LIMIT)
