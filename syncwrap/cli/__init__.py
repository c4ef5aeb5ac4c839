"""The ``syncwrap`` command, its tour and the local httpbin it starts (public API only)."""

from .main import main, run

__all__ = ["main", "run"]
