"""10,000 requests with 1,000 in flight from plain code, in bounded memory (issue 15.1).

A child process (tests/scripts/fanout_client.py) runs ``s.map()`` over a generator of
10,000 URLs with ``concurrency=1000`` (and a pool of 1,000 connections) against the
asyncio peer of tests/fanout_peers.py, run in a process of its own so that its memory is
not the client's. The client reports its peak RSS (VmHWM: the peak of its own process
image, whatever its parent's was), which must stay well under 200 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.facade._util import ROOT, script_env

SCRIPT = Path(__file__).resolve().parent / "scripts" / "fanout_client.py"
LIMIT_KIB = 96 * 1024


def test_ten_thousand_requests_with_a_thousand_in_flight_in_bounded_memory():
    server = subprocess.Popen([sys.executable, "-m", "tests.fanout_peers"], cwd=str(ROOT),
                              env=script_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        client = subprocess.run([sys.executable, str(SCRIPT), f"http://127.0.0.1:{port}"],
                                cwd=str(ROOT), env=script_env(), capture_output=True,
                                text=True, timeout=240, stdin=subprocess.DEVNULL)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    assert client.returncode == 0, client.stderr
    report = json.loads(client.stdout.strip().splitlines()[-1])
    print(f"\nfan-out 10,000 requests, 1,000 in flight: peak RSS "
          f"{report['vmhwm_kib'] / 1024:.1f} MiB (at start {report['vmhwm_before_kib'] / 1024:.1f}"
          f" MiB), {report['seconds']} s")
    assert report["done"] == 10_000
    assert report["statuses"] == {"200": 10_000}
    assert report["vmhwm_kib"] < LIMIT_KIB
