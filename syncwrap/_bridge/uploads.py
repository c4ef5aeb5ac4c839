"""Request bodies in the blocking facade: ``files=``, and sync iterables fed by the caller.

A sync generator or iterator given as ``data=`` is user code, so it never runs on the
loop thread. :func:`prepare_body` swaps it for a :class:`CallerIterablePayload`, and
:func:`run_request` has the *calling* thread iterate it while it waits for the
response, handing chunks to the loop through a bounded :class:`UploadChannel`::

    calling thread                                     loop thread
    loop.run(request, while_waiting=feed) ──submit──►  _request → _send → _write_body
    feed: wait until the body is wanted   ◄──start───  payload.write(writer)
          for chunk in generator:                        while chunk := await channel.get():
              channel.put(chunk)          ──chunk──►         await writer.write(chunk)
              (blocks at HIGH_WATER bytes ◄──space───    (the socket's own backpressure)
               queued, until LOW_WATER)
          channel.finish()                ───EOF───►     writer.finish()
    then waits for the response as any call does

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

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from .. import loop as loop_thread
from ..engine.multipart import FormData, requests_files_to_formdata
from ..engine.payload import Payload, get_payload, is_file_object
from ..exceptions import BodyNotReplayableError, ClientPayloadError

__all__ = [
    "UploadChannel",
    "CallerIterablePayload",
    "is_sync_iterable",
    "prepare_body",
    "run_request",
]

T = TypeVar("T")

#: The caller blocks once this many bytes wait in the channel ...
HIGH_WATER = 4 * 1024 * 1024
#: ... and resumes when the loop has drained it down to this.
LOW_WATER = HIGH_WATER // 2
#: Larger items are written in slices of this size (bounded socket buffers).
MAX_WRITE = 1024 * 1024

_BYTES_LIKE = (bytes, bytearray, memoryview)


class UploadChannel:
    """A bounded, thread-safe queue of body chunks: the caller puts, the loop gets.

    States: not started (the caller waits before touching the generator), started,
    finished (EOF), closed (the request no longer wants data; ``put`` returns False).
    """

    def __init__(self, high_water: int = HIGH_WATER, low_water: int | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._high_water = max(high_water, 1)
        self._low_water = self._high_water // 2 if low_water is None else low_water
        self._started = False
        self._eof = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        return self._size

    # -- the loop side -------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The engine is ready for the body: let the caller start iterating."""
        with self._cond:
            self._loop = loop
            self._started = True
            self._cond.notify_all()

    async def get(self) -> bytes | None:
        """The next chunk, or None at the end of the body."""
        while True:
            with self._cond:
                if self._chunks:
                    chunk = self._chunks.popleft()
                    self._size -= len(chunk)
                    if self._size <= self._low_water:
                        self._cond.notify_all()
                    return chunk
                if self._eof:
                    return None
                if self._closed:
                    raise ClientPayloadError("data=: the upload was abandoned by the caller")
                assert self._loop is not None, "start() first"
                self._waiter = waiter = self._loop.create_future()
            await waiter

    def close(self) -> None:
        """The request is over (any thread): drop queued chunks, release the caller."""
        with self._cond:
            self._closed = True
            self._chunks.clear()
            self._size = 0
            self._cond.notify_all()
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    # -- the caller side ---------------------------------------------------------------

    def wait_started(self) -> bool:
        """Block until the engine wants the body (True) or the request ended (False)."""
        with self._cond:
            while not self._started and not self._closed:
                self._cond.wait()
            return not self._closed

    def put(self, chunk: bytes) -> bool:
        """Queue a chunk, blocking while the channel is full; False once it is closed."""
        with self._cond:
            while self._chunks and self._size >= self._high_water and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._chunks.append(chunk)
            self._size += len(chunk)
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)
        return True

    def finish(self) -> None:
        """The body is complete."""
        with self._cond:
            self._eof = True
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is None or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(_set_if_pending, waiter)
        except RuntimeError:  # the loop is closed (interpreter exit)
            pass


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


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
        self.channel = UploadChannel(high_water)
        self._used = False

    async def write(self, writer: Any) -> None:
        if self._used:
            raise BodyNotReplayableError(
                "data=: a generator or iterator body can only be sent once"
            )
        self._used = True
        channel = self.channel
        channel.start(asyncio.get_running_loop())
        while (chunk := await channel.get()) is not None:
            if len(chunk) <= MAX_WRITE:
                await writer.write(chunk)
            else:
                view = memoryview(chunk)
                for start in range(0, len(view), MAX_WRITE):
                    await writer.write(view[start : start + MAX_WRITE])

    async def close(self) -> None:
        self.channel.close()

    def feed(self) -> None:
        """Iterate the body into the channel (in the calling thread; blocks)."""
        channel = self.channel
        if not channel.wait_started():
            return  # the request ended before it wanted the body: nothing was consumed
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
    if not isinstance(data, str):
        kwargs["data"] = get_payload(data)
    return None


async def _closing(coro: Coroutine[Any, Any, T], channel: UploadChannel) -> T:
    try:
        return await coro
    finally:
        channel.close()  # whatever happened, the caller stops feeding


def run_request(coro: Coroutine[Any, Any, T], upload: CallerIterablePayload | None) -> T:
    """``loop.run(coro)``, feeding ``upload`` (if any) from this thread meanwhile."""
    if upload is None:
        return loop_thread.run(coro)
    try:
        return loop_thread.run(_closing(coro, upload.channel), while_waiting=upload.feed)
    finally:
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()  # refused by run() (e.g. called on the loop thread): never started
