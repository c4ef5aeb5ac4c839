"""A detector of blocking calls made by the engine on a running event loop (blockbuster).

``LoopBlockingDetector`` wraps blockbuster's patched functions (``time.sleep``, ``open``
reads and writes, ``os.stat``, blocking socket calls, contended lock acquires...) and
reports a call when both hold:

- the calling thread is running an asyncio loop (test servers on their own threads, and
  test code before or after ``asyncio.run``, may block freely);
- a frame of ``syncwrap.engine`` is on the stack (test code on the loop that does not go
  through the engine, such as a server coroutine, may block too).

blockbuster raises its ``BlockingError`` at the call, which engine code might turn into a
``ClientError`` or swallow; so every detection is also recorded, and the fixture in
tests/engine/conftest.py fails the test from its teardown whenever anything was recorded.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import blockbuster
import blockbuster.blockbuster as bb_module

import syncwrap.engine

ENGINE_DIR = str(Path(syncwrap.engine.__file__).resolve().parent)

#: Blocking calls blockbuster does not watch by itself: ``open()``, and OpenSSL reading
#: CA bundles and certificate files from disk into an SSLContext.
EXTRA_WATCHED = (
    "builtins.open",
    "ssl.SSLContext.load_verify_locations",
    "ssl.SSLContext.load_cert_chain",
    "ssl.SSLContext.load_default_certs",
    "ssl.SSLContext.set_default_verify_paths",
)


class Detection:
    """One blocking call: what was called, and the engine frames that led to it."""

    def __init__(self, call: str, stack: list[traceback.FrameSummary]) -> None:
        self.call = call
        self.stack = stack

    def __str__(self) -> str:
        frames = [f for f in self.stack if f.filename.startswith(ENGINE_DIR)] or self.stack
        where = "\n".join(f"    {f.filename}:{f.lineno} in {f.name}" for f in frames[-6:])
        return f"{self.call} on the loop thread, from:\n{where}"


class LoopBlockingDetector:
    """blockbuster scoped to the engine; :meth:`watching` records what it catches."""

    def __init__(self) -> None:
        self.buster = blockbuster.BlockBuster(scanned_modules=["syncwrap.engine"])
        for name in EXTRA_WATCHED:
            self.buster.functions[name] = blockbuster.BlockBusterFunction(
                None, name, scanned_modules=["syncwrap.engine"])
        self.found: list[Detection] = []
        found = self.found

        class RecordedBlockingError(blockbuster.BlockingError):
            def __init__(self, func: str) -> None:
                super().__init__(func)
                found.append(Detection(func, traceback.extract_stack()[:-2]))

        self.error_class = RecordedBlockingError

    @contextmanager
    def watching(self) -> Iterator[list[Detection]]:
        """Activate detection for the block; yields the list detections are added to."""
        self.found.clear()
        # blockbuster's wrappers look the exception class up in their module at each
        # call: the recording subclass goes there for as long as detection is on.
        original = bb_module.BlockingError
        bb_module.BlockingError = self.error_class
        self.buster.activate()
        try:
            yield self.found
        finally:
            self.buster.deactivate()
            bb_module.BlockingError = original
