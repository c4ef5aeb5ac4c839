"""Ctrl-C while s.map() waits for 50 requests that never get an answer.

usage: fanout_sigint.py BASE_URL
Prints CALLING, BLOCKED (once the main thread waits inside the fan-out), then on the
KeyboardInterrupt "INTERRUPTED <acquired connections>" and waits for a line on stdin (so
the test can check the server side while this process lives), then prints LAST.
"""

import sys
import threading

import syncwrap
from tests.facade._util import wait_until_blocked_in


async def acquired(session: syncwrap.Session) -> int:
    return session.engine_session.connector.stats()["acquired"]


def report_when_blocked() -> None:
    main = threading.main_thread().ident

    def watch() -> None:
        found = wait_until_blocked_in(main, "take", "fanout.py")
        print("BLOCKED" if found else "NOT-BLOCKED", flush=True)

    threading.Thread(target=watch, daemon=True).start()


base = sys.argv[1]
with syncwrap.Session() as s:
    print("CALLING", flush=True)
    report_when_blocked()
    try:
        for _ in s.map([f"{base}/hang/{i}" for i in range(50)], concurrency=50):
            print("YIELDED", flush=True)
    except KeyboardInterrupt:
        print(f"INTERRUPTED {syncwrap.run(acquired(s))}", flush=True)
    sys.stdin.readline()
print("LAST", flush=True)
