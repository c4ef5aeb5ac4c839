"""aiohttp compatibility, part A: create_task on a request, ``async with TCPConnector``,
aiohttp's finer exception classes raised where aiohttp raises them, and lifecycle errors.
Every peer is a real local server."""

from __future__ import annotations

import asyncio
import ssl

import pytest

import syncwrap.engine as aiohttp
from tests.engine._util import SHORT, run
from tests.servers import HUGE_HEADER, http_response, keep_alive, read_request, respond


def test_create_task_on_a_request(raw_server) -> None:
    server = raw_server(keep_alive(b"hello"))

    async def main() -> tuple[int, bytes]:
        async with aiohttp.ClientSession(timeout=SHORT) as session:
            task = asyncio.create_task(session.get(f"http://{server.host}:{server.port}/"))
            resp = await task
            async with resp:
                return resp.status, await resp.read()

    assert run(main()) == (200, b"hello")


def test_gather_and_ensure_future_take_requests(raw_server) -> None:
    server = raw_server(keep_alive(b"x"))
    url = f"http://{server.host}:{server.port}/"

    async def main() -> list[int]:
        async with aiohttp.ClientSession(timeout=SHORT) as session:
            resps = await asyncio.gather(session.get(url), asyncio.ensure_future(session.get(url)))
            for resp in resps:
                resp.release()
            return [resp.status for resp in resps]

    assert run(main()) == [200, 200]


def test_a_request_never_awaited_can_be_closed() -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            pending = session.get("http://127.0.0.1:9/")
            assert asyncio.iscoroutine(pending)
            pending.close()

    run(main())


def test_async_with_tcp_connector(raw_server) -> None:
    server = raw_server(keep_alive(b"ok"))

    async def main() -> aiohttp.TCPConnector:
        async with aiohttp.TCPConnector(limit=2) as connector:
            async with aiohttp.ClientSession(connector=connector, connector_owner=False,
                                             timeout=SHORT) as session:
                async with session.get(f"http://{server.host}:{server.port}/") as resp:
                    assert await resp.read() == b"ok"
            assert not connector.closed
        return connector

    assert run(main()).closed


def test_exception_hierarchy_is_aiohttp_s() -> None:
    e = aiohttp
    assert issubclass(e.ClientConnectorDNSError, e.ClientConnectorError)
    assert issubclass(e.ClientSSLError, e.ClientConnectorError)
    assert issubclass(e.ClientConnectorSSLError, e.ClientSSLError)
    assert issubclass(e.ClientConnectorSSLError, ssl.SSLError)
    assert issubclass(e.ClientConnectorCertificateError, e.ClientSSLError)
    assert issubclass(e.ClientConnectorCertificateError, ssl.CertificateError)
    assert issubclass(e.ClientConnectionResetError, e.ClientConnectionError)
    assert issubclass(e.ClientConnectionResetError, ConnectionResetError)
    assert issubclass(e.ServerConnectionError, e.ClientConnectionError)
    assert issubclass(e.ServerDisconnectedError, e.ServerConnectionError)
    assert issubclass(e.ServerFingerprintMismatch, e.ServerConnectionError)
    assert issubclass(e.InvalidUrlClientError, e.InvalidURL)
    assert issubclass(e.NonHttpUrlClientError, e.ClientError)
    assert issubclass(e.InvalidUrlRedirectClientError, e.InvalidUrlClientError)
    assert issubclass(e.InvalidUrlRedirectClientError, e.RedirectClientError)
    assert issubclass(e.NonHttpUrlRedirectClientError, e.NonHttpUrlClientError)
    assert issubclass(e.NonHttpUrlRedirectClientError, e.RedirectClientError)
    assert issubclass(e.MalformedResponseError, e.ClientResponseError)
    # syncwrap's own names stay, as aliases or parents
    assert e.SSLError is e.ClientSSLError and e.FingerprintMismatch is e.ServerFingerprintMismatch
    assert issubclass(e.MissingSchema, e.InvalidUrlClientError)
    assert issubclass(e.InvalidSchema, e.NonHttpUrlClientError)


async def _get(url: str, **kwargs) -> None:
    async with aiohttp.ClientSession(timeout=SHORT) as session:
        async with session.get(url, **kwargs) as resp:
            await resp.read()


def test_untrusted_certificate_is_a_certificate_error(tls_target) -> None:
    with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
        run(_get(tls_target.url, ssl=ssl.create_default_context(cafile=None)))
    assert isinstance(info.value.certificate_error, ssl.SSLCertVerificationError)


def test_tls_to_a_plain_server_is_an_ssl_error(raw_server) -> None:
    def plain(conn) -> None:
        conn.recv(4096)  # the ClientHello, answered in plain HTTP
        conn.sendall(http_response(b"plain"))

    server = raw_server(plain)
    with pytest.raises(aiohttp.ClientConnectorSSLError) as info:
        run(_get(f"https://{server.host}:{server.port}/"))
    assert not isinstance(info.value, aiohttp.ClientConnectorCertificateError)


def test_pinned_fingerprint_mismatch(tls_target) -> None:
    pin = aiohttp.Fingerprint(b"\0" * 32)
    with pytest.raises(aiohttp.ServerFingerprintMismatch):
        run(_get(tls_target.url, ssl=pin))


@pytest.mark.parametrize(("url", "cls"), [
    ("http:///nohost", aiohttp.InvalidUrlClientError),
    ("ftp://example.org/", aiohttp.NonHttpUrlClientError),
])
def test_bad_request_urls(url: str, cls: type) -> None:
    with pytest.raises(cls):
        run(_get(url))


@pytest.mark.parametrize(("location", "cls"), [
    ("ftp://example.org/file", aiohttp.NonHttpUrlRedirectClientError),
    ("http:///nohost", aiohttp.InvalidUrlRedirectClientError),
])
def test_bad_redirects_are_redirect_client_errors(raw_server, location: str, cls) -> None:
    server = raw_server(respond(http_response(b"", 302, "Found", {"Location": location})))
    with pytest.raises(cls) as info:
        run(_get(f"http://{server.host}:{server.port}/"))
    assert isinstance(info.value, aiohttp.RedirectClientError)


def test_over_long_header_is_a_client_response_error(raw_server) -> None:
    server = raw_server(respond(HUGE_HEADER))
    with pytest.raises(aiohttp.ClientResponseError) as info:
        run(_get(f"http://{server.host}:{server.port}/"))
    assert info.value.status == 400


def test_too_many_headers_is_a_client_response_error(raw_server) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(200)).encode()
    server = raw_server(respond(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 0\r\n\r\n"))
    with pytest.raises(aiohttp.ClientResponseError):
        run(_get(f"http://{server.host}:{server.port}/"))


def test_session_auth_with_authorization_header_is_a_value_error(raw_server) -> None:
    seen: list[bytes] = []

    def handler(conn) -> None:
        seen.append(read_request(conn))

    server = raw_server(handler)

    async def main() -> None:
        async with aiohttp.ClientSession(auth=aiohttp.BasicAuth("u", "p"),
                                         timeout=SHORT) as session:
            await session.get(f"http://{server.host}:{server.port}/",
                              headers={"Authorization": "Bearer t"})

    with pytest.raises(ValueError, match="Authorization"):
        run(main())
    assert seen == []


def test_reading_a_released_response_is_connection_closed(raw_server) -> None:
    server = raw_server(keep_alive(b"body"))
    url = f"http://{server.host}:{server.port}/"

    async def main() -> None:
        async with aiohttp.ClientSession(timeout=SHORT) as session:
            resp = await session.get(url)
            await resp.release()
            with pytest.raises(aiohttp.ClientConnectionError, match="Connection closed"):
                await resp.read()
            async with session.get(url) as resp:
                assert await resp.read() == b"body"
            with pytest.raises(aiohttp.ClientConnectionError, match="Connection closed"):
                await resp.text()

    run(main())


def test_reading_after_the_session_closed_is_a_runtime_error(raw_server) -> None:
    def slow_body(conn) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        conn.recv(1)  # until the client goes away

    server = raw_server(slow_body)

    async def main() -> None:
        session = aiohttp.ClientSession(timeout=SHORT)
        resp = await session.get(f"http://{server.host}:{server.port}/")
        await session.close()
        with pytest.raises(RuntimeError):
            await resp.read()

    run(main())


def test_sock_read_does_not_count_while_the_body_is_sent(raw_server) -> None:
    def answer_after_body(conn) -> None:
        read_request(conn)
        conn.sendall(http_response(b"done"))

    server = raw_server(answer_after_body)

    async def slow_body():
        for _ in range(4):
            await asyncio.sleep(0.2)
            yield b"x" * 10

    async def main() -> bytes:
        timeout = aiohttp.ClientTimeout(total=5, sock_read=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(f"http://{server.host}:{server.port}/",
                                    data=slow_body()) as resp:
                return await resp.read()

    assert run(main()) == b"done"


def test_sock_read_counts_once_the_body_is_sent(raw_server) -> None:
    def never_answer(conn) -> None:
        read_request(conn)
        conn.recv(1)

    server = raw_server(never_answer)

    async def body():
        await asyncio.sleep(0.4)
        yield b"x"

    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=5, sock_read=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await session.post(f"http://{server.host}:{server.port}/", data=body())

    with pytest.raises(aiohttp.SocketTimeoutError):
        run(main())


def test_total_timeout_while_reading_content_is_a_timeout(raw_server) -> None:
    def part(conn) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n")
        conn.recv(1)

    server = raw_server(part)

    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=0.5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://{server.host}:{server.port}/") as resp:
                async for _ in resp.content.iter_chunked(2):
                    pass

    with pytest.raises(asyncio.TimeoutError) as info:
        run(main())
    assert isinstance(info.value, aiohttp.ServerTimeoutError)
    assert not isinstance(info.value, aiohttp.ClientPayloadError)


def test_a_reset_while_uploading_is_a_connection_reset_error(raw_server) -> None:
    import threading

    closed = threading.Event()

    def reset_after_head(conn) -> None:
        conn.recv(100)
        conn.close()  # unread data pending: the kernel answers with a reset
        closed.set()

    server = raw_server(reset_after_head)

    async def body():
        yield b"a"
        await asyncio.get_running_loop().run_in_executor(None, closed.wait, 5)
        await asyncio.sleep(0.2)
        for _ in range(50):
            yield b"x" * 65536

    async def main() -> None:
        async with aiohttp.ClientSession(timeout=SHORT) as session:
            await session.post(f"http://{server.host}:{server.port}/", data=body())

    with pytest.raises(aiohttp.ClientConnectionResetError) as info:
        run(main())
    assert isinstance(info.value, ConnectionResetError)
