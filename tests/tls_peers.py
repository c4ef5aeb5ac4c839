"""Real TLS peers and files for the TLS-option tests (engine and facade; never imports syncwrap).

``tls_peer`` starts a keep-alive HTTPS server on 127.0.0.1 that records the SNI name of
every handshake and answers each request with the name in the client certificate it got
("anonymous" without one); with ``require_cert=True`` it refuses clients without a
certificate from the test CA (ssl.CERT_REQUIRED). ``client_cert_files`` writes a client
certificate in every spelling (cert + key, one combined PEM, an encrypted key);
``hashed_ca_dir`` builds an OpenSSL CA directory (the ``<subject hash>.0`` link).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import NamedTuple

import trustme
from cryptography.hazmat.primitives import serialization

from tests.servers import RawServer, serve_http

KEY_PASSWORD = "correct horse"


class TLSPeer(NamedTuple):
    server: RawServer
    url: str  # https://127.0.0.1:PORT
    sni: list  # the SNI name of each handshake (None when the client sent none)
    refused: list  # the handshakes that failed on the server's side, as exceptions


def tls_peer(raw_server, leaf: trustme.LeafCert, ca: trustme.CA | None = None, *,
             require_cert: bool = False) -> TLSPeer:
    """An HTTPS server presenting ``leaf``; with ``require_cert`` it needs a client
    certificate issued by ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    if require_cert:
        assert ca is not None
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    sni: list[str | None] = []
    refused: list[BaseException] = []
    ctx.sni_callback = lambda sslobj, name, context: sni.append(name)

    def handler(conn: socket.socket) -> None:
        try:  # a duplicate, so that RawServer.close() can still shut the connection down
            tls = ctx.wrap_socket(conn.dup(), server_side=True)
        except (ssl.SSLError, OSError) as exc:
            refused.append(exc)
            return
        with tls:
            who = client_name(tls.getpeercert())
            serve_http(tls, lambda request: (who.encode(), {}))

    server = raw_server(handler)
    return TLSPeer(server, f"https://127.0.0.1:{server.port}", sni, refused)


def client_name(peer_cert: dict | None) -> str:
    """The first DNS name of a client certificate, or "anonymous"."""
    for kind, value in (peer_cert or {}).get("subjectAltName", ()):
        if kind == "DNS":
            return value
    return "anonymous"


class ClientCertFiles(NamedTuple):
    name: str  # the DNS name in the certificate, which the peer answers with
    crt: str  # the certificate alone
    key: str  # its key, unencrypted
    combined: str  # key and certificate in one PEM file
    encrypted_key: str  # the key encrypted with KEY_PASSWORD


def client_cert_files(ca: trustme.CA, directory: Path,
                      name: str = "client.example") -> ClientCertFiles:
    cert = ca.issue_cert(name)
    paths = {part: str(directory / f"{name}.{part}.pem")
             for part in ("crt", "key", "combined", "encrypted_key")}
    cert.cert_chain_pems[0].write_to_path(paths["crt"])
    cert.private_key_pem.write_to_path(paths["key"])
    cert.private_key_and_cert_chain_pem.write_to_path(paths["combined"])
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    Path(paths["encrypted_key"]).write_bytes(key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
    ))
    return ClientCertFiles(name=name, **paths)


def hashed_ca_dir(ca: trustme.CA, directory: Path) -> str | None:
    """A CA directory as ``openssl rehash`` makes it (``<subject hash>.0`` linking to
    the CA's PEM), or None when the openssl command is not available."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    try:
        digest = subprocess.run([openssl, "x509", "-subject_hash", "-noout", "-in", str(pem)],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    os.symlink(pem.name, directory / f"{digest.stdout.strip()}.0")
    return str(directory)


def sha256_of(leaf: trustme.LeafCert) -> bytes:
    """The SHA-256 digest of ``leaf``'s DER certificate (what a Fingerprint pins)."""
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))
    return hashlib.sha256(der).digest()


def digest_of(leaf: trustme.LeafCert, algorithm: str) -> bytes:
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))
    return hashlib.new(algorithm, der).digest()
