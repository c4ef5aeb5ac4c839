"""Certificate pinning: :class:`Fingerprint`, the SHA-256 digest of a server's certificate."""

from __future__ import annotations

import hashlib
from typing import Any

from ..exceptions import FingerprintMismatch

__all__ = ["Fingerprint"]

_WEAK_DIGESTS = {16: "MD5", 20: "SHA-1"}


class Fingerprint:
    """Pin a server certificate by the SHA-256 digest of its DER form.

    ``Fingerprint(hashlib.sha256(der).digest())``; as ``ssl=`` it replaces the
    CA check. A connection to a server whose certificate has another digest
    raises FingerprintMismatch (``.expected``, ``.got``). MD5 and SHA-1 digests
    are refused with ValueError.
    """

    __slots__ = ("fingerprint",)

    def __init__(self, fingerprint: bytes) -> None:
        if not isinstance(fingerprint, bytes | bytearray):
            raise TypeError(
                f"Fingerprint(): expected the SHA-256 digest as bytes, "
                f"got {type(fingerprint).__name__}"
            )
        weak = _WEAK_DIGESTS.get(len(fingerprint))
        if weak is not None:
            raise ValueError(
                f"Fingerprint(): a {len(fingerprint)}-byte digest is {weak}, which is "
                f"insecure; pass the SHA-256 digest (32 bytes)"
            )
        if len(fingerprint) != 32:
            raise ValueError(
                f"Fingerprint(): a SHA-256 digest is 32 bytes, got {len(fingerprint)}"
            )
        self.fingerprint = bytes(fingerprint)

    def check(self, transport: Any, host: str = "", port: int | None = None) -> None:
        """Raise FingerprintMismatch (closing ``transport``) unless the peer certificate
        matches."""
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else b""
        got = hashlib.sha256(der or b"").digest()
        if got != self.fingerprint:
            if transport is not None:
                transport.close()
            raise FingerprintMismatch(self.fingerprint, got, host, port)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fingerprint) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Fingerprint({self.fingerprint.hex()})"
