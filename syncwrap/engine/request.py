"""Preparing a request: URL and params, header merging and validation, auto headers."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from multidict import CIMultiDict, MultiDict, MultiDictProxy
from yarl import URL

from ..exceptions import (
    InvalidHeader,
    InvalidSchema,
    InvalidURL,
    InvalidUrlClientError,
    MissingSchema,
)
from .http1.decoders import ACCEPT_ENCODING
from .http1.writer import validate_header
from .unix import UNIX_HOST_HEADER, UNIX_SCHEME, join_url, parse_url

__all__ = [
    "SUPPORTED_SCHEMES",
    "DEFAULT_USER_AGENT",
    "build_url",
    "merge_headers",
    "host_header",
    "same_origin",
]

SUPPORTED_SCHEMES = frozenset({"http", "https"})
DEFAULT_USER_AGENT = "syncwrap/0.1 Python/{}.{}".format(*sys.version_info[:2])
DEFAULT_ACCEPT_ENCODING = ACCEPT_ENCODING

_FORBIDDEN_URL_CHARS = ("\r", "\n", "\x00")
_HAS_FORBIDDEN = re.compile(r"[\r\n\x00]").search
_BAD_HOST = re.compile(r"[ \t\"<>\\^`{|}*!$&'()+,;=]").search


def build_url(
    url: str | URL, params: Any = None, base_url: URL | None = None, *, argument: str = "url"
) -> URL:
    """Parse and check a request URL, join it to ``base_url`` and add ``params``.

    Raises :class:`InvalidURL` for CR/LF/NUL, a missing host, or a scheme other
    than http/https (or http+unix, see :mod:`.unix`). A ``params`` str is
    appended as it is (not re-encoded).
    """
    if params is None and base_url is None and url.__class__ is str:
        cached = _checked_urls.get(url)
        if cached is not None:
            return cached
        parsed = _check_url(url, None, argument)
        if len(_checked_urls) >= _URL_CACHE_SIZE:
            _checked_urls.clear()
        _checked_urls[url] = parsed
        return parsed
    parsed = _check_url(url, base_url, argument)
    if params is not None:
        parsed = _add_params(parsed, params)
    return parsed


_URL_CACHE_SIZE = 512
_checked_urls: dict[str, URL] = {}  # URL strings already parsed and checked


def _check_url(url: str | URL, base_url: URL | None, argument: str) -> URL:
    if isinstance(url, str):
        if _HAS_FORBIDDEN(url):
            raise InvalidUrlClientError(url, "contains CR, LF or NUL")
        try:
            parsed = parse_url(url)
        except (ValueError, TypeError) as exc:
            raise InvalidUrlClientError(url, str(exc)) from None
    elif isinstance(url, URL):
        parsed = url
        if _HAS_FORBIDDEN(str(url)):
            raise InvalidUrlClientError(url, "contains CR, LF or NUL")
    else:
        raise TypeError(f"{argument}=: expected str or yarl.URL, got {type(url).__name__}")
    if base_url is not None and not parsed.is_absolute():
        parsed = join_url(base_url, parsed)
    if not parsed.scheme:
        raise MissingSchema(url, "no scheme (URLs must be absolute, like http://host/path)")
    if parsed.scheme not in SUPPORTED_SCHEMES and parsed.scheme != UNIX_SCHEME:
        raise InvalidSchema(url, f"unsupported scheme {parsed.scheme!r}; use http or https")
    if not parsed.is_absolute() or not parsed.raw_host:
        raise InvalidUrlClientError(url, "no host (URLs must be absolute, like http://host/path)")
    try:
        parsed.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise InvalidUrlClientError(url, str(exc)) from None
    host = parsed.raw_host
    if _BAD_HOST(host) or (parsed.scheme != UNIX_SCHEME and _bad_labels(host)):
        raise InvalidUrlClientError(url, f"invalid host {host!r}")
    return parsed


def _bad_labels(host: str) -> bool:
    """A name with an empty label (``.a``, ``a..b``) or one longer than 63 characters
    (IP addresses are not names)."""
    if ":" in host:
        return False
    labels = (host[:-1] if host.endswith(".") else host).split(".")
    return any(not label or len(label) > 63 for label in labels)


def _add_params(url: URL, params: Any) -> URL:
    if isinstance(params, str):
        if _HAS_FORBIDDEN(params):
            raise InvalidURL(params, "params= contains CR, LF or NUL")
        if not params:
            return url
        # Parse the query as part of a URL string: existing %-escapes are kept (not
        # re-encoded to %25..), "+" stays "+", only characters illegal in a URL get quoted.
        params = params.replace("#", "%23")
        query = f"{url.raw_query_string}&{params}" if url.raw_query_string else params
        fragment = f"#{url.raw_fragment}" if url.raw_fragment else ""
        return URL(f"{url.with_fragment(None).with_query(None)}?{query}{fragment}")
    if isinstance(params, Mapping | MultiDict | MultiDictProxy):
        pairs: list[tuple[str, Any]] = []
        for key, value in params.items():
            if isinstance(value, list | tuple):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, value))
    elif isinstance(params, Iterable):
        pairs = []
        for item in params:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise TypeError(f"params=: expected (key, value) pairs, got {item!r}")
            pairs.append((item[0], item[1]))
    else:
        raise TypeError(
            "params=: expected a dict, list of pairs, MultiDict or str, "
            f"got {type(params).__name__}"
        )
    clean = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, bytes):
            value = value.decode("utf-8")
        elif not isinstance(value, str | int | float):
            raise TypeError(
                f"params=: value of {key!r} must be str, int or float, got {type(value).__name__}"
            )
        clean.append((str(key), value))
    return url.extend_query(clean) if clean else url


def _header_items(headers: Any, argument: str = "headers") -> Iterable[tuple[Any, Any]]:
    if headers is None:
        return ()
    if hasattr(headers, "items"):
        return headers.items()
    if isinstance(headers, Iterable) and not isinstance(headers, str | bytes):
        return headers
    raise TypeError(
        f"{argument}=: expected a mapping or a list of (name, value) pairs, "
        f"got {type(headers).__name__}"
    )


def merge_headers(
    defaults: CIMultiDict[str] | None, headers: Any
) -> CIMultiDict[str]:
    """Session defaults, overridden by request headers; a request value of None
    removes a default. Names and values are validated (no CR/LF)."""
    merged: CIMultiDict[str] = CIMultiDict(defaults) if defaults else CIMultiDict()
    if headers is None:
        return merged
    seen: set[str] = set()
    for name, value in _header_items(headers):
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if not isinstance(name, str):
            raise TypeError(f"headers=: header names must be str, got {name!r}")
        if value is None:
            merged.popall(name, None)
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        elif not isinstance(value, str):
            raise InvalidHeader(
                f"headers=: value of {name!r} must be str or bytes, got {type(value).__name__}"
            )
        if value[:1] in (" ", "\t"):
            raise InvalidHeader(f"headers=: value of {name!r} has leading whitespace: {value!r}")
        validate_header(name, value)
        key = name.lower()
        if key not in seen:
            merged.popall(name, None)
            seen.add(key)
        merged.add(name, value)
    return merged


def validate_headers(headers: Any) -> CIMultiDict[str]:
    """Validate a headers argument and return it as a CIMultiDict."""
    return merge_headers(None, headers)


_host_headers: dict[tuple[str, str | None, int | None], str] = {}


def host_header(url: URL) -> str:
    """The Host header for a URL: the host, bracketed for IPv6, with a non-default port."""
    key = (url.scheme, url.raw_host, url.explicit_port)
    value = _host_headers.get(key)
    if value is None:
        if len(_host_headers) >= 1024:
            _host_headers.clear()
        value = _host_headers[key] = _host_header(url)
    return value


def _host_header(url: URL) -> str:
    if url.scheme == UNIX_SCHEME:
        return UNIX_HOST_HEADER
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if url.explicit_port is not None and not url.is_default_port():
        return f"{host}:{url.explicit_port}"
    return host


def same_origin(a: URL, b: URL) -> bool:
    return a.scheme == b.scheme and a.raw_host == b.raw_host and a.port == b.port
