"""``bytes`` results filled in place: a socket receives straight into what the caller gets.

A read of exactly ``n`` bytes gathered from several receives (a chunked body's chunks)
would otherwise receive into a buffer and copy into a fresh ``bytes``. An
``io.BytesIO`` lends its own buffer (``getbuffer()``) and hands that very buffer out as
its value (``getvalue()``, no copy, when it is exactly filled and no longer lent), so
the receives can fill the result itself.

Cost model (CPython), per result of ``n`` bytes: a fresh buffer is zero-filled once (a
write, cheaper than a copy, and new memory is faulted in); a result the caller has
dropped by the time its buffer comes round again is reused as it is, with no zero-fill
and warm pages. Two buffers take turns, since a ``for chunk in ...`` loop still holds the
previous result while it asks for the next. The buffer is reused only when nothing but
the builder holds it; if something else still does, ``BytesIO`` itself copies it before
lending it (its copy-on-write), so a result a caller kept never changes. Other Pythons
may copy on :meth:`InPlaceBytes.finish`: correct, one copy slower. At most two buffers
of the largest ``n`` are kept, until :meth:`InPlaceBytes.clear`.
"""

from __future__ import annotations

import io
import sys

__all__ = ["InPlaceBytes"]

#: The references to a kept result when only the builder holds it: the BytesIO's buffer,
#: the builder's slot, and ``sys.getrefcount``'s argument.
_UNSHARED = 3


class InPlaceBytes:
    """Builds ``bytes`` results by filling them in place; one user at a time.

    :meth:`start` lends a writable view of exactly ``n`` bytes; :meth:`finish` takes the
    view back and returns the result (the first ``filled`` bytes).
    """

    __slots__ = ("_buffers", "_results", "_turn")

    def __init__(self) -> None:
        self._buffers: list[io.BytesIO | None] = [None, None]
        self._results: list[bytes | None] = [None, None]
        self._turn = 0

    def start(self, n: int) -> tuple[io.BytesIO, memoryview]:
        """A buffer for a result of ``n`` (> 0) bytes and a writable view of it."""
        turn = self._turn = self._turn ^ 1
        buffer = self._buffers[turn]
        kept = self._results[turn] is not None and len(self._results[turn]) == n  # type: ignore
        reuse = kept and sys.getrefcount(self._results[turn]) <= _UNSHARED
        self._buffers[turn] = self._results[turn] = None
        if not reuse or buffer is None:
            buffer = io.BytesIO()
            if n > 1:  # two writes: the buffer ends up exactly n bytes (see finish())
                buffer.seek(n - 2)
                buffer.write(b"\0")
            buffer.write(b"\0")
        return buffer, buffer.getbuffer()

    def finish(self, buffer: io.BytesIO, view: memoryview, filled: int) -> bytes:
        """The result: the first ``filled`` bytes of ``buffer`` (``view`` is released)."""
        size = view.nbytes
        view.release()
        if filled < size:
            buffer.truncate(filled)
            return buffer.getvalue()
        result = buffer.getvalue()
        turn = self._turn
        self._buffers[turn] = buffer
        self._results[turn] = result
        return result

    def clear(self) -> None:
        """Drop the kept buffers."""
        self._buffers = [None, None]
        self._results = [None, None]
