"""Name resolution: the loop's getaddrinfo (default) or c-ares through aiodns, behind one interface.

``resolve(host, port, family)`` returns a list of dicts with aiohttp's keys
(hostname, host, port, family, proto, flags). :class:`AbstractResolver` is the
interface to implement for a resolver of your own. :class:`DNSCache` adds a
TTL cache and shares one lookup between concurrent requests for the same name.
"""

from __future__ import annotations

import abc
import asyncio
import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AbstractResolver",
    "ThreadedResolver",
    "AsyncResolver",
    "DefaultResolver",
    "DNSCache",
    "ip_literal_infos",
    "is_ip_address",
]

ResolveResult = dict[str, Any]


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def ip_literal_infos(host: str, port: int) -> list[ResolveResult] | None:
    """Resolution results for an IP literal without asking anyone, else None."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    return [
        {"hostname": host, "host": host, "port": port, "family": family,
         "proto": socket.IPPROTO_TCP, "flags": socket.AI_NUMERICHOST}
    ]


class AbstractResolver(abc.ABC):
    """The interface of a resolver given as ``TCPConnector(resolver=...)``.

    ``resolve`` returns one dict per address, with the keys ``hostname`` (the
    name asked for), ``host`` (the address as a string), ``port``, ``family``,
    ``proto`` and ``flags``; a name that does not resolve raises ``OSError``
    (``socket.gaierror`` is the usual one). ``close`` frees what the resolver
    holds; the connector calls it only for a resolver it made itself.
    """

    @abc.abstractmethod
    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        """The addresses of ``host``, for connecting to ``port``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the resolver's resources."""


class ThreadedResolver(AbstractResolver):
    """Resolves with the event loop's ``getaddrinfo`` (the system resolver)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        loop = self._loop or asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family, flags=socket.AI_ADDRCONFIG
        )
        results: list[ResolveResult] = []
        for fam, _type, proto, _canon, sockaddr in infos:
            resolved_host = sockaddr[0]
            results.append(
                {"hostname": host, "host": resolved_host, "port": sockaddr[1], "family": fam,
                 "proto": proto, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
            )
        return results

    async def close(self) -> None:
        return None


DefaultResolver = ThreadedResolver


class AsyncResolver(AbstractResolver):
    """Resolves with c-ares (through aiodns), asking ``nameservers`` or else the system's.

    ``nameservers``: IP addresses as strings, each with an optional port:
    ``"192.0.2.53"``, ``"127.0.0.1:5353"``, ``"[2001:db8::53]:53"``. The other
    keyword arguments go to c-ares (:class:`pycares.Channel`): ``timeout``
    (seconds per try), ``tries``, ``udp_port`` and ``tcp_port`` (the port of
    servers given without one), ``rotate``, ``domains``, ``ndots``...

    The c-ares channel is made on first use, on the loop that resolves, so the
    resolver can be made in any thread and handed to a connector. Used on
    another loop, after ``close()`` or in a forked child, it makes a new one.
    The answers' DNS TTLs are not used: the connector's ``ttl_dns_cache`` is.
    """

    def __init__(self, nameservers: Sequence[str] | None = None, *,
                 loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        import aiodns  # imported here: c-ares is loaded only by those who use it

        self._aiodns = aiodns
        self._nameservers = _check_nameservers(nameservers)
        _check_channel_options(kwargs)
        self._options = kwargs
        self._resolver: Any = None
        self._bound: tuple[asyncio.AbstractEventLoop, int] | None = None
        if loop is not None:
            self._channel(loop)

    @property
    def nameservers(self) -> list[str] | None:
        return list(self._nameservers) if self._nameservers else None

    def _channel(self, loop: asyncio.AbstractEventLoop) -> Any:
        bound = (loop, os.getpid())
        if self._resolver is None or self._bound != bound:
            self._resolver = self._aiodns.DNSResolver(self._nameservers, loop=loop,
                                                      **self._options)
            self._bound = bound
        return self._resolver

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        resolver = self._channel(asyncio.get_running_loop())
        try:
            answer = await resolver.getaddrinfo(host, family=family, port=port,
                                                type=socket.SOCK_STREAM)
        except self._aiodns.error.DNSError as exc:
            raise _gai_error(exc) from None
        results: list[ResolveResult] = []
        for node in answer.nodes:
            address = node.addr
            ip = address[0].decode("ascii") if isinstance(address[0], bytes) else address[0]
            if node.family == socket.AF_INET6 and len(address) > 3 and address[3]:
                ip = f"{ip}%{address[3]}"  # a link-local address keeps its interface
            results.append(
                {"hostname": host, "host": ip, "port": address[1], "family": node.family,
                 "proto": socket.IPPROTO_TCP,
                 "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
            )
        if not results:
            raise socket.gaierror(socket.EAI_NONAME, "No address found")
        return results

    async def close(self) -> None:
        resolver, self._resolver, self._bound = self._resolver, None, None
        if resolver is not None:
            await resolver.close()

    def __repr__(self) -> str:
        return f"<AsyncResolver nameservers={self._nameservers or 'system'}>"


def _check_nameservers(nameservers: Any) -> list[str] | None:
    if nameservers is None:
        return None
    if isinstance(nameservers, str | bytes) or not isinstance(nameservers, Sequence):
        raise TypeError("nameservers=: expected a list of addresses like ['192.0.2.53'], "
                        f"got {nameservers!r}")
    checked = []
    for server in nameservers:
        if not isinstance(server, str):
            raise TypeError(f"nameservers=: each address must be a str, got {server!r}")
        if not _valid_nameserver(server):
            raise ValueError(f"nameservers=: {server!r} is not an IP address with an optional "
                             "port (like '192.0.2.53', '127.0.0.1:5353' or '[::1]:53')")
        checked.append(server)
    return checked or None


def _valid_nameserver(server: str) -> bool:
    host, port = server, None
    if server.startswith("["):
        host, sep, rest = server[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return False
        port = rest[1:] if rest else None
    elif server.count(":") == 1:
        host, port = server.split(":")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return False
    return is_ip_address(host)


_CHANNEL_INTS = ("tries", "ndots", "udp_port", "tcp_port")
_CHANNEL_OPTIONS = frozenset({
    "timeout", *_CHANNEL_INTS, "flags", "domains", "lookups", "rotate",
    "socket_send_buffer_size", "socket_receive_buffer_size", "local_ip", "local_dev",
    "resolvconf_path",
})


def _check_channel_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - _CHANNEL_OPTIONS)
    if unknown:
        raise TypeError(f"AsyncResolver: unexpected keyword argument(s): {', '.join(unknown)}")
    timeout = options.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or timeout <= 0):
        raise ValueError(f"timeout=: expected a positive number of seconds, got {timeout!r}")
    for name in _CHANNEL_INTS:
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0 or value > 65535):
            raise ValueError(f"{name}=: expected a non-negative int, got {value!r}")


def _gai_error(exc: Exception) -> socket.gaierror:
    """A c-ares failure as the ``socket.gaierror`` the system resolver would raise."""
    from aiodns import error

    code = exc.args[0] if exc.args else None
    message = exc.args[1] if len(exc.args) > 1 else str(exc)
    if code in (error.ARES_ENOTFOUND, error.ARES_ENONAME, error.ARES_ENODATA):
        return socket.gaierror(socket.EAI_NONAME, message)
    if code in (error.ARES_ETIMEOUT, error.ARES_ECONNREFUSED, error.ARES_ESERVFAIL,
                error.ARES_EREFUSED):
        return socket.gaierror(socket.EAI_AGAIN, message)
    return socket.gaierror(socket.EAI_FAIL, message)




class DNSCache:
    """A TTL cache in front of a resolver; concurrent lookups of one name share a call."""

    def __init__(self, resolver: Any, ttl: float | None = 10, enabled: bool = True) -> None:
        self.resolver = resolver
        self._ttl = ttl
        self._enabled = enabled
        self._cache: dict[tuple[str, int, int], tuple[list[ResolveResult], float]] = {}
        self._pending: dict[tuple[str, int, int], asyncio.Future[list[ResolveResult]]] = {}

    @property
    def enabled(self) -> bool:
        return self._enabled

    def cached(self, host: str, port: int, family: int = 0) -> bool:
        """Whether resolve() would answer without a new lookup (fresh or in flight)."""
        if not self._enabled:
            return False
        key = (host, port, family)
        if key in self._pending:
            return True
        entry = self._cache.get(key)
        if entry is None:
            return False
        return self._ttl is None or entry[1] > asyncio.get_running_loop().time()

    def clear(self, host: str | None = None, port: int | None = None) -> None:
        if host is None:
            self._cache.clear()
            return
        for key in [k for k in self._cache if k[0] == host and (port is None or k[1] == port)]:
            del self._cache[key]

    async def resolve(self, host: str, port: int, family: int = 0) -> list[ResolveResult]:
        literal = ip_literal_infos(host, port)
        if literal is not None:
            return literal
        if not self._enabled:
            return await self.resolver.resolve(host, port, family=family)
        key = (host, port, family)
        loop = asyncio.get_running_loop()
        cached = self._cache.get(key)
        if cached is not None and (self._ttl is None or cached[1] > loop.time()):
            return cached[0]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[list[ResolveResult]] = loop.create_future()
        self._pending[key] = fut
        try:
            results = await self.resolver.resolve(host, port, family=family)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                fut.exception()
            raise
        else:
            fut.set_result(results)
            expiry = loop.time() + self._ttl if self._ttl is not None else 0.0
            self._cache[key] = (results, expiry)
            return results
        finally:
            self._pending.pop(key, None)
