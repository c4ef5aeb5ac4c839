"""Cookie jar following RFC 6265's storage model, with aiohttp's CookieJar API.

Cookies are stored keyed by (domain, path, name), each with a host-only flag,
an expiry time (None for session cookies) and a creation order. Values are kept
exactly as the server sent them: ``morsel.value == morsel.coded_value == raw``
for Set-Cookie results, and the raw text is what goes back in the Cookie header.
"""

from __future__ import annotations

import calendar
import datetime
import http.cookiejar
import ipaddress
import itertools
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from functools import lru_cache
from http.cookies import BaseCookie, CookieError, Morsel, SimpleCookie
from typing import Any

from publicsuffixlist import PublicSuffixList
from yarl import URL

__all__ = ["CookieJar", "DummyCookieJar", "cookie_pairs", "parse_cookie_date", "parse_set_cookie",
           "public_suffixes_ready", "load_public_suffixes"]

StrOrURL = str | URL
CookieValue = str | Morsel[str]
LooseCookies = Mapping[str, CookieValue] | Iterable[tuple[str, CookieValue]] | BaseCookie[str]

_MAX_COOKIE_SIZE = 4096  # name + value, the minimum RFC 6265 §6.1 asks for
_MAX_EXPIRY = float(calendar.timegm((9999, 12, 31, 23, 59, 59)))
_SECURE_SCHEMES = frozenset({"https", "wss"})
# Control characters, HTAB included (a tab would also corrupt cookies.txt).
_CTL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_AGE = re.compile(r"-?[0-9]+", re.ASCII)
# The cookie names aiohttp accepts from Set-Cookie: RFC 6265 tokens plus the
# brackets, parentheses and braces real servers use; others are not stored.
_SET_COOKIE_NAME = re.compile(r"[!#$%&'()*+\-./0-9:<=>?@A-Z\[\]^_`a-z{|}~]+")

# RFC 6265 §5.1.1 cookie-date grammar.
_DATE_DELIMITERS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_DATE_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?", re.S)
_DATE_DAY = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?", re.S)
_DATE_YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?", re.S)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_NETSCAPE_HEADER = "# Netscape HTTP Cookie File\n# Written by syncwrap. Edit at your own risk.\n\n"
_HTTPONLY_PREFIX = "#HttpOnly_"


def parse_cookie_date(text: str) -> float | None:
    """Parse a cookie date with RFC 6265 §5.1.1's algorithm; epoch seconds or None."""
    found_time: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITERS.split(text):
        if not token:
            continue
        if found_time is None and (m := _DATE_TIME.fullmatch(token)):
            found_time = (int(m[1]), int(m[2]), int(m[3]))
        elif day is None and (m := _DATE_DAY.fullmatch(token)):
            day = int(m[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (m := _DATE_YEAR.fullmatch(token)):
            year = int(m[1])
    if found_time is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif year <= 69:
        year += 2000
    hour, minute, second = found_time
    if year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        datetime.date(year, month, day)  # rejects day 0, day 32 and Feb 30
    except ValueError:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def _http_date(epoch: float) -> str:
    """Format epoch seconds as an RFC 1123 date, independent of the locale."""
    seconds = datetime.timedelta(seconds=int(min(max(epoch, 0.0), _MAX_EXPIRY)))
    return format_datetime(_EPOCH + seconds, usegmt=True)


def _new_morsel(name: str, value: str, coded_value: str) -> Morsel[str]:
    morsel: Morsel[str] = Morsel()
    try:
        morsel.set(name, value, coded_value)
    except CookieError:
        # RFC 6265 allows names Morsel refuses ("a[0]", "expires"); Morsel's
        # pickling hook stores them without its stricter token check.
        morsel.__setstate__({"key": name, "value": value, "coded_value": coded_value})
    return morsel


def _host(url: URL) -> str:
    return (url.raw_host or "").lower()


@lru_cache(maxsize=1024)
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def public_suffixes_ready() -> bool:
    """True once the public suffix list is loaded (a cookie's Domain is checked against
    it; the first check reads and parses a file)."""
    return _psl.cache_info().currsize > 0


def load_public_suffixes() -> None:
    """Load the public suffix list now: blocking, so the session calls it in a thread."""
    _psl()


def _is_public_suffix(domain: str) -> bool:
    return not _is_ip(domain) and bool(_psl().is_public(domain))


def _canonical_domain(domain: str) -> str:
    """Lower-case, drop one leading dot, IDNA-encode (RFC 6265 §5.2.3, §5.1.2)."""
    domain = domain.strip().lower()
    domain = domain[1:] if domain.startswith(".") else domain
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # left as is; it can't domain-match any request host
    return domain


def _domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3."""
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


def _default_path(url: URL) -> str:
    """RFC 6265 §5.1.4: the request path up to, not including, its last '/'."""
    path = url.raw_path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rfind("/")]


def _path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4."""
    return request_path == cookie_path or (
        request_path.startswith(cookie_path)
        and (cookie_path.endswith("/") or request_path[len(cookie_path)] == "/")
    )


def _valid_pair(name: str, value: str) -> bool:
    size_ok = len(name) + len(value) <= _MAX_COOKIE_SIZE
    return bool(name) and size_ok and not _CTL.search(name + value)


def cookie_pairs(cookies: Any) -> list[tuple[str, CookieValue]]:
    """(name, value or Morsel) pairs from a mapping, pairs, a jar of Morsels (ours) or
    an ``http.cookiejar.CookieJar`` (its domain, path, secure and expiry kept)."""
    if isinstance(cookies, Mapping):
        return list(cookies.items())
    if isinstance(cookies, http.cookiejar.CookieJar):
        return [(c.name, _stdlib_morsel(c)) for c in cookies if c.value is not None]
    pairs: list[tuple[str, CookieValue]] = []
    for item in cookies:
        pairs.append((item.key, item) if isinstance(item, Morsel) else tuple(item))
    return pairs


def _stdlib_morsel(cookie: http.cookiejar.Cookie) -> Morsel[str]:
    morsel = _new_morsel(cookie.name, str(cookie.value), str(cookie.value))
    if cookie.domain_specified or cookie.domain.startswith("."):
        morsel["domain"] = cookie.domain.lstrip(".")
    elif cookie.domain:
        morsel["domain"] = cookie.domain
    if cookie.path_specified:
        morsel["path"] = cookie.path
    if cookie.secure:
        morsel["secure"] = True
    if cookie.expires is not None:
        morsel["max-age"] = str(max(0, int(cookie.expires - time.time())))
    return morsel


def parse_set_cookie(header: str, request_url: StrOrURL = URL()) -> Morsel[str] | None:
    """Parse one Set-Cookie header value per RFC 6265 §5.2.

    Returns a Morsel holding the raw value, the recognised attributes (Domain
    lower-cased without its leading dot, Expires normalised to RFC 1123 form,
    Max-Age as sent) and the effective path (the default path of
    ``request_url`` when Path is missing or invalid); None when the header
    defines no usable cookie. Storage rules (§5.3) are the jar's business.
    """
    pair, _, attributes = header.partition(";")
    name, sep, value = pair.partition("=")
    name, value = name.strip(" \t"), value.strip(" \t")
    if not sep or not _valid_pair(name, value) or not _SET_COOKIE_NAME.fullmatch(name):
        return None
    morsel = _new_morsel(name, value, value)
    path = ""
    for attribute in attributes.split(";") if attributes else ():
        key, _, val = attribute.partition("=")
        key, val = key.strip(" \t").lower(), val.strip(" \t")
        if key == "expires":
            when = parse_cookie_date(val)
            if when is not None:
                morsel["expires"] = _http_date(when)
        elif key == "max-age":
            if _MAX_AGE.fullmatch(val):
                morsel["max-age"] = val
        elif key == "domain":
            if val:  # an empty Domain is ignored (§5.2.3)
                morsel["domain"] = _canonical_domain(val)
        elif key == "path":
            path = val if val.startswith("/") else ""  # the last Path wins, even a bad one
        elif key == "secure":
            morsel["secure"] = True
        elif key == "httponly":
            morsel["httponly"] = True
        elif key == "samesite":
            morsel["samesite"] = val
    morsel["path"] = path or _default_path(URL(request_url))
    return morsel


@dataclass(eq=False)
class _Entry:
    morsel: Morsel[str]
    host_only: bool
    expiry: float | None  # epoch seconds; None for a session cookie
    created: tuple[float, int]  # creation time, then a tie-breaking sequence number


_Key = tuple[str, str, str]  # (domain, path, name); domain "" marks a shared cookie


class CookieJar:
    """An RFC 6265 cookie store with aiohttp's CookieJar interface.

    Strict by default: cookies from IP-address hosts are neither stored nor
    sent; ``unsafe=True`` allows them. Cookies given to :meth:`update_cookies`
    without a response URL are "shared" and sent to every host.
    """

    def __init__(
        self,
        *,
        unsafe: bool = False,
        quote_cookie: bool = True,
        treat_as_secure_origin: StrOrURL | Iterable[StrOrURL] | None = None,
        loop: Any = None,
    ) -> None:
        self._unsafe = unsafe
        self._quote_cookie = quote_cookie
        if treat_as_secure_origin is None:
            origins: Iterable[StrOrURL] = ()
        elif isinstance(treat_as_secure_origin, (str, URL)):
            origins = (treat_as_secure_origin,)
        else:
            origins = treat_as_secure_origin
        self._secure_origins = frozenset(URL(o).origin() for o in origins)
        self._store: dict[_Key, _Entry] = {}
        self._sequence = itertools.count()

    @property
    def unsafe(self) -> bool:
        """Whether cookies from IP-address hosts are accepted."""
        return self._unsafe

    @property
    def quote_cookie(self) -> bool:
        """Whether user-supplied values are quoted as http.cookies.SimpleCookie does."""
        return self._quote_cookie

    def _now(self) -> float:
        # Tests replace this to control time.
        return time.time()

    def __len__(self) -> int:
        self._expire()
        return len(self._store)

    def __iter__(self) -> Iterator[Morsel[str]]:
        self._expire()
        return iter([entry.morsel for entry in self._store.values()])

    def update_cookies(self, cookies: LooseCookies, response_url: StrOrURL = URL()) -> None:
        """Store cookies given as a mapping, (name, value) pairs or a BaseCookie.

        Values may be strings or Morsels (whose domain, path, expires, max-age,
        secure, httponly and samesite are honoured). With a response URL they
        obey the same rules as Set-Cookie from that URL; without one they are
        shared cookies sent to every host (unless a Morsel names a domain).
        """
        url = URL(response_url)
        host = _host(url)
        if host and _is_ip(host) and not self._unsafe:
            return
        for name, value in cookie_pairs(cookies):
            morsel = self._user_morsel(str(name), value)
            if morsel is not None:
                self._add(morsel, url, host)

    def update_cookies_from_headers(
        self, set_cookie_headers: Iterable[str], response_url: StrOrURL
    ) -> None:
        """Store the cookies of raw Set-Cookie header values received from ``response_url``."""
        url = URL(response_url)
        host = _host(url)
        if not host or (_is_ip(host) and not self._unsafe):
            return
        for header in set_cookie_headers:
            morsel = parse_set_cookie(header, url)
            if morsel is not None:
                self._add(morsel, url, host)

    def cookies_for(self, request_url: StrOrURL) -> list[Morsel[str]]:
        """All cookies to send to ``request_url``, duplicates included, in
        RFC 6265 §5.4 order (longer paths first, then earlier creation first)."""
        url = URL(request_url)
        host = _host(url)
        path = url.raw_path or "/"
        secure = url.scheme in _SECURE_SCHEMES or (
            url.is_absolute() and url.origin() in self._secure_origins
        )
        hosts_allowed = bool(host) and (self._unsafe or not _is_ip(host))
        self._expire()
        matches = []
        for (domain, cookie_path, _), entry in self._store.items():
            if domain and not (
                hosts_allowed
                and (host == domain if entry.host_only else _domain_match(host, domain))
            ):
                continue
            if not _path_match(path, cookie_path) or (entry.morsel["secure"] and not secure):
                continue
            matches.append((-len(cookie_path), entry.created, entry.morsel))
        matches.sort(key=lambda match: match[:2])
        return [morsel for _, _, morsel in matches]

    def filter_cookies(self, request_url: StrOrURL) -> SimpleCookie:
        """Cookies to send to ``request_url`` as a SimpleCookie of name -> Morsel.

        A SimpleCookie holds one cookie per name: the first in RFC order (the
        most specific path) wins. :meth:`cookies_for` keeps duplicates.
        """
        filtered = SimpleCookie()
        for morsel in self.cookies_for(request_url):
            if morsel.key not in filtered:
                filtered[morsel.key] = _new_morsel(morsel.key, morsel.value, morsel.coded_value)
        return filtered

    @staticmethod
    def matcher(name: str | None = None, domain: str | None = None,
                path: str | None = None) -> Callable[[Morsel[str]], bool]:
        """A predicate for :meth:`clear`: cookies named ``name``, stored for exactly
        ``domain`` and ``path`` (each None: any).

        ``domain`` is compared the way the jar stores it: lower case, without a
        leading dot, IDNA-encoded ("bücher.example" finds "xn--bcher-kva.example");
        ``""`` names the shared cookies, those sent to every host.
        """
        wanted = None if domain is None else _canonical_domain(domain)

        def matches(morsel: Morsel[str]) -> bool:
            return ((name is None or morsel.key == name)
                    and (wanted is None or str(morsel["domain"] or "") == wanted)
                    and (path is None or str(morsel["path"] or "/") == path))

        return matches

    def find(self, name: str | None = None, domain: str | None = None,
             path: str | None = None) -> list[Morsel[str]]:
        """The stored cookies matching ``name``, ``domain`` and ``path`` (see :meth:`matcher`),
        most specific path first, then oldest first (the order of RFC 6265 §5.4)."""
        self._expire()
        matches = self.matcher(name, domain, path)
        found = [(-len(key[1]), entry.created, entry.morsel)
                 for key, entry in self._store.items() if matches(entry.morsel)]
        found.sort(key=lambda item: item[:2])
        return [morsel for _, _, morsel in found]

    def set_cookie(self, name: str, value: str, domain: str | None = None,
                   path: str | None = None, **attributes: Any) -> None:
        """Store a cookie set by the user (not received): for ``domain`` and its
        subdomains, or without a domain shared by every host; ``path`` defaults to "/".

        The value is quoted as :class:`http.cookies.SimpleCookie` does unless the
        jar has ``quote_cookie=False``. Other attributes (``secure=True``,
        ``httponly=True``, ``expires=``, ``max_age=`` in seconds...) are Morsel
        attributes, underscores spelled as dashes.
        """
        if not isinstance(name, str):
            raise TypeError(f"cookie names must be str, got {type(name).__name__}")
        if not isinstance(value, str):
            raise TypeError(f"cookie values must be str, got {type(value).__name__}")
        if domain is None and path is None and not attributes:
            self.update_cookies({name: value})
            return
        morsel = self._user_morsel(name, value)  # quoted as update_cookies quotes a str
        if morsel is None:
            return  # refused as update_cookies refuses it (empty, too long, CTLs)
        if domain is not None:
            morsel["domain"] = domain
        morsel["path"] = path or "/"
        for key, val in attributes.items():
            morsel[key.replace("_", "-")] = val
        self.update_cookies({name: morsel})

    def clear(self, predicate: Callable[[Morsel[str]], bool] | None = None) -> None:
        """Remove every cookie, or those for which ``predicate(morsel)`` is true."""
        if predicate is None:
            self._store.clear()
            return
        self._expire()
        for key, entry in list(self._store.items()):
            if predicate(entry.morsel):
                del self._store[key]

    def clear_domain(self, domain: str) -> None:
        """Remove the cookies of ``domain`` and of its subdomains."""
        domain = _canonical_domain(domain)
        for key in [k for k in self._store if k[0] and _domain_match(k[0], domain)]:
            del self._store[key]

    def save(self, file_path: str | os.PathLike[str]) -> None:
        """Write the cookies to a Netscape cookies.txt file (as curl and wget do)."""
        self._expire()
        lines = []
        for (domain, path, name), entry in sorted(
            self._store.items(), key=lambda item: item[1].created
        ):
            field = domain if entry.host_only or not domain else "." + domain
            if entry.morsel["httponly"]:
                field = _HTTPONLY_PREFIX + field
            fields = (
                field,
                "FALSE" if entry.host_only else "TRUE",
                path,
                "TRUE" if entry.morsel["secure"] else "FALSE",
                "0" if entry.expiry is None else str(int(entry.expiry)),
                name,
                entry.morsel.coded_value,
            )
            lines.append("\t".join(fields) + "\n")
        with open(file_path, "w", encoding="utf-8", newline="\n") as f:
            f.write(_NETSCAPE_HEADER + "".join(lines))

    def load(self, file_path: str | os.PathLike[str]) -> None:
        """Replace the jar's cookies with those of a Netscape cookies.txt file.

        Comment and malformed lines are skipped; ``#HttpOnly_`` lines are
        HttpOnly cookies; expiry 0 means a session cookie. Expired cookies and
        (unless unsafe) cookies for IP hosts are dropped.
        """
        with open(file_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        now = self._now()
        store: dict[_Key, _Entry] = {}
        for line in text.split("\n"):
            line = line.rstrip("\r")
            httponly = line.startswith(_HTTPONLY_PREFIX)
            if httponly:
                line = line[len(_HTTPONLY_PREFIX) :]
            elif not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) == 6:  # some exporters drop an empty value
                fields.append("")
            if len(fields) != 7:
                continue
            domain_field, subdomains, path, secure, expires, name, value = fields
            domain = _canonical_domain(domain_field)
            host_only = subdomains.strip().upper() != "TRUE"
            try:
                expiry: float | None = min(float(expires), _MAX_EXPIRY) or None
            except ValueError:
                continue
            if expiry is not None and math.isnan(expiry):
                continue
            if (
                not _valid_pair(name, value)
                or (expiry is not None and expiry <= now)
                or (domain and _is_ip(domain) and not self._unsafe)
            ):
                continue
            if domain and not host_only and _is_public_suffix(domain):
                host_only = True  # as §5.3 step 5 treats Domain=<public suffix> from that host
            morsel = _new_morsel(name, value, value)
            morsel["domain"] = domain
            morsel["path"] = path if path.startswith("/") else "/"
            morsel["secure"] = secure.strip().upper() == "TRUE"
            morsel["httponly"] = httponly
            if expiry is not None:
                morsel["expires"] = _http_date(expiry)
            store[(domain, morsel["path"], name)] = _Entry(
                morsel, host_only and bool(domain), expiry, (now, next(self._sequence))
            )
        self._store = store

    def _user_morsel(self, name: str, value: CookieValue) -> Morsel[str] | None:
        if isinstance(value, Morsel):
            raw, coded = str(value.value), str(value.coded_value)
        else:
            raw = str(value)
            coded = SimpleCookie().value_encode(raw)[1] if self._quote_cookie else raw
        if not _valid_pair(name, coded) or ";" in name or "=" in name:
            return None
        morsel = _new_morsel(name, raw, coded)
        if isinstance(value, Morsel):
            morsel.update(value)
        return morsel

    def _add(self, morsel: Morsel[str], url: URL, host: str) -> None:
        """Apply RFC 6265 §5.3 to a parsed cookie received from ``url``."""
        domain = _canonical_domain(str(morsel["domain"] or ""))
        if not host:  # a user-supplied cookie: for the domain it names, or shared
            if domain and (_is_public_suffix(domain) or (_is_ip(domain) and not self._unsafe)):
                return
            host_only = False
        elif domain:
            if _is_public_suffix(domain):
                if domain != host:
                    return
                host_only = True
            elif not _domain_match(host, domain):
                return
            else:
                host_only = False
        else:
            domain, host_only = host, True
        path = str(morsel["path"] or "")
        if not path.startswith("/"):
            path = _default_path(url) if host else "/"
        now = self._now()
        expiry = self._expiry(morsel, now)
        key = (domain, path, morsel.key)
        old = self._store.pop(key, None)
        if expiry is not None and expiry <= now:
            return  # an expired cookie only deletes its namesake
        morsel["domain"] = domain
        morsel["path"] = path
        created = old.created if old else (now, next(self._sequence))
        self._store[key] = _Entry(morsel, host_only, expiry, created)

    @staticmethod
    def _expiry(morsel: Morsel[str], now: float) -> float | None:
        """Max-Age takes precedence over Expires; None means a session cookie."""
        try:
            delta: float | None = min(int(morsel["max-age"]), _MAX_EXPIRY)
        except (TypeError, ValueError):  # absent ("") or malformed
            delta = None
        if delta is not None:
            return float("-inf") if delta <= 0 else min(now + delta, _MAX_EXPIRY)
        expires: Any = morsel["expires"]
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            return min(now + min(expires, _MAX_EXPIRY), _MAX_EXPIRY)  # seconds from now
        if isinstance(expires, str) and expires:
            return parse_cookie_date(expires)
        return None

    def _expire(self) -> None:
        if not self._store:
            return
        now = self._now()
        expired = [k for k, e in self._store.items() if e.expiry is not None and e.expiry <= now]
        for key in expired:
            del self._store[key]


class DummyCookieJar(CookieJar):
    """A cookie jar with the same interface that stores nothing."""

    def _add(self, morsel: Morsel[str], url: URL, host: str) -> None:
        pass

    def load(self, file_path: str | os.PathLike[str]) -> None:
        pass
