"""The engine's message queue: where a WebSocket's messages wait for ``receive()``.

A :class:`MessageQueue` is one *sink* of messages. The connection puts each message
with ``put_nowait(message)``, which returns False once the queue is full: the
connection then stops reading from the socket and awaits ``wait_space()``. At the end
it calls ``finish()``. Any object with these three methods can take the queue's place
(:meth:`ClientWebSocketResponse.deliver_to`); the blocking facade's channel is one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from ...exceptions import ReadTimeout
from .messages import WSMessage

__all__ = ["MessageSink", "MessageQueue", "HIGH_WATER"]

#: A queue's weight before the socket is paused (see :func:`messages.weigh`).
HIGH_WATER = 64


class MessageSink(Protocol):
    """Where a WebSocket connection delivers its messages."""

    def put_nowait(self, message: WSMessage) -> bool:
        """Queue ``message`` (always); False once full: the connection stops reading."""

    async def wait_space(self) -> None:
        """Return once there is room again (or the sink is closed)."""

    def finish(self, error: BaseException | None = None) -> None:
        """No more messages."""


class MessageQueue:
    """A bounded FIFO of messages on one loop, read by one task at a time."""

    __slots__ = ("_loop", "_items", "_weight", "_high", "_low", "_getter", "_space", "_ended")

    def __init__(self, loop: asyncio.AbstractEventLoop, high_water: int = HIGH_WATER) -> None:
        self._loop = loop
        self._items: deque[WSMessage] = deque()
        self._weight = 0
        self._high = high_water
        self._low = high_water // 2
        self._getter: asyncio.Future[WSMessage | None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._ended = False

    def put_nowait(self, message: WSMessage) -> bool:
        getter = self._getter
        if getter is not None:
            # A receiver waits, so nothing is queued: the message goes to it directly.
            self._getter = None
            if not getter.done():
                getter.set_result(message)
                return True
        self._items.append(message)
        data = message.data  # messages.weigh(), inlined: this runs per message
        if data.__class__ is str or data.__class__ is bytes:
            self._weight += 1 + (len(data) >> 16)
        else:
            self._weight += 1
        return self._weight < self._high

    async def wait_space(self) -> None:
        if self._weight < self._high or self._ended:
            return
        self._space = fut = self._loop.create_future()
        await fut

    def finish(self, error: BaseException | None = None) -> None:
        self._ended = True
        for fut in (self._getter, self._space):
            if fut is not None and not fut.done():
                fut.set_result(None)
        self._getter = self._space = None

    def take(self) -> WSMessage | None:
        """The next message, or None if there is none right now."""
        items = self._items
        if not items:
            return None
        message = items.popleft()
        data = message.data
        if data.__class__ is str or data.__class__ is bytes:
            self._weight -= 1 + (len(data) >> 16)
        else:
            self._weight -= 1
        space = self._space
        if space is not None and self._weight <= self._low:
            self._space = None
            if not space.done():
                space.set_result(None)
        return message

    @property
    def ended(self) -> bool:
        """No message is queued and none will come."""
        return self._ended and not self._items

    def waiter(self, timeout: float | None) -> asyncio.Future[WSMessage | None] | None:
        """A future whose result is the next message (None: the queue ended; then
        :meth:`take` may still hold one), or failing with ReadTimeout after ``timeout``
        seconds (None: never); end the wait with :meth:`stop_waiting`. None instead if
        the queue has ended and is empty. One waiter at a time (RuntimeError)."""
        if self._ended and not self._items:
            return None
        if self._getter is not None:
            raise RuntimeError("Concurrent call to receive() is not allowed")
        self._getter = fut = self._loop.create_future()
        if timeout is not None:
            handle = self._loop.call_later(timeout, _expire, fut, timeout)
            fut.add_done_callback(lambda _: handle.cancel())
        return fut

    def stop_waiting(self, fut: asyncio.Future[WSMessage | None]) -> None:
        if self._getter is fut:
            self._getter = None
        if not fut.done():
            fut.cancel()

    async def get(self, timeout: float | None) -> WSMessage | None:
        """The next message; None at the end. Waits at most ``timeout`` seconds (None:
        no limit), then raises ReadTimeout."""
        message = self.take()
        if message is not None:
            return message
        fut = self.waiter(timeout)
        if fut is None:
            return None
        try:
            message = await fut
        finally:
            self.stop_waiting(fut)
        return self.take() if message is None else message


def _expire(fut: asyncio.Future[WSMessage | None], timeout: float) -> None:
    if not fut.done():
        fut.set_exception(ReadTimeout(f"No WebSocket message within {timeout} s"))
