"""Two real servers for the cross-origin redirect tests (engine and facade; never imports syncwrap).

The first origin answers ``/redirect/<status>?to=<Location>`` with that redirect; the second
records every request it gets and answers 200. Both record what they receive, so a test can
check exactly which credentials and cookies reached which origin.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote, unquote

from tests.servers import (
    Handler,
    ParsedRequest,
    RawServer,
    http_response,
    parse_request,
    read_request,
)

SECRET = "s3cret"  # in every credential the tests send; never in anything the second origin gets

# Credentials given the same way to the engine and the facade: kind -> (session kwargs,
# request kwargs, the header the first origin must receive, its value).
HEADER_KINDS = {
    "Authorization header": ({}, {"headers": {"Authorization": f"Bearer {SECRET}"}},
                             "authorization", f"Bearer {SECRET}"),
    "session Authorization header": ({"headers": {"Authorization": f"Bearer {SECRET}"}}, {},
                                     "authorization", f"Bearer {SECRET}"),
    "Proxy-Authorization header": ({}, {"headers": {"Proxy-Authorization": f"Basic {SECRET}"}},
                                   "proxy-authorization", f"Basic {SECRET}"),
    "Cookie header": ({}, {"headers": {"Cookie": f"sid={SECRET}"}}, "cookie", f"sid={SECRET}"),
    "session Cookie header": ({"headers": {"Cookie": f"sid={SECRET}"}}, {},
                              "cookie", f"sid={SECRET}"),
    "cookies=": ({}, {"cookies": {"sid": SECRET}}, "cookie", f"sid={SECRET}"),
}

# Where the second origin is, seen from the first (http://127.0.0.1:<port>):
# "same" is the first server itself; "port" another port on 127.0.0.1; "host" a server bound to
# 127.0.0.2; "name" another 127.0.0.1 server reached as localhost.
WHERE = ("port", "host", "name")


def router(req: ParsedRequest) -> bytes:
    """``/redirect/<status>?to=<quoted Location>``, anything else 200 "ok"."""
    path, _, query = req.target.partition("?")
    match = re.fullmatch(r"(?:/[\w-]+)*/redirect/(\d+)", path)
    if match and query.startswith("to="):
        return http_response(b"moved", status=int(match.group(1)), reason="Redirect",
                             headers={"Location": unquote(query[3:])})
    return http_response(b"ok")


def recorder(requests: list[ParsedRequest]) -> Handler:
    """Keep-alive handler answering with :func:`router`; every request is recorded."""

    def handler(conn: socket.socket) -> None:
        while raw := read_request(conn):
            req = parse_request(raw)
            requests.append(req)
            conn.sendall(router(req))

    return handler


def over_tls(handler: Handler, context: ssl.SSLContext) -> Handler:
    """The same handler behind a TLS handshake.

    TLS runs on a duplicate of the socket: wrapping detaches the socket it is given, and the
    server's teardown must still be able to shut the original down to wake the handler.
    """

    def wrapped(conn: socket.socket) -> None:
        with context.wrap_socket(conn.dup(), server_side=True) as tls:
            tls.settimeout(conn.gettimeout())
            handler(tls)

    return wrapped


class Peers(NamedTuple):
    """``first_url`` / ``second_url`` are base URLs (no trailing slash) as clients use them."""

    first_url: str
    second_url: str
    first_seen: list[ParsedRequest]
    second_seen: list[ParsedRequest]

    def redirect(self, status: int = 302, path: str = "/landing", *, to: str | None = None,
                 base: str | None = None) -> str:
        """A first-origin URL redirecting with ``status`` to ``to`` (default: second + path)."""
        location = to if to is not None else self.second_url + path
        return f"{base or self.first_url}/redirect/{status}?to={quote(location, safe='')}"

    @property
    def second_host(self) -> str:
        """The Host header the second origin must receive."""
        return self.second_url.split("://", 1)[1]


def start_peers(raw_server: Callable[..., RawServer], where: str,
                first_tls: ssl.SSLContext | None = None) -> Peers:
    """Start the first origin (over TLS with ``first_tls``) and the second one at ``where``."""
    first_seen: list[ParsedRequest] = []
    handler = recorder(first_seen)
    first = raw_server(over_tls(handler, first_tls) if first_tls else handler)
    first_url = f"{'https' if first_tls else 'http'}://127.0.0.1:{first.port}"
    if where == "same":
        return Peers(first_url, first_url, first_seen, first_seen)
    second_seen: list[ParsedRequest] = []
    second = raw_server(recorder(second_seen), host="127.0.0.2" if where == "host" else "127.0.0.1")
    host = {"port": "127.0.0.1", "host": "127.0.0.2", "name": "localhost"}[where]
    return Peers(first_url, f"http://{host}:{second.port}", first_seen, second_seen)


def leaked(requests: list[ParsedRequest]) -> list[str]:
    """Every credential-bearing header (or request line) in ``requests`` holding anything
    given for the first origin."""
    found = []
    for req in requests:
        for name in ("authorization", "proxy-authorization", "cookie"):
            if name in req.headers:
                found.append(f"{name}: {req.headers[name]}")
        if SECRET in req.target or any(SECRET in value for value in req.headers.values()):
            found.append(f"{req.method} {req.target} {req.headers}")
    return found
