"""Connectors: where connections come from and where they go back.

:class:`TCPConnector` keeps a pool of keep-alive connections keyed by
(host, port, TLS settings), enforces ``limit`` and ``limit_per_host`` by making
callers wait for a free slot (within the connect timeout), never hands out an
idle connection the server has closed, resolves names through a TTL-cached
resolver and connects with happy eyeballs. :class:`UnixConnector` sends every request to
one Unix socket; either connector opens the socket an ``http+unix`` URL names.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl as ssl_module
from collections import deque
from typing import Any, NamedTuple

import aiohappyeyeballs

from ..exceptions import ClientConnectorDNSError, ClientConnectorError, ConnectTimeout, ssl_error
from . import tracing as _tracing
from .http1.connection import ResponseHandler
from .http1.state import State
from .http1.tls_reads import TLSReader
from .http1.tls_transport import open_tls, own_tls_applies
from .resolver import DefaultResolver, DNSCache
from .tls import resolve_ssl
from .tunnel import open_via_proxy
from .unix import open_unix_socket

__all__ = ["ConnectionKey", "Connection", "BaseConnector", "TCPConnector", "UnixConnector"]


class ConnectionKey(NamedTuple):
    """What pooled connections are shared by: the target, its TLS, and the proxy
    (a :class:`~syncwrap.engine.proxy.ProxySpec`, or None for a direct connection)."""

    host: str
    port: int
    is_ssl: bool
    ssl: Any
    proxy: Any = None
    path: str | None = None  # the Unix socket an http+unix URL names


class Connection:
    """A connection borrowed from a connector; give it back with release() or close()."""

    __slots__ = ("_connector", "key", "protocol", "_done")

    def __init__(self, connector: BaseConnector, key: ConnectionKey, protocol: ResponseHandler):
        self._connector = connector
        self.key = key
        self.protocol = protocol
        self._done = False

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.protocol.transport

    @property
    def closed(self) -> bool:
        return self._done or self.protocol.closed

    def release(self) -> None:
        """Return the connection to the pool if its response was read to the end."""
        if not self._done:
            self._done = True
            self._connector.give_back(self.key, self.protocol)

    def close(self) -> None:
        """Close the connection; it is never reused."""
        if not self._done:
            self._done = True
            self.protocol.close()
            self._connector.give_back(self.key, self.protocol)

    def __repr__(self) -> str:
        return f"<Connection {self.key.host}:{self.key.port}>"


class BaseConnector:
    """Pooling and limits, independent of how a connection is made."""

    def __init__(
        self,
        *,
        limit: int | None = 100,
        limit_per_host: int | None = 0,
        keepalive_timeout: float | None = 15.0,
        force_close: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if force_close and keepalive_timeout not in (None, 15.0):
            raise ValueError("keepalive_timeout cannot be set together with force_close=True")
        for name, value in (("limit", limit), ("limit_per_host", limit_per_host)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name}= must be a non-negative int or None, got {value!r}")
        self.limit = limit or 0
        self.limit_per_host = limit_per_host or 0
        self.force_close = force_close
        self._keepalive_timeout = None if force_close else keepalive_timeout
        self._loop = loop
        self._idle: dict[ConnectionKey, list[tuple[ResponseHandler, float]]] = {}
        self._acquired: set[ResponseHandler] = set()
        self._acquired_per_key: dict[ConnectionKey, int] = {}
        self._waiters: dict[ConnectionKey, deque[asyncio.Future[None]]] = {}
        self._cleanup_handle: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> BaseConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the connections live on: the running loop, bound on first use."""
        return self._loop or self._get_loop()

    @property
    def has_connections(self) -> bool:
        """Whether any connection is open, in use or idle."""
        return bool(self._acquired or self._idle)

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- limits ----------------------------------------------------------------

    def _has_slot(self, key: ConnectionKey) -> bool:
        if self.limit and len(self._acquired) >= self.limit:
            return False
        if self.limit_per_host and self._acquired_per_key.get(key, 0) >= self.limit_per_host:
            return False
        return True

    async def _wait_for_slot(self, key: ConnectionKey, deadline: float | None = None,
                             budget: float | None = None) -> None:
        """Wait until ``key`` may take a connection; past ``deadline`` (loop time) raise
        ConnectTimeout naming the pool wait (``budget``: the connect timeout)."""
        loop = self._get_loop()
        while not self._has_slot(key):
            fut: asyncio.Future[None] = loop.create_future()
            queue = self._waiters.setdefault(key, deque())
            queue.append(fut)
            expiry = None
            if deadline is not None:
                expiry = loop.call_at(deadline, self._expire_waiter, fut, key, budget)
            try:
                await fut
            except BaseException:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._wake_waiter()  # pass the slot we were given to someone else
                raise
            finally:
                if expiry is not None:
                    expiry.cancel()
                if fut in queue:
                    queue.remove(fut)
                if not queue and self._waiters.get(key) is queue:
                    del self._waiters[key]

    def _expire_waiter(self, fut: asyncio.Future[None], key: ConnectionKey,
                       budget: float | None) -> None:
        if not fut.done():
            fut.set_exception(ConnectTimeout(
                f"No free connection to {key.host}:{key.port} within {budget} s (connect "
                f"timeout): waited for the pool the whole time, its connections all in use "
                f"(limit={self.limit}, limit_per_host={self.limit_per_host})"
            ))

    def _wake_waiter(self) -> None:
        for key, queue in list(self._waiters.items()):
            if not self._has_slot(key):
                continue
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return

    def _take(self, key: ConnectionKey) -> None:
        self._acquired_per_key[key] = self._acquired_per_key.get(key, 0) + 1

    def _untake(self, key: ConnectionKey) -> None:
        count = self._acquired_per_key.get(key, 0) - 1
        if count > 0:
            self._acquired_per_key[key] = count
        else:
            self._acquired_per_key.pop(key, None)

    # -- acquire / release -------------------------------------------------------

    def acquire_idle(self, key: ConnectionKey) -> Connection | None:
        """A pooled connection for ``key`` if one is idle and a slot is free, without waiting."""
        idle = self._idle.get(key)
        if not idle or self._closed or self._waiters:
            return None
        limit = self.limit
        if limit and len(self._acquired) >= limit:
            return None
        per_key = self._acquired_per_key
        if self.limit_per_host and per_key.get(key, 0) >= self.limit_per_host:
            return None
        protocol = self._pop_idle(key, idle)
        if protocol is None:
            return None
        self._acquired.add(protocol)
        per_key[key] = per_key.get(key, 0) + 1
        return Connection(self, key, protocol)

    async def connect(self, key: ConnectionKey, timeout: Any = None) -> Connection:
        """Borrow a connection for ``key``, waiting for a free slot if the pool is full.

        ``timeout`` (a :class:`~syncwrap.engine.ClientTimeout`) bounds it: ``connect``
        covers the wait for a free slot and opening the connection, ``sock_connect`` one
        attempt to open it. Either raises ConnectTimeout saying which wait it was.
        """
        if self._closed:
            raise ClientConnectorError(key.host, key.port, "connector is closed")
        budget = getattr(timeout, "connect", None)
        deadline = self._get_loop().time() + budget if budget else None
        traces = _tracing.current_traces()  # () unless the request is traced
        if not self._has_slot(key):
            if traces:
                await _tracing.connection_queued_start(traces)
            await self._wait_for_slot(key, deadline, budget)
            if traces:
                await _tracing.connection_queued_end(traces)
                # the callbacks yielded: re-check the slot
                await self._wait_for_slot(key, deadline, budget)
        protocol = self._pop_idle(key, self._idle.get(key))
        if protocol is not None:
            self._acquired.add(protocol)
            self._take(key)
            conn = Connection(self, key, protocol)
            if traces:
                await _traced(_tracing.connection_reuseconn(traces), conn)
            return conn
        placeholder = ResponseHandler(self._get_loop())  # holds the slot while connecting
        self._acquired.add(placeholder)
        self._take(key)
        try:
            if traces:
                await _tracing.connection_create_start(traces)
            protocol = await self._open_within(key, timeout, deadline, budget)
        except BaseException:
            self._acquired.discard(placeholder)
            self._untake(key)
            self._wake_waiter()
            raise
        self._acquired.discard(placeholder)
        self._acquired.add(protocol)
        if self._closed:
            protocol.close()
        conn = Connection(self, key, protocol)
        if traces:
            await _traced(_tracing.connection_create_end(traces), conn)
        return conn

    async def _open_within(self, key: ConnectionKey, timeout: Any, deadline: float | None,
                           budget: float | None) -> ResponseHandler:
        """A new connection for ``key``, by ``deadline`` (what is left of the connect
        timeout ``budget`` after the wait for a slot)."""
        opening = self._create_connection(key, timeout)
        if deadline is None:
            return await opening
        try:
            return await asyncio.wait_for(opening, max(deadline - self._get_loop().time(), 0))
        except asyncio.TimeoutError as exc:
            if isinstance(exc, ConnectTimeout):  # sock_connect's, more precise
                raise
            via = f" through the proxy {key.proxy.url}" if key.proxy is not None else ""
            raise ConnectTimeout(f"Connection to {key.host}:{key.port}{via} timed out after "
                                 f"{budget} s (connect timeout)") from None

    def _pop_idle(self, key: ConnectionKey, idle: list[tuple[ResponseHandler, float]] | None
                  ) -> ResponseHandler | None:
        """The most recently used live connection of ``idle`` (the pool's list for ``key``)."""
        if not idle:
            return None
        keepalive = self._keepalive_timeout
        now = self._get_loop().time()
        too_old = now - keepalive if keepalive is not None else None
        while idle:
            protocol, since = idle.pop()
            transport = protocol.transport
            if protocol.state is not _IDLE or transport is None or transport.is_closing():
                continue  # closed by the server (EOF seen) or by its keep-alive expiry
            if ((too_old is not None and since < too_old)
                    or (now - since > PEEK_AFTER and _peer_closed(transport))):
                protocol.close()
                continue
            if not idle:
                del self._idle[key]
            return protocol
        del self._idle[key]
        return None

    def give_back(self, key: ConnectionKey, protocol: ResponseHandler) -> None:
        acquired = self._acquired
        if protocol in acquired:
            acquired.remove(protocol)
            self._untake(key)
        if self._closed or self.force_close or not protocol.reusable:
            protocol.close()
        else:
            protocol.detach()
            loop = self._loop or self._get_loop()
            idle = self._idle.get(key)
            if idle is None:
                self._idle[key] = [(protocol, loop.time())]
            else:
                idle.append((protocol, loop.time()))
            if self._cleanup_handle is None and self._keepalive_timeout:
                self._cleanup_handle = loop.call_later(self._keepalive_timeout, self._cleanup)
        if self._waiters:
            self._wake_waiter()

    def _cleanup(self) -> None:
        self._cleanup_handle = None
        if self._closed or self._keepalive_timeout is None:
            return
        loop = self._get_loop()
        deadline = loop.time() - self._keepalive_timeout
        for key in list(self._idle):
            alive = []
            for protocol, since in self._idle[key]:
                if since <= deadline or protocol.closed:
                    protocol.close()
                else:
                    alive.append((protocol, since))
            if alive:
                self._idle[key] = alive
            else:
                del self._idle[key]
        if self._idle:
            self._cleanup_handle = loop.call_later(self._keepalive_timeout, self._cleanup)

    async def _create_connection(self, key: ConnectionKey, timeout: Any) -> ResponseHandler:
        raise NotImplementedError

    # -- closing ---------------------------------------------------------------

    def close_when_released(self, abort_ssl: bool = False) -> None:
        """Close idle connections now and those in use when they are released.

        A streamed response still being read finishes normally; nothing is pooled again.
        ``abort_ssl``: drop idle TLS connections without a TLS shutdown.
        """
        self._closed = True
        if self._cleanup_handle is not None:
            self._cleanup_handle.cancel()
            self._cleanup_handle = None
        for idle in self._idle.values():
            for protocol, _ in idle:
                _shut(protocol, abort_ssl)
        self._idle.clear()

    def _close_now(self, abort_ssl: bool = False) -> None:
        self.close_when_released(abort_ssl)
        for protocol in self._acquired:
            _shut(protocol, abort_ssl)
        self._acquired.clear()
        self._acquired_per_key.clear()
        for queue in self._waiters.values():
            for fut in queue:
                if not fut.done():
                    fut.set_exception(ClientConnectorError("", None, "connector is closed"))
                    fut.exception()
        self._waiters.clear()

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Close every connection, idle or in use. ``abort_ssl=True`` drops TLS
        connections at once instead of shutting TLS down cleanly (as in aiohttp)."""
        self._close_now(abort_ssl)

    def stats(self) -> dict[str, int]:
        """Counts for tests and monitoring: in use, idle, waiting."""
        return {
            "acquired": len(self._acquired),
            "idle": sum(len(v) for v in self._idle.values()),
            "waiting": sum(len(q) for q in self._waiters.values()),
        }


_IDLE = State.IDLE


def _shut(protocol: ResponseHandler, abort_ssl: bool) -> None:
    """Close ``protocol``; with ``abort_ssl``, a TLS one is aborted (no close_notify)."""
    transport = protocol.transport
    if abort_ssl and transport is not None and transport.get_extra_info("ssl_object"):
        protocol.abort()
    else:
        protocol.close()
#: A connection idle longer than this (seconds) has its socket polled before reuse: the
#: server may have closed it while the loop was busy. One idle for less was seen by the
#: loop a moment ago (a poll would cost more than the rest of the pool's work together),
#: and an idempotent request that still meets a close is retried (exchange.py).
PEEK_AFTER = 0.05


def _peer_closed(transport: asyncio.BaseTransport) -> bool:
    """Whether the socket of an idle connection is readable: the server closed it (or
    sent bytes nobody asked for) and the loop has not seen it yet. One poll(2), no read."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


async def _traced(signal: Any, conn: Connection) -> None:
    """Await a trace signal; if a callback fails, give the connection back first."""
    try:
        await signal
    except BaseException:
        conn.close()
        raise


class TCPConnector(BaseConnector):
    """Connections over TCP, with TLS for https.

    ``ssl``: True (verify with certifi's CA bundle), False (no verification),
    an ``ssl.SSLContext``, a Fingerprint or an SSLConfig
    (:func:`~syncwrap.engine.tls.ssl_for`); a request's ``ssl=`` overrides it.
    """

    def __init__(
        self,
        *,
        ssl: Any = True,
        verify_ssl: bool | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
        fingerprint: bytes | None = None,
        use_dns_cache: bool = True,
        ttl_dns_cache: float | None = 10,
        family: int = socket.AF_UNSPEC,
        local_addr: tuple[str, int] | None = None,
        resolver: Any = None,
        happy_eyeballs_delay: float | None = 0.25,
        interleave: int | None = None,
        limit: int | None = 100,
        limit_per_host: int | None = 0,
        keepalive_timeout: float | None = 15.0,
        force_close: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._init_kwargs = {
            "ssl": ssl, "use_dns_cache": use_dns_cache, "ttl_dns_cache": ttl_dns_cache,
            "family": family, "local_addr": local_addr, "resolver": resolver,
            "happy_eyeballs_delay": happy_eyeballs_delay, "interleave": interleave,
            "limit": limit, "limit_per_host": limit_per_host,
            "keepalive_timeout": keepalive_timeout, "force_close": force_close,
        }
        super().__init__(
            limit=limit,
            limit_per_host=limit_per_host,
            keepalive_timeout=keepalive_timeout,
            force_close=force_close,
            loop=loop,
        )
        self._ssl = resolve_ssl(ssl, verify_ssl=verify_ssl, ssl_context=ssl_context,
                                fingerprint=fingerprint)
        if resolver is not None and not callable(getattr(resolver, "resolve", None)):
            raise TypeError("resolver=: expected a resolver with an async resolve(host, port, "
                            f"family) method (see AbstractResolver), got {resolver!r}")
        self._resolver_owner = resolver is None
        self._dns = DNSCache(resolver or DefaultResolver(), ttl=ttl_dns_cache,
                             enabled=use_dns_cache)
        self._family = family
        self._local_addr = local_addr
        self._happy_eyeballs_delay = happy_eyeballs_delay
        self._interleave = interleave

    @property
    def ssl(self) -> Any:
        return self._ssl

    def clone(self) -> TCPConnector:
        """A new, empty connector with the same settings (used after fork)."""
        kwargs = dict(self._init_kwargs)
        kwargs["ssl"] = self._ssl
        return type(self)(**kwargs)

    def clear_dns_cache(self, host: str | None = None, port: int | None = None) -> None:
        self._dns.clear(host, port)

    async def _create_connection(self, key: ConnectionKey, timeout: Any) -> ResponseHandler:
        if key.path is not None:
            return await open_unix_socket(key.path, key, timeout)
        sock_connect = getattr(timeout, "sock_connect", None)
        opening = self._open(key) if key.proxy is None else open_via_proxy(self, key)
        if sock_connect:
            try:
                return await asyncio.wait_for(opening, sock_connect)
            except asyncio.TimeoutError:
                via = f" through the proxy {key.proxy.url}" if key.proxy is not None else ""
                raise ConnectTimeout(
                    f"Connection to {key.host}:{key.port}{via} timed out after {sock_connect} s"
                ) from None
        return await opening

    async def resolve(self, host: str, port: int) -> list[dict[str, Any]]:
        """The addresses of ``host`` through the DNS cache and the resolver (aiohttp-style
        dicts); a failure raises ClientConnectorError naming ``host:port``."""
        traces = _tracing.current_traces()
        try:
            if traces:
                return await _tracing.traced_resolve(self._dns, traces, host, port,  # type: ignore[no-any-return]
                                                     self._family)
            return await self._dns.resolve(host, port, family=self._family)
        except OSError as exc:
            raise ClientConnectorDNSError(host, port, exc) from exc

    async def open_socket(self, host: str, port: int) -> socket.socket:
        """A connected TCP socket to ``host:port`` (resolved, then happy eyeballs, from
        ``local_addr`` if set); a failure raises ClientConnectorError naming ``host:port``."""
        results = await self.resolve(host, port)
        addr_infos = [
            (r["family"], socket.SOCK_STREAM, r["proto"], "",
             (r["host"], r["port"], 0, 0) if r["family"] == socket.AF_INET6
             else (r["host"], r["port"]))
            for r in results
        ]
        local = None
        if self._local_addr is not None:
            local = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", self._local_addr)]
        try:
            return await aiohappyeyeballs.start_connection(
                addr_infos,
                local_addr_infos=local,
                happy_eyeballs_delay=self._happy_eyeballs_delay,
                interleave=self._interleave,
                loop=self._get_loop(),
            )
        except OSError as exc:
            raise ClientConnectorError(host, port, exc) from exc

    async def _open(self, key: ConnectionKey) -> ResponseHandler:
        sock = await self.open_socket(key.host, key.port)
        return await self.start_protocol(sock, key.host, key.port, key.ssl if key.is_ssl else None)

    async def start_protocol(self, sock: socket.socket, host: str, port: int, ssl: Any = None,
                             factory: Any = None) -> Any:
        """Run the HTTP/1.1 protocol (or ``factory()``) on the connected ``sock``, over TLS
        to ``host`` when ``ssl`` (an SSLConfig, pin included) is given: the engine's own
        TLS transport (``http1/tls_transport.py``) where the loop allows it; a ``factory``
        (the CONNECT handshake) keeps the loop's TLS, which ``loop.start_tls`` can wrap.
        The socket is closed on failure: SSLError or
        ClientConnectorError naming ``host:port``."""
        loop = self._get_loop()
        sslcontext = await ssl.loaded_context() if ssl is not None else None
        server_hostname = (ssl.server_hostname or host) if sslcontext is not None else None
        own_tls = factory is None and sslcontext is not None and own_tls_applies(loop)
        if factory is None:  # over TLS, a TLSReader fills the handler's buffers
            factory = ((lambda: ResponseHandler(loop)) if sslcontext is None
                       else (lambda: TLSReader(ResponseHandler(loop))))
        try:
            if own_tls:  # our TLS transport (tls_transport.py); the loop's for a tunnel
                _, protocol = await open_tls(loop, sock, sslcontext, server_hostname, factory)
            else:
                _, protocol = await loop.create_connection(
                    factory, sock=sock, ssl=sslcontext, server_hostname=server_hostname)
        except ssl_module.SSLError as exc:
            sock.close()
            raise ssl_error(host, port, exc) from exc
        except OSError as exc:
            sock.close()
            raise ClientConnectorError(host, port, exc) from exc
        except BaseException:
            sock.close()
            raise
        if isinstance(protocol, TLSReader):
            protocol = protocol.handler
        if ssl is not None:
            ssl.check(protocol.transport, host, port)
        return protocol

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Close every connection (see :meth:`BaseConnector.close`), and the resolver if
        the connector made it."""
        self._close_now(abort_ssl)
        if self._resolver_owner:
            await self._dns.resolver.close()


class UnixConnector(BaseConnector):
    """Connections to one Unix socket: every request goes to ``path``.

    The URL's host is only used for the Host header (and pool keys), as in
    aiohttp: ``session.get("http://docker/info")`` asks the socket for
    ``/info`` with ``Host: docker``. An https URL gets TLS over the socket. An
    ``http+unix`` URL still goes to the socket it names. The other arguments
    are :class:`BaseConnector`'s: keep-alive pooling and limits work as over TCP.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limit: int | None = 100,
        limit_per_host: int | None = 0,
        keepalive_timeout: float | None = 15.0,
        force_close: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(path, str | os.PathLike) or not os.fspath(path):
            raise TypeError(f"path=: expected the socket's path as a str, got {path!r}")
        self._path = os.fspath(path)
        self._init_kwargs = {"limit": limit, "limit_per_host": limit_per_host,
                             "keepalive_timeout": keepalive_timeout, "force_close": force_close}
        super().__init__(limit=limit, limit_per_host=limit_per_host,
                         keepalive_timeout=keepalive_timeout, force_close=force_close, loop=loop)

    @property
    def path(self) -> str:
        """The socket's path."""
        return self._path

    def clone(self) -> UnixConnector:
        """A new, empty connector with the same settings (used after fork)."""
        return type(self)(self._path, **self._init_kwargs)

    async def _create_connection(self, key: ConnectionKey, timeout: Any) -> ResponseHandler:
        return await open_unix_socket(key.path or self._path, key, timeout)
