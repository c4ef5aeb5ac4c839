"""TLS options in the engine (issue 11, point 2): ssl_for's verify/cert (CA file and
directory, client certificates with encrypted keys), ssl=SSLContext, server_hostname,
the trust_env CA variables, the deprecated aliases and Fingerprint pinning, against real
TLS servers with trustme certificates (tests/tls_peers.py)."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import pytest
import trustme

from syncwrap.engine import (
    ClientConnectionError,
    ClientSession,
    Fingerprint,
    FingerprintMismatch,
    SSLError,
    TCPConnector,
)
from syncwrap.engine.tls import CA_ENV_VARS, ca_from_env, requests_ssl, resolve_ssl, ssl_for
from tests.engine._util import SHORT, run
from tests.tls_peers import (
    KEY_PASSWORD,
    digest_of,
    hashed_ca_dir,
    sha256_of,
    tls_peer,
)


async def _fetch(url: str, session_kw: dict | None = None, **kw) -> tuple[int, str]:
    async with ClientSession(timeout=SHORT, **(session_kw or {})) as s:
        async with s.get(url, **kw) as resp:
            return resp.status, (await resp.read()).decode()


def fetch(url: str, session_kw: dict | None = None, **kw) -> tuple[int, str]:
    return run(_fetch(url, session_kw, **kw))





@pytest.fixture
def other_ca_pem(tmp_path) -> str:
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


# -- verify: off, a CA file, a CA directory; ssl=SSLContext ---------------------------------------


def test_verify_false_ca_file_and_context(peer, ca_pem_path, other_ca_pem):
    assert fetch(peer.url, ssl=ssl_for(False)) == (200, "anonymous")
    assert fetch(peer.url, ssl=ssl_for(ca_pem_path)) == (200, "anonymous")
    assert fetch(peer.url, ssl=ssl_for(Path(ca_pem_path))) == (200, "anonymous")
    assert ssl_for(ca_pem_path) is ssl_for(ca_pem_path)  # cached: one pool key
    with pytest.raises(SSLError, match="certificate verify failed"):
        fetch(peer.url, ssl=ssl_for(other_ca_pem))
    ctx = ssl.create_default_context(cafile=ca_pem_path)
    assert fetch(peer.url, ssl=ctx) == (200, "anonymous")
    assert fetch(peer.url, {"ssl": ctx}) == (200, "anonymous")  # the session's setting
    assert fetch(peer.url, {"connector": TCPConnector(ssl=ctx)}) == (200, "anonymous")


def test_verify_a_hashed_ca_directory(peer, tls_ca, tmp_path):
    ca_dir = hashed_ca_dir(tls_ca, tmp_path / "certs")
    if ca_dir is None:
        pytest.skip("no openssl command to compute the CA's subject hash")
    assert fetch(peer.url, ssl=ssl_for(ca_dir)) == (200, "anonymous")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SSLError):  # the same directory without the CA trusts nothing
        fetch(peer.url, ssl=ssl_for(str(empty)))


# -- client certificates ---------------------------------------------------------------------------


def test_server_requiring_a_client_certificate(mtls_peer, certs, ca_pem_path):
    # TLS 1.3: the refusal comes after the client's handshake, as an alert or a reset
    with pytest.raises(ClientConnectionError):
        fetch(mtls_peer.url, ssl=ssl_for(ca_pem_path))
    assert mtls_peer.server.join()
    assert "CERTIFICATE" in str(mtls_peer.refused)  # the server refused the anonymous client
    spellings = [
        ssl_for(ca_pem_path, (certs.crt, certs.key)),
        ssl_for(ca_pem_path, certs.combined),
        ssl_for(ca_pem_path, Path(certs.combined)),
        ssl_for(ca_pem_path, (certs.crt, certs.encrypted_key), key_password=KEY_PASSWORD),
        ssl_for(ca_pem_path, (certs.crt, certs.encrypted_key),
                key_password=KEY_PASSWORD.encode()),
        ssl_for(ca_pem_path, (certs.crt, certs.encrypted_key), key_password=lambda: KEY_PASSWORD),
        ssl_for(ca_pem_path, (certs.crt, certs.encrypted_key, KEY_PASSWORD)),
    ]
    for tls in spellings:
        assert fetch(mtls_peer.url, ssl=tls) == (200, certs.name), tls
    assert spellings[0].cert == (certs.crt, certs.key)
    assert KEY_PASSWORD not in repr(spellings[-1])


def test_encrypted_key_needs_the_right_password(certs, ca_pem_path):
    pair = (certs.crt, certs.encrypted_key)
    with pytest.raises(ValueError, match=r"cert=: wrong password .*encrypted_key"):
        ssl_for(ca_pem_path, pair, key_password="wrong")
    with pytest.raises(ValueError, match=r"cert=: wrong password"):
        ssl_for(ca_pem_path, (*pair, "wrong"))
    with pytest.raises(ValueError, match=r"cert=: the private key .* is encrypted; give its pass"):
        ssl_for(ca_pem_path, pair)  # refused at once: never a pass-phrase prompt
    with pytest.raises(ValueError, match="given both"):
        ssl_for(ca_pem_path, (*pair, KEY_PASSWORD), key_password=KEY_PASSWORD)


def test_bad_tls_arguments_are_refused_at_the_call(certs, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    cases = [
        (dict(verify=123), TypeError, "verify="),
        (dict(verify=None), TypeError, "verify="),
        (dict(verify=str(tmp_path / "missing.pem")), ValueError, "verify=: CA bundle .* not exist"),
        (dict(verify=str(junk)), ValueError, "verify=: cannot load CA certificates"),
        (dict(cert=str(tmp_path / "nope.crt")), ValueError,
         "cert=: certificate file .*nope.crt.* does not exist"),
        (dict(cert=(certs.crt, str(tmp_path / "nope.key"))), ValueError,
         "cert=: key file .*nope.key.* does not exist"),
        (dict(cert=123), TypeError, "cert=: expected a path"),
        (dict(cert=(certs.crt,)), TypeError, "cert=: expected a path"),
        (dict(cert=str(junk)), ValueError, "cert=: cannot load the client certificate"),
        (dict(cert=(certs.crt, certs.key, 42)), TypeError, "cert=: the key password"),
        (dict(key_password="x"), ValueError, "key_password=: given without cert="),
        (dict(fingerprint="ab" * 32), TypeError, "fingerprint=: expected"),
    ]
    for kwargs, kind, message in cases:
        with pytest.raises(kind, match=message):
            ssl_for(**kwargs)
    with pytest.raises(TypeError, match="ssl="):
        resolve_ssl("yes")

    async def bad_request(**kw):
        async with ClientSession(timeout=SHORT) as s:
            await s.get("https://127.0.0.1:1/", **kw)  # never connects: refused first

    with pytest.raises(ValueError, match="server_hostname="):
        run(bad_request(server_hostname=""))
    with pytest.raises(TypeError, match="ssl="):
        run(bad_request(ssl=123))


# -- server_hostname -----------------------------------------------------------------------------


def test_server_hostname_sets_sni_and_the_checked_name(raw_server, tls_ca, ca_pem_path):
    leaf = tls_ca.issue_cert("example.test")
    peer = tls_peer(raw_server, leaf)  # on 127.0.0.1, with a certificate for example.test only
    tls = ssl_for(ca_pem_path)
    pinned = requests_ssl(tls, fingerprint=sha256_of(leaf))  # reads the CA: not on the loop

    async def main():
        async with ClientSession(timeout=SHORT) as s:
            with pytest.raises(SSLError, match="127.0.0.1"):  # the URL's host: no match
                await s.get(peer.url, ssl=tls)
            bodies = []
            for _ in range(2):  # the second request reuses the pooled connection
                async with s.get(peer.url, ssl=tls, server_hostname="example.test") as r:
                    bodies.append((r.status, await r.read()))
            async with s.get(peer.url, ssl=pinned, server_hostname="example.test") as r:
                bodies.append((r.status, await r.read()))  # a pin on top of the CA check
            with pytest.raises(SSLError, match="other.test"):  # another name: its own handshake
                await s.get(peer.url, ssl=tls, server_hostname="other.test")
            return bodies

    assert run(main()) == [(200, b"anonymous")] * 3
    assert peer.sni == [None, "example.test", "example.test", "other.test"]
    assert peer.server.connections == 4


# -- trust_env: the CA bundle the environment names ------------------------------------------------


@pytest.fixture
def clean_ca_env(monkeypatch):
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variable", CA_ENV_VARS)
def test_trust_env_takes_the_ca_from_the_environment(variable, clean_ca_env, peer, tls_ca,
                                                     ca_pem_path, tmp_path):
    where = ca_pem_path
    if variable == "SSL_CERT_DIR":
        where = hashed_ca_dir(tls_ca, tmp_path / "certs")
        if where is None:
            pytest.skip("no openssl command to compute the CA's subject hash")
    clean_ca_env.setenv(variable, where)
    assert fetch(peer.url, {"trust_env": True}) == (200, "anonymous")
    with pytest.raises(SSLError):  # without trust_env: certifi's CAs, which do not know ours
        fetch(peer.url)


def test_trust_env_order_and_what_it_leaves_alone(clean_ca_env, peer, mtls_peer, certs,
                                                  ca_pem_path, other_ca_pem):
    clean_ca_env.setenv("SSL_CERT_FILE", other_ca_pem)
    clean_ca_env.setenv("CURL_CA_BUNDLE", ca_pem_path)  # requests' variables come first
    assert fetch(peer.url, {"trust_env": True}) == (200, "anonymous")
    clean_ca_env.setenv("REQUESTS_CA_BUNDLE", other_ca_pem)
    with pytest.raises(SSLError):
        fetch(peer.url, {"trust_env": True})
    clean_ca_env.setenv("REQUESTS_CA_BUNDLE", ca_pem_path)
    # verify=True with a client certificate takes the environment's CA too
    with_cert = ssl_for(True, (certs.crt, certs.key))
    assert fetch(mtls_peer.url, {"trust_env": True}, ssl=with_cert) == (200, certs.name)
    # an explicit CA bundle, SSLContext, ssl=False or pin is never replaced
    with pytest.raises(SSLError):
        fetch(peer.url, {"trust_env": True}, ssl=ssl_for(other_ca_pem))
    assert fetch(peer.url, {"trust_env": True}, ssl=False) == (200, "anonymous")
    assert ca_from_env(ssl_for(False)) is ssl_for(False)
    assert ca_from_env(ssl_for(other_ca_pem)) is ssl_for(other_ca_pem)
    clean_ca_env.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ValueError, match="REQUESTS_CA_BUNDLE='/nonexistent/ca.pem'"):
        fetch(peer.url, {"trust_env": True})


# -- the seed's spellings, pinning ---------------------------------------------------------------


def test_deprecated_aliases_still_work(peer, tls_cert, ca_pem_path):
    ctx = ssl.create_default_context(cafile=ca_pem_path)
    digest = sha256_of(tls_cert)
    for alias in ({"verify_ssl": False}, {"ssl_context": ctx}, {"fingerprint": digest}):
        with pytest.warns(DeprecationWarning, match="use ssl="):
            assert fetch(peer.url, **alias) == (200, "anonymous")
        with pytest.warns(DeprecationWarning):
            assert fetch(peer.url, {"connector": TCPConnector(**alias)}) == (200, "anonymous")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="ssl=, fingerprint= are mutually exclusive"):
            fetch(peer.url, ssl=ctx, fingerprint=digest)
        with pytest.raises(ValueError, match="verify_ssl=, ssl_context= are mutually"):
            TCPConnector(verify_ssl=False, ssl_context=ctx)
        with pytest.raises(FingerprintMismatch):
            fetch(peer.url, fingerprint=b"\1" * 32)
        with pytest.raises(ValueError, match="MD5"):
            TCPConnector(fingerprint=digest_of(tls_cert, "md5"))


def test_fingerprint_pins_and_refuses_weak_digests(peer, tls_cert, ca_pem_path):
    good = sha256_of(tls_cert)
    assert fetch(peer.url, ssl=Fingerprint(good)) == (200, "anonymous")
    assert fetch(peer.url, ssl=ssl_for(fingerprint=good)) == (200, "anonymous")  # pin, no CA
    assert fetch(peer.url, ssl=ssl_for(ca_pem_path, fingerprint=good)) == (200, "anonymous")
    for tls in (Fingerprint(b"\0" * 32), ssl_for(ca_pem_path, fingerprint=b"\0" * 32)):
        with pytest.raises(FingerprintMismatch) as info:
            fetch(peer.url, ssl=tls)
        assert (info.value.expected, info.value.got) == (b"\0" * 32, good)
    for algorithm, name in (("md5", "MD5"), ("sha1", "SHA-1")):
        with pytest.raises(ValueError, match=f"is {name}, which is insecure"):
            Fingerprint(digest_of(tls_cert, algorithm))
    with pytest.raises(ValueError, match="32 bytes, got 48"):
        Fingerprint(digest_of(tls_cert, "sha384"))
