"""Request bodies in the blocking facade: ``files=``, and sync iterables fed by the caller.

A sync generator or iterator given as ``data=`` is user code, so it never runs on the
loop thread. :func:`prepare_body` swaps it for a :class:`CallerIterablePayload`. When the
engine starts writing the body, the payload has the *calling* thread (which serves the
loop's jobs while it waits for the response: :mod:`syncwrap._bridge.caller`) iterate it,
handing chunks to the loop through a bounded :class:`~syncwrap._bridge.channel.ByteChannel`::

    calling thread                                     loop thread
    Caller.run(request) ──────submit─────────────────►  _request → _send → _write_body
    serve: jobs.get()    ◄────post(feed)─────────────   payload.write(writer)
    feed:  for chunk in generator:                        while chunk := await channel.take():
               channel.put(chunk)     ──chunk──►              await writer.write(chunk)
               (blocks at HIGH_WATER bytes  ◄──space───   (the socket's own backpressure)
                queued, until half of it)
           channel.finish()           ───EOF───►          writer.finish()
    serve: jobs.get() until the call ends

Memory stays bounded: at most HIGH_WATER bytes (plus one chunk) wait in the channel.
The body is sent chunked, never buffered to learn its length, unless the caller set a
Content-Length header: then it is sent with that length, which the engine enforces (a
generator that yields past it or stops short of it fails the call, the connection
closed with the body incomplete). The generator is not
touched until the engine starts writing the body (a refused connection or a final
status to ``Expect: 100-continue`` leaves it unconsumed). When the request ends early
(answered before the body was sent, failed, timed out) the channel closes, the
caller stops iterating and the generator is closed. An exception from the generator,
or a non-bytes item (TypeError naming ``data=``), is raised in the calling thread and
cancels the request exactly as Ctrl-C does (:func:`syncwrap.loop.run`): the
connection is closed, never pooled.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.multipart import FormData, requests_files_to_formdata
from ..engine.payload import (
    Payload,
    TextIOPayload,
    get_payload,
    is_file_object,
    is_text_file,
)
from ..exceptions import BodyNotReplayableError
from .caller import current
from .channel import ByteChannel

__all__ = ["CallerIterablePayload", "is_sync_iterable", "prepare_body"]

#: The caller blocks once this many bytes wait in the channel, and resumes when the
#: loop has drained it to half as many.
HIGH_WATER = 4 * 1024 * 1024
#: Larger items are written in slices of this size (bounded socket buffers).
MAX_WRITE = 1024 * 1024

_BYTES_LIKE = (bytes, bytearray, memoryview)


class CallerIterablePayload(Payload):
    """A sync iterable of bytes, iterated by the calling thread (see the module docs).

    One-shot (a 307/308 redirect raises BodyNotReplayableError); chunked unless the
    request has a Content-Length header.
    """

    replayable = False
    size = None

    def __init__(self, iterable: Iterable[Any], *, high_water: int = HIGH_WATER, **kw: Any):
        super().__init__(**kw)
        self._iterable = iterable
        self.channel = ByteChannel(high_water)
        self._used = False

    async def write(self, writer: Any) -> None:
        if self._used:
            raise BodyNotReplayableError(
                "data=: a generator or iterator body can only be sent once"
            )
        self._used = True
        channel = self.channel
        current().post(self.feed)  # the calling thread iterates from now on
        try:
            while (chunk := await channel.take()) is not None:
                if len(chunk) <= MAX_WRITE:
                    await writer.write(chunk)
                else:
                    view = memoryview(chunk)
                    for start in range(0, len(view), MAX_WRITE):
                        await writer.write(view[start : start + MAX_WRITE])
        finally:
            channel.close()  # sent, failed or cancelled: the caller stops feeding

    async def close(self) -> None:
        self.channel.close()

    def feed(self) -> None:
        """Iterate the body into the channel (in the calling thread; blocks)."""
        channel = self.channel
        if channel.closed:
            return  # the request ended before this thread got here: nothing was consumed
        iterator = iter(self._iterable)
        complete = False
        try:
            for item in iterator:
                if type(item) is not bytes:
                    if not isinstance(item, _BYTES_LIKE):
                        raise TypeError(
                            f"data=: the body iterator yielded a {type(item).__name__} "
                            f"({item!r:.40}); every item must be bytes, bytearray or "
                            "memoryview (encode text first)"
                        )
                    item = bytes(item)  # the iterator may reuse its buffer for the next item
                if item and not channel.put(item):
                    return  # the request ended (answered early, failed, timed out)
            channel.finish()
            complete = True
        finally:
            if not complete and inspect.isgenerator(iterator):
                iterator.close()


def is_sync_iterable(data: Any) -> bool:
    """Would ``data=`` be streamed from a sync iterator (not a form, file or stream)?"""
    if isinstance(data, str | bytes | bytearray | memoryview | Mapping | list | tuple
                  | Payload | FormData):
        return False
    if hasattr(data, "__aiter__") or is_file_object(data):
        return False
    if callable(getattr(data, "readany", None)):  # an engine StreamReader
        return False
    return isinstance(data, Iterable)


def prepare_body(kwargs: dict[str, Any]) -> CallerIterablePayload | None:
    """Check and translate the body arguments in ``kwargs`` (in place), in the caller.

    ``files=`` (popped) becomes a multipart ``data=`` with the fields of a ``data=``
    dict; a sync iterable becomes a :class:`CallerIterablePayload`, returned so that
    the caller can feed it; other bodies except str (its charset comes from the
    request's Content-Type) are made into payloads here, so that bad input fails at
    the call and a file object's methods run in the calling thread.
    """
    files = kwargs.pop("files", None)
    data = kwargs.get("data")
    json = kwargs.get("json")
    if files:
        if json is not None:
            raise ValueError("files= and json= cannot both be set; send the JSON as a "
                             "files= part, e.g. files={'meta': (None, dumps(obj), "
                             "'application/json')}")
        if data is not None and not isinstance(data, Mapping | list | tuple):
            raise ValueError("data=: with files=, data must be a dict or list of pairs "
                             f"(its plain fields), not {type(data).__name__}")
        try:
            kwargs["data"] = requests_files_to_formdata(files, data)()
        except (TypeError, ValueError) as exc:
            if "files=" not in str(exc) and "data=" not in str(exc):
                exc.args = (f"files=: {exc}",)
            raise
        return None
    if data is None:
        return None
    if json is not None:
        raise ValueError("data= and json= cannot both be set; pass one of them")
    if is_sync_iterable(data):
        payload = CallerIterablePayload(data)
        kwargs["data"] = payload
        return payload
    if is_text_file(data):  # as requests: measured, sent with a Content-Length
        kwargs["data"] = TextIOPayload(data, measure=True)
    elif not isinstance(data, str):
        kwargs["data"] = get_payload(data)
    return None
