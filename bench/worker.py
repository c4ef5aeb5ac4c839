"""Runs ONE benchmark case in this process and prints its result as one JSON line.

Started by run.py (one subprocess per case and repetition, so peak RSS is per case and no
state leaks between clients). Usage: python bench/worker.py '<Spec as JSON>'
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import common
from common import REPO_ROOT, RESULT_MARKER, Spec, Unavailable, peak_rss


def main() -> None:
    spec = Spec(**json.loads(sys.argv[1]))
    if spec.pin_cpu >= 0:
        os.sched_setaffinity(0, {spec.pin_cpu})
    # Benchmark the working tree's syncwrap, even if another copy is installed.
    sys.path.insert(1, str(REPO_ROOT))

    import cases  # after the path set-up: it imports the clients

    common.SERVER_PIDS[:] = spec.server_pids

    result: dict[str, object] = {"status": "ok"}
    try:
        sample = cases.run(spec)
        result.update(elapsed=sample.elapsed, ops=sample.ops, nbytes=sample.nbytes,
                      rss_base=sample.rss_base, cpu=sample.cpu, server_cpu=sample.server_cpu,
                      steal=sample.steal)
    except Unavailable as e:
        result.update(status="n/a", reason=str(e))
    except Exception as e:
        traceback.print_exc()
        result.update(status="error", reason=f"{type(e).__name__}: {e}"[:300])
    result["rss_peak"] = peak_rss()
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
