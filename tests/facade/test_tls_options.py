"""TLS options through the blocking facade (issue 11, point 2): verify= (off, a CA file, a
CA directory), ssl=SSLContext, client certificates (cert=(crt, key), one combined file,
(crt, key, password) for an encrypted key), server_hostname=, the trust_env CA variables
and fingerprint= pinning, on calls and on a Session, against real TLS servers with
trustme certificates (tests/tls_peers.py)."""

from __future__ import annotations

import ssl

import pytest
import trustme

import syncwrap
from syncwrap.engine.tls import CA_ENV_VARS
from tests.facade._util import WAIT
from tests.tls_peers import (
    KEY_PASSWORD,
    digest_of,
    hashed_ca_dir,
    sha256_of,
    tls_peer,
)


@pytest.fixture
def clean_ca_env(monkeypatch):
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def body(response: syncwrap.Response) -> tuple[int, str]:
    return response.status_code, response.text


def test_verify_and_ssl_on_calls_and_sessions(peer, ca_pem_path, tls_ca, tmp_path):
    with pytest.raises(syncwrap.SSLError):
        syncwrap.get(peer.url, timeout=WAIT)
    assert body(syncwrap.get(peer.url, verify=False, timeout=WAIT)) == (200, "anonymous")
    assert body(syncwrap.get(peer.url, verify=ca_pem_path, timeout=WAIT)) == (200, "anonymous")
    ctx = ssl.create_default_context(cafile=ca_pem_path)
    assert body(syncwrap.get(peer.url, ssl=ctx, timeout=WAIT)) == (200, "anonymous")
    with syncwrap.Session(ssl=ctx, timeout=WAIT) as s:
        assert body(s.get(peer.url)) == (200, "anonymous")
        with pytest.raises(syncwrap.SSLError):  # the call's ssl= wins: the system's CAs
            s.get(peer.url, ssl=ssl.create_default_context())
    ca_dir = hashed_ca_dir(tls_ca, tmp_path / "certs")
    if ca_dir is not None:  # without the openssl command, the engine test skips this
        assert body(syncwrap.get(peer.url, verify=ca_dir, timeout=WAIT)) == (200, "anonymous")
        with syncwrap.Session(verify=ca_dir, timeout=WAIT) as s:
            assert body(s.get(peer.url)) == (200, "anonymous")


def test_client_certificates(mtls_peer, certs, ca_pem_path):
    with pytest.raises(syncwrap.ConnectionError):  # the server requires one
        syncwrap.get(mtls_peer.url, verify=ca_pem_path, timeout=WAIT)
    for cert in ((certs.crt, certs.key), certs.combined,
                 (certs.crt, certs.encrypted_key, KEY_PASSWORD)):
        r = syncwrap.get(mtls_peer.url, verify=ca_pem_path, cert=cert, timeout=WAIT)
        assert body(r) == (200, certs.name), cert
    encrypted = (certs.crt, certs.encrypted_key, KEY_PASSWORD)
    with syncwrap.Session(verify=ca_pem_path, cert=encrypted, timeout=WAIT) as s:
        assert s.cert == (certs.crt, certs.encrypted_key)
        assert body(s.get(mtls_peer.url)) == (200, certs.name)
        s.verify = ca_pem_path  # changing verify keeps the certificate and its password
        assert body(s.get(mtls_peer.url)) == (200, certs.name)
        s.cert = None
        with pytest.raises(syncwrap.ConnectionError):
            s.get(mtls_peer.url)


def test_encrypted_key_password_errors_come_at_the_call(mtls_peer, certs, ca_pem_path):
    pair = (certs.crt, certs.encrypted_key)
    with pytest.raises(ValueError, match="cert=: wrong password for the private key"):
        syncwrap.get(mtls_peer.url, verify=ca_pem_path, cert=(*pair, "wrong"), timeout=WAIT)
    with pytest.raises(ValueError, match="cert=: the private key .* is encrypted"):
        syncwrap.get(mtls_peer.url, verify=ca_pem_path, cert=pair, timeout=WAIT)
    with pytest.raises(ValueError, match="cert=: wrong password"):
        syncwrap.Session(cert=(*pair, b"wrong"))
    assert mtls_peer.server.connections == 0  # refused before connecting


def test_bad_tls_arguments_name_the_argument(peer, certs, tmp_path):
    missing = str(tmp_path / "missing.pem")
    for kwargs, kind, message in [
        (dict(verify=123), TypeError, "verify="),
        (dict(verify=missing), ValueError, "verify=: CA bundle .* does not exist"),
        (dict(cert=missing), ValueError, "cert=: certificate file .*missing.pem"),
        (dict(cert=(certs.crt, missing)), ValueError, "cert=: key file .*missing.pem"),
        (dict(cert=42), TypeError, "cert="),
        (dict(fingerprint="00" * 32), TypeError, "fingerprint="),
        (dict(ssl="yes"), TypeError, "ssl="),
        (dict(server_hostname=""), ValueError, "server_hostname="),
    ]:
        with pytest.raises(kind, match=message):
            syncwrap.get(peer.url, timeout=WAIT, **kwargs)
        if "server_hostname" not in kwargs:
            with pytest.raises(kind, match=message):
                syncwrap.Session(**kwargs)
    assert peer.server.connections == 0


def test_server_hostname(raw_server, tls_ca, ca_pem_path):
    peer = tls_peer(raw_server, tls_ca.issue_cert("example.test"))  # on 127.0.0.1
    with pytest.raises(syncwrap.SSLError):
        syncwrap.get(peer.url, verify=ca_pem_path, timeout=WAIT)
    r = syncwrap.get(peer.url, verify=ca_pem_path, server_hostname="example.test", timeout=WAIT)
    assert body(r) == (200, "anonymous")
    with syncwrap.Session(verify=ca_pem_path, timeout=WAIT) as s:
        for _ in range(2):
            assert body(s.get(peer.url, server_hostname="example.test")) == (200, "anonymous")
    assert peer.sni == [None, "example.test", "example.test"]  # the session reused its one


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_trust_env_ca_variables(variable, clean_ca_env, peer, ca_pem_path, tmp_path):
    clean_ca_env.setenv(variable, ca_pem_path)
    with syncwrap.Session(trust_env=True, timeout=WAIT) as s:
        assert body(s.get(peer.url)) == (200, "anonymous")
        other = tmp_path / "other.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        with pytest.raises(syncwrap.SSLError):  # a call's CA bundle wins over the variable
            s.get(peer.url, verify=str(other))
    with syncwrap.Session(trust_env=False, timeout=WAIT) as s:
        with pytest.raises(syncwrap.SSLError):
            s.get(peer.url)
    clean_ca_env.setenv(variable, str(tmp_path / "gone.pem"))
    with syncwrap.Session(trust_env=True, timeout=WAIT) as s:
        with pytest.raises(ValueError, match=f"{variable}=.*gone.pem"):
            s.get(peer.url)


def test_fingerprint_pinning(peer, tls_cert, ca_pem_path):
    good = sha256_of(tls_cert)
    assert body(syncwrap.get(peer.url, fingerprint=good, timeout=WAIT)) == (200, "anonymous")
    r = syncwrap.get(peer.url, fingerprint=good, verify=ca_pem_path, timeout=WAIT)
    assert body(r) == (200, "anonymous")  # the pin and the CA check
    with pytest.raises(syncwrap.FingerprintMismatch) as info:
        syncwrap.get(peer.url, fingerprint=b"\1" * 32, timeout=WAIT)
    assert (info.value.expected, info.value.got) == (b"\1" * 32, good)
    with syncwrap.Session(fingerprint=good, timeout=WAIT) as s:
        assert body(s.get(peer.url)) == (200, "anonymous")
        with pytest.raises(syncwrap.FingerprintMismatch):
            s.get(peer.url, fingerprint=syncwrap.Fingerprint(b"\2" * 32))
    with syncwrap.Session(fingerprint=b"\3" * 32, timeout=WAIT) as s:
        with pytest.raises(syncwrap.FingerprintMismatch) as info:
            s.get(peer.url)
        assert info.value.expected == b"\3" * 32
    for algorithm, name in (("md5", "MD5"), ("sha1", "SHA-1")):
        weak = digest_of(tls_cert, algorithm)
        with pytest.raises(ValueError, match=name):
            syncwrap.get(peer.url, fingerprint=weak, timeout=WAIT)
        with pytest.raises(ValueError, match=name):
            syncwrap.Session(fingerprint=weak)


def test_repeated_tls_arguments_are_checked_once(peer, ca_pem_path, monkeypatch, tmp_path):
    """verify=CA on every call: the CA path is checked on disk at the first call only (the
    engine keeps the context loaded from it); a new path is checked at its own first call."""
    import shutil

    import syncwrap.engine.tls_files as tls_files

    ca_pem_path = str(shutil.copy(ca_pem_path, tmp_path / "ca-copy.pem"))  # a path never used

    checked: list[str] = []
    exists = tls_files.os.path.exists

    def counting(path):
        checked.append(path)
        return exists(path)

    monkeypatch.setattr(tls_files.os.path, "exists", counting)
    with syncwrap.Session(timeout=WAIT) as s:
        for _ in range(3):
            assert body(s.get(peer.url, verify=ca_pem_path)) == (200, "anonymous")
        assert checked.count(ca_pem_path) == 1
        with pytest.raises(ValueError, match="verify=: CA bundle .* does not exist"):
            s.get(peer.url, verify=ca_pem_path + ".missing")
        with pytest.raises(ValueError, match="verify=: CA bundle .* does not exist"):
            s.get(peer.url, verify=ca_pem_path + ".missing")  # errors are never remembered
