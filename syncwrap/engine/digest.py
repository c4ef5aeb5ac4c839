"""HTTP Digest access authentication (RFC 7616) as an :class:`AuthFlow`.

``DigestAuth(login, password)`` answers a ``WWW-Authenticate: Digest``
challenge: MD5, SHA-256, SHA-512-256 and their ``-sess`` variants (plus the
SHA-512 some servers such as httpbin offer), qop ``auth`` (``auth-int`` when
the body is known in advance; RFC 2069 responses when the server names no
qop), ``opaque`` echoed, ``userhash``, and ``stale=true`` answered with the new
nonce without giving up. The challenge is remembered per origin, so later
requests to that origin are authorized at once with the next nonce count
(nc=00000002, 00000003, ...).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from yarl import URL

from .auth_flow import AuthFlow, AuthRequest

__all__ = ["DigestAuth", "parse_challenges"]

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"({_TOKEN})(?=[ \t]|,|$)")
_PARAM = re.compile(rf"({_TOKEN})[ \t]*=[ \t]*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))")
_QUOTED_PAIR = re.compile(r"\\(.)")
_OWS = " \t"


def parse_challenges(values: str | Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """Parse ``WWW-Authenticate`` values into ``[(scheme (lower-case), {param: value})]``.

    Handles several challenges per value, quoted strings with escapes and
    token68 credentials (kept under the key ``""``); a malformed part is
    skipped up to the next comma. Parameter names are lower-cased.
    """
    if isinstance(values, str):
        values = (values,)
    challenges: list[tuple[str, dict[str, str]]] = []
    for text in values:
        pos, end = 0, len(text)
        while pos < end:
            while pos < end and text[pos] in _OWS + ",":
                pos += 1
            if pos >= end:
                break
            match = _SCHEME.match(text, pos)
            if match is None:  # garbage: skip to the next comma
                comma = text.find(",", pos)
                pos = end if comma < 0 else comma + 1
                continue
            scheme, pos = match.group(1).lower(), match.end()
            params: dict[str, str] = {}
            while pos < end and text[pos] in _OWS:
                pos += 1
            if not _PARAM.match(text, pos) and (t68 := _TOKEN68.match(text, pos)):
                params[""] = t68.group(0)
                pos = t68.end()
            else:
                while True:
                    param = _PARAM.match(text, pos)
                    if param is None:
                        break
                    name, value = param.group(1).lower(), param.group(2)
                    if value.startswith('"'):
                        value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
                    params.setdefault(name, value)
                    pos = param.end()
                    while pos < end and text[pos] in _OWS:
                        pos += 1
                    if pos >= end or text[pos] != ",":
                        break
                    look = pos
                    while look < end and text[look] in _OWS + ",":
                        look += 1
                    pos = look
                    if not _PARAM.match(text, look):
                        break  # the next challenge begins here
            challenges.append((scheme, params))
    return challenges


_HASH_NAMES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256",
               "SHA-512": "sha512"}


def _hash_name(algorithm: str) -> str | None:
    return _HASH_NAMES.get(algorithm.upper().removesuffix("-SESS"))


def _hash_function(algorithm: str) -> Any:
    name = _hash_name(algorithm)
    if name is None:
        return None
    try:
        hashlib.new(name)
    except ValueError:  # e.g. sha512_256 missing from this OpenSSL
        return None

    def digest(data: str) -> str:
        return hashlib.new(name, data.encode("utf-8")).hexdigest()

    return digest


@dataclass
class _Challenge:
    realm: str
    nonce: str
    algorithm: str
    qop: tuple[str, ...]
    opaque: str | None
    userhash: bool
    hash: Any
    nc: int = 0
    cnonce_seed: bytes = field(default_factory=lambda: os.urandom(8))


def _select(challenges: Iterable[tuple[str, dict[str, str]]]
            ) -> tuple[_Challenge, bool] | None:
    """The first Digest challenge we can answer (servers list preferred ones first)."""
    for scheme, params in challenges:
        if scheme != "digest" or "nonce" not in params:
            continue
        algorithm = params.get("algorithm", "MD5")
        hash_fn = _hash_function(algorithm)
        if hash_fn is None:
            continue
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        if qop and "auth" not in qop and "auth-int" not in qop:
            continue
        challenge = _Challenge(
            realm=params.get("realm", ""),
            nonce=params["nonce"],
            algorithm=algorithm,
            qop=qop,
            opaque=params.get("opaque"),
            userhash=params.get("userhash", "").lower() == "true",
            hash=hash_fn,
        )
        return challenge, params.get("stale", "").lower() == "true"
    return None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestAuth(AuthFlow):
    """HTTP Digest credentials (RFC 7616): ``auth=DigestAuth("user", "pass")``.

    The first request to an origin goes without credentials; the server's
    401 challenge is answered by sending the request once more. From then on
    requests to that origin carry a response for the remembered challenge
    with an incremented nonce count; a ``stale=true`` challenge replaces the
    nonce and the request is retried once more, while a plain 401 to our
    credentials is returned to the caller (the password is wrong).
    """

    def __init__(self, login: str, password: str) -> None:
        if not isinstance(login, str) or not isinstance(password, str):
            raise TypeError("DigestAuth(): login and password must be str")
        if any(c in login + password for c in "\r\n\x00"):
            raise ValueError("DigestAuth(): login and password must not contain CR, LF or NUL")
        self.login = login
        self.password = password
        self._challenges: dict[URL, _Challenge] = {}

    def __repr__(self) -> str:
        return f"DigestAuth(login={self.login!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DigestAuth):
            return NotImplemented
        return (self.login, self.password) == (other.login, other.password)

    def __hash__(self) -> int:
        return hash((DigestAuth, self.login, self.password))

    async def on_request(self, request: AuthRequest) -> Mapping[str, str] | None:
        challenge = self._challenges.get(request.url.origin())
        if challenge is None:
            return None
        header = self._authorization(challenge, request)
        return None if header is None else {"Authorization": header}

    async def on_response(self, response: Any) -> bool:
        if response.status != 401:
            return False
        selected = _select(parse_challenges(response.headers.getall("WWW-Authenticate", ())))
        if selected is None:
            return False
        challenge, stale = selected
        self._challenges[response.url.origin()] = challenge
        sent = response.request_info.headers.get("Authorization", "")
        if sent[:7].lower() != "digest ":
            return True  # a first challenge: answer it
        if stale:
            return True  # our nonce expired: same credentials, new nonce
        # We answered a challenge remembered from another request; if this one is for
        # another realm or algorithm, answer it. Otherwise the credentials are wrong:
        # no retry (it would only loop).
        answered = next((p for s, p in parse_challenges(sent) if s == "digest"), {})
        return (answered.get("realm", ""), answered.get("algorithm", "MD5").upper()) != (
            challenge.realm, challenge.algorithm.upper())

    def _authorization(self, challenge: _Challenge, request: AuthRequest) -> str | None:
        H = challenge.hash
        qop = None
        if "auth" in challenge.qop:
            qop = "auth"
        elif "auth-int" in challenge.qop:
            if request.body is None:
                return None  # a streamed body cannot be hashed in advance
            qop = "auth-int"
        uri = request.url.raw_path_qs or "/"
        challenge.nc += 1
        nc = f"{challenge.nc:08x}"
        cnonce = hashlib.sha256(
            challenge.cnonce_seed + nc.encode() + os.urandom(8)
        ).hexdigest()[:32]
        ha1 = H(f"{self.login}:{challenge.realm}:{self.password}")
        if challenge.algorithm.upper().endswith("-SESS"):
            ha1 = H(f"{ha1}:{challenge.nonce}:{cnonce}")
        if qop == "auth-int":
            body_hash = hashlib.new(
                _hash_name(challenge.algorithm) or "md5", request.body or b""
            ).hexdigest()
            ha2 = H(f"{request.method}:{uri}:{body_hash}")
        else:
            ha2 = H(f"{request.method}:{uri}")
        if qop is None:
            response = H(f"{ha1}:{challenge.nonce}:{ha2}")
        else:
            response = H(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        parts = []
        if challenge.userhash:
            parts.append(f"username={_quote(H(f'{self.login}:{challenge.realm}'))}")
        elif self.login.isascii():
            parts.append(f"username={_quote(self.login)}")
        else:
            parts.append(f"username*=UTF-8''{quote(self.login, safe='')}")
        parts += [
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(uri)}",
            f"algorithm={challenge.algorithm}",
            f"response={_quote(response)}",
        ]
        if challenge.opaque is not None:
            parts.append(f"opaque={_quote(challenge.opaque)}")
        if qop is not None:
            parts += [f"qop={qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        if challenge.userhash:
            parts.append("userhash=true")
        return "Digest " + ", ".join(parts)

