"""The notebooks in notebooks/ run cleanly in a real Jupyter kernel (nbclient + ipykernel).

Each notebook starts its own loopback server in its first cell and stops it in its
last. Every cell is bounded in time; an error output, or anything written to stderr
(a warning, a traceback), fails the test. After the notebook's own cells, a check
cell (added here, not stored in the notebook) asserts what the cells computed, so
that a demo that silently goes wrong fails too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("httpbin", reason="the notebooks start a local httpbin")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 60  # seconds, for any one cell
KERNEL_START_TIMEOUT = 60

CHECKS = {
    "syncwrap_tour.ipynb": """
assert r.status_code == 200
assert posted == {"id": 7, "tags": ["a", "b"]} and form == {"name": "Ada"}
assert ids == [0, 1, 2, 3, 4] and sizes == [30000, 30000, 30000, 10000]
assert isinstance(timeout_error, syncwrap.Timeout)
""",
    "fanout_and_download.ipynb": """
assert [r.json()["args"]["i"] for r in in_order] == [str(i) for i in range(20)]
assert sorted(finished) == list(range(6)) and finished != list(range(6))
assert failures[0].status_code == 200 and isinstance(failures[1], syncwrap.ConnectionError)
assert first_seen < 20 and pulled <= 40
assert path == target and target.read_bytes() == payload
assert progress_calls[-1] == (len(payload), len(payload))
assert (workdir / "with_bar.bin").read_bytes() == payload
assert resumed_from >= 1024 * 1024 and resumed_range == f"bytes={resumed_from}-"
assert resumed_path == resumed_target and resumed_path.read_bytes() == payload
assert not part.exists()
assert isinstance(mismatch, syncwrap.ChecksumMismatchError) and not bad_target.exists()
""",
    "quickstart.ipynb": """
assert args == {"q": "notebook", "page": "2"}
assert posted == {"id": 7, "tags": ["a", "b"]} and form == {"name": "Ada"}
assert user_agent == "quickstart/1.0" and cookies_seen == {"flavour": "oat"}
assert authenticated is True
assert streamed == 100000 and len(lines) == 3
assert http_error.status == 404 and http_error.response.status_code == 404
assert isinstance(timeout_error, syncwrap.Timeout) and isinstance(timeout_error, TimeoutError)
assert isinstance(refused, syncwrap.ConnectionError)
assert r.status_code == 200 and len(r.history) == 2
""",
}

def _params() -> list[object]:
    return [pytest.param(name, id=name.removesuffix(".ipynb")) for name in sorted(CHECKS)]


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


def _kernel_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWRAP_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")  # no history file in the user's home
    env.pop("PYTHONWARNINGS", None)
    return env


def _check_source(checks: str) -> str:
    """The check cell: each ``assert`` line fails with its own text as the message."""
    lines = [line for line in checks.strip().splitlines() if line]
    assert all(line.startswith("assert ") for line in lines)
    return "\n".join(["import syncwrap"] + [f"{line}, {line[7:]!r}" for line in lines])


def _problems(notebook) -> list[str]:
    """Error outputs and stderr text, with the cell that produced them."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                found.append(f"cell {index} wrote to stderr: {output['text']!r}")
    return found


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", _params())
def test_notebook_runs_in_a_jupyter_kernel(name: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells and all(c.outputs == [] for c in code_cells), "stored outputs"
    first, last = code_cells[0].source, code_cells[-1].source
    assert "serve(" in first, "the first cell starts the notebook's own server"
    assert ".close()" in last, "the last cell stops it"

    check = nbformat.v4.new_code_cell(_check_source(CHECKS[name]))
    notebook.cells.insert(notebook.cells.index(code_cells[-1]), check)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        startup_timeout=KERNEL_START_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,  # errors are collected below, with every cell's output
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=_kernel_env(tmp_path))

    assert _problems(notebook) == []
    assert all(c.execution_count for c in notebook.cells if c.cell_type == "code")
    if name == "fanout_and_download.ipynb":  # progress=True: tqdm's notebook widget
        widgets = [o for c in notebook.cells for o in c.get("outputs", [])
                   if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert len(widgets) >= 2, "no progress bar widget"
    if name == "quickstart.ipynb":
        rich = [o for c in notebook.cells for o in c.get("outputs", [])
                if "text/html" in o.get("data", {})]
        assert any('class="syncwrap-response"' in o["data"]["text/html"] for o in rich)
