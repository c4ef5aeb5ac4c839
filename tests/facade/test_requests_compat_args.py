"""Arguments handled as requests handles them (issue 13, point 3), against a local
httpbin and a raw socket: verify=None, cert= on plain http, bytes methods, text-mode and
length-only files sent with a Content-Length, json= refusing NaN, invalid host names
refused before DNS, header values validated, fragments inherited on redirect,
``r.raw.closed`` after close."""

from __future__ import annotations

import io
import tempfile

import pytest

import syncwrap
from syncwrap import exceptions as exc

T = 10  # seconds: the bound of every request here


def test_verify_none_is_the_default(httpbin_url):
    assert syncwrap.get(httpbin_url + "/get", verify=None, timeout=T).ok
    with syncwrap.Session(verify=None, timeout=T) as s:
        assert s.get(httpbin_url + "/get").ok


def test_cert_ignored_on_plain_http(httpbin_url, tmp_path):
    missing = str(tmp_path / "missing.pem")
    assert syncwrap.get(httpbin_url + "/get", cert=missing, timeout=T).ok
    assert syncwrap.get(httpbin_url + "/get", cert=(missing, missing), timeout=T).ok


def test_bytes_method(httpbin_url):
    r = syncwrap.request(b"POST", httpbin_url + "/post", data=b"x", timeout=T)
    assert r.ok and r.request.method == "POST"
    with pytest.raises(ValueError, match="method="):
        syncwrap.request("GÉT".encode(), httpbin_url + "/get", timeout=T)


def test_text_mode_files_sent_with_a_length(httpbin_url, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo\n", encoding="utf-8")
    with open(path, encoding="utf-8") as f:
        r = syncwrap.post(httpbin_url + "/post", data=f, timeout=T)
    assert r.json()["headers"]["Content-Length"] == str(len("héllo\n".encode()))
    assert r.json()["data"] == "héllo\n"
    assert "Transfer-Encoding" not in r.json()["headers"]
    with open(path, encoding="utf-8") as f:
        r = syncwrap.post(httpbin_url + "/post", files={"f": f}, timeout=T)
    assert r.json()["files"] == {"f": "héllo\n"} and "Content-Length" in r.json()["headers"]
    with tempfile.NamedTemporaryFile("w+") as f:
        f.write("abc")
        f.seek(0)
        r = syncwrap.post(httpbin_url + "/post", files={"f": f}, timeout=T)
    assert r.json()["files"] == {"f": "abc"}


class LengthOnly:
    """A file-like object with ``read`` and ``__len__``: no fileno, tell or seek."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self._size = len(data)

    def read(self, size: int = -1) -> bytes:
        return self._buffer.read(size)

    def __len__(self) -> int:
        return self._size


def test_length_only_file_objects_sent_with_a_length(httpbin_url):
    r = syncwrap.post(httpbin_url + "/post", data=LengthOnly(b"abcdef"), timeout=T)
    assert r.json()["headers"]["Content-Length"] == "6" and r.json()["data"] == "abcdef"
    r = syncwrap.post(httpbin_url + "/post", files={"f": LengthOnly(b"xyz")}, timeout=T)
    assert r.json()["files"] == {"f": "xyz"} and "Content-Length" in r.json()["headers"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_refuses_nan_and_infinity(raw_server, value):
    def handler(conn):  # must never be reached: the call fails before connecting
        conn.close()

    server = raw_server(handler)
    with pytest.raises(exc.InvalidJSONError, match="json="):
        syncwrap.post(f"http://127.0.0.1:{server.port}/", json={"x": value}, timeout=T)
    assert server.connections == 0


@pytest.mark.parametrize("url", ["http://*example.invalid/", "http://.example.invalid/",
                                 "http://a..b.invalid/", "http://" + "a" * 64 + ".invalid/",
                                 "http://ex(ample).invalid/"])
def test_invalid_host_names_refused_before_dns(url):
    with pytest.raises(exc.InvalidURL, match="invalid host"):
        syncwrap.get(url, timeout=T)


def test_trailing_dot_and_ipv6_hosts_still_accepted():
    from syncwrap.engine.request import build_url

    assert build_url("http://example.org./").raw_host == "example.org."
    assert build_url("http://[::1]:80/").raw_host == "::1"


@pytest.mark.parametrize("value", [" leading", "\tleading", 1, 2.5, ["a"]])
def test_header_values_validated_as_requests(httpbin_url, value):
    with pytest.raises(exc.InvalidHeader, match="headers="):
        syncwrap.get(httpbin_url + "/get", headers={"X-Bad": value}, timeout=T)


def test_header_values_bytes_and_inner_spaces_accepted(httpbin_url):
    r = syncwrap.get(httpbin_url + "/get", headers={"X-A": b"a b", "X-B": "c d "}, timeout=T)
    assert r.json()["headers"]["X-A"] == "a b"


def test_fragment_inherited_across_redirects(httpbin_url):
    r = syncwrap.get(httpbin_url + "/redirect/2#part", timeout=T)
    assert r.url == httpbin_url + "/get#part"
    assert [h.url for h in r.history] == [httpbin_url + "/redirect/2#part",
                                          httpbin_url + "/relative-redirect/1#part"]
    r = syncwrap.get(httpbin_url + "/redirect-to", params={"url": "/get#theirs"},
                     timeout=T)
    assert r.url == httpbin_url + "/get#theirs"


def test_raw_closed_after_close(httpbin_url):
    r = syncwrap.get(httpbin_url + "/bytes/100", stream=True, timeout=T)
    raw = r.raw
    assert not raw.closed
    r.close()
    assert raw.closed and r.raw.closed
    r = syncwrap.get(httpbin_url + "/bytes/100", stream=True, timeout=T)
    r.close()
    assert r.raw.closed
    with syncwrap.get(httpbin_url + "/bytes/10", stream=True, timeout=T) as r:
        pass
    assert r.raw.closed
