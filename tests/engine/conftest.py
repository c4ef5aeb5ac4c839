"""Every engine test runs under the detector of blocking calls on the loop (tests/blocking.py).

A test fails if engine code made a blocking call (file or socket I/O, ``time.sleep``, a
contended thread lock...) on a running event loop, even if the engine swallowed the
error. Mark a test ``@pytest.mark.blocking_allowed`` to run it without the detector.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.blocking import LoopBlockingDetector


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
