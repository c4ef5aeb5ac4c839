"""Fan-out from plain code: many requests in flight on the loop, results in the calling thread.

``s.map(reqs)`` and ``s.as_completed(reqs)`` return a :class:`FanOut`, an iterator. The
calling thread does everything that is user code or translation: it pulls items from
the input (lazily, only as many as fit), translates each one as a blocking call would
(:func:`syncwrap._bridge.calls.prepare_call`), posts the new engine calls to the loop in
one batch, and takes finished results from an inbox. The loop thread only runs the
tasks and drops each outcome in the inbox::

    calling thread (FanOut.__next__)                loop thread (_Flight)
    pull items, translate them
    post the batch     ──call_soon_threadsafe──►    one task per request
    wait on the inbox                               a task ends → inbox.put(index, outcome)
                       ◄──notify (only if the       (a lock round; a wakeup only when the
                          caller sleeps for it)──    caller sleeps for this result)
    take the results that are ready, run the hooks, yield one

Window: at most ``concurrency`` requests are started and not yet yielded. For ``map`` that
is a window from the oldest unyielded item (later ones finish into the inbox and wait
there); for ``as_completed`` it is the number in flight plus those finished but not yet
taken. So a consumer that does not ask for more starts nothing new, and at most
``concurrency`` responses are ever buffered (bounded memory whatever the input's size).

Cost model: per request, one task on the loop and one lock round to hand its outcome
over; per batch of new requests, one ``call_soon_threadsafe`` (the window is topped up
once an eighth of it is free, or when nothing is ready to yield); per wakeup of the
calling thread, one notify, sent only while it sleeps, so when the loop finishes
results faster than the caller takes them, the caller takes them without sleeping: one
wakeup serves several results.

Errors: an item that is not a URL or a request dict, or bad arguments (TypeError,
ValueError), raise at once, naming the item's index. A failed request (a ClientError,
an InvalidURL included) is that item's outcome: with ``return_exceptions=True`` it is
yielded in its place; otherwise it is raised at that item and the iterator is finished,
everything still in flight cancelled (as ``concurrent.futures.Executor.map`` does).

Ending early: :meth:`FanOut.close` (also ``with``, a ``break`` that drops the iterator,
garbage collection, Ctrl-C while waiting) cancels every request in flight on the loop
(their connections are closed, never pooled half-read) and closes the responses
finished but not yet yielded; ``close`` waits (at most a second) until they are.

User code: response hooks run in the calling thread when their item is yielded. A
sync auth flow or callable and a sync generator body need the calling thread while the
request runs, which a fan-out cannot lend: such an item raises TypeError.
"""

from __future__ import annotations

import _thread
import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any

from yarl import URL

from .. import loop as loop_thread
from ..exceptions import ClientError
from .calls import PreparedCall
from .response import Response

__all__ = ["FanOut", "DEFAULT_CONCURRENCY"]

#: Requests in flight at most, unless ``concurrency=`` says otherwise. The connector's
#: own ``limit`` (100 by default) also caps the connections open at once.
DEFAULT_CONCURRENCY = 64

#: How long :meth:`FanOut.close` waits for the cancelled requests to end.
CLOSE_WAIT = 1.0

Prepare = Callable[[str, Any, dict[str, Any]], PreparedCall]

_ANY = -1  # the caller waits for whichever result comes first


class FanOut(Iterator[Any]):
    """An iterator of responses (or exceptions, with ``return_exceptions=True``).

    Made by :meth:`syncwrap.Session.map` (input order) and
    :meth:`syncwrap.Session.as_completed` (finish order); see the module docs. Use it
    from one thread. ``close()`` (or ``with``) cancels what is still in flight.
    """

    def __init__(self, name: str, reqs: Iterable[Any], prepare: Prepare, *, ordered: bool,
                 concurrency: int, return_exceptions: bool, stream: bool,
                 common: dict[str, Any]) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise TypeError(f"{name}(): concurrency= must be a positive int, "
                            f"got {concurrency!r}")
        if concurrency < 1:
            raise ValueError(f"{name}(): concurrency= must be a positive int, "
                             f"got {concurrency!r}")
        if loop_thread.in_loop_thread():
            raise RuntimeError(
                f"syncwrap: {name}() was called on syncwrap's own event-loop thread, where "
                f"waiting for its results would deadlock; use syncwrap.engine's async API "
                f"there (asyncio.gather, asyncio.as_completed)")
        if isinstance(reqs, str | bytes | URL | Mapping):
            raise TypeError(f"{name}(): reqs must be an iterable of URLs or request dicts, "
                            f"got one {type(reqs).__name__}; wrap it in a list")
        try:
            self._items = iter(reqs)
        except TypeError:
            raise TypeError(f"{name}(): reqs must be an iterable of URLs or request dicts, "
                            f"got {type(reqs).__name__}") from None
        self._name = name
        self._prepare = prepare
        self._ordered = ordered
        self._limit = concurrency
        self._step = max(1, concurrency // 8)
        self._return_exceptions = bool(return_exceptions)
        self._common = dict(common)
        if stream:
            self._common["stream"] = True
        self._started = 0  # items pulled and indexed
        self._yielded = 0
        self._exhausted = False
        self._closed = False
        self._after: dict[int, Callable[[Response], Response]] = {}
        self._inbox = _Inbox()
        self._flight = _Flight(self._inbox)
        self._loop = loop_thread.get_loop()

    def __iter__(self) -> FanOut:
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        try:
            index, outcome = self._next_outcome()
        except StopIteration:
            self._closed = True
            raise
        except BaseException:  # bad input, the input's own error, Ctrl-C while waiting
            self.close()
            raise
        self._yielded += 1
        after = self._after.pop(index, None)
        if after is not None and isinstance(outcome, Response):
            try:
                outcome = after(outcome)  # the response hooks, in this thread
            except Exception as exc:  # noqa: BLE001 - the item's outcome
                outcome = exc
        if isinstance(outcome, BaseException):
            if self._return_exceptions and isinstance(outcome, Exception):
                return outcome
            self.close()
            raise outcome
        return outcome

    def _next_outcome(self) -> tuple[int, Any]:
        want = self._yielded if self._ordered else _ANY
        free = self._limit - (self._started - self._yielded)
        if free >= self._step or (free > 0 and not self._inbox.has(want)):
            self._refill(free)
        if self._started == self._yielded:
            raise StopIteration
        return self._inbox.take(want)

    def _refill(self, free: int) -> None:
        """Pull up to ``free`` items, translate them, start them on the loop in one batch."""
        batch: list[tuple[int, Coroutine[Any, Any, Any]]] = []
        try:
            while free > 0 and not self._exhausted:
                try:
                    item = next(self._items)
                except StopIteration:
                    self._exhausted = True
                    break
                index = self._started
                self._started += 1
                free -= 1
                call = self._translate(index, item)
                if call is not None:
                    batch.append((index, call.coro))
        finally:
            if batch:
                try:
                    self._loop.call_soon_threadsafe(self._flight.start, batch)
                except RuntimeError:  # the loop is closed (interpreter exit)
                    for _, coro in batch:
                        coro.close()
                    raise

    def _translate(self, index: int, item: Any) -> PreparedCall | None:
        method, url, kwargs = _describe(self._name, index, item, self._common)
        try:
            call = self._prepare(method, url, kwargs)
        except ClientError as exc:  # a failed request, InvalidURL included: its outcome
            self._inbox.put(index, exc)
            return None
        except (TypeError, ValueError) as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (f"{self._name}(): item {index}: {exc.args[0]}", *exc.args[1:])
            raise
        if call.caller is not None:
            call.coro.close()
            raise TypeError(
                f"{self._name}(): item {index}: a sync auth flow or callable, or a sync "
                f"generator or iterator body, runs in the calling thread while its request "
                f"runs, which {self._name}() cannot lend; send that request with a plain "
                f"call, or use BasicAuth or an AuthFlow with async methods, or a bytes, "
                f"file or async generator body")
        if call.after is not None:
            self._after[index] = call.after
        return call

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every request still in flight and close the responses not yielded yet;
        waits (at most a second) until they have ended. Idempotent."""
        self._close(wait=not loop_thread.in_loop_thread())

    def _close(self, wait: bool) -> None:
        if self._closed and self._flight.cancelled:
            return
        self._closed = True
        self._flight.cancelled = True
        ended = _thread.allocate_lock()
        ended.acquire()
        try:
            self._loop.call_soon_threadsafe(self._flight.cancel, ended.release)
        except RuntimeError:  # the loop is closed (interpreter exit)
            return
        if wait:
            try:
                ended.acquire(timeout=CLOSE_WAIT)
            except BaseException:  # noqa: BLE001 - a second Ctrl-C: stop waiting
                pass

    def __enter__(self) -> FanOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._flight.cancelled and self._started:
                self._close(wait=False)
        except Exception:  # noqa: BLE001 - interpreter teardown: nothing left to cancel
            pass


def _describe(name: str, index: int, item: Any,
              common: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """(method, url, keyword arguments) of one item: a URL, or a request dict."""
    if isinstance(item, str | URL):
        return "GET", item, dict(common)
    if isinstance(item, Mapping):
        kwargs = {**common, **item}
        if "url" not in kwargs:
            raise TypeError(f"{name}(): item {index}: a request dict needs a 'url' key")
        url = kwargs.pop("url")
        return kwargs.pop("method", "GET"), url, kwargs
    raise TypeError(f"{name}(): item {index}: expected a URL (str or yarl.URL) or a request "
                    f"dict (method, url and keyword arguments), got {type(item).__name__}")


class _Inbox:
    """Outcomes by item index, from the loop to the calling thread (see the module docs)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._ready: dict[int, Any] = {}  # insertion order: finish order
        self._wanted: int | None = None  # what the sleeping caller waits for; None: awake

    def put(self, index: int, outcome: Any) -> None:
        """Either thread: ``outcome`` is ready; wake the caller if it sleeps for it."""
        with self._cond:
            self._ready[index] = outcome
            wanted = self._wanted
            if wanted is not None and (wanted == _ANY or wanted == index):
                self._cond.notify()

    def has(self, index: int) -> bool:
        with self._cond:
            return bool(self._ready) if index == _ANY else index in self._ready

    def take(self, index: int) -> tuple[int, Any]:
        """The calling thread: the outcome of ``index`` (or the first ready, for _ANY),
        waiting for it (interruptible by Ctrl-C)."""
        with self._cond:
            ready = self._ready
            while not (ready if index == _ANY else index in ready):
                self._wanted = index
                try:
                    self._cond.wait()
                finally:
                    self._wanted = None
            if index == _ANY:
                index = next(iter(ready))
            return index, ready.pop(index)

    def drain(self) -> list[Any]:
        with self._cond:
            outcomes = list(self._ready.values())
            self._ready.clear()
        return outcomes


class _Flight:
    """The loop side: the fan-out's running tasks (its methods run on the loop thread,
    except that the caller sets ``cancelled``)."""

    def __init__(self, inbox: _Inbox) -> None:
        self._inbox = inbox
        self._tasks: dict[asyncio.Task[Any], int] = {}
        self._ended: Callable[[], object] | None = None
        self.cancelled = False

    def start(self, batch: list[tuple[int, Coroutine[Any, Any, Any]]]) -> None:
        if self.cancelled:
            for _, coro in batch:
                coro.close()
            return
        loop = asyncio.get_running_loop()
        for index, coro in batch:
            task = loop.create_task(coro)
            self._tasks[task] = index
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        index = self._tasks.pop(task)
        if task.cancelled():
            outcome: Any = asyncio.CancelledError()
        else:
            outcome = task.exception()
            if outcome is None:
                outcome = task.result()
        if self.cancelled:
            _close_outcome(outcome)
            if not self._tasks and self._ended is not None:
                self._ended()
                self._ended = None
        else:
            self._inbox.put(index, outcome)

    def cancel(self, ended: Callable[[], object]) -> None:
        """Cancel every task; ``ended()`` once they all have ended."""
        self.cancelled = True
        for outcome in self._inbox.drain():
            _close_outcome(outcome)
        if not self._tasks:
            ended()
            return
        self._ended = ended
        for task in list(self._tasks):
            task.cancel()


def _close_outcome(outcome: Any) -> None:
    if isinstance(outcome, Response):
        outcome.close()  # a streamed body's connection goes back (or is closed)
