"""The package's layering, read from its source with ``ast`` (no imports run).

Rules (docs/contract.md, "Layers"):
- the engine imports only the engine and ``syncwrap.exceptions``;
- the runner (``syncwrap.loop``) imports no HTTP code: only ``syncwrap.exceptions``;
- ``syncwrap.exceptions`` is a leaf;
- no module touches a private name (``_x``) except through self or cls;
- the CLI uses public names only;
- the engine imports no threading (it holds no thread locks);
- no function is longer than 100 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "syncwrap"
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` names."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not MODULES[module].name == "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """Every syncwrap module ``module`` imports (``from x import y`` counts x.y if a module)."""
    found: set[str] = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names
                         if f"{target}.{a.name}" in MODULES)
    return {name for name in found if name == "syncwrap" or name.startswith("syncwrap.")}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _defined_names(module: str) -> set[str]:
    """Names a module defines: top-level, class members and attributes set on self/cls."""
    names: set[str] = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    # __slots__ entries are attributes the module defines
    for node in ast.walk(TREES[module]):
        if (isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets)):
            for elt in ast.walk(node.value):
                if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                    names.add(elt.value)
    return names


PRIVATE_OWNERS: dict[str, set[str]] = {}
for _name in MODULES:
    for _private in filter(_is_private, _defined_names(_name)):
        PRIVATE_OWNERS.setdefault(_private, set()).add(_name)

def _private_reaches(module: str) -> list[str]:
    """``x._name`` where ``_name`` is private to another syncwrap module (self/cls excepted),
    and ``from syncwrap.x import _name``."""
    found = []
    for node in ast.walk(TREES[module]):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        # Only self/cls reach private names, even of this module's own classes: an
        # object's private state is touched by its own methods alone.
        found.append(f"{module}:{node.lineno} .{node.attr}")
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not _in(target, "syncwrap"):
                continue
            found.extend(f"{module}:{node.lineno} import {a.name} from {target}"
                         for a in node.names if _is_private(a.name)
                         and f"{target}.{a.name}" not in MODULES)
    return found


def test_the_package_is_read() -> None:
    assert "syncwrap.engine.session" in MODULES and "syncwrap.api" in MODULES
    assert "syncwrap.engine" in _imports("syncwrap.api") or any(
        _in(m, "syncwrap.engine") for m in _imports("syncwrap.api"))


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "syncwrap.engine")])
def test_the_engine_imports_only_the_engine_and_the_exceptions(module: str) -> None:
    bad = {m for m in _imports(module)
           if not (_in(m, "syncwrap.engine") or m == "syncwrap.exceptions")}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_the_runner_imports_no_http_code() -> None:
    assert _imports("syncwrap.loop") <= {"syncwrap.exceptions"}


def test_the_exceptions_are_a_leaf() -> None:
    assert _imports("syncwrap.exceptions") == set()


@pytest.mark.parametrize("module", list(MODULES))
def test_no_module_touches_another_modules_private_names(module: str) -> None:
    assert _private_reaches(module) == []


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "syncwrap.cli")])
def test_the_cli_uses_public_names_only(module: str) -> None:
    bad = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.ImportFrom) and _in(_resolve(module, node), "syncwrap"):
            bad += [a.name for a in node.names if _is_private(a.name)]
            if any(_is_private(part) for part in _resolve(module, node).split(".")):
                bad.append(_resolve(module, node))
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names
                    if _in(a.name, "syncwrap") and any(map(_is_private, a.name.split(".")))]
    assert not bad, f"{module} uses {bad}"


@pytest.mark.parametrize("module", list(MODULES))
def test_functions_stay_under_100_lines(module: str) -> None:
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(TREES[module])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{module}: {long}"


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "syncwrap.engine")])
def test_the_engine_holds_no_thread_locks(module: str) -> None:
    """The engine knows nothing of threads: no threading (locks, events) and no _thread."""
    found = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in ("threading", "_thread"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("threading", "_thread"):
            found.add(node.module)
    assert not found, f"{module} imports {sorted(found)}"
