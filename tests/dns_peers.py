"""A real DNS server for the tests: dnslib on 127.0.0.1, UDP and TCP on one free port.

``DNSPeer()`` answers made-up names under ``syncwrap.test`` from ``ZONE`` (A and AAAA
records), NXDOMAIN for any other name, and counts the queries it gets per name.
Use it as a context manager (``with DNSPeer() as dns: dns.nameserver``); ``close()``
stops both servers within a second.  Never imports syncwrap.
"""

from __future__ import annotations

import threading
from collections import Counter

from dnslib import AAAA, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

HOST = "127.0.0.1"

#: name -> {"A": [...], "AAAA": [...]}; ``app`` has both families, the others one each.
ZONE: dict[str, dict[str, list[str]]] = {
    "app.syncwrap.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
    "v4.syncwrap.test": {"A": ["127.0.0.1"]},
    "v6.syncwrap.test": {"AAAA": ["::1"]},
}
MISSING = "nx.syncwrap.test"  # answered with NXDOMAIN, like every name not in ZONE
_RDATA = {"A": A, "AAAA": AAAA}


class _ZoneResolver(BaseResolver):
    def __init__(self, zone: dict[str, dict[str, list[str]]], ttl: int) -> None:
        self.zone = zone
        self.ttl = ttl
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, name: str) -> int:
        with self._lock:
            return self.queries[name.lower()]

    def resolve(self, request, handler):
        reply = request.reply()
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        with self._lock:
            self.queries[name] += 1
        records = self.zone.get(name)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, addresses in records.items():
            if question.qtype in (QTYPE.ANY, getattr(QTYPE, rtype)):
                for address in addresses:
                    reply.add_answer(RR(question.qname, getattr(QTYPE, rtype),
                                        rdata=_RDATA[rtype](address), ttl=self.ttl))
        return reply


class DNSPeer:
    """dnslib serving ``zone`` on ``127.0.0.1:port`` over UDP and TCP.

    Records carry a DNS TTL of ``ttl`` seconds: 0 by default, so that c-ares (which keeps
    answers for their TTL) caches nothing and the server sees every lookup the client makes.

    ``nameserver`` is ``"127.0.0.1:PORT"`` (for ``AsyncResolver(nameservers=[...])``);
    ``port`` the port; ``queries(name)`` how many queries (A and AAAA count apart) arrived.
    """

    def __init__(self, zone: dict[str, dict[str, list[str]]] | None = None, ttl: int = 0) -> None:
        self._resolver = _ZoneResolver(ZONE if zone is None else zone, ttl)
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
        self._servers: list[DNSServer] = []
        for _ in range(20):  # a TCP port equal to the UDP one is usually free; retry if not
            udp = DNSServer(self._resolver, address=HOST, port=0, logger=quiet)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self._resolver, address=HOST, port=port, tcp=True, logger=quiet)
            except OSError:
                udp.server.server_close()
                continue
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.port = port
        self.nameserver = f"{HOST}:{port}"
        self._threads = [
            threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True)
            for server in self._servers
        ]
        for thread in self._threads:
            thread.start()

    def queries(self, name: str) -> int:
        return self._resolver.count(name)

    def close(self) -> None:
        for server in self._servers:
            server.server.shutdown()  # returns within serve_forever's poll interval
            server.server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._servers = self._threads = []

    def __enter__(self) -> DNSPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
