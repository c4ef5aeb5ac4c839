"""The demo notebook runs cleanly, executed the way a Jupyter kernel would run it.

A kernel executes cells in one namespace, in a thread whose asyncio event loop is
already running. The test reproduces that: every code cell of
notebooks/syncwrap_tour.ipynb is exec'd in order, inside a coroutine driven by
asyncio.run() in a worker thread, and must finish within the time limit
without raising and without emitting a single warning.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import syncwrap
from tests.facade._util import collect_earlier_garbage

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "syncwrap_tour.ipynb"
TIME_LIMIT = 30.0


def _code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        assert cell["cell_type"] in ("markdown", "code", "raw"), cell["cell_type"]
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"code cell {index} has stored outputs"
        assert cell.get("execution_count") is None, f"code cell {index} has an execution count"
        source = cell["source"]
        cells.append(source if isinstance(source, str) else "".join(source))
    return cells


def _run_like_a_kernel(cells: list[str], namespace: dict[str, Any]) -> list[BaseException]:
    """Exec ``cells`` in a thread running an event loop; return what was raised."""
    errors: list[BaseException] = []

    async def kernel() -> None:
        asyncio.get_running_loop()  # the loop a Jupyter kernel would be running
        for index, source in enumerate(cells):
            code = compile(source, f"<notebook cell {index}>", "exec")
            exec(code, namespace)  # noqa: S102 - running the notebook is the point

    def target() -> None:
        try:
            asyncio.run(kernel())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    worker = threading.Thread(target=target, name="fake-kernel", daemon=True)
    worker.start()
    worker.join(TIME_LIMIT)
    if worker.is_alive():
        errors.append(TimeoutError(f"the notebook did not finish within {TIME_LIMIT:.0f} s"))
    return errors


def test_notebook_runs_in_a_thread_with_a_running_loop() -> None:
    pytest.importorskip("httpbin", reason="the notebook starts a local httpbin")
    cells = _code_cells()
    assert cells, "the notebook has no code cells"
    namespace: dict[str, Any] = {"__name__": "__main__"}
    collect_earlier_garbage()  # leftovers of earlier tests are not the notebook's
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = _run_like_a_kernel(cells, namespace)
    elapsed = time.monotonic() - started

    assert not errors, f"the notebook raised: {errors[0]!r}"
    assert caught == [], [f"{w.category.__name__}: {w.message}" for w in caught]
    assert elapsed < TIME_LIMIT

    # What the cells computed, so that a silently wrong demo fails too.
    assert namespace["r"].status_code == 200
    assert namespace["posted"] == {"id": 7, "tags": ["a", "b"]}
    assert namespace["form"] == {"name": "Ada"}
    assert namespace["user_agent"] == "tour/1.0"
    assert namespace["cookies_seen"] == {"flavour": "oat"}
    assert namespace["ids"] == [0, 1, 2, 3, 4]
    assert namespace["sizes"] == [30000, 30000, 30000, 10000]
    assert isinstance(namespace["first"], bytes) and len(namespace["first"]) == 10
    assert isinstance(namespace["timeout_error"], syncwrap.Timeout)
    assert isinstance(namespace["timeout_error"], TimeoutError)
    assert namespace["echoed"] == [str(i) for i in range(40)]
    assert namespace["codes"] == [200, 201, 418]
