"""Thread safety (issue point 10): one Session shared by many threads."""

from __future__ import annotations

import itertools
import threading

import syncwrap
from tests.facade._util import WAIT

THREADS = 32
TOTAL = 3000
LIMIT = 8


def test_one_session_shared_by_32_threads(counting_server):
    counter = itertools.count()
    errors: list[BaseException] = []
    bad: list[object] = []
    done_per_thread = [0] * THREADS
    start = threading.Barrier(THREADS)
    with syncwrap.Session(connector=syncwrap.TCPConnector(limit=LIMIT)) as s:

        def worker(index: int) -> None:
            try:
                start.wait(WAIT)
                while next(counter) < TOTAL:
                    r = s.get(counting_server.url, params={"t": index}, timeout=WAIT)
                    body = r.json()
                    if (r.status_code != 200
                            or body["connection"] != int(r.headers["X-Connection-Id"])
                            or r.url != f"{counting_server.url}/?t={index}"):
                        bad.append((r, body))
                    done_per_thread[index] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a worker thread hung"
        assert s.connector.stats() == {"acquired": 0, "idle": counting_server.open_connections,
                                       "waiting": 0}
    assert errors == []
    assert bad == []
    assert sum(done_per_thread) == TOTAL
    assert counting_server.total_requests == TOTAL
    assert counting_server.max_concurrent <= LIMIT
    assert counting_server.total_connections <= LIMIT  # connections were reused, not churned
    assert counting_server.wait_idle(WAIT)  # closing the Session closed them all


def test_module_verbs_from_many_threads(counting_server):
    errors: list[BaseException] = []
    results: list[int] = []
    start = threading.Barrier(16)

    def worker() -> None:
        try:
            start.wait(WAIT)
            for _ in range(20):
                results.append(syncwrap.get(counting_server.url, timeout=WAIT).status_code)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and results == [200] * 320
