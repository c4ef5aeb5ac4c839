"""Stream a body with ``iter_content`` until Ctrl-C (the direct-read Ctrl-C tests).

usage: read_until_ctrl_c.py URL [--verify CA] [--timeout S] [--size N] [--expect N]

Prints the response channel's class name, then "BLOCKED" once the main thread sleeps in
the kernel inside a body read (the socket receive of a direct read, or a channel wait)
after ``--expect`` bytes (any count if not given), then "INTERRUPTED <bytes read>" when
Ctrl-C arrives; waits for a line on stdin, prints "LAST" and exits.
``--size 0`` reads "what has arrived" (``iter_content(None)``); ``--timeout 0``: none.
"""

import argparse
import sys
import threading
import time

import syncwrap

#: Where a blocked body read sleeps: (function name, file name ending).
READS = {("_received", "direct.py"), ("_arrived", "direct.py"),
         ("get", "channel.py"), ("get_exact", "channel.py")}


def in_read(frame):
    while frame is not None:
        code = frame.f_code
        if any(code.co_name == name and code.co_filename.endswith(file)
               for name, file in READS):
            return True
        frame = frame.f_back
    return False


def asleep(native_id):  # in the kernel's wait: a signal now interrupts it (EINTR)
    with open(f"/proc/self/task/{native_id}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def watch(main, expect):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (expect < 0 or got == expect) and in_read(sys._current_frames().get(main.ident)) \
                and asleep(main.native_id):
            print("BLOCKED", flush=True)
            return
        time.sleep(0.002)  # polling another thread's state, not synchronisation


p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("--verify", default=None)
p.add_argument("--timeout", type=float, default=30.0)
p.add_argument("--size", type=int, default=1 << 20)
p.add_argument("--expect", type=int, default=-1)
args = p.parse_args()
options = {} if args.verify is None else {"verify": args.verify}
r = syncwrap.get(args.url, stream=True, timeout=args.timeout or None, **options)
print(type(r._channel).__name__, flush=True)
got = 0
threading.Thread(target=watch, args=(threading.main_thread(), args.expect),
                 daemon=True).start()
try:
    for chunk in r.iter_content(args.size or None):
        got += len(chunk)
except KeyboardInterrupt:
    print("INTERRUPTED", got, flush=True)
sys.stdin.readline()
print("LAST", flush=True)
