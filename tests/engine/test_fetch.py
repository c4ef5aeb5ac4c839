"""ClientSession.fetch: the plain coroutine that request() wraps for ``async with``."""

from __future__ import annotations

import inspect

import pytest

from syncwrap.engine import ClientResponse, ClientSession, ClientTimeout, ReadTimeout
from tests.engine._util import SHORT, recording, run
from tests.servers import ParsedRequest, http_response


def test_fetch_is_a_coroutine_with_the_request_arguments(raw_server):
    seen: list[ParsedRequest] = []
    server = raw_server(recording(lambda req: http_response(req.target.encode()), seen))

    async def main():
        async with ClientSession(timeout=SHORT, headers={"X-Default": "1"}) as s:
            call = s.fetch("POST", server.url + "/a", params={"q": "1"}, data=b"body")
            assert inspect.iscoroutine(call)
            resp = await call
            return type(resp), resp.status, await resp.read(), s.connector.stats()

    kind, status, body, stats = run(main())
    assert (kind, status, body) == (ClientResponse, 200, b"/a?q=1")
    assert stats["acquired"] == 0  # the connection went back to the pool after read()
    [req] = seen
    assert (req.method, req.headers.get("x-default"), req.body) == ("POST", "1", b"body")


def test_fetch_applies_the_session_timeout(raw_server):
    def silent(conn):
        conn.recv(65536)
        conn.recv(1)  # hold the connection without answering until the client leaves

    server = raw_server(silent)

    async def main():
        async with ClientSession(timeout=ClientTimeout(total=0.3)) as s:
            await s.fetch("GET", server.url)

    with pytest.raises(ReadTimeout):
        run(main())
