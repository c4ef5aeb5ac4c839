"""One exchange on a pooled connection: connect, send a prepared request, read the head.

:func:`send` takes what :mod:`.prepare` built for one hop and returns the
:class:`~.response.ClientResponse` once its head has arrived; the body is sent
by a task of its own when it is not small bytes (``_write_body``). The session
decides what to send and what to do with the answer; this module only moves it.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict

from ..exceptions import (
    ClientConnectionError,
    ClientConnectionResetError,
    ClientOSError,
    ServerDisconnectedError,
)
from .connector import BaseConnector, ConnectionKey
from .http1.body_writer import BodyWriter
from .http1.parser import ResponseHead
from .http1.writer import Compressor
from .options import ExchangeOptions
from .payload import BytesPayload, Payload
from .prepare import PreparedRequest
from .response import ClientResponse
from .timeouts import ClientTimeout, DeadlineTimer

__all__ = ["send", "connect"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_INLINE_BODY_MAX = 256 * 1024


async def send(
    connector: BaseConnector,
    prepared: PreparedRequest,
    timer: DeadlineTimer,
    timeouts: ClientTimeout,
    options: ExchangeOptions,
    history: tuple[ClientResponse, ...],
    session: Any,
    traced: bool,
) -> ClientResponse:
    """Connect, send ``prepared`` and read the response head: the response (its
    ``session`` is ``session``). ``traced``: the pool's reuse is reported through
    ``connector.connect()`` (no synchronous idle take).

    A request that may be sent twice is retried once on a fresh connection when a
    reused one turns out closed before any byte of the response arrived.
    """
    method = prepared.method
    key = prepared.key  # where to connect: the one place a proxy hop changes
    payload = prepared.payload
    attempts = 2 if method in _IDEMPOTENT and (payload is None or payload.replayable) else 1
    for attempt in range(attempts):
        conn = None if traced else connector.acquire_idle(key)
        if conn is None:  # traced requests report reuse through connect()
            conn = await connect(connector, key, timer, timeouts)
        protocol = conn.protocol
        reused = protocol.reused  # a fresh protocol has never completed one
        if timer.active:
            timer.attach(protocol)
        writer_task = None
        output_size = len(prepared.head)
        writers: list[BodyWriter] = []  # the streamed body's writer, for its byte count
        try:
            head_waiter = protocol.start_response(method, options)
            if payload is None:
                protocol.send(prepared.head)
            elif (isinstance(payload, BytesPayload) and not options.chunked
                  and not options.compress and not options.expect100
                  and len(payload.body) <= _INLINE_BODY_MAX):
                protocol.send(prepared.head + payload.body)
                output_size += len(payload.body)
            else:
                protocol.send(prepared.head)
                protocol.hold_read_timeout()  # sock_read counts once the body is sent
                writer_task = asyncio.ensure_future(
                    _write_body(protocol, payload, options, prepared.headers, writers)
                )
                writer_task.add_done_callback(_report_writer_error(protocol))
            head: ResponseHead = await head_waiter
        except (ServerDisconnectedError, ClientOSError) as exc:
            conn.close()
            if writer_task is not None:
                writer_task.cancel()
            if reused and protocol.received_nothing and attempt + 1 < attempts:
                continue
            if isinstance(exc, ServerDisconnectedError):
                raise
            if exc.errno == errno.ECONNRESET:
                raise ClientConnectionResetError(str(exc)) from exc
            raise ClientConnectionError(str(exc)) from exc
        except BaseException:
            conn.close()
            if writer_task is not None:
                writer_task.cancel()
            raise
        if writer_task is not None and not writer_task.done():
            protocol.abandon()  # the server answered before the body was sent
            writer_task.cancel()
            protocol.start_read_timeout()
        request_info = prepared.request_info
        response = ClientResponse(
            method,
            request_info.url,
            head=head,
            connection=conn,
            request_info=request_info,
            history=history,
            timer=timer if timer.active else None,
            session=session,
            max_body_size=options.max_body_size,
        )
        response.request_payload = payload
        response.output_size = (output_size + sum(w.bytes_written for w in writers)
                                if writers else output_size)
        return response
    raise AssertionError("unreachable")  # pragma: no cover

async def connect(connector: BaseConnector, key: ConnectionKey, timer: DeadlineTimer,
                  timeouts: ClientTimeout) -> Any:
    """A new connection for ``key`` from ``connector``, within the connect timeout
    (ConnectTimeout) and the total deadline of ``timer``."""
    timer.connecting = True
    try:
        with timer:  # the connector applies timeouts.connect (the pool wait included)
            return await connector.connect(key, timeouts)
    finally:
        timer.connecting = False


async def _write_body(protocol: Any, payload: Payload, options: ExchangeOptions,
                      headers: CIMultiDict[str], writers: list[BodyWriter]) -> None:
    if options.expect100 and not await protocol.wait_continue():
        protocol.abandon()
        protocol.start_read_timeout()
        return
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    writer = BodyWriter(protocol, chunked=chunked,
                        compressor=Compressor(options.compress) if options.compress else None,
                        length=None if chunked else int(headers["Content-Length"]))
    writers.append(writer)
    await payload.write(writer)
    await writer.finish()
    protocol.start_read_timeout()


def _report_writer_error(protocol: Any) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            protocol.fail(exc)

    return done
