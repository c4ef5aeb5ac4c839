"""Name resolution: the loop's getaddrinfo (default) or aiodns, behind one interface.

``resolve(host, port, family)`` returns a list of dicts with aiohttp's keys
(hostname, host, port, family, proto, flags). :class:`DNSCache` adds a TTL
cache and shares one lookup between concurrent requests for the same name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

__all__ = ["ThreadedResolver", "DefaultResolver", "DNSCache", "ip_literal_infos", "is_ip_address"]

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


class ThreadedResolver:
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
