"""Unix sockets and custom DNS through the blocking facade (issue 11, points 3 and 4):
``Session(connector=UnixConnector(path))``, ``http+unix://`` URLs in sessions and module
verbs (pooled per socket, ``Host: localhost``), a missing socket named in the error,
``TCPConnector(resolver=AsyncResolver(nameservers=[...]))`` against a real DNS server,
NXDOMAIN as a ConnectionError naming the host, and both after fork.

Peers: tests.unix_peers.UnixServer and tests.dns_peers.DNSPeer; every call has a timeout.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import pytest

import syncwrap
from tests.dns_peers import MISSING, DNSPeer
from tests.facade._util import run_script
from tests.unix_peers import UnixServer, socket_dir, unix_url

T = 10  # seconds: the bound of every request here


@pytest.fixture
def unix_server() -> Iterator[UnixServer]:
    with socket_dir() as directory:
        server = UnixServer(os.path.join(directory, "Daemon.Sock"))
        try:
            yield server
        finally:
            server.close()


@pytest.fixture
def dns() -> Iterator[DNSPeer]:
    with DNSPeer() as peer:
        yield peer


def test_session_with_a_unix_connector(unix_server):
    connector = syncwrap.UnixConnector(path=unix_server.path)
    with syncwrap.Session(connector=connector, timeout=T) as s:
        got = [s.get("http://daemon/v1/info", params={"n": i}).json() for i in range(3)]
        posted = s.post("http://daemon/v1/things", json={"a": 1}).json()
        assert s.connector is connector
    assert [g["target"] for g in got] == ["/v1/info?n=0", "/v1/info?n=1", "/v1/info?n=2"]
    assert {g["host"] for g in got} == {"daemon"}
    assert json.loads(posted["body"]) == {"a": 1}
    assert unix_server.connections == 1  # kept alive across all four requests


def test_http_unix_urls_in_a_session(unix_server):
    url = unix_url(unix_server.path, "/containers/json")
    with syncwrap.Session(timeout=T) as s:
        responses = [s.get(url, params={"all": 1}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert {r.json()["host"] for r in responses} == {"localhost"}
    assert str(responses[0].url) == url + "?all=1"  # the socket path keeps its case
    assert unix_server.connections == 1


def test_http_unix_url_with_a_module_verb_and_base_url(unix_server):
    assert syncwrap.get(unix_url(unix_server.path, "/ping"), timeout=T).json()["target"] == "/ping"
    with syncwrap.Session(base_url=unix_url(unix_server.path, "/api/"), timeout=T) as s:
        assert s.get("version").json()["target"] == "/api/version"


def test_missing_socket_is_a_connection_error_naming_the_path(unix_server):
    missing = unix_server.path + ".gone"
    with pytest.raises(syncwrap.ConnectionError) as info:
        syncwrap.get(unix_url(missing, "/"), timeout=T)
    assert isinstance(info.value, syncwrap.UnixClientConnectorError)
    assert missing in str(info.value)
    with syncwrap.Session(connector=syncwrap.UnixConnector(missing), timeout=T) as s:
        with pytest.raises(syncwrap.UnixClientConnectorError, match=missing.replace(".", r"\.")):
            s.get("http://localhost/")


def test_async_resolver_through_the_facade(dns, counting_server):
    resolver = syncwrap.AsyncResolver(nameservers=[dns.nameserver], timeout=2, tries=1)
    connector = syncwrap.TCPConnector(resolver=resolver, ttl_dns_cache=60)
    with syncwrap.Session(connector=connector, timeout=T) as s:
        for _ in range(3):
            assert s.get(f"http://app.syncwrap.test:{counting_server.port}/").ok
        asked = dns.queries("app.syncwrap.test")
        with pytest.raises(syncwrap.ConnectionError) as info:
            s.get(f"http://{MISSING}/")
    assert 1 <= asked <= 2  # one lookup (an A and an AAAA question), then the cache
    assert isinstance(info.value, syncwrap.ClientConnectorDNSError)
    assert MISSING in str(info.value)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_unix_connector_and_async_resolver_after_fork(unix_server, dns, counting_server):
    """The child rebuilds both connectors: its own socket connection and c-ares channel."""
    proc = run_script("unix_dns_fork.py", unix_server.path, dns.nameserver,
                      str(counting_server.port))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    info = json.loads(proc.stdout)
    assert info["child"] == {"unix_status": 200, "dns_status": 200}, info
    parent_conns = {info["unix_before"], info["unix_after"]}
    assert len(parent_conns) == 1  # the parent kept its pooled connection
    assert unix_server.connections == 2  # the child opened one of its own
    assert dns.queries("v4.syncwrap.test") >= 2  # the child asked again, on a new channel
