"""Request bodies.

A :class:`Payload` knows its default Content-Type, its size (``None`` means it
is sent with ``Transfer-Encoding: chunked``) and how to write itself to a
:class:`BodyWriter`, which frames, compresses and applies backpressure.
:func:`get_payload` turns what a user passes as ``data=`` into a Payload.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import io
import json as _json
import mimetypes
import os
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from multidict import CIMultiDict, MultiDict, MultiDictProxy

from ..exceptions import BodyNotReplayableError, ClientPayloadError, InvalidJSONError

__all__ = [
    "BodyWriter",
    "Payload",
    "BytesPayload",
    "StringPayload",
    "JsonPayload",
    "FilePayload",
    "BytesIOPayload",
    "BufferedReaderPayload",
    "StringIOPayload",
    "TextIOPayload",
    "Order",
    "PayloadRegistry",
    "PAYLOAD_REGISTRY",
    "is_text_file",
    "AsyncIterablePayload",
    "StreamReaderPayload",
    "CHUNK_SIZE",
    "get_payload",
    "form_payload",
    "form_items",
]

# mimetypes reads the system's MIME tables from disk on first use: do it at import,
# not on the event loop when the first file payload guesses its Content-Type.
if not mimetypes.inited:
    mimetypes.init()


class BodyWriter(Protocol):
    """Where a payload writes its bytes; ``write`` waits while the socket is full."""

    async def write(self, chunk: bytes | bytearray | memoryview) -> None: ...


class Payload:
    """Base class of request bodies."""

    content_type: str | None = "application/octet-stream"
    size: int | None = None
    #: False for one-shot sources (generators): a 307/308 redirect cannot resend them.
    replayable: bool = True

    def __init__(self, *, content_type: str | None = None, headers: Any = None) -> None:
        if content_type is not None:
            self.content_type = content_type
        self.headers: CIMultiDict[str] = CIMultiDict(headers or ())

    def set_content_disposition(self, disptype: str, quote_fields: bool = True,
                                **params: str | None) -> None:
        """Set this part's ``Content-Disposition``: ``set_content_disposition("form-data",
        name="f", filename="a.txt")``, as aiohttp's payloads do."""
        from .multipart import content_disposition  # multipart builds on payload

        self.headers["Content-Disposition"] = content_disposition(
            disptype, quote_fields=quote_fields, **params)

    async def write(self, writer: BodyWriter) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release whatever the payload holds (files are closed by their owner)."""


class BytesPayload(Payload):
    """An in-memory body; sent together with the request head when small."""

    def __init__(self, value: bytes | bytearray | memoryview, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = bytes(value) if not isinstance(value, bytes) else value
        self.size = len(self.body)

    async def write(self, writer: BodyWriter) -> None:
        if self.body:
            await writer.write(self.body)


class StringPayload(BytesPayload):
    """Text encoded with the charset named in Content-Type (UTF-8 by default)."""

    def __init__(
        self, value: str, *, encoding: str | None = None, content_type: str | None = None, **kw: Any
    ) -> None:
        if encoding is None:
            encoding = _charset_of(content_type) or "utf-8"
        if content_type is None:
            content_type = f"text/plain; charset={encoding}"
        super().__init__(value.encode(encoding), content_type=content_type, **kw)


def strict_dumps(value: Any) -> str:
    """``json.dumps`` refusing what is not JSON: NaN and Infinity raise InvalidJSONError,
    as does a value of a type JSON lacks."""
    try:
        return _json.dumps(value, allow_nan=False)
    except (ValueError, TypeError) as exc:
        raise InvalidJSONError(f"json=: {exc}") from exc


class JsonPayload(BytesPayload):
    """A value serialised with ``dumps`` (:func:`strict_dumps` unless the session says
    otherwise)."""

    def __init__(
        self,
        value: Any,
        *,
        dumps: Callable[[Any], str | bytes] = strict_dumps,
        content_type: str = "application/json",
        **kw: Any,
    ) -> None:
        text = dumps(value)
        body = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        super().__init__(body, content_type=content_type, **kw)


def _charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == "charset" and val:
            return val.strip().strip('"')
    return None


FormFields = Mapping[str, Any] | list[tuple[str, Any]] | tuple[tuple[str, Any], ...]


def form_items(fields: Any) -> list[tuple[Any, Any]]:
    """(name, value) pairs of a dict (list values repeat the key), MultiDict or pair list."""
    if isinstance(fields, MultiDict | MultiDictProxy):
        items = list(fields.items())
    elif isinstance(fields, Mapping):
        items = []
        for key, val in fields.items():
            if isinstance(val, list | tuple):
                items.extend((key, v) for v in val)
            else:
                items.append((key, val))
    else:
        items = list(fields)
    for pair in items:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"data=: form fields must be (name, value) pairs, got {pair!r}")
    return [(k, v) for k, v in items]


def form_payload(fields: Any) -> BytesPayload:
    """URL-encode a dict, list of pairs or MultiDict as application/x-www-form-urlencoded."""
    items = form_items(fields)
    encoded = urlencode([(_form_str(k), _form_str(v)) for k, v in items])
    return BytesPayload(encoded.encode("ascii"), content_type="application/x-www-form-urlencoded")


def _form_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(
        f"data=: a form value must be str, bytes, int or float, got {type(value).__name__}"
    )


#: Bytes per file read. Each read is one executor hop (~50 µs measured); a hot-cache
#: file streamed ~1 GB/s at 64 KiB, ~3.5 at 256 KiB, ~8.4 at 1 MiB, ~9-10 at 4 MiB.
#: 1 MiB is near that plateau and costs ~2 MiB per upload (one chunk sent, one read ahead).
CHUNK_SIZE = 1024 * 1024

_BYTES_LIKE = (bytes, bytearray, memoryview)
_UNSIZED = (
    ("gzip", "GzipFile"),
    ("bz2", "BZ2File"),
    ("lzma", "LZMAFile"),
    ("zipfile", "ZipExtFile"),
)


def is_file_object(obj: Any) -> bool:
    """A synchronous file object (``read`` is a plain method, not a coroutine)."""
    if isinstance(obj, io.IOBase):
        return True
    read = getattr(obj, "read", None)
    return callable(read) and not inspect.iscoroutinefunction(read) and not _is_stream(obj)


def is_text_file(obj: Any) -> bool:
    """A file object whose ``read()`` gives str: an ``io.TextIOBase``, or a wrapper of
    one (``tempfile.NamedTemporaryFile("w+")``) that has an ``encoding`` and no "b" mode."""
    if isinstance(obj, io.TextIOBase):
        return True
    mode = getattr(obj, "mode", None)
    return (isinstance(getattr(obj, "encoding", None), str) and isinstance(mode, str)
            and "b" not in mode and is_file_object(obj))


def _is_stream(obj: Any) -> bool:
    """The engine's StreamReader (duck-typed: ``readany`` and ``at_eof``)."""
    return callable(getattr(obj, "readany", None)) and callable(getattr(obj, "at_eof", None))


def is_body_source(obj: Any) -> bool:
    """A file, async iterable, StreamReader or Payload: in a form, a multipart part."""
    return isinstance(obj, Payload) or hasattr(obj, "__aiter__") or is_file_object(obj)


def file_name(obj: Any) -> str | None:
    """The base name of ``obj.name`` when it is a path (not an fd number or ``<stdin>``)."""
    name = getattr(obj, "name", None)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if isinstance(name, str) and name and not (name[0] == "<" and name[-1] == ">"):
        return os.path.basename(name) or None
    return None


class FilePayload(Payload):
    """A binary file, streamed in :data:`CHUNK_SIZE` reads off the event loop thread.

    ``size``: the bytes from the current position to the end, when knowable without
    reading. Seekable ⇒ replayable (each write() seeks back to the start position).
    """

    def __init__(
        self,
        file: Any,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        chunk_size: int = CHUNK_SIZE,
        **kw: Any,
    ) -> None:
        if getattr(file, "closed", False):
            raise ValueError(f"data=: the file {file_name(file) or file!r} is closed")
        self.filename = filename if filename is not None else file_name(file)
        if content_type is None:
            content_type = self._guess_type()
        super().__init__(content_type=content_type, **kw)
        self.file = file
        self.chunk_size = chunk_size
        # An in-memory BytesIO is read directly: a hop to a thread would cost more.
        self._direct = type(file) in (io.BytesIO, io.StringIO)
        self._start = self._tell()
        self.replayable = self._start is not None
        self.size = self._measure()
        self._writes = 0
        self._busy: asyncio.Future[Any] | None = None  # the last file operation sent to a thread

    def _guess_type(self) -> str:
        guessed = mimetypes.guess_type(self.filename)[0] if self.filename else None
        return guessed or "application/octet-stream"

    def _tell(self) -> int | None:
        try:
            return int(self.file.tell()) if self.file.seekable() else None
        except (AttributeError, OSError, ValueError):
            return None

    def _measure(self) -> int | None:
        start, f = self._start, self.file
        if start is None and hasattr(f, "__len__"):  # requests' length-only file objects
            try:
                return int(len(f))
            except (TypeError, ValueError):
                return None
        if start is None or any(  # not seekable, or seek(0, END) would decompress it all
            isinstance(f, getattr(sys.modules.get(mod), cls, ())) for mod, cls in _UNSIZED
        ):
            return None
        # fstat plain OS files only: a wrapper's fileno() can be another file's.
        if type(f) in (io.FileIO, io.BufferedReader, io.BufferedRandom):
            try:
                st = os.fstat(f.fileno())
                return max(st.st_size - start, 0) if stat.S_ISREG(st.st_mode) else None
            except (OSError, ValueError):
                pass
        try:
            end = f.seek(0, io.SEEK_END)
            f.seek(start)
            return max(int(end) - start, 0)
        except (OSError, ValueError):
            return None

    def convert(self, chunk: Any) -> bytes | bytearray | memoryview:
        if isinstance(chunk, _BYTES_LIKE):
            return chunk
        raise TypeError(
            f"data=: the file's read() returned {type(chunk).__name__}, not bytes; "
            "open the file in binary mode ('rb')"
        )

    def _call(self, loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> Any:
        if not self._direct:
            fut = self._busy = loop.run_in_executor(None, fn, *args)
            return fut
        fut = loop.create_future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    # The file is used by one thread at a time, without a lock: each operation is sent to
    # a thread only once the one before it has finished. Inside a write() that is so by
    # construction (every result is awaited before the next read starts), and the awaits
    # are shielded, so cancelling write() never marks an operation done while its thread
    # still runs. A read that outlives its write() (cancelled, or failed while reading
    # ahead) is waited for by the next write() before that one seeks back.

    def _rewind(self) -> None:
        if self._start is not None:
            self.file.seek(self._start)

    def _next_read(self, loop: asyncio.AbstractEventLoop, left: int | None) -> Any:
        if left is not None and left <= 0:
            return None
        return self._call(
            loop, self.file.read, self.chunk_size if left is None else min(self.chunk_size, left)
        )

    async def write(self, writer: BodyWriter) -> None:
        if self._writes and not self.replayable:
            raise BodyNotReplayableError("data=: the file is not seekable; it cannot be sent twice")
        self._writes += 1
        loop = asyncio.get_running_loop()
        busy = self._busy
        if busy is not None and not busy.done():
            await asyncio.wait((busy,))  # a read left by an earlier write(); its error is not ours
        await asyncio.shield(self._call(loop, self._rewind))
        left = self.size
        sendfile = getattr(writer, "sendfile", None)
        if (sendfile is not None and left and type(self.file) in _OS_FILES
                and await sendfile(self.file, self._start, left)):
            return  # the kernel copied the file to the socket
        fut = self._next_read(loop, left)
        try:
            while fut is not None:
                chunk = self.convert(await asyncio.shield(fut))
                fut = None
                if not chunk:
                    if left:
                        raise ClientPayloadError(
                            f"data=: the file ended {left} bytes short of its size "
                            f"({self.size}); was it truncated while being sent?"
                        )
                    break
                if left is not None:
                    left -= len(chunk)
                fut = self._next_read(loop, left)  # read ahead while this chunk is sent
                await writer.write(chunk)
        finally:  # a read-ahead nobody will await: retrieve its outcome (no log noise)
            if fut is not None:
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())


_OS_FILES = (io.FileIO, io.BufferedReader, io.BufferedRandom)


class TextIOPayload(FilePayload):
    """A text file, sent encoded with its own encoding: chunked, or with ``measure=True``
    (requests' way) read once to count its encoded length and sent with a Content-Length
    when it can be rewound."""

    def __init__(self, file: Any, *, encoding: str | None = None, measure: bool = False,
                 **kw: Any) -> None:
        self.encoding = encoding or getattr(file, "encoding", None) or "utf-8"
        self._errors = getattr(file, "errors", None) or "strict"
        self.measure = measure
        super().__init__(file, **kw)

    def _guess_type(self) -> str:
        guessed = mimetypes.guess_type(self.filename)[0] if self.filename else None
        guessed = guessed or "text/plain"
        return f"{guessed}; charset={self.encoding}" if guessed.startswith("text/") else guessed

    def _measure(self) -> int | None:
        """With ``measure``, the encoded length, counted by reading the file once (then
        rewound); None when it cannot be rewound (sent chunked then)."""
        start, f = self._start, self.file
        if start is None or not self.measure:
            return None
        total = 0
        try:
            while chunk := f.read(self.chunk_size):
                total += len(self.convert(chunk))
            f.seek(start)
        except (OSError, ValueError):
            return None
        return total

    def convert(self, chunk: Any) -> bytes | bytearray | memoryview:
        if isinstance(chunk, str):
            return chunk.encode(self.encoding, self._errors)
        return super().convert(chunk)


class BytesIOPayload(FilePayload):
    """An ``io.BytesIO`` body, sent with a Content-Length (its bytes from the current
    position); read directly, without a thread."""


class BufferedReaderPayload(FilePayload):
    """A file opened with ``open(path, "rb")``, sized by ``fstat`` and streamed off the loop."""


class StringIOPayload(StringPayload):
    """An ``io.StringIO`` body: its text from the current position, encoded (UTF-8 unless
    ``encoding`` or the Content-Type's charset says otherwise) and sent with a
    Content-Length."""

    def __init__(self, value: io.StringIO, **kw: Any) -> None:
        super().__init__(value.read(), **kw)


class AsyncIterablePayload(Payload):
    """An async iterable (e.g. an async generator) of bytes chunks; one-shot, chunked."""

    replayable = False

    def __init__(self, iterable: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self._iterable = iterable
        self._iterator: Any = None

    async def write(self, writer: BodyWriter) -> None:
        if self._iterator is not None:
            raise BodyNotReplayableError("data=: an async iterable body can only be sent once")
        self._iterator = self._iterable.__aiter__()
        async for item in self._iterator:
            if not isinstance(item, _BYTES_LIKE):
                raise TypeError(
                    f"data=: the async iterable yielded a {type(item).__name__} ({item!r:.40}); "
                    "every item must be bytes, bytearray or memoryview"
                )
            if item:  # an empty chunk would end a chunked body early
                await writer.write(item)

    async def close(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        # A generator still running belongs to a cancelled write: the cancellation ends it.
        if (aclose is not None and inspect.isasyncgen(self._iterator)
                and not self._iterator.ag_running):
            await aclose()


class StreamReaderPayload(Payload):
    """Another response's body (a StreamReader), piped through as it arrives."""

    replayable = False

    def __init__(self, stream: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self._stream = stream
        self._used = False

    async def write(self, writer: BodyWriter) -> None:
        if self._used:
            raise BodyNotReplayableError("data=: a StreamReader body can only be sent once")
        self._used = True
        while chunk := await self._stream.readany():
            await writer.write(chunk)


class Order(str, enum.Enum):
    """Where a registered payload factory is tried (:meth:`PayloadRegistry.register`)."""

    normal = "normal"
    try_first = "try_first"
    try_last = "try_last"


class PayloadRegistry:
    """Payload factories for types of your own, looked up by :func:`get_payload`:
    ``PAYLOAD_REGISTRY.register(MyPayload, MyType)``. ``order="try_first"`` entries are
    tried before the built-in types, the others after them."""

    def __init__(self) -> None:
        self._first: list[tuple[Callable[..., Payload], Any]] = []
        self._last: list[tuple[Callable[..., Payload], Any]] = []

    def register(self, factory: Callable[..., Payload], type: Any, *,
                 order: str = Order.normal) -> None:
        """Use ``factory(data, **kwargs)`` for instances of ``type`` (a class or tuple)."""
        if order not in ("try_first", "normal", "try_last"):
            raise ValueError(f"order={order!r}: expected 'try_first', 'normal' or 'try_last'")
        (self._first if order == "try_first" else self._last).append((factory, type))

    def get(self, data: Any, *, first: bool | None = None, **kwargs: Any) -> Payload:
        """A payload for ``data`` from a registered factory; LookupError when none fits.
        ``first``: only the try_first entries (True), only the others (False), or all."""
        entries = (self._first if first is not False else []) + (
            self._last if first is not True else [])
        for factory, kind in entries:
            if isinstance(data, kind):
                return factory(data, **kwargs)
        raise LookupError(f"no payload factory registered for {type(data).__name__}")


#: The registry :func:`get_payload` consults for types it does not know.
PAYLOAD_REGISTRY = PayloadRegistry()


def get_payload(data: Any, content_type: str | None = None) -> Payload:
    """Turn a ``data=`` argument into a Payload, or raise TypeError/ValueError naming ``data=``.

    A dict, list of pairs or MultiDict is url-encoded, or multipart when a value is a file;
    a list or tuple holding files, MultiDicts or (name, value) pairs is a multipart form.
    """
    kw: dict[str, Any] = {} if content_type is None else {"content_type": content_type}
    if isinstance(data, Payload):
        return data
    try:
        return PAYLOAD_REGISTRY.get(data, first=True, **kw)
    except LookupError:
        pass
    try:
        return _builtin_payload(data, kw)
    except TypeError:
        try:
            return PAYLOAD_REGISTRY.get(data, first=False, **kw)
        except LookupError:
            pass
        raise


def _builtin_payload(data: Any, kw: dict[str, Any]) -> Payload:
    if isinstance(data, _BYTES_LIKE):
        return BytesPayload(data, **kw)
    if isinstance(data, str):
        return StringPayload(data, **kw)
    from .multipart import FormData  # imports this module

    if isinstance(data, FormData):
        return data()
    if _is_stream(data):  # before the async-iterable test: StreamReader iterates lines
        return StreamReaderPayload(data, **kw)
    if isinstance(data, io.StringIO):
        return StringIOPayload(data, **kw)
    if is_text_file(data):
        return TextIOPayload(data, **kw)
    if isinstance(data, io.BytesIO):
        return BytesIOPayload(data, **kw)
    if isinstance(data, io.BufferedReader):
        return BufferedReaderPayload(data, **kw)
    if is_file_object(data):
        return FilePayload(data, **kw)
    if hasattr(data, "__aiter__"):
        return AsyncIterablePayload(data, **kw)
    if isinstance(data, list | tuple) and not all(_is_pair(item) for item in data):
        return _form_data(data)  # aiohttp's FormData(data): files, MultiDicts and pairs
    if isinstance(data, Mapping | list | tuple):
        items = form_items(data)
        if not any(is_body_source(v) for _, v in items):
            return form_payload(items)
        return _form_data(items)
    if isinstance(data, Iterable):
        raise TypeError(
            f"data=: a synchronous {type(data).__name__} cannot be a body in the async engine "
            "(iterating it would run user code on the event loop); pass an async generator, "
            "or use the blocking API, which iterates sync generators in the calling thread"
        )
    raise TypeError(
        f"data=: unsupported body type {type(data).__name__}; pass bytes, str, a file object, "
        "an async iterable, a FormData, or a dict or list of (name, value) pairs"
    )


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple | list) and len(item) == 2


def _form_data(fields: Any) -> Payload:
    from .multipart import FormData  # imports this module

    try:
        return FormData(fields)()
    except (TypeError, ValueError) as exc:  # name the argument, keep the type
        if "data=" not in str(exc):
            exc.args = (f"data=: {exc}",)
        raise
