"""multipart/* bodies: :class:`MultipartWriter`, :class:`FormData` and requests' ``files=``.

A multipart body is written as::

    --BOUNDARY\\r\\n  Header: value\\r\\n ... \\r\\n  <part body>  \\r\\n   (per part)
    --BOUNDARY--\\r\\n

Parts are streamed through their own payloads (a file part is read chunk by chunk),
so the body is never assembled in memory; small in-memory parts are coalesced with
the boundaries into one write. The size is known, and Content-Length sent, when
every part's size is known.

Field names and filenames go into ``Content-Disposition`` as quoted-strings with raw
UTF-8 for non-ASCII text, as browsers send them and RFC 7578 §4.2 allows (it forbids
``filename*``). ``\\`` and ``"`` are backslash-escaped (RFC 9110 quoted-pair, which
werkzeug, Python's email parser, Go and busboy all decode); CR, LF and NUL are refused.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

from .payload import (
    BytesPayload,
    FilePayload,
    JsonPayload,
    Payload,
    StringPayload,
    TextIOPayload,
    file_name,
    form_items,
    form_payload,
    get_payload,
    is_body_source,
    is_file_object,
    is_text_file,
)

__all__ = ["MultipartWriter", "FormData", "content_disposition", "requests_files_to_formdata"]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 2046 §5.1.1: 1-70 of these characters, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]")
_IDENTITY_CTE = {"binary", "8bit", "7bit"}
_COALESCE = 64 * 1024  # in-memory parts up to this size are merged into one write
_FORBIDDEN = ("\r", "\n", "\0")


def content_disposition(disptype: str, *, quote_fields: bool = True, **params: str | None) -> str:
    """``form-data; name="a"; filename="b"``, every parameter a quoted-string.

    With *quote_fields* ``\\`` and ``"`` are backslash-escaped; without it the value
    is used verbatim (the caller escaped it). Non-ASCII is kept (sent as UTF-8).
    CR, LF and NUL raise ValueError: they would let a value inject headers or parts.
    """
    out = [disptype]
    for key, value in params.items():
        if value is None:
            continue
        value = str(value)
        if any(c in value for c in _FORBIDDEN):
            raise ValueError(f"Content-Disposition {key}={value!r}: CR, LF and NUL are not allowed")
        if quote_fields:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{key}="{value}"')
    return "; ".join(out)


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"multipart part header name {name!r} is not a valid token")
        if any(c in str(value) for c in _FORBIDDEN):
            raise ValueError(f"multipart part header {name}: CR, LF and NUL are not allowed")
    cte = headers.get("Content-Transfer-Encoding")
    if cte is not None and cte.lower() not in _IDENTITY_CTE:
        raise ValueError(
            f"Content-Transfer-Encoding {cte!r} is not supported (RFC 7578 §4.7 deprecates "
            "it in form-data); send the part's bytes as they are (binary)"
        )


class MultipartWriter(Payload):
    """A ``multipart/<subtype>`` body made of payload parts (it is itself a Payload)."""

    def __init__(self, subtype: str = "mixed", boundary: str | None = None) -> None:
        if not _TOKEN.fullmatch(subtype):
            raise ValueError(f"multipart subtype {subtype!r} is not a valid token")
        if boundary is None:
            boundary = uuid.uuid4().hex
        elif not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
            raise ValueError(f"invalid multipart boundary {boundary!r} (see RFC 2046 §5.1.1)")
        self.boundary = boundary
        quoted = boundary if _TOKEN.fullmatch(boundary) else f'"{boundary}"'
        super().__init__(content_type=f"multipart/{subtype}; boundary={quoted}")
        self._parts: list[Payload] = []

    # Payload interface ------------------------------------------------------

    @property  # type: ignore[override]
    def size(self) -> int | None:
        total = len(self._closing())
        for part in self._parts:
            if part.size is None:
                return None
            total += len(self._head(part)) + part.size + 2
        return total

    @property  # type: ignore[override]
    def replayable(self) -> bool:
        return all(part.replayable for part in self._parts)

    async def write(self, writer: Any) -> None:
        pending = bytearray()
        for part in self._parts:
            pending += self._head(part)
            if type(part).write is BytesPayload.write and len(part.body) <= _COALESCE:
                pending += part.body  # type: ignore[attr-defined]
            else:
                if pending:
                    await writer.write(bytes(pending))
                    pending = bytearray()
                await part.write(writer)
            pending += b"\r\n"
        pending += self._closing()
        await writer.write(bytes(pending))

    async def close(self) -> None:
        for part in self._parts:
            await part.close()

    def _head(self, part: Payload) -> bytes:
        _check_headers(part.headers)
        lines = [f"--{self.boundary}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in part.headers.items()]
        lines.append("\r\n")
        return "".join(lines).encode("utf-8")

    def _closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    # Building ---------------------------------------------------------------

    def append(self, obj: Any, headers: Any = None) -> Payload:
        """Add ``obj`` (anything ``data=`` accepts) as a part, with extra part headers."""
        return self._add(obj if isinstance(obj, Payload) else get_payload(obj), headers)

    def append_json(self, obj: Any, headers: Any = None) -> Payload:
        return self._add(JsonPayload(obj), headers)

    def append_form(self, obj: Any, headers: Any = None) -> Payload:
        """Add a dict or list of pairs as an application/x-www-form-urlencoded part."""
        return self._add(form_payload(obj), headers)

    def append_payload(self, payload: Payload) -> Payload:
        """Add a payload as is: its ``headers`` are the part's headers."""
        _check_headers(payload.headers)
        self._parts.append(payload)
        return payload

    def _add(self, payload: Payload, headers: Any) -> Payload:
        if headers:
            payload.headers.update(headers)
        if "Content-Type" not in payload.headers and payload.content_type:
            payload.headers["Content-Type"] = payload.content_type
        return self.append_payload(payload)

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[Payload]:
        return iter(self._parts)

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Field(NamedTuple):
    name: str
    value: Any
    content_type: str | None
    filename: str | None
    cte: str | None
    headers: Any


_SIMPLE = (str, bytes, bytearray, memoryview, int, float)


class FormData:
    """An HTML form: url-encoded when every field is a plain value, else multipart/form-data.

    A field becomes a file part (forcing multipart) when its value is a file object,
    an async iterable, a StreamReader or a Payload, or when ``filename`` or
    ``content_type`` is given. bytes values stay plain fields. ``form()`` or
    ``form.to_payload()`` gives the body; later calls return the same payload until a
    field is added (a seekable file is rewound if that payload is sent again).
    """

    def __init__(self, fields: Any = (), quote_fields: bool = True, charset: str | None = None):
        self._fields: list[_Field] = []
        self._quote_fields = quote_fields
        self._charset = charset
        self.force_multipart = False
        self._payload: Payload | None = None
        if isinstance(fields, Mapping):
            self.add_fields(fields)
        elif isinstance(fields, list | tuple):
            self.add_fields(*fields)
        else:
            self.add_fields(fields)

    @property
    def is_multipart(self) -> bool:
        return self.force_multipart or any(_is_part(f) for f in self._fields)

    def add_field(
        self,
        name: str,
        value: Any,
        *,
        content_type: str | None = None,
        filename: str | None = None,
        content_transfer_encoding: str | None = None,
        headers: Any = None,
    ) -> None:
        """Add one field; ``headers`` (an extension) adds headers to its multipart part."""
        if not isinstance(name, str):
            raise TypeError(f"form field name must be str, got {type(name).__name__}")
        for what, text in (("name", name), ("filename", filename)):
            if text is not None and any(c in text for c in _FORBIDDEN):
                raise ValueError(f"form field {what} {text!r}: CR, LF and NUL are not allowed")
        if isinstance(value, bool) or not (isinstance(value, _SIMPLE) or is_body_source(value)):
            raise TypeError(
                f"form field {name!r}: value must be str, bytes, int, float, a file object, "
                f"an async iterable or a Payload, got {type(value).__name__}"
            )
        if getattr(value, "closed", False) is True:
            raise ValueError(f"form field {name!r}: the file is closed")
        if filename is None and not isinstance(value, _SIMPLE):
            filename = getattr(value, "filename", None) or file_name(value)
            if filename is None and is_file_object(value):
                filename = name  # servers only treat a part with a filename as a file
        cte = content_transfer_encoding
        if cte is not None and cte.lower() not in _IDENTITY_CTE:
            raise ValueError(
                f"form field {name!r}: content_transfer_encoding={cte!r} is not supported "
                "(RFC 7578 §4.7 deprecates it); only 'binary', '8bit' and '7bit' are accepted"
            )
        self._fields.append(_Field(name, value, content_type, filename, cte, headers))
        self._payload = None

    def add_fields(self, *fields: Any) -> None:
        """Add dicts/MultiDicts, (name, value) pairs, or files (named after their file)."""
        for rec in fields:
            if isinstance(rec, Mapping):  # dict, MultiDict
                for key, value in form_items(rec):
                    self.add_field(key, value)
            elif is_body_source(rec) and not isinstance(rec, list | tuple):
                self.add_field(file_name(rec) or "unknown", rec)
            elif isinstance(rec, list | tuple) and len(rec) == 2:
                self.add_field(*rec)
            else:
                raise TypeError(
                    f"form fields must be dicts, (name, value) pairs or files, got {rec!r:.60}"
                )

    def to_payload(self) -> Payload:
        if self._payload is None:
            self._payload = self._multipart() if self.is_multipart else self._urlencoded()
        return self._payload

    __call__ = to_payload

    def _urlencoded(self) -> BytesPayload:
        pairs = [(f.name, _plain(f.value)) for f in self._fields]
        charset = self._charset or "utf-8"
        body = urlencode(pairs, encoding=charset)
        content_type = "application/x-www-form-urlencoded"
        if charset.lower() not in ("utf-8", "utf8"):
            content_type += f"; charset={charset}"
        return BytesPayload(body.encode("ascii"), content_type=content_type)

    def _multipart(self) -> MultipartWriter:
        writer = MultipartWriter("form-data")
        for field in self._fields:
            payload = self._part_payload(field)
            payload.headers["Content-Disposition"] = content_disposition(
                "form-data",
                quote_fields=self._quote_fields,
                name=field.name,
                filename=field.filename,
            )
            if field.content_type is not None:
                payload.headers["Content-Type"] = field.content_type
            elif (_is_part(field) or self._charset is not None and isinstance(
                    payload, StringPayload)) and "Content-Type" not in payload.headers:
                # FormData(charset=) labels its text fields with that charset, as aiohttp does
                payload.headers["Content-Type"] = payload.content_type or "application/octet-stream"
            if field.cte is not None:
                payload.headers["Content-Transfer-Encoding"] = field.cte
            if field.headers:
                payload.headers.update(field.headers)
            writer.append_payload(payload)
        return writer

    def _part_payload(self, field: _Field) -> Payload:
        value, filename = field.value, field.filename
        if isinstance(value, Payload):
            return value
        if is_text_file(value):
            return TextIOPayload(value, filename=filename, content_type=field.content_type)
        if is_file_object(value):
            return FilePayload(value, filename=filename, content_type=field.content_type)
        if is_body_source(value):
            return get_payload(value)  # an async iterable or a StreamReader
        plain = _plain(value)
        if isinstance(plain, bytes):
            guessed = mimetypes.guess_type(filename)[0] if filename else None
            return BytesPayload(plain, content_type=guessed or "application/octet-stream")
        # FormData(charset=) first, then the field's own "charset=", else UTF-8 (aiohttp's order).
        return StringPayload(plain, encoding=self._charset, content_type=field.content_type)


def _plain(value: Any) -> str | bytes:
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value)  # int or float


def _is_part(field: _Field) -> bool:
    """Does this field need multipart (a file, a filename or an explicit type)?"""
    return (
        field.filename is not None
        or field.content_type is not None
        or field.cte is not None
        or bool(field.headers)
        or not isinstance(field.value, _SIMPLE)
    )


def requests_files_to_formdata(files: Any, data: Any = None) -> FormData:
    """Build the multipart form that requests sends for ``files=`` (and ``data=``).

    ``files`` is a dict or a list of ``(field, spec)`` pairs; a spec is a file object,
    bytes or str (the filename is the file's base name, else the field name), or a tuple
    ``(filename, content[, content_type[, headers]])`` where a None filename makes a
    plain field. Fields of ``data`` (a dict or list of pairs) come first.
    """
    form = FormData()
    form.force_multipart = True
    if data is not None:
        if isinstance(data, str | bytes | bytearray | memoryview):
            raise ValueError("data=: with files=, data must be a dict or list of pairs, not a body")
        for key, value in form_items(data):
            if value is None:
                continue
            if not isinstance(value, str | bytes) and not is_body_source(value):
                value = str(value)
            form.add_field(str(key), value)
    if isinstance(files, Mapping):
        entries = list(files.items())
    elif isinstance(files, list | tuple):
        entries = list(files)
    else:
        raise TypeError(f"files=: expected a dict or a list of pairs, got {type(files).__name__}")
    for entry in entries:
        if not (isinstance(entry, list | tuple) and len(entry) == 2):
            raise TypeError(f"files=: each entry must be a (field, file) pair, got {entry!r:.60}")
        field, spec = entry
        content_type = headers = None
        if isinstance(spec, list | tuple):
            if not 2 <= len(spec) <= 4:
                raise TypeError(
                    "files=: a tuple must be (filename, content[, content_type[, headers]]), "
                    f"got {len(spec)} items"
                )
            filename, value = spec[0], spec[1]
            content_type = spec[2] if len(spec) > 2 else None
            headers = spec[3] if len(spec) > 3 else None
        else:
            value, filename = spec, file_name(spec) or str(field)
        if value is None:
            continue
        if is_text_file(value):  # as requests: sent with a Content-Length
            value = TextIOPayload(value, filename=filename, content_type=content_type,
                                  measure=True)
        form.add_field(
            str(field), value, filename=filename, content_type=content_type, headers=headers
        )
    return form
