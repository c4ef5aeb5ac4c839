"""TLS settings: the default certifi context, ``ssl=False``, contexts, client certificates.

The one owner of TLS settings for both layers: the engine's ``ssl=`` values
(:func:`resolve_ssl`), requests' ``verify=``/``cert=`` spelling of them
(:func:`ssl_for`), how a call's TLS arguments combine with a session's
(:func:`requests_ssl`, which the blocking facade uses to translate), and the CA
bundle the environment names when ``trust_env`` is on (:func:`ca_from_env`).
Certificate pinning is in :mod:`.fingerprint`, file loading in :mod:`.tls_files`.
"""

from __future__ import annotations

import asyncio
import os
import ssl as ssl_module
import warnings
from functools import lru_cache
from typing import Any

import certifi

from .fingerprint import Fingerprint
from .tls_files import ClientCert, ca_context, check_cert, check_verify, load_client_cert

__all__ = [
    "Fingerprint",
    "SSLConfig",
    "resolve_ssl",
    "ssl_for",
    "requests_ssl",
    "ca_from_env",
    "cached_ca_from_env",
    "CA_ENV_VARS",
    "ALPN_PROTOCOLS",
    "default_context",
    "unverified_context",
]

#: With ``trust_env``, the first of these that is set names the CA bundle (file or
#: directory) used instead of certifi's: requests' two, then OpenSSL's two.
CA_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")

#: What the contexts made here offer by ALPN, as aiohttp's do: a caller's own
#: SSLContext is used as the caller built it.
ALPN_PROTOCOLS = ("http/1.1",)

_default_context: ssl_module.SSLContext | None = None
_unverified_context: ssl_module.SSLContext | None = None


def default_context() -> ssl_module.SSLContext:
    """A verifying context trusting certifi's CA bundle (made once; reading the bundle
    blocks, so the engine builds it in a thread: :meth:`SSLConfig.loaded_context`)."""
    global _default_context
    if _default_context is None:
        _default_context = _certifi_context()
    return _default_context


def _certifi_context() -> ssl_module.SSLContext:
    return _offer_alpn(ssl_module.create_default_context(cafile=certifi.where()))


def _offer_alpn(ctx: ssl_module.SSLContext) -> ssl_module.SSLContext:
    ctx.set_alpn_protocols(ALPN_PROTOCOLS)
    return ctx


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
    return _offer_alpn(ctx)


class SSLConfig:
    """What TLS a connection uses; hashable so the pool can key connections by it.

    ``verify`` and ``cert`` say it in requests' terms: ``verify`` is True (the
    certificate is checked), False, or the CA bundle path it was made from;
    ``cert`` is the client certificate as a path or a (cert, key) pair, or None
    (``key_password`` the password of its key). ``server_hostname`` is the name
    sent as SNI and checked against the certificate instead of the URL's host.
    ``user_context`` is True when ``context`` is the caller's own SSLContext.
    """

    __slots__ = ("context", "fingerprint", "verify", "cert", "key_password",
                 "server_hostname", "user_context", "_hash")

    def __init__(
        self,
        context: ssl_module.SSLContext,
        fingerprint: Fingerprint | None = None,
        *,
        verify: bool | str | None = None,
        cert: str | tuple[str, str] | None = None,
        key_password: Any = None,
        server_hostname: str | None = None,
        user_context: bool = True,
    ) -> None:
        self.context = context
        self.fingerprint = fingerprint
        if verify is None:
            verify = fingerprint is None and context.verify_mode != ssl_module.CERT_NONE
        self.verify = verify
        self.cert = cert
        self.key_password = key_password
        self.server_hostname = server_hostname
        self.user_context = user_context
        # Computed once: the pool hashes its key (and so this) several times per request.
        self._hash = hash((id(context), fingerprint, server_hostname))

    @property
    def ready(self) -> bool:
        """False while :attr:`context` would still read certificates from disk."""
        return True

    async def loaded_context(self) -> ssl_module.SSLContext:
        """:attr:`context`, built in a thread when it is not :attr:`ready` (the event
        loop never waits on the disk)."""
        if self.ready:
            return self.context
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.context)

    @property
    def default_ca(self) -> bool:
        """True when the certificate is checked against certifi's CA bundle (the
        setting a CA bundle named by the environment replaces)."""
        return self.verify is True and not self.user_context and self.fingerprint is None

    def check(self, transport: Any, host: str, port: int | None) -> None:
        """Check the pinned fingerprint, if any, once the handshake is done."""
        if self.fingerprint is not None:
            self.fingerprint.check(transport, host, port)

    def with_server_hostname(self, server_hostname: str | None) -> SSLConfig:
        """This setting, with ``server_hostname`` as the SNI name and the name the
        certificate must match (None: the URL's host)."""
        if server_hostname == self.server_hostname:
            return self
        _check_server_hostname(server_hostname)
        return SSLConfig(
            self.context, self.fingerprint, verify=self.verify, cert=self.cert,
            key_password=self.key_password, server_hostname=server_hostname,
            user_context=self.user_context,
        )

    def replace(self, **changes: Any) -> SSLConfig:
        """This setting with some of ``verify``, ``cert``, ``key_password`` and
        ``fingerprint`` changed (a new ``cert`` drops the old key password).

        A caller's SSLContext is kept when only the fingerprint changes; any other
        change builds a context with :func:`ssl_for`.
        """
        unknown = set(changes) - {"verify", "cert", "key_password", "fingerprint"}
        if unknown:
            raise TypeError(f"replace(): unexpected argument(s): {', '.join(sorted(unknown))}")
        if self.user_context and set(changes) <= {"fingerprint"}:
            new = SSLConfig(self.context, _as_fingerprint(changes.get("fingerprint")),
                            verify=self.verify, cert=self.cert)
        else:
            spec = {"verify": self.verify, "cert": self.cert,
                    "key_password": None if "cert" in changes else self.key_password,
                    "fingerprint": self.fingerprint}
            spec.update(changes)
            new = ssl_for(**spec)
        return new.with_server_hostname(self.server_hostname)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SSLConfig)
            and other.context is self.context
            and other.fingerprint == self.fingerprint
            and other.server_hostname == self.server_hostname
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:  # never shows the key password
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (("cert", self.cert), ("fingerprint", self.fingerprint),
                                ("server_hostname", self.server_hostname))
            if value is not None
        )
        return f"<SSLConfig verify={self.verify!r}{extra}>"


def _check_server_hostname(server_hostname: Any) -> None:
    if server_hostname is not None and (
        not isinstance(server_hostname, str) or not server_hostname.strip(". ")
    ):
        raise ValueError(f"server_hostname=: expected a host name, got {server_hostname!r}")


def resolve_ssl(
    ssl: Any = True,
    *,
    verify_ssl: bool | None = None,
    ssl_context: ssl_module.SSLContext | None = None,
    fingerprint: bytes | None = None,
) -> SSLConfig:
    """Turn ``ssl=`` (True, False, SSLContext, Fingerprint, SSLConfig) into a config.

    ``verify_ssl=False``, ``ssl_context=ctx`` and ``fingerprint=digest`` are the
    deprecated spellings of ``ssl=False``, ``ssl=ctx`` and
    ``ssl=Fingerprint(digest)``; they warn, and only one of them (or ``ssl=``) may
    be given.
    """
    if verify_ssl is not None or ssl_context is not None or fingerprint is not None:
        ssl = _from_aliases(ssl, verify_ssl, ssl_context, fingerprint)
    if ssl is True or ssl is None:
        return _DEFAULT
    if ssl is False:
        return _UNVERIFIED
    if isinstance(ssl, SSLConfig):
        return ssl
    if isinstance(ssl, ssl_module.SSLContext):
        return SSLConfig(ssl)
    if isinstance(ssl, Fingerprint):
        return SSLConfig(unverified_context(), ssl, verify=False, user_context=False)
    raise TypeError(
        f"ssl=: expected True, False, an ssl.SSLContext or a Fingerprint, got {type(ssl).__name__}"
    )


def _from_aliases(ssl: Any, verify_ssl: bool | None, ssl_context: Any, fingerprint: Any) -> Any:
    warnings.warn(
        "verify_ssl=, ssl_context= and fingerprint= are deprecated; use ssl=False, "
        "ssl=context or ssl=Fingerprint(digest)",
        DeprecationWarning,
        stacklevel=4,
    )
    given = [name for name, value in (("ssl", None if ssl is True else ssl),
                                      ("verify_ssl", None if verify_ssl is True else verify_ssl),
                                      ("ssl_context", ssl_context),
                                      ("fingerprint", fingerprint)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"{'=, '.join(given)}= are mutually exclusive; pass only ssl=")
    if verify_ssl is False:
        return False
    if ssl_context is not None:
        return ssl_context
    if fingerprint is not None:
        return Fingerprint(fingerprint)
    return ssl


class _LazyDefault(SSLConfig):
    """The default config; builds certifi's context on first use, not at import."""

    __slots__ = ()

    def __init__(self, verify: bool, server_hostname: str | None = None) -> None:
        self.verify = verify
        self.cert = None
        self.key_password = None
        self.fingerprint = None
        self.server_hostname = server_hostname
        self.user_context = False
        self._hash = hash((_LazyDefault, verify, server_hostname))

    def with_server_hostname(self, server_hostname: str | None) -> SSLConfig:
        if server_hostname == self.server_hostname:
            return self
        _check_server_hostname(server_hostname)
        return _named_default(self.verify, server_hostname)

    @property  # type: ignore[override]
    def context(self) -> ssl_module.SSLContext:
        return default_context() if self.verify else unverified_context()

    @property
    def ready(self) -> bool:
        return not self.verify or _default_context is not None

    def __eq__(self, other: object) -> bool:
        return other is self or (
            isinstance(other, _LazyDefault) and other.verify == self.verify
            and other.server_hostname == self.server_hostname
        )

    __hash__ = SSLConfig.__hash__  # (a class that defines __eq__ must name it again)


_DEFAULT = _LazyDefault(True)
_UNVERIFIED = _LazyDefault(False)


@lru_cache(maxsize=64)
def _named_default(verify: bool, server_hostname: str | None) -> SSLConfig:
    """The default config with another SNI name: still lazy (equal per name, so pooled)."""
    if server_hostname is None:
        return _DEFAULT if verify else _UNVERIFIED
    return _LazyDefault(verify, server_hostname)


def requests_ssl(base: SSLConfig, *, ssl: Any = None, verify: Any = None, cert: Any = None,
                 fingerprint: Any = None) -> SSLConfig:
    """The TLS of a call made with requests-style arguments over ``base`` (its session's).

    ``ssl=`` (True, False, an SSLContext...) replaces the setting and wins over
    ``verify=``/``cert=``; ``verify=`` and ``cert=`` change those parts of it (see
    :func:`ssl_for`; ``cert`` may be ``(cert, key, password)``);
    ``fingerprint=`` (a SHA-256 digest or a Fingerprint) pins the certificate on
    top of the rest. None leaves a part as it is.
    """
    if ssl is not None:
        base = resolve_ssl(ssl)
        verify = cert = None
    changes: dict[str, Any] = {}
    if verify is not None:
        changes["verify"] = verify
    if cert is not None:
        changes["cert"] = cert
    if fingerprint is not None:
        changes["fingerprint"] = _as_fingerprint(fingerprint)
    return base.replace(**changes) if changes else base


def ca_from_env(tls: SSLConfig) -> SSLConfig:
    """``tls``, checking certificates against the CA bundle the environment names
    (:data:`CA_ENV_VARS`) when it would use certifi's; what ``trust_env=True`` does.

    A variable naming a file or directory that does not exist raises ValueError.
    The first use of a bundle reads it from disk: on the event loop, try
    :func:`cached_ca_from_env` first and call this in a thread when it returns None.
    """
    source = _env_ca_source(tls)
    if source is None:
        return tls
    found = _ENV_CA.get(source)
    if found is None:
        tls, name, path = source
        try:
            found = tls.replace(verify=path)
        except ValueError as exc:
            raise ValueError(f"{name}={path!r} (trust_env=True): {exc}") from None
        if len(_ENV_CA) >= 32:
            _ENV_CA.clear()
        _ENV_CA[source] = found
    return found


def cached_ca_from_env(tls: SSLConfig) -> SSLConfig | None:
    """:func:`ca_from_env` of ``tls`` if it needs no disk access, else None."""
    source = _env_ca_source(tls)
    return tls if source is None else _ENV_CA.get(source)


#: (config, variable, path) -> the config with that CA bundle (each bundle is read once).
_ENV_CA: dict[tuple[SSLConfig, str, str], SSLConfig] = {}


def _env_ca_source(tls: SSLConfig) -> tuple[SSLConfig, str, str] | None:
    if not tls.default_ca:
        return None
    environ = os.environ
    for name in CA_ENV_VARS:
        path = environ.get(name)
        if path:
            return tls, name, path
    return None


def _as_fingerprint(value: Any) -> Fingerprint | None:
    if value is None or isinstance(value, Fingerprint):
        return value
    if not isinstance(value, bytes | bytearray):
        raise TypeError(
            f"fingerprint=: expected the certificate's SHA-256 digest as bytes, "
            f"got {type(value).__name__}"
        )
    return Fingerprint(value)


def ssl_for(verify: Any = True, cert: Any = None, *, key_password: Any = None,
            fingerprint: Any = None) -> SSLConfig:
    """The engine's ``ssl=`` value for requests' ``verify=`` and ``cert=``.

    ``verify``: True (certifi's CA bundle), False (no checks), or the path of a
    CA bundle file or of a hashed CA directory (``openssl rehash``). ``cert``: the
    client certificate, as the path of a PEM file holding the key too, a
    (cert, key) pair of paths, or a (cert, key, password) triple. ``key_password``
    (str, bytes or a callable returning one) is the engine's spelling of that
    password, for an encrypted key. ``fingerprint`` (a SHA-256 digest or a
    Fingerprint) pins the server certificate; the pin then replaces the CA check
    unless ``verify`` names a CA bundle (both apply).

    The result is an explicit setting (``verify=True`` checks certificates even
    where the session or connector default does not) and is cached: the same
    arguments give the same SSLConfig, so their connections share the pool.
    Bad values raise TypeError; missing or unreadable files, an encrypted key
    without its password and a wrong password raise ValueError naming the argument.
    """
    verify = check_verify(verify)
    client_cert, password = check_cert(cert, key_password)
    return _requests_config(verify, client_cert, password, _as_fingerprint(fingerprint))


@lru_cache(maxsize=32)
def _requests_config(verify: bool | str, cert: ClientCert | None, key_password: Any,
                     fingerprint: Fingerprint | None) -> SSLConfig:
    pin_only = fingerprint is not None and isinstance(verify, bool)
    if cert is None and fingerprint is None and isinstance(verify, bool):
        ctx = default_context() if verify else unverified_context()
    elif verify is False or pin_only:
        ctx = unverified_context() if cert is None else _new_unverified_context()
    elif verify is True:
        ctx = _certifi_context()
    else:
        ctx = _offer_alpn(ca_context(verify))
    if cert is not None:
        load_client_cert(ctx, cert, key_password)
    return SSLConfig(ctx, fingerprint, verify=verify, cert=cert, key_password=key_password,
                     user_context=False)
