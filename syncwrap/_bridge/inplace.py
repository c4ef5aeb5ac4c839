"""``bytes`` results filled in place: a socket receives straight into what the caller gets.

A read of exactly ``n`` bytes gathered from several receives (a chunked body's chunks,
TLS records) would otherwise receive into a buffer and copy into a fresh ``bytes``. An
``io.BytesIO`` lends its own buffer (``getbuffer()``) and hands that very buffer out as
its value (``getvalue()``, no copy, when it is exactly filled and no longer lent), so
the receives can fill the result itself.

Cost model (CPython), per result of ``n`` bytes: one allocation of ``n`` bytes, then only
the receives' own copies. The allocation is not zero-filled (``bytes(n)`` would write
all ``n`` bytes, about 2/3 of a copy's cost): it is CPython's own
``PyBytes_FromStringAndSize(NULL, n)``, reached through ``ctypes``. Its contents are
never seen: :meth:`InPlaceBytes.finish` keeps only the ``filled`` bytes the receives
wrote. Where that function is not at hand (other Pythons, no ``ctypes``),
``bytes(n)`` is used: correct, one write more. Every result is a fresh object: a ``bytes``
handed out is never written again, even once the caller dropped it, because a dropped
object could still carry its cached ``hash()`` into a reuse (measured: a reused object
then compares equal to its new contents but hashes as the old ones). Other Pythons may
copy in :meth:`InPlaceBytes.finish`: correct, one copy slower.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

__all__ = ["UNINITIALISED", "InPlaceBytes"]


def _allocator() -> tuple[Callable[[int], bytes], bool]:
    """A ``bytes`` of ``n`` bytes, uninitialised if CPython's C API is at hand (and True)."""
    if sys.implementation.name != "cpython":
        return bytes, False
    try:
        import ctypes

        # A prototype of our own: the shared ctypes.pythonapi attribute is left untouched.
        prototype = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)
        new = prototype(("PyBytes_FromStringAndSize", ctypes.pythonapi))
    except (ImportError, AttributeError, OSError):
        return bytes, False
    return (lambda n: new(None, n)), True  # type: ignore[no-any-return]


_new_bytes, _uninitialised = _allocator()
#: Whether results are allocated without a zero-fill (see the module docstring).
UNINITIALISED: bool = _uninitialised


class InPlaceBytes:
    """Builds ``bytes`` results by filling them in place; one result at a time.

    :meth:`start` lends a writable view of exactly ``n`` bytes; :meth:`finish` takes the
    view back and returns the result (the first ``filled`` bytes: only those may be read).
    """

    __slots__ = ()

    def start(self, n: int) -> tuple[io.BytesIO, memoryview]:
        """A buffer for a result of ``n`` (> 0) bytes and a writable view of it."""
        buffer = io.BytesIO(_new_bytes(n))  # the BytesIO holds the only reference: no copy
        return buffer, buffer.getbuffer()

    def finish(self, buffer: io.BytesIO, view: memoryview, filled: int) -> bytes:
        """The result: the first ``filled`` bytes of ``buffer`` (``view`` is released)."""
        size = view.nbytes
        view.release()
        if filled < size:
            buffer.truncate(filled)
        return buffer.getvalue()
