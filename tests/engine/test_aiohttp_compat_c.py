"""aiohttp 3.14 compatibility, part C of issue 14: no .netrc file I/O on the loop thread,
and the smaller 3.14 API additions."""

from __future__ import annotations

import sys
import threading

import pytest

from syncwrap.engine import ClientError, ClientResponseError, ClientSession
from tests.engine._util import SHORT, run

_opens: list[tuple[str, int]] | None = None  # recording while a test sets it to a list


def _audit(event: str, args: tuple) -> None:
    if _opens is not None and event == "open" and args and isinstance(args[0], str):
        _opens.append((args[0], threading.get_ident()))


sys.addaudithook(_audit)  # cannot be removed: inert while _opens is None


def test_netrc_is_not_read_on_the_loop_thread(httpbin_url, tmp_path, monkeypatch):
    global _opens
    netrc = tmp_path / "netrc"
    netrc.write_text("default login u password p\n")
    monkeypatch.setenv("NETRC", str(netrc))

    async def main():
        async with ClientSession(trust_env=True, timeout=SHORT) as s:
            async with s.get(httpbin_url + "/basic-auth/u/p") as r:
                return r.status, threading.get_ident()

    _opens = []
    try:
        status, loop_thread = run(main())
        opened = [ident for path, ident in _opens if path == str(netrc)]
    finally:
        _opens = None
    assert status == 200  # the credentials were read and used
    assert opened, "the .netrc file was never opened"
    assert loop_thread not in opened


# ------------------------------------------------------------------- 3.14 API additions


def test_json_serialize_bytes_wins_over_json_serialize(httpbin_url):
    import json

    calls: list[object] = []

    def dumps_bytes(value) -> bytes:
        calls.append(value)
        return json.dumps(value, separators=(",", ":")).encode()

    async def main():
        async with ClientSession(json_serialize=lambda v: "never", timeout=SHORT,
                                 json_serialize_bytes=dumps_bytes) as s:
            async with s.post(httpbin_url + "/post", json={"a": [1, 2]}) as r:
                return await r.json()

    body = run(main())
    assert body["data"] == '{"a":[1,2]}'
    assert body["headers"]["Content-Type"] == "application/json"
    assert calls == [{"a": [1, 2]}]
    with pytest.raises(TypeError, match="json_serialize_bytes="):
        ClientSession(json_serialize_bytes=b"not callable")


def test_max_headers_limits_the_response_headers(httpbin_url):
    url = httpbin_url + "/response-headers?" + "&".join(f"x{i}=1" for i in range(6))

    async def main(limit: int):
        async with ClientSession(max_headers=limit, timeout=SHORT) as s:
            async with s.get(url) as r:
                return r.status

    assert run(main(128)) == 200
    with pytest.raises(ClientError):
        run(main(5))
    with pytest.raises(ValueError, match="max_headers="):
        ClientSession(max_headers=0)


def test_max_headers_per_request_keeps_the_sessions_other_limits(httpbin_url):
    """aiohttp 3.14 also takes ``max_headers=`` per request; a per-request limit does not
    reset the session's others (here: its max_headers when only max_line_size is given)."""
    url = httpbin_url + "/response-headers?" + "&".join(f"x{i}=1" for i in range(6))

    async def main(**kwargs):
        async with ClientSession(max_headers=5, timeout=SHORT) as s:
            async with s.get(url, **kwargs) as r:
                return r.status

    assert run(main(max_headers=128)) == 200
    with pytest.raises(ClientResponseError):
        run(main(max_line_size=4096))
    with pytest.raises(ClientResponseError):
        run(main())
    with pytest.raises(ValueError, match="max_headers="):
        run(main(max_headers=0))


def test_encode_basic_auth_as_an_explicit_header(httpbin_url):
    from syncwrap.engine import encode_basic_auth

    assert encode_basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert encode_basic_auth("é") == "Basic w6k6"  # UTF-8 by default, as in aiohttp

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            headers = {"Authorization": encode_basic_auth("u", "p:w")}
            async with s.get(httpbin_url + "/basic-auth/u/p:w", headers=headers) as r:
                return r.status

    assert run(main()) == 200
    with pytest.raises(ValueError, match="login"):
        encode_basic_auth("a:b", "c")


def _tls_server(server_ssl_context, outcome: list[str], served: threading.Event):
    """One TLS connection: answers one request, then records how the client left:
    "clean" (a TLS close_notify) or "abrupt" (the TCP connection dropped)."""
    import socket
    import ssl

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        with listener:
            raw, _ = listener.accept()
            raw.settimeout(10)
            with server_ssl_context.wrap_socket(raw, server_side=True,
                                                suppress_ragged_eofs=False) as conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                served.set()
                try:
                    outcome.append("clean" if conn.recv(4096) == b"" else "data")
                except (ssl.SSLError, OSError):
                    outcome.append("abrupt")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize("abort_ssl, expected", [(False, "clean"), (True, "abrupt")])
def test_connector_close_abort_ssl(server_ssl_context, client_ssl_context, abort_ssl, expected):
    from syncwrap.engine import TCPConnector

    outcome: list[str] = []
    served = threading.Event()
    port, thread = _tls_server(server_ssl_context, outcome, served)

    async def main():
        connector = TCPConnector(ssl=client_ssl_context)
        async with ClientSession(connector=connector, timeout=SHORT) as s:
            async with s.get(f"https://localhost:{port}/") as r:
                assert await r.read() == b"ok"
            await connector.close(abort_ssl=abort_ssl)  # the connection is idle in the pool

    run(main())
    thread.join(10)
    assert outcome == [expected]


def test_output_size_and_upload_complete(httpbin_url):
    import io

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            async with s.post(httpbin_url + "/post", data=b"abc") as r:
                small = (r.output_size, r.request_info, await r.json(), r.upload_complete.done())
            async with s.post(httpbin_url + "/post", data=io.BytesIO(b"x" * 100_000)) as r:
                streamed = (r.output_size, await r.json(), await r.upload_complete)
            async with s.get(httpbin_url + "/get") as r:
                empty = r.output_size
        return small, streamed, empty

    (size1, _, body1, done), (size2, body2, waited), size3 = run(main())
    assert body1["data"] == "abc" and done
    assert len(body2["data"]) == 100_000 and waited is None
    assert 3 < size3 < size1 and size1 - size3 > 3  # the head, plus the body
    assert 100_000 < size2 < 100_000 + 1000  # written by the body's own task
