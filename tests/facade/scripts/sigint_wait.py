"""Block in a syncwrap call until SIGINT arrives.

usage: sigint_wait.py URL MODE
  catch:    syncwrap.get(URL); on KeyboardInterrupt print "INTERRUPTED", then wait for a line
            on stdin (so the test can check the server side while this process lives)
  stream:   like catch, but blocked reading a stream=True body (r.content)
  uncaught: syncwrap.get(URL) with no handler: the process must die of the KeyboardInterrupt
"""

import sys
import threading
import time

import syncwrap
from tests.facade._util import wait_until_blocked_in


def report_when_blocked(func: str, module_file: str) -> None:
    """Print BLOCKED once the main thread waits on a lock inside ``func`` (of ``module_file``),
    so that the test's SIGINT interrupts the blocking wait itself, not the code around it."""
    main = threading.main_thread().ident

    def watch() -> None:
        found = wait_until_blocked_in(main, func, module_file)
        print("BLOCKED" if found else "NOT-BLOCKED", flush=True)

    threading.Thread(target=watch, daemon=True).start()


url, mode = sys.argv[1], sys.argv[2]
print("CALLING", flush=True)
if mode == "uncaught":
    report_when_blocked("run", "loop.py")
    syncwrap.get(url)
    raise SystemExit("the call returned")
started = time.monotonic()
try:
    if mode == "stream":
        r = syncwrap.get(url, stream=True)
        print("HEADERS", flush=True)
        report_when_blocked("get", "channel.py")
        r.content  # noqa: B018 - blocks: the body never comes
    else:
        report_when_blocked("run", "loop.py")
        syncwrap.get(url)
except KeyboardInterrupt:
    print(f"INTERRUPTED {time.monotonic() - started:.3f}", flush=True)
else:
    print("RETURNED", flush=True)
sys.stdin.readline()
print("LAST", flush=True)
