"""Timeouts: :class:`ClientTimeout` and the deadline timer that enforces ``total``."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from itertools import count
from types import TracebackType
from typing import Any

from ..exceptions import ConnectTimeout, ReadTimeout, Timeout

__all__ = [
    "ClientTimeout", "DEFAULT_TIMEOUT", "DeadlineQueue", "DeadlineTimer", "to_client_timeout",
]


@dataclass(frozen=True)
class ClientTimeout:
    """Time limits in seconds; ``None`` or ``0`` disables a limit.

    ``total``: the whole request including redirects and reading the body.
    ``connect``: getting a connection, including waiting for a free pool slot.
    ``sock_connect``: one TCP/TLS connection attempt.
    ``sock_read``: the longest gap between two reads from the socket.
    """

    total: float | None = None
    connect: float | None = None
    sock_read: float | None = None
    sock_connect: float | None = None
    ceil_threshold: float = 5

    def __post_init__(self) -> None:
        for name in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(
                    f"ClientTimeout({name}=...) must be a number or None, got {value!r}"
                )
            if value < 0:
                raise ValueError(f"ClientTimeout({name}=...) must not be negative, got {value!r}")
            if value == 0:
                object.__setattr__(self, name, None)


DEFAULT_TIMEOUT = ClientTimeout(total=300)


def to_client_timeout(value: Any, *, argument: str = "timeout") -> ClientTimeout:
    """Accept a ClientTimeout, a number (total), None/0 (no limit) or a (connect, read) pair."""
    if isinstance(value, ClientTimeout):
        return value
    if value is None:
        return ClientTimeout()
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{argument}=: a tuple must be (connect, read), got {value!r}")
        fields = {"connect": value[0], "sock_read": value[1]}
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{argument}=: expected a number, None, a (connect, read) tuple or ClientTimeout, "
            f"got {type(value).__name__}"
        )
    else:
        fields = {"total": value}
    try:
        return ClientTimeout(**fields)
    except (TypeError, ValueError) as exc:  # ClientTimeout's check, named as the caller gave it
        raise type(exc)(f"{argument}={value!r}: {exc}") from None


class DeadlineQueue:
    """Every request deadline on one loop, behind a single loop timer.

    A loop ``TimerHandle`` per request (scheduled, then cancelled a few hundred
    microseconds later, then dropped from the loop's heap) costs more than the
    request's own bookkeeping. Here a deadline is one heap push; a finished
    timer is only marked dead, and the heap is compacted when the dead
    outnumber the live. The one loop timer is moved only when a new deadline
    is earlier than the armed one, so a stream of requests with the same
    timeout arms it once per timeout period.
    """

    __slots__ = ("loop", "_heap", "_handle", "_armed_at", "_dead", "_seq", "__weakref__")

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineQueue] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, DeadlineTimer]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._dead = 0
        self._seq = count()

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> DeadlineQueue:
        queue = cls._by_loop.get(loop)
        if queue is None:
            queue = cls._by_loop[loop] = cls(loop)
        return queue

    def add(self, timer: DeadlineTimer, when: float) -> None:
        heappush(self._heap, (when, next(self._seq), timer))
        if self._handle is None or when < self._armed_at:
            self._arm(when)

    def discard(self) -> None:
        """One timer in the heap has finished (its entry is now dead)."""
        self._dead += 1
        heap = self._heap
        if self._dead > 64 and self._dead * 2 > len(heap):
            heap[:] = [entry for entry in heap if entry[2].active]
            heapify(heap)
            self._dead = 0
            if not heap and self._handle is not None:
                self._handle.cancel()
                self._handle = None

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self.loop.call_at(when, self._run)

    def _run(self) -> None:
        self._handle = None
        heap = self._heap
        now = self.loop.time()
        while heap and (heap[0][0] <= now or not heap[0][2].active):
            _, _, timer = heappop(heap)
            if timer.active:
                timer.fire()
            else:
                self._dead = max(self._dead - 1, 0)
        if heap:
            self._arm(heap[0][0])


class DeadlineTimer:
    """Cancels whatever task is inside it when the deadline passes.

    While connecting, ``with timer:`` wraps the await: when the deadline fires
    the task waiting there is cancelled and the cancellation surfaces as
    :class:`ConnectTimeout`. Once a connection is up, :meth:`attach` hands the
    timer its protocol, and firing fails that protocol's response with
    :class:`ReadTimeout` (no per-wait bookkeeping on the hot path). Once
    expired, entering the timer raises at once.
    """

    __slots__ = ("_loop", "_queue", "active", "_tasks", "expired", "connecting", "_total",
                 "_protocol")

    def __init__(self, queue: DeadlineQueue, total: float | None) -> None:
        self._loop = loop = queue.loop
        self._queue = queue
        self._tasks: list[asyncio.Task[Any]] = []
        self.expired = False
        self.connecting = False
        self._total = total
        self._protocol: Any = None
        #: True while the deadline is armed.
        self.active = bool(total)
        if total:
            queue.add(self, loop.time() + total)

    def fire(self) -> None:
        self.active = False
        self.expired = True
        for task in self._tasks:
            task.cancel()
        if self._protocol is not None and not self.connecting:
            self._protocol.fail(self.error())

    def attach(self, protocol: Any) -> None:
        """The connection whose response this timer now bounds."""
        self._protocol = protocol

    def cancel(self) -> None:
        """Stop the timer (the request finished)."""
        if self.active:
            self.active = False
            self._queue.discard()
        self._protocol = None

    def error(self) -> Timeout:
        cls = ConnectTimeout if self.connecting else ReadTimeout
        return cls(f"Timed out after {self._total} s (total timeout)")

    def __enter__(self) -> DeadlineTimer:
        if self.expired:
            raise self.error()
        if self.active:
            task = asyncio.current_task(self._loop)
            if task is not None:
                self._tasks.append(task)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:
            task = asyncio.current_task(self._loop)
            if task in self._tasks:
                self._tasks.remove(task)
        if exc_type is asyncio.CancelledError and self.expired:
            task = asyncio.current_task(self._loop)
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            raise self.error() from None
        return None
