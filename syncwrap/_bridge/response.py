"""The facade's Response: status, headers and a body read whole or on demand.

A non-streamed Response holds its body (``content``); a ``stream=True`` one reads it
in the calling thread from a channel (:mod:`syncwrap._bridge.channel`) that a pump
task on the loop fills, or straight from the socket (:mod:`syncwrap._bridge.direct`).
Metadata (headers, cookies, history) are views of the engine's response.
"""

from __future__ import annotations

import codecs
import json as _json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from multidict import CIMultiDictProxy

from .. import loop as loop_thread
from ..engine.redirects import REDIRECT_STATUSES
from ..engine.response import ClientResponse
from ..exceptions import BodyTooLargeError, HTTPError, JSONDecodeError, StreamConsumedError
from . import display
from .channel import ByteChannel, ByteReader
from .downloads import RawBody
from .prepared import PreparedRequest, from_sent

__all__ = ["Response"]


class Response:
    """A response. Non-streamed responses are fully read; ``stream=True`` ones read on demand."""

    # Defaults on the class: one store fewer each per response (the instance's own
    # value replaces it when set).
    _url: str | None = None  # url and elapsed are built when first read
    _channel: ByteReader | None = None
    _pump: Any = None
    _raw: RawBody | None = None
    _encoding: str | None = None
    _consumed = False
    _history: list[Response] | None = None

    def __init__(
        self,
        engine_response: ClientResponse,
        *,
        elapsed: float,
        content: bytes | None = None,
        channel: ByteReader | None = None,
        pump: Any = None,
    ) -> None:
        self._resp = engine_response
        self.status_code: int = engine_response.status
        self.reason: str = engine_response.reason
        self.request_info = engine_response.request_info
        self._elapsed: float | timedelta = elapsed
        self._content = content
        if channel is not None:
            self._channel = channel
            self._pump = pump

    # -- metadata --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The final URL, after redirects (with the fragment, as in requests)."""
        if self._url is None:
            self._url = str(self._resp.real_url)
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        self._url = value

    @property
    def elapsed(self) -> timedelta:
        """The time from sending the request to the response's head (as in requests)."""
        elapsed = self._elapsed
        if not isinstance(elapsed, timedelta):
            self._elapsed = elapsed = timedelta(seconds=elapsed)
        return elapsed

    @elapsed.setter
    def elapsed(self, value: timedelta) -> None:
        self._elapsed = value

    @property
    def request(self) -> PreparedRequest:
        """The request as it was sent (requests' ``r.request``): ``method``, ``url``,
        ``headers`` (auth and cookies included) and ``body``."""
        resp = self._resp
        info = resp.request_info
        return from_sent(info.method, str(info.url), info.headers, resp.request_payload)

    @property
    def status(self) -> int:
        return self.status_code

    @property
    def engine_response(self) -> ClientResponse:
        """The engine's response under this one (aiohttp's API)."""
        return self._resp

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers, case-insensitive."""
        return self._resp.headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers as (name, value) bytes pairs, exactly as received."""
        return self._resp.raw_headers

    @property
    def ok(self) -> bool:
        """True for a status below 400 (the engine response's ``ok``)."""
        return self._resp.ok

    def __bool__(self) -> bool:
        return self.ok

    @property
    def is_redirect(self) -> bool:
        return "Location" in self.headers and self.status_code in REDIRECT_STATUSES

    @property
    def history(self) -> list[Response]:
        """The redirect responses that led here, oldest first (their bodies are dropped)."""
        if self._history is None:
            self._history = [Response(r, elapsed=0.0, content=b"") for r in self._resp.history]
        return self._history

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies set by this response, name → value."""
        return {name: morsel.value for name, morsel in self._resp.cookies.items()}

    @property
    def links(self) -> dict[str, dict[str, str]]:
        return {
            str(rel): {k: str(v) for k, v in link.items()}
            for rel, link in self._resp.links.items()
        }

    @property
    def version(self) -> tuple[int, int]:
        return tuple(self._resp.version)  # type: ignore[return-value]

    def __repr__(self) -> str:
        method = self.request_info.method
        return f"<Response [{self.status_code} {self.reason}] {method} {self.url}>"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: status, URL, content type, size, timing, redirects."""
        return display.to_html(display.summarize(self, self._body_size()))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text display: the same summary on one line."""
        printer.text(display.to_text(display.summarize(self, self._body_size())))

    def _body_size(self) -> int | None:
        return None if self._content is None else len(self._content)

    # -- body --------------------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The whole body, decoded from gzip/deflate/br/zstd.

        A body larger than the request's ``max_body_size`` (1 GiB unless set on the
        Session or the request) raises BodyTooLargeError; ``iter_content()`` has no limit.
        """
        if self._content is None:
            if self._channel is None or self._consumed:
                raise StreamConsumedError("The body of this response was already consumed")
            self._consumed = True
            self._content = self._read_all()
        return self._content

    def _read_all(self) -> bytes:
        assert self._channel is not None
        limit = self._resp.max_body_size
        parts = []
        size = 0
        try:
            while True:
                data = self._channel.get(-1)
                if not data:
                    break
                size += len(data)
                if limit is not None and size > limit:
                    raise BodyTooLargeError(limit)
                parts.append(data)
        except BaseException:
            self.close()
            raise
        return b"".join(parts)

    @property
    def encoding(self) -> str | None:
        """The charset used by :attr:`text`: set it to override; else the Content-Type's."""
        return self._encoding if self._encoding is not None else self._resp.charset

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def apparent_encoding(self) -> str:
        """'utf-8' if the body is valid UTF-8, else 'iso-8859-1' (which decodes anything)."""
        try:
            self.content.decode("utf-8")
        except UnicodeDecodeError:
            return "iso-8859-1"
        return "utf-8"

    @property
    def text(self) -> str:
        """The body as text, using :attr:`encoding`, else UTF-8, else ISO-8859-1."""
        encoding = self.encoding
        if encoding:
            try:
                return self.content.decode(encoding, errors="replace")
            except LookupError:
                pass
        return self.content.decode(self.apparent_encoding)

    def json(self, *, loads: Callable[[str], Any] = _json.loads, **kwargs: Any) -> Any:
        """Decode the body as JSON with ``loads`` (``json.loads`` by default); a body
        that is not JSON raises :class:`~syncwrap.exceptions.JSONDecodeError`."""
        text = self.text
        try:
            return loads(text, **kwargs)
        except _json.JSONDecodeError as exc:
            raise JSONDecodeError(exc.msg, exc.doc, exc.pos) from exc

    @property
    def raw(self) -> RawBody:
        """The body as a readable binary file object (decoded; for ``stream=True``)."""
        if self._raw is None:
            if self._channel is None and self._content is None:
                closed = RawBody(ByteChannel.holding(b""))
                closed.close()
                return closed  # the response was closed before .raw was asked for
            channel = self._channel
            if channel is None:
                channel = ByteChannel.holding(self._content or b"")
            self._raw = RawBody(channel, on_close=self.close)
        return self._raw

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        """Yield the body in chunks of ``chunk_size`` bytes (None: as they arrive)."""
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise ValueError(f"iter_content(chunk_size=): expected a positive int or None, "
                             f"got {chunk_size!r}")
        chunks = self._iter_bytes(chunk_size)
        if decode_unicode:
            return _decode_iter(chunks, self.encoding or "utf-8")
        return chunks

    def _iter_bytes(self, chunk_size: int | None) -> Iterator[bytes]:
        if self._content is not None:
            data = self._content
            step = chunk_size or max(len(data), 1)
            for start in range(0, len(data), step):
                yield data[start : start + step]
            return
        if self._consumed or self._channel is None:
            raise StreamConsumedError("The body of this response was already consumed")
        self._consumed = True
        channel = self._channel
        try:
            while True:
                data = channel.get(-1) if chunk_size is None else channel.get_exact(chunk_size)
                if not data:
                    break
                yield data
        finally:
            self.close()

    def iter_lines(
        self,
        chunk_size: int = 65536,
        decode_unicode: bool = False,
        delimiter: bytes | str | None = None,
    ) -> Iterator[Any]:
        """Yield the body line by line, without line endings (empty lines included)."""
        pending: Any = None  # the raw, unfinished tail of the previous chunks
        for chunk in self.iter_content(chunk_size, decode_unicode=decode_unicode):
            if pending:
                chunk = pending + chunk
            if delimiter is not None:
                parts = chunk.split(delimiter)
                pending = parts.pop()
                yield from parts
                continue
            lines = chunk.splitlines(keepends=True)
            pending = None
            if lines:
                last = lines[-1]
                # Unfinished: no line ending yet, or a \r whose \n may be in the next chunk.
                if last.splitlines()[0] == last or last[-1:] in ("\r", b"\r"):
                    pending = lines.pop()
            for line in lines:
                yield line.splitlines()[0]
        if pending:
            if delimiter is None:
                yield from pending.splitlines()
            else:
                yield pending

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_content(128)

    # -- lifetime ----------------------------------------------------------------

    def raise_for_status(self) -> None:
        """Raise :class:`syncwrap.HTTPError` for a 4xx or 5xx status."""
        if not self.ok:
            kind = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(
                self.request_info,
                tuple(self.history),
                status=self.status_code,
                message=f"{kind} Error: {self.reason} for url: {self.url}",
                headers=self.headers,
                response=self,
            )

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to the end)."""
        channel, self._channel = self._channel, None
        if self._raw is not None and not self._raw.closed:
            self._raw.close()  # r.raw.closed is True after close, as in requests
        if channel is not None:
            channel.close()
            pump = self._pump
            if pump is not None and not pump.done():
                loop_thread.call_soon(pump.cancel)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_channel", None) is not None:
            self.close()


def _decode_iter(chunks: Iterator[bytes], encoding: str) -> Iterator[str]:

    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
