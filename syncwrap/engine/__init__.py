"""syncwrap.engine: a complete asyncio HTTP/1.1 client in the style of aiohttp's.

``async with ClientSession() as s: async with s.get(url) as r: await r.text()``
"""

from ..exceptions import *  # noqa: F403
from ..exceptions import __all__ as _exc_all
from .auth import BasicAuth, encode_basic_auth
from .auth_flow import AuthFlow, AuthRequest
from .connector import BaseConnector, Connection, TCPConnector, UnixConnector
from .cookies import CookieJar, DummyCookieJar
from .digest import DigestAuth
from .middlewares import (
    ClientHandlerType,
    ClientMiddlewareType,
    ClientRequest,
    DigestAuthMiddleware,
)
from .multipart import FormData, MultipartWriter
from .payload import (
    PAYLOAD_REGISTRY,
    AsyncIterablePayload,
    BufferedReaderPayload,
    BytesIOPayload,
    BytesPayload,
    JsonPayload,
    Payload,
    PayloadRegistry,
    StringIOPayload,
    StringPayload,
    TextIOPayload,
    get_payload,
)
from .resolver import AbstractResolver, AsyncResolver, DefaultResolver, ThreadedResolver
from .response import ClientResponse, ContentTypeError, RequestInfo
from .retry import Retry
from .session import ClientSession, request
from .streams import StreamReader
from .timeouts import ClientTimeout
from .tls import Fingerprint
from .tracing import *  # noqa: F403
from .tracing import __all__ as _tracing_all
from .websocket import ClientWebSocketResponse, ClientWSTimeout, WSCloseCode, WSMessage, WSMsgType
from .zlib_backend import set_zlib_backend

__all__ = [
    "AbstractResolver",
    "AsyncResolver",
    "AuthFlow",
    "AuthRequest",
    "BasicAuth",
    "DigestAuth",
    "DigestAuthMiddleware",
    "ClientHandlerType",
    "ClientMiddlewareType",
    "ClientRequest",
    "BaseConnector",
    "AsyncIterablePayload",
    "BufferedReaderPayload",
    "BytesIOPayload",
    "BytesPayload",
    "ClientResponse",
    "ClientSession",
    "ClientTimeout",
    "ClientWebSocketResponse",
    "ClientWSTimeout",
    "Connection",
    "ContentTypeError",
    "CookieJar",
    "DefaultResolver",
    "DummyCookieJar",
    "Fingerprint",
    "FormData",
    "JsonPayload",
    "MultipartWriter",
    "PAYLOAD_REGISTRY",
    "Payload",
    "PayloadRegistry",
    "RequestInfo",
    "Retry",
    "StreamReader",
    "StringIOPayload",
    "StringPayload",
    "TCPConnector",
    "TextIOPayload",
    "ThreadedResolver",
    "UnixConnector",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "get_payload",
    "request",
    "encode_basic_auth",
    "set_zlib_backend",
    *_exc_all,
    *_tracing_all,
]
