"""Fork with a UnixConnector session and an AsyncResolver session in use.

usage: unix_dns_fork.py SOCKET_PATH NAMESERVER HTTP_PORT
The child requests through both sessions (each rebuilt after the fork); the parent
requests before and after. Prints one JSON line.
"""

import json
import os
import sys

import syncwrap

path, nameserver, port = sys.argv[1], sys.argv[2], sys.argv[3]
dns_url = f"http://v4.syncwrap.test:{port}/"
unix = syncwrap.Session(connector=syncwrap.UnixConnector(path), timeout=10)
resolver = syncwrap.AsyncResolver(nameservers=[nameserver], timeout=2, tries=1)
named = syncwrap.Session(connector=syncwrap.TCPConnector(resolver=resolver), timeout=10)
unix_before = unix.get("http://daemon/").json()["connection"]
named.get(dns_url).raise_for_status()

rfd, wfd = os.pipe()
pid = os.fork()
if pid == 0:  # the child
    os.close(rfd)
    try:
        result = {"unix_status": unix.get("http://daemon/").status_code,
                  "dns_status": named.get(dns_url).status_code}
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        result = {"error": repr(exc)}
    os.write(wfd, json.dumps(result).encode())
    os.close(wfd)
    os._exit(0)

os.close(wfd)
with os.fdopen(rfd, "rb") as pipe:
    child = json.loads(pipe.read() or b"{}")
os.waitpid(pid, 0)
unix_after = unix.get("http://daemon/").json()["connection"]
unix.close()
named.close()
print(json.dumps({"child": child, "unix_before": unix_before, "unix_after": unix_after}))
