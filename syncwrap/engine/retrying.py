"""Sending one hop again as its :class:`~.retry.Retry` policy says (the session's
side of retries: the policy itself is pure, in :mod:`.retry`)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..exceptions import ClientError, ClientResponseError, ReadTimeout, RetryError
from . import tracing as _tracing
from .exchange import send
from .options import RequestOptions
from .response import ClientResponse
from .retry import Retry
from .timeouts import DeadlineQueue, DeadlineTimer

__all__ = ["send_retrying"]

_DRAIN_LIMIT = 64 * 1024  # raw bytes of a retried response's body dropped to keep the connection


async def send_retrying(policy: Retry, sent: tuple[Any, ...], req: RequestOptions,
                         traces: _tracing.Traces, deadlines: DeadlineQueue,
                         started: float) -> tuple[ClientResponse, Retry]:
    """:func:`send` with ``sent`` (its arguments), again as ``policy`` says: the
    response and the policy left. Raises RetryError once the retries run out, and
    ReadTimeout when a wait would pass the total timeout (counted from ``started``)."""
    first: DeadlineTimer = sent[2]
    try:
        return await _retry_loop(policy, sent, req, traces, deadlines, started)
    except BaseException:
        if sent[2] is not first:
            sent[2].cancel()
        raise


async def _retry_loop(policy: Retry, sent: tuple[Any, ...], req: RequestOptions,
                      traces: _tracing.Traces, deadlines: DeadlineQueue,
                      started: float) -> tuple[ClientResponse, Retry]:
    replayable = req.payload is None or req.payload.replayable
    total = req.timeouts.total
    while True:
        try:
            resp = await send(*sent)
        except ClientError as exc:
            decision = policy.decide(req.method, error=exc, replayable=replayable)
            if decision.action == "done":
                raise
            if decision.action == "exhausted":
                raise RetryError(f"Retries exhausted for {req.url}: {decision.reason}",
                                 exc) from exc
        else:
            decision = policy.decide(req.method, status=resp.status, headers=resp.headers,
                                     replayable=replayable)
            if decision.action == "done" or (decision.action == "exhausted"
                                              and not policy.raise_on_status):
                return resp, policy
            if decision.action == "exhausted":
                resp.close()
                cause = ClientResponseError(resp.request_info, resp.history, status=resp.status,
                                            message=resp.reason or "", headers=resp.headers)
                raise RetryError(f"Retries exhausted for {req.url}: {decision.reason}",
                                 cause, resp) from cause
            await resp.discard_body(_DRAIN_LIMIT)  # kept for reuse when small
        policy = decision.left  # type: ignore[assignment]
        if traces:
            await _tracing.request_retry(traces, req.method, req.url, req.headers,
                                         policy.retries_done, decision.delay, decision.reason)
        if total:  # a response's end stops its timer: the next attempt gets a new one
            remaining = started + total - deadlines.loop.time()
            if decision.delay >= remaining:
                raise ReadTimeout(f"Timed out: the retry's wait of {decision.delay:.3g} s "
                                  f"passes the total timeout of {total} s")
            sent[2].cancel()
            sent = (*sent[:2], DeadlineTimer(deadlines, remaining), *sent[3:])
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
