"""Use syncwrap, then print LAST as the last line: the process must end quietly at once.

usage: exit_clean.py URL MODE
  plain:   module verbs and a Session left open with a pooled connection
  stream:  a stream=True response left unread and open (module verb and Session)
  pending: a daemon thread is still waiting on a request; wait for a stdin line, then end
  dropped: a Session and a streamed response dropped without closing them
"""

import gc
import sys
import threading

import syncwrap

url, mode = sys.argv[1], sys.argv[2]
if mode == "plain":
    assert syncwrap.get(url).status_code == 200
    assert syncwrap.post(url, data=b"x").status_code == 200
    s = syncwrap.Session()
    assert s.get(url).status_code == 200
elif mode == "stream":
    r = syncwrap.get(url, stream=True)
    assert r.status_code == 200
    s = syncwrap.Session()
    r2 = s.get(url, stream=True)
    assert r2.raw.read(1)
elif mode == "pending":

    def pending() -> None:
        syncwrap.get(url, timeout=None)

    threading.Thread(target=pending, daemon=True).start()
    print("STARTED", flush=True)
    sys.stdin.readline()
elif mode == "dropped":

    def drop() -> None:
        s = syncwrap.Session()
        assert s.get(url).status_code == 200
        assert s.get(url, stream=True).status_code == 200

    drop()
    gc.collect()
else:
    raise SystemExit(f"unknown mode {mode}")
print("LAST", flush=True)
