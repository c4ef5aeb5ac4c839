"""Resuming a download with a byte range: the HTTP rules, without I/O (RFC 9110 §13-14).

A client that holds the first ``offset`` bytes of a representation asks for the rest
with :func:`resume_headers` (``Range: bytes=offset-`` and ``If-Range: validator``,
the validator being what :func:`validator_of` picked from the response that gave
those bytes), then reads the answer with :func:`read_answer`, which says what to do
with the body: append it (206 for exactly the asked range), start over (200: the
server ignored the range or the representation changed), keep what is held (416 and
the held part is already the whole), or ask again without a range (any other 416).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import NamedTuple

from ..exceptions import MalformedResponseError

__all__ = ["Action", "Answer", "ContentRange", "parse_content_range", "read_answer",
           "resume_headers", "validator_of"]

_CONTENT_RANGE = re.compile(r"bytes[ \t]+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


class Action(enum.Enum):
    """What to do with a response to a (possibly ranged) download request."""

    APPEND = "append"  # 206 for the asked range: the body continues the held bytes
    RESTART = "restart"  # 200: the body is the whole representation, from byte 0
    COMPLETE = "complete"  # 416, and the held bytes are already the whole representation
    RETRY_FULL = "retry_full"  # 416 otherwise: drop the held bytes, ask without a range


class Answer(NamedTuple):
    """:func:`read_answer`'s verdict: the action, the byte offset the body starts at,
    and the representation's full size in bytes (None when the server does not say)."""

    action: Action
    start: int
    total: int | None


class ContentRange(NamedTuple):
    """A parsed ``Content-Range``: ``first``/``last`` are None for ``bytes */N``;
    ``complete`` is None for ``/*``."""

    first: int | None
    last: int | None
    complete: int | None


def validator_of(headers: Mapping[str, str]) -> str | None:
    """The validator to resume with: a strong ETag, else Last-Modified, else None
    (a weak ETag cannot be used with If-Range)."""
    etag = headers.get("ETag", "").strip()
    if etag.startswith('"') and etag.endswith('"') and len(etag) >= 2:
        return etag
    modified = headers.get("Last-Modified", "").strip()
    return modified or None


def resume_headers(offset: int, validator: str | None) -> dict[str, str]:
    """The headers that ask for the bytes from ``offset`` on, only if the representation
    is still the one ``validator`` names; ``{}`` when there is nothing to resume
    (``offset`` 0, or no validator: a range without If-Range could splice two versions)."""
    if offset < 0:
        raise ValueError(f"offset: expected a byte count >= 0, got {offset!r}")
    if offset == 0 or not validator:
        return {}
    return {"Range": f"bytes={offset}-", "If-Range": validator}


def parse_content_range(value: str) -> ContentRange:
    """Parse a ``Content-Range: bytes first-last/complete`` (or ``bytes */complete``);
    anything else raises MalformedResponseError."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        raise MalformedResponseError(f"Invalid Content-Range: {value[:100]!r}")
    first, last, complete = match.groups()
    size = None if complete == "*" else int(complete)
    if first is None:
        if size is None:
            raise MalformedResponseError(f"Invalid Content-Range: {value[:100]!r}")
        return ContentRange(None, None, size)
    start, end = int(first), int(last)
    if end < start or (size is not None and end >= size):
        raise MalformedResponseError(f"Invalid Content-Range: {value[:100]!r}")
    return ContentRange(start, end, size)


def read_answer(status: int, headers: Mapping[str, str], offset: int) -> Answer:
    """What a download response means, for a request that asked for the bytes from
    ``offset`` on (0: the whole representation, no Range sent).

    A 206 must carry a single ``Content-Range`` starting at ``offset`` and running to
    the end of the representation; anything else raises MalformedResponseError (a
    206 to a request without a range, multipart ranges, a shifted or partial range).
    Other statuses (and a 416 to a request without a range) are not for this
    function to judge: they are returned as RESTART, and the caller checks the status.
    """
    if status == 206:
        return _partial(headers, offset)
    if status == 416 and offset:
        value = headers.get("Content-Range")
        held = parse_content_range(value).complete if value else None
        if offset and held == offset:
            return Answer(Action.COMPLETE, offset, offset)
        return Answer(Action.RETRY_FULL, 0, None)
    return Answer(Action.RESTART, 0, _length(headers))


def _partial(headers: Mapping[str, str], offset: int) -> Answer:
    if not offset:
        raise MalformedResponseError("206 Partial Content to a request without a Range")
    value = headers.get("Content-Range")
    if value is None:
        raise MalformedResponseError("206 Partial Content without a single Content-Range")
    parsed = parse_content_range(value)
    if parsed.first != offset:
        raise MalformedResponseError(
            f"Content-Range {value[:100]!r} does not start at the asked byte {offset}")
    if parsed.complete is not None and parsed.last != parsed.complete - 1:
        raise MalformedResponseError(
            f"Content-Range {value[:100]!r} stops before the end of the representation")
    return Answer(Action.APPEND, offset, parsed.complete)


def _length(headers: Mapping[str, str]) -> int | None:
    """The representation's size from a 200's Content-Length (of the bytes as sent:
    a Content-Encoding is part of the representation, and ranges count its bytes)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None
    value = headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None
