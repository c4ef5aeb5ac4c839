"""10,000 GETs through s.map() with 1,000 in flight; prints a JSON line with the count,
the statuses seen and this process's peak RSS (VmHWM, KiB).

usage: fanout_client.py BASE_URL [TOTAL] [CONCURRENCY]
"""

import json
import sys
import time

import syncwrap


def vmhwm_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


base = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
before = vmhwm_kib()
started = time.monotonic()
urls = (f"{base}/delay/0/{i}" for i in range(total))  # a generator: never materialised
done = 0
statuses: dict[int, int] = {}
with syncwrap.Session(connector=syncwrap.TCPConnector(limit=concurrency)) as s:
    for i, r in enumerate(s.map(urls, concurrency=concurrency, timeout=120)):
        assert r.text == str(i), (i, r.text)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        done += 1
print(json.dumps({"done": done, "statuses": statuses, "vmhwm_kib": vmhwm_kib(),
                  "vmhwm_before_kib": before, "seconds": round(time.monotonic() - started, 2)}),
      flush=True)
