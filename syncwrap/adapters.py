"""requests' ``requests.adapters`` names: ``s.mount(prefix, HTTPAdapter(max_retries=...))``.

The adapters carry settings for syncwrap's one transport, the engine (see
:class:`HTTPAdapter`). ``syncwrap.adapters`` is loaded on first use.
"""

from ._bridge.adapters import DEFAULT_POOLSIZE, DEFAULT_RETRIES, BaseAdapter, HTTPAdapter
from .engine.retry import Retry

__all__ = ["BaseAdapter", "HTTPAdapter", "Retry", "DEFAULT_RETRIES", "DEFAULT_POOLSIZE"]
