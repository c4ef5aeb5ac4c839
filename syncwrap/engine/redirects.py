"""Redirect policy: where the next hop goes and what it may carry.

Pure functions, no I/O and no session: :func:`next_hop` takes one redirect
response's status and ``Location`` and the request that got it, and says what
to send next. :class:`~syncwrap.engine.ClientSession` follows it; the blocking
facade sends its requests through the engine, so both layers apply the same
rules (the user guide's "Redirects" section states them for users):

- 303 turns any method but HEAD into a GET; 301 and 302 turn a POST into a
  GET. The body and its headers (Content-Type, Content-Length,
  Content-Encoding, Transfer-Encoding) go. 307 and 308 keep method and body;
  a body that cannot be sent twice raises :class:`BodyNotReplayableError`.
- When the scheme, host or port changes, everything given for the first
  origin is dropped: ``Authorization`` and the auth behind it,
  ``Proxy-Authorization`` (unless the same proxy is still used), a ``Cookie``
  header and the per-request ``cookies=``, and a caller's ``Host``. Jar
  cookies are matched afresh for each hop's URL by the session.
- ``Location`` is a relative reference, ``//host/path``, or
  ``http(s)://host[:port]/path``; from an ``http+unix`` URL, never one that
  names another socket (nor into a socket from http(s)). Credentials in it are removed, never used,
  and the fragment is dropped. Anything else raises
  :class:`InvalidUrlRedirectClientError`, or
  :class:`NonHttpUrlRedirectClientError` for another scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from multidict import CIMultiDict
from yarl import URL

from ..exceptions import (
    BodyNotReplayableError,
    InvalidURL,
    InvalidUrlRedirectClientError,
    NonHttpUrlRedirectClientError,
)
from .request import SUPPORTED_SCHEMES, build_url, same_origin
from .unix import UNIX_SCHEME, join_url, parse_url

__all__ = [
    "REDIRECT_STATUSES",
    "RedirectHop",
    "next_hop",
    "redirect_target",
    "inherited_fragment",
    "rewrites_to_get",
    "origin_bound_headers",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_BODY_HEADERS = ("Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding")
_ORIGIN_HEADERS = ("Authorization", "Cookie", "Host")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:").match  # RFC 3986 scheme ":"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]").search


class RedirectHop(NamedTuple):
    """The request to send after a redirect.

    ``headers`` is a new multidict (the one given is not changed).
    ``keep_body`` is False when the hop became a GET; ``keep_auth`` and
    ``keep_cookies`` (the per-request ``cookies=``) are False when the
    origin changed.
    """

    method: str
    url: URL
    headers: CIMultiDict[str]
    keep_body: bool
    keep_auth: bool
    keep_cookies: bool
    #: The fragment the next URL carries (never sent): the Location's, else inherited
    #: from the redirected URL (RFC 9110 §10.2.2); None for none.
    fragment: str | None = None

    @property
    def real_url(self) -> URL:
        """``url`` with :attr:`fragment`."""
        return self.url.with_fragment(self.fragment) if self.fragment else self.url


def next_hop(
    method: str,
    url: URL,
    status: int,
    location: str,
    headers: Mapping[str, str],
    *,
    has_body: bool,
    replayable: bool = True,
    same_proxy: bool = False,
) -> RedirectHop:
    """The request to send after ``url`` answered ``status`` with ``location``.

    ``headers`` are the request's own headers (caller and session defaults,
    not the ones the session adds per hop). ``replayable`` says whether the
    body can be sent again. ``same_proxy`` keeps ``Proxy-Authorization``
    across origins when both hops go through the same proxy.

    Raises :class:`InvalidUrlRedirectClientError` or
    :class:`NonHttpUrlRedirectClientError` for a bad ``location``, and
    :class:`BodyNotReplayableError` when a 307/308 needs a one-shot body again.
    """
    target = redirect_target(url, location)
    to_get = rewrites_to_get(method, status)
    if has_body and not to_get and not replayable:
        raise BodyNotReplayableError(
            f"Redirected with {status} to {target}, but the body is a one-shot stream "
            "that cannot be sent again; pass bytes or a seekable file, or allow_redirects=False"
        )
    same = same_origin(url, target)
    hop_headers = CIMultiDict(headers)
    dropped = (_BODY_HEADERS if to_get else ()) + (() if same else origin_bound_headers(same_proxy))
    for name in dropped:
        hop_headers.popall(name, None)
    return RedirectHop("GET" if to_get else method, target, hop_headers,
                       keep_body=not to_get, keep_auth=same, keep_cookies=same,
                       fragment=inherited_fragment(url, location))


def inherited_fragment(url: URL, location: str) -> str | None:
    """The fragment after a redirect from ``url`` to ``location``: the Location's, or,
    when it has none, ``url``'s (RFC 9110 §10.2.2). Fragments are never sent; they
    show in the response's ``real_url``."""
    _, hash_sign, fragment = location.strip(" \t").partition("#")
    if hash_sign:
        return URL("#" + fragment).fragment or None
    return url.fragment or None


def rewrites_to_get(method: str, status: int) -> bool:
    """True when the redirect turns the request into a bodiless GET."""
    return (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST")


def origin_bound_headers(same_proxy: bool = False) -> tuple[str, ...]:
    """The request headers dropped when a redirect changes scheme, host or port."""
    if same_proxy:
        return _ORIGIN_HEADERS
    return _ORIGIN_HEADERS + ("Proxy-Authorization",)


def redirect_target(url: URL, location: str) -> URL:
    """The absolute URL ``location`` points to from ``url``, without credentials or fragment.

    A ``location`` with a scheme must be ``http(s)://host[:port]/...``;
    ``//host/...`` takes the scheme of ``url``; anything else is resolved
    against ``url``.
    """
    location = location.strip(" \t")
    if _CONTROL(location):
        raise InvalidUrlRedirectClientError(location, "redirect Location contains control "
                                                      "characters (CR, LF, NUL, TAB...)")
    scheme = _SCHEME(location)
    if scheme is not None:
        name = scheme.group()[:-1].lower()
        if name not in SUPPORTED_SCHEMES:
            raise NonHttpUrlRedirectClientError(
                location, f"redirect to a {name!r} URL; only http and https are followed")
        if not location.startswith("//", scheme.end()):
            raise InvalidUrlRedirectClientError(
                location, f"an absolute redirect Location must be {name}://host/path")
    try:
        if scheme is not None:
            target = URL(location)
        elif location.startswith("//"):
            target = parse_url(f"{url.scheme}:{location}")
        else:
            target = join_url(url, URL(location))
    except ValueError as exc:
        raise InvalidUrlRedirectClientError(location, f"bad redirect Location: {exc}") from None
    if target.scheme == UNIX_SCHEME and target.raw_host != url.raw_host:
        raise NonHttpUrlRedirectClientError(
            location, "redirect to another Unix socket; only paths within the socket are followed")
    if target.raw_user is not None or target.raw_password is not None:
        target = target.with_user(None)
    if target.raw_fragment:
        target = target.with_fragment(None)
    try:
        build_url(target, argument="Location")
    except InvalidURL as exc:
        raise InvalidUrlRedirectClientError(
            location, f"bad redirect Location: {exc.description}") from None
    return target
