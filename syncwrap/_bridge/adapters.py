"""requests' transport adapters, as far as code mounts them: retries and pool size
(the public names are in ``syncwrap.adapters``).

``s.mount("https://", HTTPAdapter(max_retries=Retry(total=3, backoff_factor=0.5)))``
gives the requests whose URL starts with ``"https://"`` that retry policy (the
longest mounted prefix wins, as in requests). syncwrap has one transport, the
engine; an adapter only carries settings for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..engine.retry import Retry, to_retry

__all__ = ["BaseAdapter", "HTTPAdapter", "DEFAULT_RETRIES", "DEFAULT_POOLSIZE",
           "adapter_for"]

DEFAULT_RETRIES = 0
DEFAULT_POOLSIZE = 10


class BaseAdapter:
    """The base class requests code subclasses; syncwrap reads no method of it."""

    def close(self) -> None:
        """Nothing to release: the Session owns the connection pool."""


class HTTPAdapter(BaseAdapter):
    """Settings for the requests under a mounted prefix.

    ``max_retries``: an int (that many retries of connection failures, as in
    requests: a request that may have reached the server is not retried) or a
    :class:`~syncwrap.Retry`. ``pool_block=True`` makes ``pool_maxsize`` the
    session's limit of connections per host; otherwise ``pool_connections`` and
    ``pool_maxsize`` are accepted and the engine's pool keeps its own limits.
    """

    def __init__(self, pool_connections: int = DEFAULT_POOLSIZE,
                 pool_maxsize: int = DEFAULT_POOLSIZE,
                 max_retries: Retry | int | None = DEFAULT_RETRIES,
                 pool_block: bool = False) -> None:
        for name, value in (("pool_connections", pool_connections),
                            ("pool_maxsize", pool_maxsize)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}=: expected an int >= 1, got {value!r}")
        try:
            #: The policy (None for 0: no retries).
            self.max_retries: Retry | None = to_retry(max_retries)
        except TypeError:
            raise TypeError(f"max_retries=: expected an int >= 0 or a Retry, "
                            f"got {max_retries!r}") from None
        self.pool_connections = pool_connections
        self.pool_maxsize = pool_maxsize
        self.pool_block = bool(pool_block)


def adapter_for(adapters: Iterable[tuple[str, BaseAdapter]], url: str) -> BaseAdapter | None:
    """The adapter whose prefix ``url`` starts with, the longest such prefix winning
    (case-insensitive); None when no prefix matches."""
    lowered = url.lower()
    best: tuple[int, BaseAdapter] | None = None
    for prefix, adapter in adapters:
        if lowered.startswith(prefix.lower()) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), adapter)
    return None if best is None else best[1]
