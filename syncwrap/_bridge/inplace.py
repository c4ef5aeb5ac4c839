"""``bytes`` results filled in place: a socket receives straight into what the caller gets.

A read of exactly ``n`` bytes gathered from several receives (a chunked body's chunks)
would otherwise receive into a buffer and copy into a fresh ``bytes``. An
``io.BytesIO`` lends its own buffer (``getbuffer()``) and hands that very buffer out as
its value (``getvalue()``, no copy, when it is exactly filled and no longer lent), so
the receives can fill the result itself.

Cost model (CPython), per result of ``n`` bytes: one allocation of ``n`` bytes, zero-filled
once (a write, cheaper than a copy), then only the receives' own copies. Every result is a
fresh object: a ``bytes`` handed out is never written again, even once the caller dropped
it, because a dropped object could still carry its cached ``hash()`` into a reuse (measured:
a reused object then compares equal to its new contents but hashes as the old ones). Other
Pythons may copy in :meth:`InPlaceBytes.finish`: correct, one copy slower.
"""

from __future__ import annotations

import io

__all__ = ["InPlaceBytes"]


class InPlaceBytes:
    """Builds ``bytes`` results by filling them in place; one result at a time.

    :meth:`start` lends a writable view of exactly ``n`` bytes; :meth:`finish` takes the
    view back and returns the result (the first ``filled`` bytes).
    """

    __slots__ = ()

    def start(self, n: int) -> tuple[io.BytesIO, memoryview]:
        """A buffer for a result of ``n`` (> 0) bytes and a writable view of it."""
        buffer = io.BytesIO(bytes(n))  # the BytesIO holds the only reference: no copy to lend
        return buffer, buffer.getbuffer()

    def finish(self, buffer: io.BytesIO, view: memoryview, filled: int) -> bytes:
        """The result: the first ``filled`` bytes of ``buffer`` (``view`` is released)."""
        size = view.nbytes
        view.release()
        if filled < size:
            buffer.truncate(filled)
        return buffer.getvalue()
