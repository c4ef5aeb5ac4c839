"""The facade inherits the engine's aiohttp behaviour (issue 14, must-have 4): the same
exception classes (one tree, no copy), cookies, bodies and timeouts, seen through the
blocking API. Every peer is a real local server."""

from __future__ import annotations

import io
import ssl
from http.cookies import SimpleCookie

import pytest
from werkzeug import Response

import syncwrap
import syncwrap.engine
import syncwrap.exceptions
from tests.servers import HUGE_HEADER, dribble, http_response, respond

SHORT = 10


def test_the_facade_raises_the_engines_classes_which_are_one_tree() -> None:
    for name in ("ClientConnectorDNSError", "ClientConnectorCertificateError",
                 "ClientConnectorSSLError", "ClientSSLError", "ClientConnectionResetError",
                 "ServerConnectionError", "ServerFingerprintMismatch", "InvalidUrlClientError",
                 "NonHttpUrlClientError", "InvalidUrlRedirectClientError",
                 "NonHttpUrlRedirectClientError", "RedirectClientError"):
        cls = getattr(syncwrap, name)
        assert cls is getattr(syncwrap.engine, name) is getattr(syncwrap.exceptions, name)
        assert issubclass(cls, syncwrap.ClientError)


def test_an_untrusted_certificate(tls_target) -> None:
    with pytest.raises(syncwrap.ClientConnectorCertificateError) as info:
        syncwrap.get(tls_target.url, ssl=ssl.create_default_context(), timeout=SHORT)
    assert isinstance(info.value, syncwrap.SSLError)  # and requests' name catches it too


def test_a_pinned_fingerprint_mismatch(tls_target) -> None:
    with pytest.raises(syncwrap.ServerFingerprintMismatch):
        syncwrap.get(tls_target.url, fingerprint=b"\0" * 32, verify=False, timeout=SHORT)


@pytest.mark.parametrize(("url", "cls"), [
    ("http:///nohost", syncwrap.InvalidUrlClientError),
    ("ftp://example.org/", syncwrap.NonHttpUrlClientError),
])
def test_bad_urls(url: str, cls: type) -> None:
    with pytest.raises(cls):
        syncwrap.get(url, timeout=SHORT)


def test_a_bad_redirect(raw_server) -> None:
    server = raw_server(respond(http_response(b"", 302, "Found",
                                              {"Location": "ftp://example.org/f"})))
    with pytest.raises(syncwrap.NonHttpUrlRedirectClientError) as info:
        syncwrap.get(server.url, timeout=SHORT)
    assert isinstance(info.value, syncwrap.RedirectClientError)


def test_an_over_long_header_is_a_client_response_error(raw_server) -> None:
    server = raw_server(respond(HUGE_HEADER))
    with pytest.raises(syncwrap.ClientResponseError) as info:
        syncwrap.get(server.url, timeout=SHORT)
    assert info.value.status == 400


def test_a_total_timeout_while_streaming_is_a_timeout(raw_server) -> None:
    server = raw_server(dribble(b"x" * 200, interval=0.05))
    with syncwrap.get(server.url, stream=True, timeout=0.5) as r:
        with pytest.raises(syncwrap.Timeout):
            r.content  # noqa: B018


def test_a_morsel_goes_under_its_own_name_and_stringio_has_a_length(httpbin_url) -> None:
    morsel = SimpleCookie("real=value")["real"]
    r = syncwrap.get(httpbin_url + "/cookies", cookies={"key": morsel}, timeout=SHORT)
    assert r.json()["cookies"] == {"real": "value"}
    r = syncwrap.post(httpbin_url + "/anything", data=io.StringIO("héllo"), timeout=SHORT)
    sent = r.json()
    assert sent["headers"]["Content-Length"] == str(len("héllo".encode()))
    assert sent["data"] == "héllo"


def test_a_formdata_charset_is_honoured(httpserver) -> None:
    bodies: list[bytes] = []

    def capture(request):
        bodies.append(request.get_data())
        return Response("ok")

    httpserver.expect_request("/form", method="POST").respond_with_handler(capture)
    form = syncwrap.engine.FormData(charset="koi8-r")
    form.add_field("name", "привет")
    form.add_field("file", b"data", filename="f.bin")
    syncwrap.post(httpserver.url_for("/form"), data=form, timeout=SHORT).raise_for_status()
    assert "привет".encode("koi8-r") in bodies[0]
    assert "привет".encode() not in bodies[0]
