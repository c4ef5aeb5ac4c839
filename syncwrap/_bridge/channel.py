"""One bounded channel between the loop thread and a calling thread.

A :class:`Channel` is a FIFO with one producer and one consumer; either side may be the
loop thread, the other is a calling thread. It is bounded by weight: ``weigh(item)``
(``len`` by default, so a channel of bytes is bounded by bytes; ``lambda item: 1``
bounds by items, ``len(item) + overhead`` by both). The producer stops at
``high_water`` and goes on once the consumer has drained it to ``low_water``.

Each side waits in its own way, and is woken only when it waits:

- the calling thread blocks on a condition (:meth:`Channel.put`, :meth:`Channel.get_item`,
  :meth:`ByteChannel.get`), which the loop notifies;
- the loop awaits a future (:meth:`Channel.wait_space`, :meth:`Channel.take`), which the
  thread resolves with ``call_soon_threadsafe``.

So a busy transfer costs one lock round per item and no loop round trip per item.

Endings: the producer calls :meth:`Channel.finish` (with an error, if it failed): the
consumer takes what is queued, then gets the end (None, or b"" for bytes) or the error.
Either side calls :meth:`Channel.close` (with an error, if it has one) to abandon the
channel: what is queued is dropped, a waiting side wakes up, a producer's puts return
False and a consumer's takes raise the error.

Used for streamed downloads (loop → caller, :mod:`syncwrap._bridge.downloads`) and sync
generator uploads (caller → loop, :mod:`syncwrap._bridge.uploads`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, runtime_checkable

from .. import loop as loop_thread
from ..exceptions import ClientPayloadError, ReadTimeout

__all__ = ["Channel", "ByteChannel", "ByteReader", "refuse_loop_thread"]

T = TypeVar("T")

#: A byte channel holds this much before its producer waits.
HIGH_WATER = 8 * 1024 * 1024


@runtime_checkable
class ByteReader(Protocol):
    """What reads a streamed body in a calling thread: a :class:`ByteChannel`, or the
    facade's socket reader (``DirectChannel``)."""

    closed: bool

    def get(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes (what is there if ``n < 0``); b"" at the end; waits for data."""

    def get_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes unless the body ends first."""

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front (what a line reader took too much of)."""

    def close(self) -> None:
        """Done reading; any thread."""


def refuse_loop_thread() -> None:
    """Raise RuntimeError on the loop thread, where waiting for the loop would deadlock."""
    if loop_thread.in_loop_thread():
        raise RuntimeError(
            "syncwrap: a streamed body was read on syncwrap's own event-loop "
            "thread; waiting for more data there would deadlock. Read it from "
            "another thread, or use syncwrap.engine's async API on the loop."
        )


class Channel(Generic[T]):
    """A bounded, thread-safe FIFO between the loop thread and one calling thread.

    See the module docs. ``closed`` is True once either side has closed it.
    """

    def __init__(self, high_water: int = HIGH_WATER, low_water: int | None = None, *,
                 weigh: Callable[[T], int] = len) -> None:  # type: ignore[assignment]
        self._items: deque[T] = deque()
        self._size = 0
        self._high_water = max(high_water, 1)
        self._low_water = self._high_water // 2 if low_water is None else low_water
        self._weigh = weigh
        # ``with self._lock``, never ``with self._cond``: Condition.__enter__ is Python code,
        # and a Ctrl-C handled just after it acquired the lock would leave the lock held
        # (the with block not entered yet), blocking the loop thread's next take() forever.
        # A C lock's own __enter__ cannot be interrupted between acquiring and returning.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._sleepers = 0  # calling threads waiting on _cond
        self._wanted = 1  # the weight a sleeping consumer waits for: put_nowait wakes it then
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None  # the loop side's wait, if any
        self._eof = False
        self._error: BaseException | None = None
        self.closed = False

    @property
    def buffered(self) -> int:
        """The weight queued (bytes, for a byte channel)."""
        return self._size

    # -- either side ---------------------------------------------------------------------

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done: the consumer gets what is queued, then the end or ``error``."""
        with self._lock:
            self._eof = True
            if self._error is None:
                self._error = error
            waiter = self._wake_all()
        self._wake_loop(waiter)

    def close(self, error: BaseException | None = None) -> None:
        """Abandon the channel (either side, any thread): queued items are dropped, puts
        return False from now on, takes raise ``error`` (or ClientPayloadError)."""
        with self._lock:
            self.closed = True
            self._items.clear()
            self._size = 0
            if self._error is None:
                self._error = error
            waiter = self._wake_all()
        self._wake_loop(waiter)

    # -- the loop side ---------------------------------------------------------------------

    def put_nowait(self, item: T) -> bool:
        """Queue ``item`` (on the loop); False once full (await :meth:`wait_space`) or closed."""
        with self._lock:
            if self.closed:
                return False
            self._items.append(item)
            self._size += self._weigh(item)
            if self._sleepers and self._size >= self._wanted:
                self._cond.notify()
            return self._size < self._high_water

    def put_many_nowait(self, items: list[T]) -> bool:
        """Queue ``items`` (on the loop) under one lock: as :meth:`put_nowait`."""
        with self._lock:
            if self.closed:
                return False
            self._items.extend(items)
            weigh = self._weigh
            self._size += sum(map(weigh, items))
            if self._sleepers and self._size >= self._wanted:
                self._cond.notify()
            return self._size < self._high_water

    async def wait_space(self) -> None:
        """On the loop: wait until the consumer has drained the channel to ``low_water``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._size < self._high_water or self.closed:
                return
            fut = self._loop_waits(loop)
        await fut

    async def take(self) -> T | None:
        """On the loop: the next item, or None at the end; raises the producer's error."""
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    self._size -= self._weigh(item)
                    if self._sleepers and self._size <= self._low_water:
                        self._cond.notify_all()
                    return item
                if self._eof or self.closed:
                    self._raise_end()
                    return None
                fut = self._loop_waits(asyncio.get_running_loop())
            await fut

    # -- the calling thread's side -----------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue ``item``, blocking while the channel is full; False once it is closed."""
        with self._lock:
            while self._items and self._size >= self._high_water and not self.closed:
                self._sleep(None)
            if self.closed:
                return False
            self._items.append(item)
            self._size += self._weigh(item)
            waiter, self._waiter = self._waiter, None
        self._wake_loop(waiter)
        return True

    def get_item(self, timeout: float | None = None) -> T | None:
        """The next item, or None at the end; waits (ReadTimeout after ``timeout`` s)."""
        with self._lock:
            if not self._wait_items(timeout):
                return None
            item = self._items.popleft()
            self._size -= self._weigh(item)
            waiter = self._space_made() if self._waiter is not None else None
        self._wake_loop(waiter)
        return item

    # -- helpers (the lock held unless said otherwise) -----------------------------------

    def _sleep(self, timeout: float | None) -> bool:
        refuse_loop_thread()  # the other side runs there: waiting would deadlock
        self._sleepers += 1
        try:
            return self._cond.wait(timeout)
        finally:
            self._sleepers -= 1

    def _wait_items(self, timeout: float | None) -> bool:
        """Wait until an item is queued (True) or the channel ended (False, or raises)."""
        while not self._items:
            if self._eof or self.closed:
                self._raise_end()
                return False
            if not self._sleep(timeout):
                raise ReadTimeout(f"Nothing arrived within {timeout} s")
        return True

    def _raise_end(self) -> None:
        if self._error is not None:
            raise self._error
        if self.closed and not self._eof:
            raise ClientPayloadError("The channel was closed before its end")

    def _space_made(self) -> asyncio.Future[None] | None:
        """The loop's wait for space, taken if the consumer has drained below low water."""
        if self._size < self._low_water:
            waiter, self._waiter = self._waiter, None
            return waiter
        return None

    def _loop_waits(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        self._loop = loop
        self._waiter = fut = loop.create_future()
        return fut

    def _wake_all(self) -> asyncio.Future[None] | None:
        self._cond.notify_all()
        waiter, self._waiter = self._waiter, None
        return waiter

    def _wake_loop(self, waiter: asyncio.Future[None] | None) -> None:
        """Resolve the loop side's wait (lock not held)."""
        if waiter is None or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(_set_if_pending, waiter)
        except RuntimeError:  # the loop is closed (interpreter exit)
            pass


class ByteChannel(Channel["bytes | memoryview"]):
    """A :class:`Channel` of bytes, bounded by bytes, with a file-like reading side
    (:class:`ByteReader`) for the calling thread."""

    @classmethod
    def holding(cls, data: bytes) -> ByteChannel:
        """A finished channel that holds ``data``: reading it never waits."""
        channel = cls()
        if data:
            channel.put_nowait(data)
        channel.finish()
        return channel

    def get(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes (all queued ones if ``n < 0``); b"" at the end; waits for data
        (ReadTimeout after ``timeout`` s); raises the producer's error after the data."""
        with self._lock:
            if not self._wait_items(timeout):
                return b""
            chunks = self._items
            if n < 0 or n >= self._size:
                data = bytes(chunks.popleft()) if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
            else:
                parts = []
                need = n
                while need:
                    chunk = chunks[0]
                    if len(chunk) <= need:
                        parts.append(chunks.popleft())
                        need -= len(chunk)
                    else:  # views: the one copy is the join below
                        view = memoryview(chunk)
                        parts.append(view[:need])
                        chunks[0] = view[need:]
                        need = 0
                data = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
            self._size -= len(data)
            waiter = self._space_made() if self._waiter is not None else None
        self._wake_loop(waiter)
        return data

    def get_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes unless the end comes first (one copy when ``n`` fits)."""
        target = min(n, self._low_water)
        with self._lock:
            self._wanted = target  # one wake-up when it is there, not one per chunk
            try:
                while self._size < target and not self._eof and not self.closed:
                    if not self._sleep(60):
                        break  # let get() apply its own checks and timeouts
            finally:
                self._wanted = 1
        parts = []
        need = n
        while need:
            data = self.get(need)
            if not data:
                break
            parts.append(data)
            need -= len(data)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front (what a line reader took too much of)."""
        with self._lock:
            self._items.appendleft(data)
            self._size += len(data)


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
