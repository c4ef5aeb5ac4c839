"""Upload an endless generator with syncwrap.post until SIGINT (run by tests/facade/test_uploads).

usage: upload_sigint.py URL
Prints "CALLING", then "PRODUCED" once 1 MiB was produced; on KeyboardInterrupt prints
"INTERRUPTED <seconds since PRODUCED>" and "GENERATOR-CLOSED <bool>", waits for a line
on stdin (so that the test can look at the server meanwhile) and prints "LAST".
"""

import sys
import time

import syncwrap

url = sys.argv[1]
state = {"produced": 0, "closed": False, "at": 0.0}


def endless():
    chunk = b"u" * 65536
    try:
        while True:
            state["produced"] += len(chunk)
            if state["produced"] == 1024 * 1024:
                state["at"] = time.monotonic()
                print("PRODUCED", flush=True)
            yield chunk
    finally:
        state["closed"] = True


print("CALLING", flush=True)
try:
    syncwrap.post(url, data=endless())
except KeyboardInterrupt:
    print(f"INTERRUPTED {time.monotonic() - state['at']:.3f}", flush=True)
    print(f"GENERATOR-CLOSED {state['closed']}", flush=True)
else:
    print("RETURNED", flush=True)
sys.stdin.readline()
print("LAST", flush=True)
