"""Every engine test runs under the detector of blocking calls on the loop (tests/blocking.py).

A test fails if engine code made a blocking call (file or socket I/O, ``time.sleep``, a
contended thread lock...) on a running event loop, even if the engine swallowed the
error. Mark a test ``@pytest.mark.blocking_allowed`` to run it without the detector.

The ``zlib_lib`` fixture runs a test once with each zlib-compatible library installed
(``zlib``, and ISA-L's and zlib-ng's when present) as the engine's backend.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator
from types import ModuleType

import pytest

from syncwrap.engine import set_zlib_backend
from syncwrap.engine.zlib_backend import zlib_backend
from tests.blocking import LoopBlockingDetector


def _zlib_libs() -> list[ModuleType]:
    libs = [zlib]
    for name in ("isal.isal_zlib", "zlib_ng.zlib_ng"):
        try:
            libs.append(importlib.import_module(name))
        except ImportError:
            pass
    return libs


@pytest.fixture(params=_zlib_libs(), ids=lambda lib: lib.__name__.rpartition(".")[2])
def zlib_lib(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The engine inflates and compresses with this library for the test's length."""
    before = zlib_backend()
    set_zlib_backend(request.param)
    yield request.param
    set_zlib_backend(before)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "blocking_allowed: run without the detector of blocking calls on the loop"
    )


@pytest.fixture(scope="session")
def blocking_detector() -> LoopBlockingDetector:
    """The session's detector (blockbuster scoped to syncwrap.engine), inactive between tests."""
    return LoopBlockingDetector()


@pytest.fixture(autouse=True)
def no_blocking_on_loop(request: pytest.FixtureRequest,
                        blocking_detector: LoopBlockingDetector) -> Iterator[None]:
    """Fails the test if engine code blocked the running loop while it ran."""
    if request.node.get_closest_marker("blocking_allowed"):
        yield
        return
    with blocking_detector.watching() as found:
        yield
        detections = list(found)
    if detections:
        report = "\n".join(str(d) for d in detections[:5])
        pytest.fail(f"{len(detections)} blocking call(s) on the event loop:\n{report}",
                    pytrace=False)
