"""Retry: when a failed attempt is sent again, and after how long (a pure policy).

The session asks :meth:`Retry.decide` after each attempt of one hop; the policy
says nothing about sockets or clocks, so it is tested on its own.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..exceptions import (
    ClientConnectionError,
    ClientConnectorError,
    ConnectTimeout,
    ReadTimeout,
    SSLError,
)

__all__ = ["Retry", "RetryDecision", "to_retry"]

#: Methods retried once the request may have reached the server (RFC 9110 idempotent ones).
DEFAULT_ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Statuses whose Retry-After header asks for a retry.
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})


@dataclass(frozen=True)
class RetryDecision:
    """What to do after an attempt: ``action`` is ``"retry"`` (after ``delay``
    seconds, with ``left`` as the policy from then on), ``"exhausted"`` (a
    retryable failure with no retries left) or ``"done"`` (not retryable: use
    the outcome as it is). ``reason`` says why, for RetryError and traces."""

    action: str
    delay: float = 0.0
    left: Retry | None = None
    reason: str = ""


@dataclass(frozen=True)
class Retry:
    """A retry policy (urllib3's names): ``ClientSession(retries=Retry(...))``, per
    request ``retries=``, or ``HTTPAdapter(max_retries=...)`` in the facade.

    ``total``: retries of any kind (None: only the other counts limit);
    ``connect``: after a failure to connect (nothing was sent); ``read``: after the
    connection failed once the request was sent; ``status``: after a response whose
    status is in ``status_forcelist`` (or a 413/429/503 with Retry-After). Each count
    may be None (not limited by itself). A request sent (read and status retries) is
    retried only when its method is in ``allowed_methods`` (None: any method) and its
    body can be sent again. The wait before retry *n* is ``backoff_factor * 2**(n-1)``
    plus up to ``backoff_jitter`` seconds at random, at most ``backoff_max``; with
    ``respect_retry_after`` a Retry-After header (seconds or an HTTP date) sets the
    wait instead, also capped at ``backoff_max``. When the retries run out the
    session raises RetryError; for a status, ``raise_on_status=False`` returns the
    last response instead.
    """

    total: int | None = 3
    connect: int | bool | None = None
    read: int | bool | None = None
    status: int | bool | None = None
    status_forcelist: frozenset[int] = frozenset()
    allowed_methods: frozenset[str] | None = DEFAULT_ALLOWED_METHODS
    backoff_factor: float = 0.0
    backoff_jitter: float = 0.0
    backoff_max: float = 120.0
    respect_retry_after: bool = True
    raise_on_status: bool = True
    retries_done: int = 0

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read", "status"):
            value = getattr(self, name)
            if value is False and name != "total":
                continue  # this kind is never retried; its error is raised as it is
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise ValueError(f"{name}=: expected an int >= 0, None or False, "
                                 f"got {value!r}")
        for name in ("backoff_factor", "backoff_jitter", "backoff_max"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}=: expected a number >= 0, got {value!r}")
        object.__setattr__(self, "status_forcelist",
                           _int_set(self.status_forcelist, "status_forcelist"))
        if self.allowed_methods is not None:
            object.__setattr__(self, "allowed_methods",
                               _method_set(self.allowed_methods))

    # -- the decision --------------------------------------------------------------

    def decide(
        self, method: str, *, error: BaseException | None = None, status: int | None = None,
        headers: Mapping[str, str] | None = None, replayable: bool = True,
        now: Callable[[], float] = time.time, rand: Callable[[], float] = random.random,
    ) -> RetryDecision:
        """The decision after one attempt of ``method`` that raised ``error`` or
        answered ``status`` with ``headers``. ``replayable``: whether the body can be
        sent again. ``now`` (wall clock, for a Retry-After date) and ``rand`` (in
        [0, 1), for the jitter) are parameters so that tests choose them."""
        if error is not None:
            kind = _error_kind(error)
            if kind is None:
                return RetryDecision("done", reason=f"not retryable: {error!r}")
            if getattr(self, kind) is False:
                return RetryDecision("done", reason=f"{kind} errors not retried: {error!r}")
            if kind == "read" and not self._may_resend(method, replayable):
                return RetryDecision("done", reason=f"{method} not resent: {error!r}")
            reason = f"{kind} error: {error!r}"
            retry_after = None
        else:
            if status is None:
                raise ValueError("decide(): give error= or status=")
            retry_after = self._retry_after(status, headers, now)
            if not (status in self.status_forcelist or retry_after is not None):
                return RetryDecision("done", reason=f"status {status}")
            if not self._may_resend(method, replayable):
                return RetryDecision("done", reason=f"{method} not resent: status {status}")
            kind, reason = "status", f"status {status}"
            if self.status is False:
                return RetryDecision("done", reason=f"status {status}")
        left = self._count(kind)
        if left is None:
            return RetryDecision("exhausted", reason=reason)
        delay = retry_after if retry_after is not None else left.backoff(rand)
        return RetryDecision("retry", delay=delay, left=left, reason=reason)

    def backoff(self, rand: Callable[[], float] = random.random) -> float:
        """The wait before the retry numbered ``retries_done`` (0 before any)."""
        if self.retries_done == 0:
            return 0.0
        delay = self.backoff_factor * 2 ** (self.retries_done - 1)
        delay += self.backoff_jitter * rand()
        return float(min(delay, self.backoff_max))

    def _may_resend(self, method: str, replayable: bool) -> bool:
        allowed = self.allowed_methods is None or method in self.allowed_methods
        return allowed and replayable

    def _count(self, kind: str) -> Retry | None:
        """The policy after one more retry of ``kind``, or None when none is left."""
        changes: dict[str, Any] = {"retries_done": self.retries_done + 1}
        for name in ("total", kind):
            value = getattr(self, name)
            if value is not None:
                if value == 0:
                    return None
                changes[name] = value - 1
        return replace(self, **changes)

    def _retry_after(self, status: int, headers: Mapping[str, str] | None,
                     now: Callable[[], float]) -> float | None:
        if not self.respect_retry_after or status not in RETRY_AFTER_STATUSES or not headers:
            return None
        value = headers.get("Retry-After")
        if value is None:
            return None
        seconds = parse_retry_after(value, now())
        return None if seconds is None else min(seconds, self.backoff_max)


def parse_retry_after(value: str, now: float) -> float | None:
    """Retry-After's seconds (delay-seconds, or an HTTP date less ``now``), >= 0;
    None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _error_kind(error: BaseException) -> str | None:
    """"connect" (nothing was sent), "read" (the request may have been sent) or None."""
    if isinstance(error, SSLError):
        return None  # a certificate does not get better by asking again
    if isinstance(error, (ClientConnectorError, ConnectTimeout)):
        return "connect"
    if isinstance(error, (ReadTimeout, ClientConnectionError)):
        return "read"
    return None


def _int_set(values: Iterable[int], name: str) -> frozenset[int]:
    out = frozenset(values)
    if any(not isinstance(v, int) or isinstance(v, bool) for v in out):
        raise TypeError(f"{name}=: expected status codes (ints), got {values!r}")
    return out


def _method_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"allowed_methods=: expected a collection of methods, got {values!r}")
    return frozenset(m.upper() for m in values)


def to_retry(retries: Any) -> Retry | None:
    """``retries=`` as a policy: a Retry, an int (that many retries of connect errors
    and of statuses in no list: requests' ``max_retries``), or None/0 (no retries)."""
    if retries is None or isinstance(retries, Retry):
        return retries
    if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0:
        return Retry(total=retries, read=False) if retries else None
    raise TypeError(f"retries=: expected a Retry, an int >= 0 or None, got {retries!r}")
