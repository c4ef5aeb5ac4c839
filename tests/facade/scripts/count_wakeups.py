"""Read a body with ``raw.read(4 MiB)`` and count the reading thread's sleeps.

usage: count_wakeups.py URL CA

Prints the body's size and the main thread's voluntary context switches
(``RUSAGE_THREAD``) while it read the body (the TLS wake-up test).
"""

import resource
import sys

import syncwrap

with syncwrap.Session(verify=sys.argv[2]) as s:
    with s.get(sys.argv[1], stream=True, timeout=30) as r:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
        size = 0
        while part := r.raw.read(4 << 20):
            size += len(part)
        after = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
print(size, after - before)
