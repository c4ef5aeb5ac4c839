"""syncwrap: a blocking, requests-like HTTP client running an asyncio engine on a loop thread.

>>> import syncwrap
>>> r = syncwrap.get("https://example.org/")          # doctest: +SKIP
>>> with syncwrap.Session() as s: s.get(url).json()    # doctest: +SKIP
"""

from . import engine
from .api import Response, Session, delete, get, head, options, patch, post, put, request
from .engine import (
    BasicAuth,
    ClientTimeout,
    CookieJar,
    DummyCookieJar,
    Fingerprint,
    TCPConnector,
)
from .engine.exceptions import *  # noqa: F403
from .engine.exceptions import __all__ as _exceptions
from .loop import run

__version__ = "0.1.0"

__all__ = [
    "BasicAuth",
    "ClientTimeout",
    "CookieJar",
    "DummyCookieJar",
    "Fingerprint",
    "Response",
    "Session",
    "TCPConnector",
    "delete",
    "engine",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "run",
    *_exceptions,
]
