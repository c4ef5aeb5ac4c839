"""ClientResponse: status, headers and body of one HTTP response."""

from __future__ import annotations

import asyncio
import json as _json
import re
from collections.abc import Awaitable, Callable, Generator
from http.cookies import SimpleCookie
from typing import Any, NamedTuple, TypeVar

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from ..exceptions import BodyTooLargeError, ClientConnectionError, ClientResponseError
from .cookies import parse_set_cookie
from .http1.direct import MIN_BODY, RawBody
from .http1.parser import ResponseHead
from .streams import EMPTY_PAYLOAD, StreamReader

__all__ = ["ClientResponse", "RequestInfo", "ContentTypeError", "DEFAULT_MAX_BODY_SIZE",
           "check_max_body_size"]

#: What a whole-body read (read(), text(), json()) accepts by default: 1 GiB.
DEFAULT_MAX_BODY_SIZE = 1 << 30

T = TypeVar("T")


class _Done(Awaitable[None]):
    """What :meth:`ClientResponse.release` returns: ``await`` on it is optional and
    instant (aiohttp's spelling), and not awaiting it warns nothing (not a coroutine)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]  # already done: yields nothing

    def __repr__(self) -> str:
        return "<done>"


_DONE = _Done()


def check_max_body_size(value: Any) -> int | None:
    """Validate a ``max_body_size=`` argument: a positive int, or None (no limit)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"max_body_size=: expected an int or None, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"max_body_size=: must be positive (or None for no limit), got {value}")
    return value


class RequestInfo(NamedTuple):
    """What was sent: ``url``, ``method``, ``headers`` and ``real_url`` (with fragment)."""

    url: URL
    method: str
    headers: CIMultiDictProxy[str]
    real_url: URL


class ContentTypeError(ClientResponseError):
    """``json()`` was called on a response whose Content-Type is not JSON."""


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split ``text/html; charset=utf-8`` into ("text/html", {"charset": "utf-8"})."""
    mime, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, sep, val = param.partition("=")
        if sep:
            parsed[key.strip().lower()] = val.strip().strip('"')
    return mime.strip().lower(), parsed


_LINK_RE = re.compile(r"\s*<([^>]*)>\s*((?:;\s*[^,;]*)*)")


def parse_links(values: list[str], base: URL) -> MultiDictProxy[MultiDictProxy[str | URL]]:
    """Parse Link headers (RFC 8288) into ``{rel: {"url": URL, param: value}}``."""
    links: MultiDict[MultiDictProxy[str | URL]] = MultiDict()
    for value in values:
        pos = 0
        while True:
            match = _LINK_RE.match(value, pos)
            if match is None:
                break
            target, param_text = match.groups()
            link: MultiDict[str | URL] = MultiDict()
            for param in param_text.split(";"):
                key, sep, val = param.strip().partition("=")
                if key:
                    link.add(key.strip().lower(), val.strip().strip('"') if sep else "")
            link.add("url", base.join(URL(target)))
            key = link.get("rel") or str(link["url"])
            links.add(str(key), MultiDictProxy(link))
            pos = match.end()
            comma = value.find(",", pos)
            if comma < 0:
                break
            pos = comma + 1
    return MultiDictProxy(links)


class ClientResponse:
    """A response; read its body with :meth:`read`, :meth:`text`, :meth:`json` or ``content``."""

    #: The request's traces (set by a tracing session): read() fires on_response_chunk_received.
    _traces: tuple[Any, ...] = ()
    #: The request body as sent (a Payload; None: no body), set by the exchange.
    request_payload: Any = None
    #: Bytes of the request written to the connection: its head and body (chunk framing
    #: not counted), set by the exchange. An upload the server answered before its end
    #: was stopped there, so this is all that will ever be sent.
    output_size: int = 0
    # Set later, if ever: defaults on the class save a store per response.
    _body: bytes | None = None
    _cookies: SimpleCookie | None = None
    _released = False
    _let_go = False  # release() or close() was called: reads fail, as aiohttp's

    @property
    def upload_complete(self) -> asyncio.Future[None]:
        """A future done once the request body is over (aiohttp's). The engine finishes
        or stops the upload before it returns the response, so it is always done."""
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def __init__(
        self,
        method: str,
        url: URL,
        *,
        head: ResponseHead,
        connection: Any,
        request_info: RequestInfo,
        history: tuple[ClientResponse, ...] = (),
        timer: Any = None,
        session: Any = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.method = method
        #: The most bytes read(), text() and json() accept (None: no limit); set per
        #: session and per request with ``max_body_size=``. Streamed reads are not limited.
        self.max_body_size = max_body_size
        self._url = url
        self._real_url = request_info.real_url
        self.status: int = head.status
        self.reason: str = head.reason
        self.version = head.version
        self._head = head
        self.request_info = request_info
        self._history = history
        self._timer = timer
        self._session = session
        self._connection = connection
        if connection is None:
            self._content: StreamReader | None = EMPTY_PAYLOAD
            self._whole_body: bytes | None = None
            return
        protocol = connection.protocol
        reader, self._whole_body = protocol.take_body()
        if reader is None and self._whole_body is None:  # no body was expected
            reader = EMPTY_PAYLOAD
        self._content = reader
        if protocol.response_complete:
            self._release_connection()
        else:
            protocol.on_complete = self._release_connection

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    # -- metadata --------------------------------------------------------------

    @property
    def url(self) -> URL:
        return self._url

    @property
    def real_url(self) -> URL:
        return self._real_url

    def has_header(self, lower_name: bytes) -> bool:
        """Whether the header (given lower-case, as bytes) is present; cheaper than headers."""
        return self._head.count(lower_name) > 0

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers, case-insensitive (a CIMultiDictProxy)."""
        return self._head.headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers as (name, value) bytes pairs, exactly as received."""
        return self._head.raw_headers

    @property
    def host(self) -> str:
        return self._url.host or ""

    @property
    def ok(self) -> bool:
        """True for a status below 400."""
        return self.status < 400

    @property
    def history(self) -> tuple[ClientResponse, ...]:
        """The redirect responses that led here, oldest first."""
        return self._history

    @property
    def content_type(self) -> str:
        """The MIME type without parameters (``application/octet-stream`` if absent)."""
        value = self.headers.get("Content-Type")
        return parse_content_type(value)[0] if value else "application/octet-stream"

    @property
    def charset(self) -> str | None:
        value = self.headers.get("Content-Type")
        return parse_content_type(value)[1].get("charset") if value else None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def links(self) -> MultiDictProxy[MultiDictProxy[str | URL]]:
        return parse_links(self.headers.getall("Link", []), self._url)

    @property
    def cookies(self) -> SimpleCookie:
        """Cookies this response set (Morsels by name; for a repeated name, the last).

        Parsed per RFC 6265 (cookies.parse_set_cookie), so an Expires date with
        its comma, or a value SimpleCookie would refuse, is kept as sent.
        """
        if self._cookies is None:
            cookies = SimpleCookie()
            for value in self.headers.getall("Set-Cookie", ()):
                morsel = parse_set_cookie(value, self._url)
                if morsel is not None:
                    cookies[morsel.key] = morsel  # a Morsel is stored as it is
            self._cookies = cookies
        return self._cookies

    @property
    def connection(self) -> Any:
        return self._connection

    @property
    def closed(self) -> bool:
        return self._released

    # -- body --------------------------------------------------------------------

    @property
    def content(self) -> StreamReader:
        """The body as a stream: ``read(n)``, ``readline()``, ``iter_chunked(n)``..."""
        content = self._content
        if content is None:  # the body arrived whole before anyone asked for a stream
            content = self._content = StreamReader.from_bytes(self._whole_body or b"")
        return content

    async def read(self) -> bytes:
        """The whole body (decoded from gzip etc.); cached after the first call.

        A body larger than :attr:`max_body_size` raises BodyTooLargeError (the connection
        is closed); read such a body as a stream (``content.iter_chunked(n)``...).
        After :meth:`release` or :meth:`close` it raises ClientConnectionError("Connection
        closed"); a body left unread when its session closed raises RuntimeError.
        """
        if self._let_go:
            raise ClientConnectionError("Connection closed")
        if self._body is None:
            if (self._session is not None and self._session.closed
                    and self._content is not None and not self._content.is_eof()):
                raise RuntimeError("Connection closed.")
            limit = self.max_body_size
            try:
                if self._content is None:
                    if limit is not None and len(self._whole_body or b"") > limit:
                        raise BodyTooLargeError(limit)
                    self._body = self._whole_body
                elif limit is None:
                    self._body = await self._content.read()
                else:
                    length = self._head.content_length
                    if length is not None and length > limit and not self.has_header(
                            b"content-encoding"):
                        raise BodyTooLargeError(limit)  # known too large: fail at once
                    self._body = await self._content.read_limited(limit)
            except BaseException:
                self.close()
                raise
            self._finish()
            if self._traces:
                for trace in self._traces:
                    await trace.send_response_chunk_received(self.method, self._url, self._body)
        return self._body

    def trace_with(self, traces: tuple[Any, ...]) -> None:
        """Fire ``on_response_chunk_received`` of ``traces`` when :meth:`read` gets the body."""
        self._traces = traces

    def get_encoding(self) -> str:
        """The charset from Content-Type, else UTF-8 for JSON, else UTF-8 (see :meth:`text`)."""
        charset = self.charset
        if charset:
            try:
                import codecs

                codecs.lookup(charset)
                return charset
            except LookupError:
                pass
        return "utf-8"

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        """The body as text: ``encoding``, else the Content-Type charset, else UTF-8.

        Without a declared charset a body that is not valid UTF-8 is decoded
        as ISO-8859-1, which never fails.
        """
        body = await self.read()
        if encoding is not None:
            return body.decode(encoding, errors)
        if self.charset is None:
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                return body.decode("iso-8859-1")
        return body.decode(self.get_encoding(), errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = _json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        """Decode the body as JSON; a non-JSON Content-Type raises ContentTypeError
        unless ``content_type=None``."""
        body = await self.read()
        if content_type is not None:
            actual = self.content_type
            if not (actual == content_type or actual.endswith("+json") or actual == "text/json"):
                raise ContentTypeError(
                    self.request_info,
                    self._history,
                    status=self.status,
                    message=f"Attempt to decode JSON with unexpected mimetype: {actual}",
                    headers=self.headers,
                    response=self,
                )
        if not body.strip():
            return None
        return loads(body.decode(encoding or self.get_encoding()))

    def hand_off_body(self, make_taker: Callable[[RawBody], T], min_size: int = MIN_BODY,
                      chunked: bool = False) -> T | None:
        """Hand the rest of a large plain body to a reader that receives it from the socket
        itself, on another thread (``http1/direct.py``); on the loop.

        Returns ``make_taker``'s taker, or None (nothing changed) when the body does not
        qualify or the request is traced (its chunks must pass the trace callbacks). With
        ``chunked``, a chunked body qualifies whatever its size, framed by the taker through
        ``RawBody.framing``. The taker ends with :meth:`release` once it read the body and
        ``RawBody.complete`` said so, else with :meth:`close`.
        """
        connection = self._connection
        if connection is None or self._traces:
            return None
        return connection.protocol.hand_off(make_taker, min_size, chunked)

    async def discard_body(self, limit: int = 65536) -> bool:
        """Drop the unread body without reading or decoding it.

        The connection goes back to the pool if the body ends within ``limit`` more raw
        bytes (True); otherwise it is closed (False). Afterwards the body reads as b"".
        """
        connection = self._connection
        self._content = EMPTY_PAYLOAD
        self._whole_body = None
        self._body = b""
        ok = True
        if connection is not None:
            ok = await connection.protocol.discard_body(limit)
        if ok:
            self._release_now()
        else:
            self.close()
        return ok

    def upgrade(self) -> tuple[Any, bytes]:
        """For a ``101 Switching Protocols`` response: take its connection over for the
        protocol switched to. Returns the connection (a
        :class:`~syncwrap.engine.connector.Connection`, still counted by its connector:
        ``close()`` it when done; its ``transport`` is the socket's) and the bytes that
        arrived after the head. The request's timeouts stop applying; the response is
        released. Raises RuntimeError if this is not a 101 response still holding its
        connection, ServerDisconnectedError if the connection went.
        """
        connection = self._connection
        if connection is None or self.status != 101:
            raise RuntimeError("upgrade(): not a 101 response holding its connection")
        self._connection = None
        self._released = True
        self._finish_timer()
        try:
            _, data = connection.protocol.upgrade()
        except BaseException:
            connection.close()
            raise
        return connection, data

    # -- lifetime ----------------------------------------------------------------

    def _release_connection(self) -> None:
        connection = self._connection
        if connection is not None:
            self._connection = None
            connection.release()
        self._finish_timer()

    def _finish_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self) -> None:
        self._released = True
        if self._connection is not None or self._timer is not None:  # often released already
            self._release_connection()

    def release(self) -> Awaitable[None]:
        """Done with the response: its connection goes back to the pool if the body was
        read to the end, otherwise it is closed (never reused half-read).

        Takes effect at once; ``await resp.release()`` (aiohttp's spelling) works too."""
        self._let_go = True
        self._release_now()
        return _DONE

    def _release_now(self) -> None:
        if self._released:
            return
        self._released = True
        connection = self._connection
        if connection is not None:
            self._connection = None
            if connection.protocol.response_complete:
                connection.release()
            else:
                connection.close()
        self._finish_timer()

    def close(self) -> None:
        """Close the connection now, whatever state the body is in."""
        self._released = self._let_go = True
        connection = self._connection
        if connection is not None:
            self._connection = None
            connection.close()
        self._finish_timer()

    def raise_for_status(self) -> None:
        """Raise :class:`ClientResponseError` (``HTTPError``) for a 4xx or 5xx status."""
        if self.status >= 400:
            self.release()
            raise ClientResponseError(
                self.request_info,
                self._history,
                status=self.status,
                message=self.reason,
                headers=self.headers,
                response=self,
            )

    async def wait_for_close(self) -> None:
        self.release()

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
