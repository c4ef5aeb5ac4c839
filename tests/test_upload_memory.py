"""256 MiB uploads in bounded memory: the client runs in a subprocess and reports its peak RSS.

The server (a raw socket Sink in this process) de-chunks, counts and hashes what it
receives; the client's ``ru_maxrss`` at its very end covers the whole process —
interpreter, imports, loop thread and the upload — and must stay under 64 MiB.

Linux carries a process's ``ru_maxrss`` over from its parent across fork (+vfork) and
exec: started directly from pytest the client would report pytest's own peak (~55 MiB
here, whatever the client does). So the client is started from a backgrounded child of
``/bin/sh`` (a small process): its ``ru_maxrss`` is then its own, which VmHWM (the peak
of this process image, immune to that carry-over) cross-checks.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.facade._util import script_env
from tests.upload_servers import Sink

SCRIPT = Path(__file__).resolve().parent / "scripts" / "upload_client.py"
SIZE_MIB = 256
BLOCK = 1024 * 1024
RSS_LIMIT_KIB = 64 * 1024


@pytest.fixture(scope="module")
def block() -> bytes:
    return random.Random(1234).randbytes(BLOCK)  # what the client script repeats


@pytest.fixture(scope="module")
def expected_sha256(block: bytes) -> str:
    digest = hashlib.sha256()
    for _ in range(SIZE_MIB):
        digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def big_file(block: bytes, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("upload") / "256mib.bin"
    with open(path, "wb") as f:
        for _ in range(SIZE_MIB):
            f.write(block)
    return str(path)


@pytest.mark.parametrize("source", ["gen", "file"])
@pytest.mark.parametrize("mode", ["facade", "engine"])
def test_256_mib_upload_in_bounded_memory(raw_server, mode, source, expected_sha256, big_file):
    sink = Sink(keep_bodies=False)
    server = raw_server(sink, conn_timeout=30)
    args = ["/bin/sh", "-c", '"$@" & wait $!', "sh",  # see the module docstring
            sys.executable, str(SCRIPT), mode, source, server.url + "/upload", str(SIZE_MIB)]
    if source == "file":
        args.append(big_file)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=script_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    answer = report["answer"]
    assert report["status"] == 200
    assert answer["length"] == SIZE_MIB * BLOCK
    assert answer["sha256"] == expected_sha256
    # A generator's length is unknown (chunked, never buffered to learn it); a file's is known.
    assert answer["framing"] == ("chunked" if source == "gen" else "length")
    if source == "file":
        assert answer["headers"]["content-length"] == str(SIZE_MIB * BLOCK)
    assert server.errors == []
    assert report["maxrss_kib"] < RSS_LIMIT_KIB, report
    assert 0 < report["vm_hwm_kib"] < RSS_LIMIT_KIB, report
    mb_s = SIZE_MIB * BLOCK / report["seconds"] / 1e6
    print(f"\n[upload] {mode}/{source}: {mb_s:.0f} MB/s, peak RSS "
          f"{report['maxrss_kib'] / 1024:.1f} MiB (baseline {report['baseline_kib'] / 1024:.1f}, "
          f"VmHWM {report['vm_hwm_kib'] / 1024:.1f})")
