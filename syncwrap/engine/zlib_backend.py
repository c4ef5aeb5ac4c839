"""The zlib-compatible library that inflates gzip and deflate bodies and compresses uploads.

By default it is ISA-L's (``isal.isal_zlib``, in the ``speedups`` extra) when installed,
else the standard library's ``zlib``. :func:`set_zlib_backend` picks another module with
zlib's interface, as aiohttp's function of that name does: ``zlib_ng.zlib_ng``, or ``zlib``
back. The library is read when a body's decoder or an upload's compressor is made, so a
body already being decoded keeps the one it started with. WebSocket permessage-deflate is
not affected: the ``websockets`` protocol compresses with ``zlib`` itself.

Cost model: with ``zlib``, inflating is nine tenths of a gzip download's CPU time. Per
decoded MiB of the bench's ``/big.gz`` (2.8:1, fed in 16 KiB TLS records
or 1 MiB pieces, at most 256 KiB out per call as the decoder asks): ``zlib`` 4.8-5.2 ms,
``isal_zlib`` 1.6-1.9 ms, ``zlib_ng`` 2.6-3.1 ms. Output stays bounded the same way with
each (``decompress(data, max_length)``; ISA-L may hold a little more of the input inside
its state, which is why the decoder never assumes how much ``unconsumed_tail`` keeps).
Compressing with ISA-L uses its own levels (0-3, default 2): faster than ``zlib``'s
default, and uploads may come out larger; they are valid gzip or deflate either way.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any

try:  # at import, never on the loop thread (importing isal reads files: ~1.6 ms)
    from isal import isal_zlib as _default
except ImportError:  # pragma: no cover - depends on the speedups extra
    _default = zlib

__all__ = ["set_zlib_backend", "zlib_backend"]

#: What a backend must provide (the parts of zlib's interface the engine uses).
_REQUIRED = ("decompressobj", "compressobj", "error", "MAX_WBITS")

_backend: ModuleType | Any = _default


def zlib_backend() -> ModuleType | Any:
    """The module that the next decoder and compressor use."""
    return _backend


def set_zlib_backend(lib: ModuleType | Any) -> None:
    """Inflate and compress with ``lib`` from now on: a module with zlib's interface
    (``zlib``, ``isal.isal_zlib``, ``zlib_ng.zlib_ng``). Bodies already being decoded keep
    their library. Raises TypeError, naming what is missing, for anything else."""
    global _backend
    missing = [name for name in _REQUIRED if not hasattr(lib, name)]
    if missing:
        raise TypeError(f"set_zlib_backend(lib): {lib!r} is not a zlib-compatible module "
                        f"(it has no {', '.join(missing)})")
    if not (isinstance(lib.error, type) and issubclass(lib.error, Exception)):
        raise TypeError(f"set_zlib_backend(lib): {lib!r}.error is not an exception class")
    _backend = lib
