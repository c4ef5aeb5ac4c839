"""The one exception hierarchy shared by the engine and the blocking facade.

Everything raised for a network, protocol or HTTP problem derives from
:class:`ClientError` (also exported as ``RequestException`` for requests users).
Argument errors additionally derive from ``ValueError`` or ``TypeError`` so that
code catching those keeps working::

    ClientError (RequestException)
    ├── ClientConnectionError (ConnectionError)
    │   ├── ClientOSError (also OSError)
    │   │   └── ClientConnectorError
    │   │       ├── ClientConnectorDNSError     the name did not resolve
    │   │       ├── UnixClientConnectorError    (has .path)
    │   │       ├── SSLError
    │   │       │   └── FingerprintMismatch
    │   │       └── ProxyError
    │   ├── ServerDisconnectedError
    │   └── ConnectTimeout (also Timeout)
    ├── Timeout (ServerTimeoutError; also the built-in TimeoutError)
    │   ├── ConnectTimeout (ConnectionTimeoutError)
    │   └── ReadTimeout (SocketTimeoutError)
    ├── ClientResponseError (HTTPError)
    │   ├── TooManyRedirects
    │   └── WSServerHandshakeError
    ├── MalformedResponseError
    │   └── MalformedBodyError         broken chunk framing (also a ClientPayloadError)
    ├── WebSocketError                  a WebSocket failed (has .code: 1002, 1007, 1009...)
    ├── ClientPayloadError (ChunkedEncodingError)
    │   ├── ContentDecodingError
    │   ├── BodyTooLargeError
    │   └── ChecksumMismatchError       a download's digest is not the expected one
    ├── InvalidURL (also ValueError)
    │   ├── InvalidUrlRedirectClientError     a malformed redirect Location
    │   └── NonHttpUrlRedirectClientError     a redirect to a non-http(s) URL
    ├── InvalidHeader (also ValueError)
    ├── BodyNotReplayableError (also ValueError)
    ├── RequestBodyLengthError (also ValueError)
    ├── CookieConflictError (also RuntimeError)
    └── RetryError                  the retries ran out (has .reason, the last cause)
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
from typing import Any

__all__ = [
    "ClientError",
    "RequestException",
    "ClientConnectionError",
    "ConnectionError",
    "ClientOSError",
    "ClientConnectorError",
    "ClientConnectorDNSError",
    "UnixClientConnectorError",
    "ServerDisconnectedError",
    "Timeout",
    "ConnectTimeout",
    "ReadTimeout",
    "ServerTimeoutError",
    "ConnectionTimeoutError",
    "SocketTimeoutError",
    "ClientResponseError",
    "HTTPError",
    "TooManyRedirects",
    "MalformedResponseError",
    "MalformedBodyError",
    "ClientPayloadError",
    "ChunkedEncodingError",
    "ContentDecodingError",
    "BodyTooLargeError",
    "ChecksumMismatchError",
    "InvalidURL",
    "MissingSchema",
    "InvalidSchema",
    "InvalidJSONError",
    "JSONDecodeError",
    "StreamConsumedError",
    "InvalidUrlRedirectClientError",
    "NonHttpUrlRedirectClientError",
    "InvalidHeader",
    "SSLError",
    "FingerprintMismatch",
    "ProxyError",
    "WSServerHandshakeError",
    "WebSocketError",
    "BodyNotReplayableError",
    "RequestBodyLengthError",
    "CookieConflictError",
    "RetryError",
    "ClientConnectionResetError",
    "ServerConnectionError",
    "InvalidUrlClientError",
    "NonHttpUrlClientError",
    "RedirectClientError",
    "ClientSSLError",
    "ClientConnectorSSLError",
    "ClientConnectorCertificateError",
    "ServerFingerprintMismatch",
]


class ClientError(Exception):
    """Base class of every error syncwrap raises for a request. ``response`` is the
    response when there is one (else None), ``request`` the request as sent."""

    response: Any = None

    @property
    def request(self) -> Any:
        """The request as sent (the response's ``request``), when there is a response."""
        return getattr(self.response, "request", None)


RequestException = ClientError


class ClientConnectionError(ClientError):
    """The connection could not be made or was lost (refused, reset, DNS)."""


ConnectionError = ClientConnectionError  # noqa: A001 - requests' public name


class ClientOSError(ClientConnectionError, OSError):
    """An OS-level socket error, with ``errno`` and ``strerror`` kept."""


class ClientConnectorError(ClientOSError):
    """Connecting to ``host:port`` failed (refused, unreachable, DNS failure)."""

    def __init__(self, host: str, port: int | None, os_error: OSError | str) -> None:
        self.host = host
        self.port = port
        if isinstance(os_error, OSError):
            self.os_error: OSError | None = os_error
            super().__init__(os_error.errno, os_error.strerror or str(os_error))
            reason = os_error.strerror or str(os_error) or type(os_error).__name__
            if (os_error.errno and os_error.errno > 0
                    and not isinstance(os_error, socket.gaierror | ssl.SSLError)):
                try:
                    reason = os.strerror(os_error.errno)  # "Connection refused", not asyncio's text
                except ValueError:
                    pass
        else:
            self.os_error = None
            super().__init__(None, os_error)
            reason = os_error
        self._reason = reason
        self._message = f"Cannot connect to host {host}:{port} [{reason}]"

    def __str__(self) -> str:
        return self._message


class ClientConnectorDNSError(ClientConnectorError):
    """The host's name did not resolve (no such name, or no DNS answer)."""


class UnixClientConnectorError(ClientConnectorError):
    """Connecting to the Unix socket ``path`` failed (missing, refused, not a socket)."""

    def __init__(self, path: str, host: str, port: int | None, os_error: OSError | str) -> None:
        super().__init__(host, port, os_error)
        self.path = path
        self._message = f"Cannot connect to unix socket {path} [{self._reason}]"


class ClientConnectionResetError(ClientConnectionError, ConnectionResetError):
    """The connection was reset (or closed) while the request was being written."""


class ServerConnectionError(ClientConnectionError):
    """The server failed the connection after it was made (disconnect, bad certificate pin)."""


class ServerDisconnectedError(ServerConnectionError):
    """The server closed the connection before the response was complete."""

    def __init__(self, message: str = "Server disconnected") -> None:
        super().__init__(message)
        self.message = message


_TIMEOUT_BASES: tuple[type[BaseException], ...] = (
    (TimeoutError,)
    if issubclass(asyncio.TimeoutError, TimeoutError)
    else (TimeoutError, asyncio.TimeoutError)
)


class Timeout(ClientError, *_TIMEOUT_BASES):  # type: ignore[misc]
    """A request took longer than its timeout. Also a built-in ``TimeoutError``."""


class ConnectTimeout(Timeout, ClientConnectionError):
    """The timeout expired before the connection was established."""


class ReadTimeout(Timeout):
    """The timeout expired after connecting, while waiting for the server."""


# aiohttp's spellings.
ServerTimeoutError = Timeout
ConnectionTimeoutError = ConnectTimeout
SocketTimeoutError = ReadTimeout


class ClientResponseError(ClientError):
    """An HTTP error status or a response-level failure.

    ``status`` is the HTTP status, ``message`` the reason, ``response`` the
    response object (engine or facade) when there is one.
    """

    def __init__(
        self,
        request_info: Any = None,
        history: tuple[Any, ...] = (),
        *,
        status: int | None = None,
        message: str = "",
        headers: Any = None,
        response: Any = None,
    ) -> None:
        self.request_info = request_info
        self.history = history
        self.status = status if status is not None else 0
        self.message = message
        self.headers = headers
        self.response = response
        url = getattr(request_info, "real_url", None) or getattr(request_info, "url", None)
        text = f"{self.status}, message={message!r}"
        if url is not None:
            text += f", url={str(url)!r}"
        super().__init__(text)

    @property
    def code(self) -> int:
        return self.status


HTTPError = ClientResponseError


class TooManyRedirects(ClientResponseError):
    """More redirects than ``max_redirects`` were followed."""


class MalformedResponseError(ClientResponseError):
    """The server sent something that is not valid HTTP/1.1 (a broken or over-long head,
    too many headers...). A ClientResponseError with ``status`` 400, as aiohttp raises."""

    def __init__(self, message: str = "Malformed HTTP response", request_info: Any = None,
                 history: tuple[Any, ...] = ()) -> None:
        super().__init__(request_info, history, status=400, message=message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class ClientPayloadError(ClientError):
    """The response body was truncated or otherwise broken."""


ChunkedEncodingError = ClientPayloadError


class MalformedBodyError(MalformedResponseError, ClientPayloadError):
    """The framing of a chunked body is broken, or its chunk extensions or trailers pass
    the head's size limit: a MalformedResponseError, as for any malformed response, and a
    ClientPayloadError (requests' ChunkedEncodingError), as for any broken body."""


class ContentDecodingError(ClientPayloadError):
    """The body could not be decoded with its Content-Encoding."""


class BodyTooLargeError(ClientPayloadError):
    """A whole-body read (``read()``, ``text()``, ``json()``, ``.content``) passed
    ``max_body_size``; ``limit`` is that size in bytes. Read such a body as a stream."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"Response body passed max_body_size={limit} bytes; read it as a stream or "
            "raise max_body_size"
        )


class ChecksumMismatchError(ClientPayloadError):
    """A downloaded file's digest is not the one given with ``checksum=``: the file was
    removed. ``algorithm``, ``expected`` and ``got`` (hex digests) say which."""

    def __init__(self, algorithm: str, expected: str, got: str) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self.got = got
        super().__init__(f"{algorithm} checksum mismatch: expected {expected}, got {got}")


class InvalidURL(ClientError, ValueError):
    """The URL is malformed, has an unsupported scheme, or contains CR/LF."""

    def __init__(self, url: Any, description: str = "") -> None:
        self.url = url
        self.description = description
        text = f"Invalid URL {str(url)!r}" + (f": {description}" if description else "")
        super().__init__(text)


class InvalidUrlClientError(InvalidURL):
    """The request URL is malformed (no host, bad characters, unparsable)."""


class NonHttpUrlClientError(InvalidURL):
    """The request URL's scheme is not http or https."""


class RedirectClientError(ClientError):
    """A redirect could not be followed: its ``Location`` is unusable."""


class MissingSchema(InvalidUrlClientError):
    """The URL has no scheme (``example.org/path``): write ``http://`` or ``https://``."""


class InvalidSchema(NonHttpUrlClientError):
    """The URL's scheme is not one syncwrap speaks (``ftp://``, ``mailto:``...)."""


class InvalidJSONError(ClientError, ValueError):
    """JSON that cannot be used: a ``json=`` value that is not valid JSON (NaN,
    Infinity, a type JSON lacks), or a response body that does not parse."""


class JSONDecodeError(InvalidJSONError, json.JSONDecodeError):
    """``Response.json()`` found no valid JSON in the body; also a ``json.JSONDecodeError``
    (``msg``, ``doc``, ``pos``, ``lineno``, ``colno`` as there)."""

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        json.JSONDecodeError.__init__(self, msg, doc, pos)


class StreamConsumedError(ClientError, RuntimeError):
    """The body of a ``stream=True`` response was already read; it cannot be read again."""


class InvalidUrlRedirectClientError(InvalidUrlClientError, RedirectClientError):
    """A redirect's ``Location`` is not a usable URL (malformed, or no host)."""


class NonHttpUrlRedirectClientError(NonHttpUrlClientError, RedirectClientError):
    """A redirect's ``Location`` has a scheme other than http or https."""


class InvalidHeader(ClientError, ValueError):
    """A header name or value cannot be sent (CR/LF, NUL or bad characters)."""


class ClientSSLError(ClientConnectorError):
    """The TLS handshake or certificate verification failed."""


SSLError = ClientSSLError  # requests' name


class ClientConnectorSSLError(ClientSSLError, ssl.SSLError):
    """The TLS handshake failed (protocol error, no shared cipher, peer closed)."""


class ClientConnectorCertificateError(ClientSSLError, ssl.CertificateError):
    """The server's certificate did not verify (unknown CA, expired, wrong host name).
    ``certificate_error`` is the ssl error."""

    @property
    def certificate_error(self) -> OSError | None:
        return self.os_error


class ServerFingerprintMismatch(ClientSSLError, ServerConnectionError):
    """The server certificate's SHA-256 digest is not the pinned one."""

    def __init__(self, expected: bytes, got: bytes, host: str, port: int | None) -> None:
        self.expected = expected
        self.got = got
        super().__init__(
            host,
            port,
            f"certificate fingerprint mismatch: expected {expected.hex()}, got {got.hex()}",
        )


FingerprintMismatch = ServerFingerprintMismatch


def ssl_error(host: str, port: int | None, exc: ssl.SSLError) -> ClientSSLError:
    """The ClientSSLError for ``exc`` met while connecting to ``host:port``: a
    ClientConnectorCertificateError when the certificate did not verify, else a
    ClientConnectorSSLError."""
    if isinstance(exc, ssl.CertificateError):
        return ClientConnectorCertificateError(host, port, exc)
    return ClientConnectorSSLError(host, port, exc)


class ProxyError(ClientConnectorError):
    """The proxy could not be reached, or refused the tunnel (CONNECT not answered 2xx,
    a SOCKS refusal). ``host`` and ``port`` are the proxy's; ``status`` is its HTTP
    answer to CONNECT (407: proxy credentials missing or wrong), else None, and
    ``headers`` that answer's headers."""

    def __init__(self, host: str, port: int | None, os_error: OSError | str, *,
                 status: int | None = None, headers: Any = None, message: str | None = None
                 ) -> None:
        super().__init__(host, port, os_error)
        self.status = status
        self.headers = headers
        if message is not None:
            self._message = message
        else:
            self._message = self._message.replace("to host", "to proxy", 1)


class WSServerHandshakeError(ClientResponseError):
    """The server did not accept the WebSocket handshake: ``status`` and ``headers`` are
    its answer's (a non-101 status, or a 101 whose headers do not complete the
    handshake: a wrong Sec-WebSocket-Accept, an extension or subprotocol not offered)."""


class WebSocketError(ClientError):
    """A WebSocket connection failed; ``code`` is the close code it was closed with
    (1002 protocol error, 1007 invalid UTF-8, 1009 message too big, 1006 no answer...).
    It arrives as the data of a ``WSMsgType.ERROR`` message."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


class BodyNotReplayableError(ClientError, ValueError):
    """A redirect or retry needs the body again, but it was a one-shot stream."""


class RequestBodyLengthError(ClientError, ValueError):
    """A request body does not match the ``Content-Length`` it is sent under.

    A body whose size is known is checked before anything is sent. A streamed body
    (generator, unsized file...) under a caller-set length that runs past it or ends
    short of it fails the request, and the connection is closed with the body
    incomplete, so the server can never take the rest for another request.
    """


class CookieConflictError(ClientError, RuntimeError):
    """More than one cookie of that name is stored (different domains or paths);
    narrow the lookup with ``get(name, domain=..., path=...)``."""


class RetryError(ClientError):
    """A request's retries (its Retry policy) ran out. ``reason`` (also ``__cause__``)
    is the last attempt's error, or an HTTPError for a retried status; ``response``
    is the last response then (its body closed), else None."""

    def __init__(self, message: str, reason: BaseException | None = None,
                 response: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.response = response
