"""TLS for the https and proxy groups: a throw-away CA and nginx's certificate, made when the
run starts.

The orchestrator (run.py) writes the files with :func:`make_tls_files` (trustme, installed with
pip when missing); every client of the https cases and of the CONNECT-tunnel cases trusts
``ca_file`` and nothing else, the workers build their contexts with :func:`client_context`
(standard library only).
"""

from __future__ import annotations

import dataclasses
import importlib
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The names nginx's certificate is valid for; the benchmark URLs use the IP address.
IDENTITIES = ("127.0.0.1", "localhost")


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # the CA certificate the clients trust (PEM)
    cert_file: Path  # nginx's certificate chain (PEM)
    key_file: Path  # nginx's private key (PEM)


def _trustme() -> Any:
    try:
        return importlib.import_module("trustme")
    except ImportError:
        print("bench: installing trustme", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "trustme"], check=False)
        importlib.invalidate_caches()
        return importlib.import_module("trustme")


def make_tls_files(directory: Path) -> TlsFiles:
    """A new CA and a server certificate for :data:`IDENTITIES`, written into ``directory``."""
    ca = _trustme().CA()
    leaf = ca.issue_cert(*IDENTITIES)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_file))
    files.cert_file.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key_file))
    files.key_file.chmod(0o600)
    return files


def client_context(ca_file: str) -> ssl.SSLContext:
    """What every client of the TLS cases verifies nginx with: the default context
    (hostname and chain checked) trusting only the run's CA."""
    return ssl.create_default_context(cafile=ca_file)
