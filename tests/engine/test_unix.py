"""Unix sockets in the engine: UnixConnector, http+unix:// URLs, pooling per socket, errors,
redirects that stay on the socket, TLS over a socket.  Peer: tests.unix_peers.UnixServer."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest

import syncwrap
from syncwrap.engine import (
    ClientConnectorError,
    ClientSession,
    NonHttpUrlRedirectClientError,
    TCPConnector,
    UnixClientConnectorError,
    UnixConnector,
)
from tests.engine._util import SHORT, run
from tests.servers import http_response, keep_alive, read_request
from tests.unix_peers import UnixServer, socket_dir, unix_url


@pytest.fixture
def sock_dir() -> Iterator[str]:
    with socket_dir() as path:
        yield path


@pytest.fixture
def unix_server(sock_dir: str) -> Iterator[UnixServer]:
    """A UnixServer on <short dir>/Api.Sock (upper case: the path's case must survive)."""
    server = UnixServer(os.path.join(sock_dir, "Api.Sock"))
    try:
        yield server
    finally:
        server.close()


async def get_json(session: ClientSession, url: str, **kwargs) -> dict:
    async with session.get(url, **kwargs) as resp:
        assert resp.status == 200
        return await resp.json()


def test_names_are_exported():
    assert syncwrap.UnixConnector is UnixConnector is syncwrap.engine.UnixConnector
    assert issubclass(UnixClientConnectorError, ClientConnectorError)


def test_unix_connector_sends_every_request_to_its_socket(unix_server):
    async def main():
        connector = UnixConnector(path=unix_server.path)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            return [await get_json(s, f"http://{host}/info?n={i}")
                    for i, host in enumerate(["docker", "docker", "example.org:8080"])]

    seen = run(main())
    assert [r["target"] for r in seen] == ["/info?n=0", "/info?n=1", "/info?n=2"]
    assert [r["host"] for r in seen] == ["docker", "docker", "example.org:8080"]  # Host only
    # keep-alive on the socket: one connection per pool key (the URL's host and port)
    assert [r["connection"] for r in seen] == [1, 1, 2]
    assert unix_server.connections == 2


def test_unix_connector_limits_and_reuse_under_concurrency(unix_server):
    async def main():
        connector = UnixConnector(unix_server.path, limit=2)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            first = await asyncio.gather(*(get_json(s, "http://h/a") for _ in range(6)))
            second = await asyncio.gather(*(get_json(s, "http://h/b") for _ in range(6)))
            return first + second, connector.stats()

    seen, stats = run(main())
    assert len(seen) == 12
    assert unix_server.connections == 2  # the two pooled connections served all twelve
    assert stats == {"acquired": 0, "idle": 2, "waiting": 0}


def test_http_unix_url_with_the_default_connector(unix_server):
    url = unix_url(unix_server.path, "/a/b?q=1")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(url) as resp:
                first = await resp.json()
                final_url = str(resp.url)
            second = await get_json(s, url)
            posted = await s.post(unix_url(unix_server.path, "/p"), data=b"body")
            return first, second, await posted.json(), final_url

    first, second, posted, final_url = run(main())
    assert first["target"] == second["target"] == "/a/b?q=1"
    assert first["host"] == "localhost"
    assert posted["method"] == "POST" and posted["body"] == "body"
    assert final_url == url  # the socket path keeps its case
    assert unix_server.connections == 1  # pooled per socket path


def test_each_socket_path_has_its_own_pool(sock_dir):
    one = UnixServer(os.path.join(sock_dir, "one.sock"))
    two = UnixServer(os.path.join(sock_dir, "two.sock"))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            for _ in range(3):
                for server in (one, two):
                    await get_json(s, unix_url(server.path, "/"))
            return s.connector.stats()

    try:
        stats = run(main())
    finally:
        one.close()
        two.close()
    assert (one.connections, two.connections) == (1, 1)
    assert stats["idle"] == 2


def test_base_url_on_a_socket(unix_server):
    async def main():
        async with ClientSession(base_url=unix_url(unix_server.path, "/api/"),
                                 timeout=SHORT) as s:
            return await get_json(s, "v1/items")

    assert run(main())["target"] == "/api/v1/items"


def test_missing_socket_names_the_path(sock_dir):
    missing = os.path.join(sock_dir, "nobody-home.sock")

    async def attempt(connector, url):
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            with pytest.raises(UnixClientConnectorError) as info:
                await s.get(url)
            return info.value

    for exc in (run(attempt(UnixConnector(missing), "http://localhost/")),
                run(attempt(TCPConnector(), unix_url(missing, "/x")))):
        assert isinstance(exc, syncwrap.ConnectionError)
        assert exc.path == missing
        assert missing in str(exc)
        assert "No such file" in str(exc)


def test_a_socket_nobody_listens_on_is_refused(sock_dir):
    path = os.path.join(sock_dir, "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # the file exists, but no one listens
    stale.close()

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await s.get(unix_url(path))

    with pytest.raises(UnixClientConnectorError, match="refused") as info:
        run(main())
    assert info.value.path == path


def test_bad_path_argument():
    for bad in (None, 3, ""):
        with pytest.raises(TypeError, match="path="):
            UnixConnector(bad)


def test_clone_keeps_path_and_settings(sock_dir):
    path = os.path.join(sock_dir, "x.sock")
    original = UnixConnector(path, limit=7, keepalive_timeout=3)
    clone = original.clone()
    assert (clone.path, clone.limit) == (path, 7)
    assert clone is not original


def test_relative_redirect_stays_on_the_socket(unix_server):
    url = unix_url(unix_server.path, "/redirect?to=../elsewhere%3Fx%3D1")

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.get(url) as resp:
                return await resp.json(), str(resp.url), [str(r.url) for r in resp.history]

    body, final, history = run(main())
    assert body["target"] == "/elsewhere?x=1"
    assert final == unix_url(unix_server.path, "/elsewhere?x=1")
    assert len(history) == 1 and history[0].startswith(unix_url(unix_server.path, "/redirect?"))


@pytest.mark.parametrize("location", [
    "//%2Ftmp%2Fother.sock/x",          # another socket, scheme-relative
    "http+unix://%2Ftmp%2Fother.sock/",  # another socket, absolute
])
def test_redirect_to_another_socket_is_refused(unix_server, location):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await s.get(unix_url(unix_server.path, "/redirect?to=" + quote(location, safe="")))

    with pytest.raises(NonHttpUrlRedirectClientError):
        run(main())


def test_tcp_server_cannot_redirect_into_a_socket(raw_server, unix_server):
    """A remote server must not steer a request (and its body) onto a local socket."""
    location = unix_url(unix_server.path, "/containers/create")

    def redirect(conn):
        if read_request(conn):
            conn.sendall(http_response(b"", status=307, reason="Temporary Redirect",
                                       headers={"Location": location}))

    server = raw_server(redirect)

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await s.post(server.url + "/", data=b"payload")

    with pytest.raises(NonHttpUrlRedirectClientError):
        run(main())
    assert unix_server.connections == 0


def test_cookies_set_over_a_socket_are_sent_back(unix_server):
    async def main():
        async with ClientSession(timeout=SHORT) as s:
            await get_json(s, unix_url(unix_server.path, "/cookie?session=abc"))
            return await get_json(s, unix_url(unix_server.path, "/next"))

    assert run(main())["cookie"] == "session=abc"


def test_tls_over_a_unix_socket(sock_dir, server_ssl_context, client_ssl_context):
    server = UnixServer(os.path.join(sock_dir, "tls.sock"), ssl_context=server_ssl_context)

    async def main():
        connector = UnixConnector(server.path)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            good = [await get_json(s, "https://localhost/secure", ssl=client_ssl_context)
                    for _ in range(2)]
            with pytest.raises(syncwrap.SSLError):
                await s.get("https://localhost/unverified")  # default CAs: not trusted
            return good

    try:
        good = run(main())
    finally:
        server.close()
    assert [r["target"] for r in good] == ["/secure", "/secure"]
    assert [r["connection"] for r in good] == [1, 1]


def test_tcp_urls_still_use_tcp_alongside_sockets(unix_server, raw_server):
    tcp = raw_server(keep_alive(b"tcp"))

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            over_socket = await get_json(s, unix_url(unix_server.path, "/"))
            async with s.get(tcp.url) as resp:
                return over_socket, await resp.read()

    over_socket, over_tcp = run(main())
    assert over_socket["target"] == "/" and over_tcp == b"tcp"


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:9/", {"all": "http://127.0.0.1:9/"}])
def test_a_socket_url_never_goes_through_a_proxy(unix_server, proxy):
    """A proxy (port 9: nothing listens) is never used for an http+unix URL."""
    url = unix_url(unix_server.path, "/direct")

    async def main():
        async with ClientSession(timeout=SHORT, proxy=proxy) as s:
            return await get_json(s, url)

    assert run(main())["target"] == "/direct"
