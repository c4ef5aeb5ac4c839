"""Credentials from a ``.netrc`` file, used when a session has ``trust_env=True``.

The file is ``$NETRC`` when set, else ``~/.netrc`` (``~/_netrc`` on Windows).
It is parsed once and re-read only when its modification time or size
changes; a missing or malformed file means no credentials. Reading it is file
I/O: the engine calls :func:`load_netrc` in a thread and passes the result to
:func:`netrc_auth`, so the event loop never blocks on it.
"""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any

from yarl import URL

from .auth import BasicAuth

__all__ = ["NETRC_UNREAD", "load_netrc", "netrc_path", "netrc_auth"]

NETRC_UNREAD: Any = object()  # netrc_auth(parsed=): not read yet

_cache: dict[str, tuple[tuple[int, int], netrc.netrc | None]] = {}


def netrc_path() -> Path | None:
    """The .netrc file to read, or None when there is none."""
    env = os.environ.get("NETRC")
    if env:
        return Path(env).expanduser()
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home directory
        return None
    names = (".netrc", "_netrc") if sys.platform == "win32" else (".netrc",)
    for name in names:
        path = home / name
        if path.exists():
            return path
    return None


def _load(path: Path) -> netrc.netrc | None:
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    key = str(path)
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        parsed: netrc.netrc | None = netrc.netrc(key)
    except (OSError, netrc.NetrcParseError, UnicodeDecodeError):
        parsed = None
    _cache[key] = (stamp, parsed)
    return parsed


def load_netrc() -> netrc.netrc | None:
    """The parsed .netrc file (None: no file, or unreadable). Blocking file I/O: call
    it off the event loop (``loop.run_in_executor``)."""
    path = netrc_path()
    return None if path is None else _load(path)


def netrc_auth(url: URL, parsed: netrc.netrc | None = NETRC_UNREAD) -> BasicAuth | None:
    """Basic credentials for ``url``'s host from the .netrc file (its ``default``
    entry included), or None. ``parsed``: what :func:`load_netrc` returned (without
    it, the file is read here, blocking)."""
    host = url.host
    if not host:
        return None
    if parsed is NETRC_UNREAD:
        parsed = load_netrc()
    if parsed is None:
        return None
    entry = parsed.authenticators(host)
    if entry is None:
        return None
    login, account, password = entry
    username = login or account or ""
    try:
        return BasicAuth(username, password or "")
    except (TypeError, ValueError):  # e.g. a ":" in the login
        return None
