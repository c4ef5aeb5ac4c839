"""Authentication helpers: HTTP Basic (RFC 7617)."""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple

from yarl import URL

__all__ = ["BasicAuth", "encode_basic_auth"]


def encode_basic_auth(login: str, password: str = "", encoding: str = "utf-8") -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value ``"Basic <base64>"`` for
    ``login`` and ``password`` (a ":" in ``login`` raises ValueError, RFC 7617)."""
    if not isinstance(login, str) or not isinstance(password, str):
        raise TypeError("encode_basic_auth(): login and password must be str")
    if ":" in login:
        raise ValueError('encode_basic_auth(): login must not contain ":" (RFC 7617)')
    return "Basic " + base64.b64encode(f"{login}:{password}".encode(encoding)).decode("ascii")


class BasicAuth(NamedTuple("_BasicAuthBase", [("login", str), ("password", str),
                                              ("encoding", str)])):
    """HTTP Basic credentials: ``BasicAuth(login, password="", encoding="latin1")``."""

    def __new__(cls, login: str, password: str = "", encoding: str = "latin1") -> BasicAuth:
        if login is None:
            raise ValueError("BasicAuth(): login must not be None")
        if password is None:
            raise ValueError("BasicAuth(): password must not be None")
        if not isinstance(login, str) or not isinstance(password, str):
            raise TypeError("BasicAuth(): login and password must be str")
        if ":" in login:
            raise ValueError('BasicAuth(): a ":" is not allowed in login (RFC 7617)')
        if any(c in login + password for c in "\r\n\x00"):
            raise ValueError("BasicAuth(): login and password must not contain CR, LF or NUL")
        return super().__new__(cls, login, password, encoding)

    @classmethod
    def decode(cls, auth_header: str, encoding: str = "latin1") -> BasicAuth:
        """Parse an ``Authorization: Basic ...`` header value."""
        try:
            scheme, encoded = auth_header.split(" ", 1)
        except ValueError:
            raise ValueError("Could not parse the Authorization header") from None
        if scheme.lower() != "basic":
            raise ValueError(f"Unknown authorization method {scheme!r}")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode(encoding)
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("Invalid base64 in the Authorization header") from None
        login, sep, password = decoded.partition(":")
        if not sep:
            raise ValueError("Invalid credentials: no ':' between login and password")
        return cls(login, password, encoding)

    @classmethod
    def from_url(cls, url: URL, *, encoding: str = "latin1") -> BasicAuth | None:
        """Credentials embedded in a URL (``http://user:pass@host``), or None."""
        if url.raw_user is None and url.raw_password is None:
            return None
        return cls(url.user or "", url.password or "", encoding=encoding)

    def encode(self) -> str:
        """The ``Authorization`` header value."""
        creds = f"{self.login}:{self.password}".encode(self.encoding)
        return "Basic " + base64.b64encode(creds).decode("ascii")
