"""syncwrap: a blocking, requests-like HTTP client running an asyncio engine on a loop thread.

>>> import syncwrap
>>> r = syncwrap.get("https://example.org/")          # doctest: +SKIP
>>> with syncwrap.Session() as s: s.get(url).json()    # doctest: +SKIP

The package shows the API names and four modules: ``syncwrap.api`` (the
blocking facade's door), ``syncwrap.engine`` (the asyncio client),
``syncwrap.loop`` (the loop thread) and ``syncwrap.exceptions``. The facade's
helpers live in ``syncwrap._bridge`` and are not API.
"""

# The modules shown besides the API names (only engine is in __all__):
from . import api as api
from . import engine
from . import exceptions as exceptions
from . import loop as loop
from ._bridge.cookies import CookiesView
from ._bridge.status_codes import codes
from .api import (
    FanOut,
    PreparedRequest,
    Request,
    Response,
    Session,
    WebSocket,
    as_completed,
    delete,
    download,
    get,
    head,
    options,
    patch,
    post,
    put,
    request,
    ws_connect,
)
from .api import (
    map as map,
)
from .engine import (
    AbstractResolver,
    AsyncResolver,
    AuthFlow,
    AuthRequest,
    BasicAuth,
    ClientTimeout,
    ClientWebSocketResponse,
    ClientWSTimeout,
    ContentTypeError,
    CookieJar,
    DigestAuth,
    DummyCookieJar,
    Fingerprint,
    FormData,
    MultipartWriter,
    Retry,
    TCPConnector,
    TraceConfig,
    UnixConnector,
    WSCloseCode,
    WSMessage,
    WSMsgType,
)
from .exceptions import *  # noqa: F403
from .exceptions import __all__ as _exceptions
from .loop import run

__version__ = "0.1.0"

__all__ = [
    "AbstractResolver",
    "AsyncResolver",
    "AuthFlow",
    "AuthRequest",
    "BasicAuth",
    "ClientTimeout",
    "ClientWSTimeout",
    "ClientWebSocketResponse",
    "ContentTypeError",
    "CookieJar",
    "CookiesView",
    "DigestAuth",
    "DummyCookieJar",
    "Fingerprint",
    "FormData",
    "MultipartWriter",
    "PreparedRequest",
    "Request",
    "Retry",
    "Response",
    "Session",
    "TCPConnector",
    "TraceConfig",
    "UnixConnector",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocket",
    "FanOut",
    "as_completed",  # and map, left out of __all__: a star import must not hide the builtin
    "codes",
    "delete",
    "download",
    "engine",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "run",
    "ws_connect",
    *_exceptions,
]

del _exceptions


def __getattr__(name: str) -> object:
    """``syncwrap.adapters`` (requests' ``requests.adapters``), imported on first use."""
    if name == "adapters":
        import importlib

        return importlib.import_module(".adapters", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
