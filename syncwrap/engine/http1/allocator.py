"""glibc's malloc, set once per process for a body's large reads: :func:`prime_allocator`.

A body's reads come in large objects that live briefly: loop-mode reads of up to 1 MiB
(``direct.py``), TLS buffers of up to 120 KiB and the bytes a reader makes of them
(``tls_reads.py``). With glibc's defaults their memory is not always reused. A block
above the dynamic mmap threshold (128 KiB until a larger block is freed) is a fresh
mmap, and the heap's free top is given back to the system whenever it passes the trim
threshold (twice the mmap threshold), so the next reads grow the heap again: each time
a kernel entry and a zeroed page per 4 KiB, and the bytes copied into cold memory.
Measured per MiB of body: 10-30 page faults for loop-mode reads on both loops, and 130-250
for the engine's TLS reads on asyncio's loop (the system time per MiB 450-900 us against
160-270 us, the throughput 0.8-1.0 GB/s against 1.0-1.5).

So the first large reader of a process raises both thresholds once, as mallopt(3) says
glibc does after freeing a large mmap'd block: it allocates and frees one block of
:data:`ALLOCATOR_PRIME` (``bytes(n)`` is calloc, mmap'd untouched: one mmap and munmap,
no page touched). Reads then come from the heap, and the heap keeps up to 8 MiB free
between them (what a StreamReader buffers up to its default high water, 4 MiB, comes
and goes there): 0-2 faults per MiB. A 2 MiB block (a 4 MiB trim threshold) was enough
for loop-mode reads but not for TLS reads, which kept 90-180 faults per MiB one run in
two; 8 MiB gave 0.3 and would keep twice as much free. Elsewhere (another allocator, or
thresholds set by the user, which glibc then keeps) this costs one allocation and
changes nothing.
"""

from __future__ import annotations

__all__ = ["ALLOCATOR_PRIME", "prime_allocator"]

#: The block allocated and freed once: glibc's mmap threshold becomes this, its trim
#: threshold twice this (the module docstring says why 4 MiB).
ALLOCATOR_PRIME = 4 * 1024 * 1024

_primed = False


def prime_allocator() -> None:
    """Once per process: allocate and free one :data:`ALLOCATOR_PRIME` block (see the
    module docstring). Later calls cost one check."""
    global _primed
    if not _primed:
        _primed = True
        bytes(ALLOCATOR_PRIME)  # freed at once
