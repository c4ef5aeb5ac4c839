"""Open WebSockets and leave them open, then print LAST: the process must end at once,
quietly, and the server must see a close frame.

usage: ws_exit.py WS_URL MODE
  open:    a Session's WebSocket and a module-level one, both left open
  reading: a daemon thread blocked in receive() on an open WebSocket
"""

import sys
import threading

import syncwrap

url, mode = sys.argv[1], sys.argv[2]
if mode == "open":
    s = syncwrap.Session()
    ws = s.ws_connect(url)
    ws.send_str("hello")
    ws2 = syncwrap.ws_connect(url)
elif mode == "reading":
    ws = syncwrap.ws_connect(url)
    started = threading.Event()

    def read() -> None:
        started.set()
        ws.receive()

    threading.Thread(target=read, daemon=True).start()
    started.wait(10)
else:
    raise SystemExit(f"unknown mode {mode}")
print("LAST", flush=True)
