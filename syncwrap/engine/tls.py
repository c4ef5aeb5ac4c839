"""TLS settings: the default certifi context, ``ssl=False``, contexts and pinning.

The one owner of TLS contexts for both layers: the engine's ``ssl=`` values
(:func:`resolve_ssl`) and requests' ``verify=``/``cert=`` spelling of them
(:func:`ssl_for`), which the blocking facade translates into ``ssl=``.
"""

from __future__ import annotations

import hashlib
import os
import ssl as ssl_module
import warnings
from functools import lru_cache
from typing import Any

import certifi

from ..exceptions import FingerprintMismatch

__all__ = [
    "Fingerprint",
    "SSLConfig",
    "resolve_ssl",
    "ssl_for",
    "default_context",
    "unverified_context",
]

_default_context: ssl_module.SSLContext | None = None
_unverified_context: ssl_module.SSLContext | None = None


def default_context() -> ssl_module.SSLContext:
    """A verifying context trusting certifi's CA bundle (made once)."""
    global _default_context
    if _default_context is None:
        _default_context = ssl_module.create_default_context(cafile=certifi.where())
    return _default_context


def unverified_context() -> ssl_module.SSLContext:
    """A context that checks neither the certificate nor the host name (``ssl=False``)."""
    global _unverified_context
    if _unverified_context is None:
        _unverified_context = _new_unverified_context()
    return _unverified_context


def _new_unverified_context() -> ssl_module.SSLContext:
    ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl_module.CERT_NONE
    return ctx


class Fingerprint:
    """Pin a server certificate by the SHA-256 digest of its DER form."""

    def __init__(self, fingerprint: bytes) -> None:
        if not isinstance(fingerprint, bytes | bytearray):
            raise TypeError(f"Fingerprint(): expected bytes, got {type(fingerprint).__name__}")
        if len(fingerprint) in (16, 20):
            raise ValueError(
                "Fingerprint(): MD5 and SHA-1 fingerprints are insecure; pass a SHA-256 digest"
            )
        if len(fingerprint) != 32:
            raise ValueError(
                f"Fingerprint(): a SHA-256 digest is 32 bytes, got {len(fingerprint)}"
            )
        self.fingerprint = bytes(fingerprint)

    def check(self, transport: Any, host: str = "", port: int | None = None) -> None:
        """Raise FingerprintMismatch unless the peer certificate matches."""
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else b""
        got = hashlib.sha256(der or b"").digest()
        if got != self.fingerprint:
            transport.close()
            raise FingerprintMismatch(self.fingerprint, got, host, port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fingerprint) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Fingerprint({self.fingerprint.hex()})"


class SSLConfig:
    """What TLS a connection uses; hashable so the pool can key connections by it.

    ``verify`` and ``cert`` say the same in requests' terms: ``verify`` is True
    (the certificate is checked), False, or the CA bundle path it was made from;
    ``cert`` is the client certificate as a path or a (cert, key) pair, or None.
    """

    __slots__ = ("context", "fingerprint", "verify", "cert")

    def __init__(
        self,
        context: ssl_module.SSLContext,
        fingerprint: Fingerprint | None = None,
        *,
        verify: bool | str | None = None,
        cert: str | tuple[str, str] | None = None,
    ) -> None:
        self.context = context
        self.fingerprint = fingerprint
        if verify is None:
            verify = fingerprint is None and context.verify_mode != ssl_module.CERT_NONE
        self.verify = verify
        self.cert = cert

    def check(self, transport: Any, host: str, port: int | None) -> None:
        if self.fingerprint is not None:
            self.fingerprint.check(transport, host, port)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SSLConfig)
            and other.context is self.context
            and other.fingerprint == self.fingerprint
        )

    def __hash__(self) -> int:
        return hash((id(self.context), self.fingerprint))


def resolve_ssl(
    ssl: Any = True,
    *,
    verify_ssl: bool | None = None,
    ssl_context: ssl_module.SSLContext | None = None,
    fingerprint: bytes | None = None,
) -> SSLConfig:
    """Turn ``ssl=`` (True, False, SSLContext, Fingerprint) and the old aliases into a config."""
    if verify_ssl is not None or ssl_context is not None or fingerprint is not None:
        warnings.warn(
            "verify_ssl=, ssl_context= and fingerprint= are deprecated; use ssl=",
            DeprecationWarning,
            stacklevel=3,
        )
        if verify_ssl is False:
            ssl = False
        if ssl_context is not None:
            ssl = ssl_context
        if fingerprint is not None:
            ssl = Fingerprint(fingerprint)
    if ssl is True or ssl is None:
        return _DEFAULT
    if ssl is False:
        return _UNVERIFIED
    if isinstance(ssl, ssl_module.SSLContext):
        return SSLConfig(ssl)
    if isinstance(ssl, Fingerprint):
        return SSLConfig(unverified_context(), ssl)
    if isinstance(ssl, SSLConfig):
        return ssl
    raise TypeError(
        f"ssl=: expected True, False, an ssl.SSLContext or a Fingerprint, got {type(ssl).__name__}"
    )


class _LazyDefault(SSLConfig):
    """The default config; builds certifi's context on first use, not at import."""

    __slots__ = ()

    def __init__(self, verify: bool) -> None:  # noqa: D107 - private
        self.verify = verify
        self.cert = None
        self.fingerprint = None

    @property  # type: ignore[override]
    def context(self) -> ssl_module.SSLContext:
        return default_context() if self.verify else unverified_context()

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


_DEFAULT = _LazyDefault(True)
_UNVERIFIED = _LazyDefault(False)


def ssl_for(verify: Any = True, cert: Any = None) -> SSLConfig:
    """The engine's ``ssl=`` value for requests' ``verify=`` and ``cert=``.

    ``verify``: True (certifi's CA bundle), False (no checks), or the path of a
    CA bundle file or directory. ``cert``: the client certificate, as the path
    of a PEM file holding the key too, or a (cert, key) pair of paths.
    The result is an explicit setting (``verify=True`` checks certificates even
    where the session or connector default does not) and is cached: the same
    arguments give the same SSLConfig, so their connections share the pool.
    Bad values raise TypeError, missing or unreadable files ValueError.
    """
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, bool | str):
        raise TypeError(f"verify=: expected True, False or a CA bundle path, got {verify!r}")
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"verify=: CA bundle {verify!r} does not exist")
    if cert is None or isinstance(cert, str):
        spelled = cert
    elif isinstance(cert, os.PathLike):
        spelled = os.fspath(cert)
    elif isinstance(cert, tuple) and len(cert) == 2:
        key = None if cert[1] is None else os.fspath(cert[1])
        spelled = os.fspath(cert[0]) if key is None else (os.fspath(cert[0]), key)
    else:
        raise TypeError(f"cert=: expected a path or a (cert, key) pair, got {cert!r}")
    try:
        return _requests_config(verify, spelled)
    except (OSError, ssl_module.SSLError) as exc:
        raise ValueError(f"verify=/cert=: cannot load TLS files: {exc}") from exc


@lru_cache(maxsize=32)
def _requests_config(verify: bool | str, cert: str | tuple[str, str] | None) -> SSLConfig:
    if cert is None and verify is True:
        return SSLConfig(default_context(), verify=True)
    if cert is None and verify is False:
        return SSLConfig(unverified_context(), verify=False)
    if verify is False:
        ctx = _new_unverified_context()
    elif verify is True:
        ctx = ssl_module.create_default_context(cafile=certifi.where())
    elif os.path.isdir(verify):
        ctx = ssl_module.create_default_context(capath=verify)
    else:
        ctx = ssl_module.create_default_context(cafile=verify)
    if cert is not None:
        ctx.load_cert_chain(*((cert, None) if isinstance(cert, str) else cert))
    return SSLConfig(ctx, verify=verify, cert=cert)
