"""The connection pools the facade made, closed when the loop thread shuts down.

Sessions and the module-level verbs register their connectors here
(:func:`track`); at interpreter exit :mod:`syncwrap.loop` runs the shutdown hook,
which closes every one still alive, so no socket is left for the collector.
"""

from __future__ import annotations

import weakref

from .. import loop as loop_thread
from ..engine.connector import BaseConnector

__all__ = ["track"]

_live: weakref.WeakSet[BaseConnector] = weakref.WeakSet()


def track(connector: BaseConnector) -> BaseConnector:
    """Close ``connector`` at shutdown if it is still alive then; returns it."""
    _live.add(connector)
    return connector


async def _close_all() -> None:
    for connector in list(_live):
        try:
            await connector.close()
        except Exception:  # noqa: BLE001 - at exit: close the others all the same
            pass


loop_thread.on_shutdown(_close_all)
