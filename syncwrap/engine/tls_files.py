"""TLS files: checking and loading CA bundles, CA directories and client certificates.

Every problem is reported at the call, naming the argument: a wrong type raises
TypeError, a missing or unreadable file, an encrypted key without its password
or a wrong password raises ValueError. Nothing here ever prompts on the terminal
for a pass phrase, as OpenSSL would by default.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

__all__ = ["ClientCert", "check_verify", "check_cert", "ca_context", "load_client_cert"]

#: A client certificate: the path of a PEM file holding the key too, or (cert, key).
ClientCert = str | tuple[str, str]


class _EncryptedKey(Exception):
    """Raised by our pass-phrase callback when no password was given."""


def check_verify(verify: Any) -> bool | str:
    """``verify=`` as True, False or the path of an existing CA bundle file or directory."""
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, bool | str):
        raise TypeError(
            f"verify=: expected True, False or the path of a CA bundle file or directory, "
            f"got {verify!r}"
        )
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"verify=: CA bundle {verify!r} does not exist")
    return verify


def check_cert(cert: Any, key_password: Any = None) -> tuple[ClientCert | None, Any]:
    """``cert=`` and its key's password, checked: (the cert path or (cert, key), password).

    ``cert`` is a path (a PEM file with the key in it), a ``(cert, key)`` pair, or
    a ``(cert, key, password)`` triple (key may be None); the password may
    instead be given as ``key_password`` (str, bytes, or a callable returning one).
    """
    if cert is None:
        if key_password is not None:
            raise ValueError("key_password=: given without cert=")
        return None, None
    if isinstance(cert, str | os.PathLike):
        parts: tuple[Any, ...] = (cert, None, None)
    elif isinstance(cert, tuple) and len(cert) in (2, 3):
        parts = (*cert, None) if len(cert) == 2 else cert
    else:
        raise TypeError(
            f"cert=: expected a path, a (cert, key) pair or a (cert, key, password) triple, "
            f"got {cert!r}"
        )
    crt, key, password = parts
    if password is not None and key_password is not None:
        raise ValueError("cert=: the key password is given both in cert= and as key_password=")
    password = password if password is not None else key_password
    if isinstance(password, bytearray):
        password = bytes(password)
    if password is not None and not (isinstance(password, str | bytes) or callable(password)):
        raise TypeError(
            f"cert=: the key password must be str, bytes or a callable returning one, "
            f"got {type(password).__name__}"
        )
    crt = _existing_file(crt, "certificate")
    if key is None:
        return crt, password
    return (crt, _existing_file(key, "key")), password


def _existing_file(path: Any, what: str) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"cert=: the {what} must be a path, got {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"cert=: {what} file {path!r} does not exist")
    return path


def ca_context(path: str) -> ssl.SSLContext:
    """A verifying context trusting only the CA bundle file, or the hashed CA
    directory (``openssl rehash``), at ``path``."""
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"verify=: cannot load CA certificates from {path!r}: {exc}") from None


def load_client_cert(ctx: ssl.SSLContext, cert: ClientCert, password: Any = None) -> None:
    """Load the client certificate ``cert`` (and its key) into ``ctx``."""
    crt, key = (cert, None) if isinstance(cert, str) else cert
    where = key or crt
    asked = False

    def pass_phrase() -> Any:
        nonlocal asked
        asked = True
        if password is None:
            raise _EncryptedKey
        return password() if callable(password) else password

    try:
        ctx.load_cert_chain(crt, key, password=pass_phrase)
    except _EncryptedKey:
        raise ValueError(
            f"cert=: the private key in {where!r} is encrypted; give its password "
            f"(cert=(cert, key, password), or key_password= in the engine)"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        if asked and getattr(exc, "reason", None) in (None, "BAD_DECRYPT"):
            raise ValueError(f"cert=: wrong password for the private key in {where!r}") from None
        pair = f"{crt!r}" if key is None else f"{crt!r} and {key!r}"
        raise ValueError(f"cert=: cannot load the client certificate from {pair}: {exc}") from None
