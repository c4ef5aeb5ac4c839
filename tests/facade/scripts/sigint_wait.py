"""Block in a syncwrap call until SIGINT arrives.

usage: sigint_wait.py URL MODE
  catch:    syncwrap.get(URL); on KeyboardInterrupt print "INTERRUPTED", then wait for a line
            on stdin (so the test can check the server side while this process lives)
  stream:   like catch, but blocked reading a stream=True body (r.content)
  uncaught: syncwrap.get(URL) with no handler: the process must die of the KeyboardInterrupt
"""

import sys
import time

import syncwrap

url, mode = sys.argv[1], sys.argv[2]
print("CALLING", flush=True)
if mode == "uncaught":
    syncwrap.get(url)
    raise SystemExit("the call returned")
started = time.monotonic()
try:
    if mode == "stream":
        r = syncwrap.get(url, stream=True)
        print("HEADERS", flush=True)
        r.content  # noqa: B018 - blocks: the body never comes
    else:
        syncwrap.get(url)
except KeyboardInterrupt:
    print(f"INTERRUPTED {time.monotonic() - started:.3f}", flush=True)
else:
    print("RETURNED", flush=True)
sys.stdin.readline()
print("LAST", flush=True)
