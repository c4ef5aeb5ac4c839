"""requests-style TLS options (``verify=``, ``cert=``) mapped onto the engine's ``ssl=``."""

from __future__ import annotations

import os
import ssl as ssl_module
from functools import lru_cache
from typing import Any

import certifi

from ..engine.tls import Fingerprint

__all__ = ["ssl_option"]


@lru_cache(maxsize=32)
def _context(verify: bool | str, cert: tuple[str, str | None] | None) -> ssl_module.SSLContext:
    if verify is False:
        ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl_module.CERT_NONE
    elif verify is True:
        ctx = ssl_module.create_default_context(cafile=certifi.where())
    elif os.path.isdir(verify):
        ctx = ssl_module.create_default_context(capath=verify)
    else:
        ctx = ssl_module.create_default_context(cafile=verify)
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def ssl_option(
    verify: Any = True, cert: Any = None, *, ssl: Any = None, fingerprint: Any = None
) -> Any:
    """The engine ``ssl=`` value for requests-style arguments.

    ``verify``: True (certifi's CAs), False (no checks) or a CA bundle file/dir path.
    ``cert``: a client certificate path, or a (cert, key) pair.
    ``ssl`` (an SSLContext or False) and ``fingerprint`` (a SHA-256 digest) win over both.
    """
    if fingerprint is not None:
        return fingerprint if isinstance(fingerprint, Fingerprint) else Fingerprint(fingerprint)
    if ssl is not None:
        return ssl
    if not isinstance(verify, bool | str | os.PathLike):
        raise TypeError(f"verify=: expected True, False or a CA bundle path, got {verify!r}")
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"verify=: CA bundle {verify!r} does not exist")
    pair: tuple[str, str | None] | None
    if cert is None:
        pair = None
    elif isinstance(cert, str | os.PathLike):
        pair = (os.fspath(cert), None)
    elif isinstance(cert, tuple) and len(cert) == 2:
        pair = (os.fspath(cert[0]), os.fspath(cert[1]) if cert[1] is not None else None)
    else:
        raise TypeError(f"cert=: expected a path or a (cert, key) pair, got {cert!r}")
    if pair is None and verify is True:
        return True
    if pair is None and verify is False:
        return False
    try:
        return _context(verify, pair)
    except (OSError, ssl_module.SSLError) as exc:
        raise ValueError(f"verify=/cert=: cannot load TLS files: {exc}") from exc
