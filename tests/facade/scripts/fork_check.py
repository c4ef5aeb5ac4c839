"""Fork after pooling a connection; the child must get its own loop thread and connections.

Settings changed on the Session before the fork (headers, auth, timeout, verify,
max_redirects, raise_for_status) must hold in the child's rebuilt engine session.

usage: fork_check.py URL [normal-exit]
Prints one JSON line with the parent's and the child's observations.
"""

import json
import os
import select
import sys
import threading

import syncwrap
import syncwrap.loop


def loop_thread() -> threading.Thread:
    (thread,) = [t for t in threading.enumerate() if t.name == "syncwrap-loop"]
    return thread


url = sys.argv[1]
normal_exit = sys.argv[2:] == ["normal-exit"]
s = syncwrap.Session()
before = s.get(url).headers["X-Connection-Id"]
module_before = syncwrap.get(url + "/module").headers["X-Connection-Id"]
s.headers["X-Fork"] = "kept"
s.auth = ("u", "p")
s.timeout = (None, 9.0)
s.verify = False
s.max_redirects = 3
s.raise_for_status = True
parent_engine = s.engine_session
parent_headers = s.headers
parent_loop = syncwrap.loop.get_loop()
parent_thread = loop_thread()
parent_native_id = parent_thread.native_id

rfd, wfd = os.pipe()
pid = os.fork()
if pid == 0:  # the child
    os.close(rfd)
    code = 0
    try:
        first = s.get(url)
        second = s.get(url)
        module = syncwrap.get(url + "/module")
        thread = loop_thread()
        result = {
            "session_conn": first.headers["X-Connection-Id"],
            "session_conn_again": second.headers["X-Connection-Id"],
            "module_conn": module.headers["X-Connection-Id"],
            "loop_is_parents": syncwrap.loop.get_loop() is parent_loop,
            "thread_is_parents": thread is parent_thread,
            "thread_native_id": thread.native_id,
            "thread_alive": thread.is_alive(),
            "settings": {
                "engine_rebuilt": s.engine_session is not parent_engine,
                "headers_same_object": s.engine_session.headers is parent_headers,
                "sent_header": first.request_info.headers.get("X-Fork"),
                "sent_auth": first.request_info.headers.get("Authorization"),
                "timeout": [s.engine_session.timeout.connect, s.engine_session.timeout.sock_read],
                "verify": s.engine_session.ssl.verify,
                "max_redirects": s.engine_session.max_redirects,
                "raise_for_status": s.engine_session.raise_for_status,
            },
        }
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        result = {"error": repr(exc)}
        code = 1
    os.write(wfd, json.dumps(result).encode())
    os.close(wfd)
    if normal_exit:
        sys.exit(code)  # atexit handlers run in the child too
    os._exit(code)

os.close(wfd)
during = s.get(url).headers["X-Connection-Id"]  # the parent keeps working meanwhile
chunks = []
while True:
    ready, _, _ = select.select([rfd], [], [], 20)
    if not ready:
        raise SystemExit("the child did not report within 20 s")
    data = os.read(rfd, 65536)
    if not data:
        break
    chunks.append(data)
_, status = os.waitpid(pid, 0)
after = s.get(url).headers["X-Connection-Id"]
module_after = syncwrap.get(url + "/module").headers["X-Connection-Id"]
print(json.dumps({
    "before": before,
    "during": during,
    "after": after,
    "module_before": module_before,
    "module_after": module_after,
    "parent_native_id": parent_native_id,
    "parent_thread_alive": parent_thread.is_alive() and loop_thread() is parent_thread,
    "child_exit": os.waitstatus_to_exitcode(status),
    "child": json.loads(b"".join(chunks) or b"{}"),
}), flush=True)
s.close()
