"""Progress reporting for downloads: a tqdm bar, or a user's ``(done, total)`` callable.

Reporters run in the calling thread, as the rest of a download's file work does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Reporter", "reporter_for"]


class Reporter:
    """Told where a transfer starts, each chunk's size, and when it ends."""

    def start(self, done: int, total: int | None) -> None:
        """The transfer starts with ``done`` bytes already held, of ``total`` (None: unknown)."""

    def advance(self, size: int) -> None:
        """``size`` more bytes were saved."""

    def close(self) -> None:
        """The transfer ended (finished or failed)."""


class _CallbackReporter(Reporter):
    def __init__(self, callback: Callable[[int, int | None], Any]) -> None:
        self.callback = callback
        self.done = 0
        self.total: int | None = None

    def start(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        self.callback(done, total)

    def advance(self, size: int) -> None:
        self.done += size
        self.callback(self.done, self.total)


class _BarReporter(Reporter):
    def __init__(self, bar_class: Any, name: str) -> None:
        self.bar_class = bar_class
        self.name = name
        self.bar: Any = None

    def start(self, done: int, total: int | None) -> None:
        self.close()
        self.bar = self.bar_class(total=total, initial=done, desc=self.name, unit="B",
                                  unit_scale=True, unit_divisor=1024, leave=True)

    def advance(self, size: int) -> None:
        if self.bar is not None:
            self.bar.update(size)

    def close(self) -> None:
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()


def reporter_for(progress: Any, name: str) -> Reporter:
    """The reporter for ``progress=``: None or False (none), True (a tqdm bar named
    ``name``: the notebook widget in Jupyter, text on stderr elsewhere) or a callable
    taking ``(done, total)``. Checked at the call: tqdm missing raises ImportError."""
    if progress is None or progress is False:
        return Reporter()
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise ImportError("progress=True needs tqdm: pip install 'syncwrap[progress]'"
                              ) from None
        return _BarReporter(tqdm, name)
    if callable(progress):
        return _CallbackReporter(progress)
    raise TypeError(f"progress=: expected None, a bool or a callable taking (done, total), "
                    f"got {type(progress).__name__}")
