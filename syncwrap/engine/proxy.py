"""Which proxy a request goes through, and what it sends to it.

Pure functions and values, no I/O (the connection itself is opened by
:mod:`syncwrap.engine.tunnel`):

- :class:`ProxySpec`: one proxy as the pool keys connections by it (scheme,
  host, port, credentials, extra headers, the TLS to an ``https://`` proxy).
- :func:`parse_proxy`: ``proxy="http://user:pass@host:port"`` and friends,
  checked at the call; ``socks4://``, ``socks4a://``, ``socks5://`` and
  ``socks5h://`` (remote DNS) need the ``socks`` extra (python-socks).
- :func:`env_proxies` and :func:`bypass_proxy`: HTTP_PROXY, HTTPS_PROXY,
  ALL_PROXY and NO_PROXY (lower case first), read when ``trust_env=True``.
- :func:`proxy_for_url`: requests' ``proxies={"https": ..., "all://host": ...}``.
- :class:`ProxyRoute`: one request's settings; gives each hop its proxy, and
  drops the explicit proxy credentials when a redirect changes the proxy.
- :func:`proxy_request`: the request line target and headers for the proxy
  (absolute form and Proxy-Authorization for a plain-HTTP target; nothing
  for the proxy inside a tunnel).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from multidict import CIMultiDict
from yarl import URL

from ..exceptions import InvalidURL
from .auth import BasicAuth
from .netrc_auth import NETRC_UNREAD, netrc_auth
from .request import host_header, merge_headers
from .tls import resolve_ssl
from .unix import UNIX_SCHEME

__all__ = [
    "PROXY_SCHEMES",
    "SOCKS_SCHEMES",
    "ProxySpec",
    "ProxyRoute",
    "parse_proxy",
    "env_proxies",
    "bypass_proxy",
    "proxy_for_url",
    "proxy_request",
    "require_socks",
]

SOCKS_SCHEMES = frozenset({"socks4", "socks4a", "socks5", "socks5h"})
PROXY_SCHEMES = frozenset({"http", "https"}) | SOCKS_SCHEMES
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SOCKS_PORT = 1080
_ENV_SCHEMES = ("http", "https", "all", "no")


class ProxySpec(NamedTuple):
    """One proxy, as connections are pooled by it (hashable).

    ``auth`` are the credentials (sent as ``Proxy-Authorization`` to an HTTP
    proxy, as the SOCKS5 username/password to a SOCKS proxy); ``headers`` are
    the extra headers for an HTTP proxy (``proxy_headers=``), Proxy-Authorization
    included once known; ``ssl`` is the TLS setting of the connection to an
    ``https://`` proxy (None otherwise). ``tunnel`` makes an HTTP proxy open a CONNECT
    tunnel for plain-HTTP targets too (a WebSocket's ``ws://``, which a forward proxy
    cannot relay in absolute form).
    """

    scheme: str
    host: str
    port: int
    auth: BasicAuth | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ssl: Any = None
    tunnel: bool = False

    @property
    def is_socks(self) -> bool:
        return self.scheme in SOCKS_SCHEMES

    @property
    def endpoint(self) -> tuple[str, str, int]:
        """(scheme, host, port): what "the same proxy" means across redirects."""
        return (self.scheme, self.host, self.port)

    @property
    def url(self) -> str:
        """The proxy's URL without credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def tunnels(self, url: URL) -> bool:
        """True when requests to ``url`` go through a tunnel (CONNECT or SOCKS), so that
        the proxy sees nothing of them; False for plain HTTP through an HTTP proxy
        (unless ``tunnel``)."""
        return self.is_socks or self.tunnel or url.scheme == "https"

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    def as_tunnel(self) -> ProxySpec:
        """This proxy, with even plain-HTTP targets reached through a CONNECT tunnel."""
        return self._replace(tunnel=True)

    def with_auth(self, auth: BasicAuth) -> ProxySpec:
        """This proxy with credentials (as Proxy-Authorization for an HTTP proxy)."""
        spec = self._replace(auth=auth)
        return spec if spec.is_socks else spec.with_authorization(auth.encode())

    def with_authorization(self, value: str) -> ProxySpec:
        """This proxy with a ``Proxy-Authorization`` value, unless it has one already."""
        if self.is_socks or self.header("Proxy-Authorization") is not None:
            return self
        return self._replace(headers=self.headers + (("Proxy-Authorization", value),))


def require_socks() -> None:
    """Raise ImportError naming the extra when python-socks is not installed."""
    try:
        from python_socks.async_.asyncio import Proxy  # noqa: F401
    except ImportError:
        raise ImportError(
            "SOCKS proxies need the python-socks package: pip install 'syncwrap[socks]'"
        ) from None


@lru_cache(maxsize=256)
def _parsed(proxy: str, argument: str) -> tuple[str, str, int, BasicAuth | None]:
    try:
        url = URL(proxy)
        port = url.port
    except (ValueError, TypeError) as exc:
        raise InvalidURL(proxy, f"{argument}: {exc}") from None
    scheme = url.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise InvalidURL(proxy, f"{argument}: unsupported proxy scheme {url.scheme!r}; use "
                                "http, https, socks4, socks4a, socks5 or socks5h")
    if not url.raw_host or any(c in proxy for c in "\r\n\x00"):
        raise InvalidURL(proxy, f"{argument}: a proxy URL is scheme://[user:pass@]host:port")
    if scheme in SOCKS_SCHEMES:
        require_socks()
        port = url.explicit_port or _SOCKS_PORT
    return scheme, url.raw_host, port or _DEFAULT_PORTS[scheme], BasicAuth.from_url(url)


def parse_proxy(
    proxy: str | URL,
    *,
    auth: BasicAuth | None = None,
    headers: Any = None,
    ssl: Any = None,
    argument: str = "proxy=",
) -> ProxySpec:
    """The :class:`ProxySpec` for ``proxy`` (a URL, with credentials in it or not).

    ``auth`` (``proxy_auth=``) wins over credentials in the URL. ``headers``
    (``proxy_headers=``) go to an HTTP proxy; a ``Proxy-Authorization`` among
    them wins over both. ``ssl`` is used for the TLS to an ``https://`` proxy.
    Raises :class:`InvalidURL` for a malformed URL or another scheme, TypeError
    for a bad ``auth``, and ImportError for SOCKS without python-socks.
    """
    if isinstance(proxy, URL):
        proxy = str(proxy)
    elif not isinstance(proxy, str):
        raise TypeError(f"{argument}: expected a proxy URL (str or yarl.URL), "
                        f"got {type(proxy).__name__}")
    if auth is not None and not isinstance(auth, BasicAuth):
        raise TypeError(f"proxy_auth=: expected a BasicAuth, got {type(auth).__name__}")
    scheme, host, port, url_auth = _parsed(proxy, argument)
    auth = auth or url_auth
    pairs: tuple[tuple[str, str], ...] = ()
    if scheme not in SOCKS_SCHEMES:
        if headers:
            pairs = tuple(merge_headers(None, headers).items())
        spec = ProxySpec(scheme, host, port, auth, pairs, ssl if scheme == "https" else None)
        return spec.with_authorization(auth.encode()) if auth is not None else spec
    if auth is not None and scheme.startswith("socks4") and auth.password:
        raise ValueError(f"{argument}: SOCKS4 takes a user id only, not a password")
    return ProxySpec(scheme, host, port, auth)


def env_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxy settings in the environment: ``{"http": url, "https": url, "all": url,
    "no": "host,.suffix,..."}`` from ``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``... The lower-case name wins; empty values are ignored; ``HTTP_PROXY``
    is ignored in a CGI request (``REQUEST_METHOD`` set), whose clients can set it."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name in _ENV_SCHEMES:
        value = env.get(f"{name}_proxy")
        if not value and not (name == "http" and "REQUEST_METHOD" in env):
            value = env.get(f"{name.upper()}_PROXY")
        if value and value.strip():
            found[name] = value.strip()
    return found


def _host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def bypass_proxy(host: str, port: int | None, no_proxy: str | None) -> bool:
    """Whether NO_PROXY (``no_proxy``) exempts ``host:port`` from the proxy.

    Entries are separated by commas or spaces: ``*`` (everything), a domain
    (``example.com`` matches it and its subdomains; a leading ``.`` or ``*.`` is
    the same), an IP address, a CIDR block (``10.0.0.0/8``, ``::1/128``), each
    optionally with ``:port``. Matching ignores case and a trailing dot.
    """
    if not no_proxy or not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    try:
        ip: Any = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in no_proxy.replace(",", " ").split():
        if raw == "*":
            return True
        entry, entry_port = _host_port(raw.lower())
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.rstrip(".")
        if entry.startswith("*."):
            entry = entry[1:]
        if ip is not None:
            try:
                if ip == ipaddress.ip_address(entry):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


_MISSING: Any = object()


def proxy_for_url(url: URL, proxies: Mapping[str, Any]) -> Any:
    """requests' choice in a ``proxies`` mapping: the most specific of ``"scheme://host"``,
    ``"scheme"``, ``"all://host"``, ``"all"``. Returns the value (a URL, or None / "" for
    "no proxy"), or a sentinel for "no entry" (tested with :func:`has_entry`)."""
    host = url.raw_host or ""
    scheme = url.scheme
    for key in (f"{scheme}://{host}", scheme, f"all://{host}", "all"):
        if key in proxies:
            return proxies[key]
    return _MISSING


def has_entry(choice: Any) -> bool:
    return choice is not _MISSING


class ProxyRoute:
    """One request's proxy settings (the request's, else the session's defaults).

    ``proxy`` is a URL, a requests-style mapping, a :class:`ProxySpec` (used as it is,
    for every URL), or None; ``trust_env`` adds the environment (and ``.netrc``
    credentials for the proxy). :meth:`for_url` is each hop's proxy; :meth:`same_proxy`
    compares two hops for a redirect; :meth:`merged` is a request's route over a
    session's defaults.
    """

    __slots__ = ("proxy", "auth", "headers", "trust_env", "environ")

    def __init__(self, proxy: Any, auth: BasicAuth | None, headers: Any, trust_env: bool,
                 environ: Mapping[str, str] | None = None) -> None:
        if proxy is not None and not isinstance(proxy, str | URL | Mapping | ProxySpec):
            raise TypeError("proxy=: expected a proxy URL or a mapping like "
                            f"{{'https': url}}, got {type(proxy).__name__}")
        if auth is not None and not isinstance(auth, BasicAuth):
            raise TypeError(f"proxy_auth=: expected a BasicAuth, got {type(auth).__name__}")
        self.proxy = proxy
        self.auth = auth
        self.headers = headers
        self.trust_env = trust_env
        self.environ = environ

    @classmethod
    def merged(cls, proxy: Any, auth: BasicAuth | None, headers: Any, *, default: Any,
               default_auth: BasicAuth | None, trust_env: bool) -> ProxyRoute | None:
        """A request's route over a session's defaults: its ``proxy`` (a mapping is merged
        over a default mapping), else ``default``; its ``auth``, else ``default_auth``.
        None when the request goes direct whatever its URL."""
        if proxy is None:
            proxy = default
        elif isinstance(proxy, Mapping) and isinstance(default, Mapping):
            proxy = {**default, **proxy}
        if auth is None:
            auth = default_auth
        if not proxy and not trust_env and auth is None and headers is None:
            return None
        return cls(proxy, auth, headers, trust_env)

    def for_url(self, url: URL, ssl: Any = None, netrc: Any = NETRC_UNREAD) -> ProxySpec | None:
        """The proxy for a request to ``url`` (None: go direct). ``ssl`` is the request's
        TLS setting, also used for the TLS to an ``https://`` proxy (not a pin: a
        Fingerprint is for the target, so the proxy is then verified the default way).
        ``netrc``: the parsed .netrc (``netrc_auth.load_netrc``) when it was read already."""
        if url.scheme == UNIX_SCHEME:
            return None  # a local socket: the URL names where to connect
        if isinstance(self.proxy, ProxySpec):
            return self.proxy
        chosen, from_env = self._choose(url)
        if not chosen:
            return None
        if ssl is not None and getattr(ssl, "fingerprint", None) is not None:
            ssl = resolve_ssl(True)
        argument = "the environment's proxy" if from_env else "proxy="
        spec = parse_proxy(chosen, auth=self.auth, headers=self.headers, ssl=ssl,
                           argument=argument)
        if spec.auth is None and self.trust_env:
            creds = netrc_auth(URL.build(scheme="http", host=spec.host, port=spec.port),
                               netrc)
            if creds is not None:
                spec = spec.with_auth(creds)
        return spec

    def _choose(self, url: URL) -> tuple[Any, bool]:
        proxy = self.proxy
        if isinstance(proxy, Mapping):
            choice = proxy_for_url(url, proxy)
            if has_entry(choice):
                return choice, False
        elif proxy:
            return proxy, False
        if not self.trust_env:
            return None, False
        env = env_proxies(self.environ)
        no_proxy = proxy.get("no_proxy") if isinstance(proxy, Mapping) else None
        if bypass_proxy(url.raw_host or "", url.port, no_proxy or env.get("no")):
            return None, True
        return env.get(url.scheme) or env.get("all"), True

    def same_proxy(self, current: ProxySpec | None, following: ProxySpec | None) -> bool:
        """Whether a redirect keeps the proxy; when it does not, ``proxy_auth=`` is
        forgotten for the hops that follow (it was given for the first proxy)."""
        same = (current is not None and following is not None
                and current.endpoint == following.endpoint)
        if not same:
            self.auth = None
        return same


def proxy_request(url: URL, headers: CIMultiDict[str], proxy: ProxySpec | None
                  ) -> tuple[CIMultiDict[str], str, ProxySpec | None]:
    """What goes on the wire for a request to ``url`` through ``proxy``: the headers,
    the request-line target, and the proxy (as the connection is keyed by it).

    Through a tunnel the request is the one sent without a proxy, minus a
    ``Proxy-Authorization`` header, which moves to the CONNECT. Plain HTTP through
    an HTTP proxy uses the absolute form (``GET http://host/path``), with the
    proxy's headers (Proxy-Authorization, ``proxy_headers=``) added. ``proxy`` None
    is a request that goes direct although proxies are set (no entry for it,
    NO_PROXY): a ``Proxy-Authorization`` header is not sent to the server.
    """
    if proxy is None or proxy.tunnels(url):
        if "Proxy-Authorization" in headers:
            headers = CIMultiDict(headers)
            for value in headers.popall("Proxy-Authorization"):
                if proxy is not None:
                    proxy = proxy.with_authorization(value)
        return headers, url.raw_path_qs or "/", proxy
    headers = CIMultiDict(headers)
    for name, value in proxy.headers:
        if name not in headers:
            headers[name] = value
    return headers, f"{url.scheme}://{host_header(url)}{url.raw_path_qs or '/'}", proxy
