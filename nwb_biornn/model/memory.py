"""Reusing freed memory between training steps.

Every training step allocates several full-size (T, K, N) tensors (spikes, membrane potentials, gradients) and
frees them at its end. glibc's ``malloc`` serves blocks that large with fresh ``mmap`` pages and unmaps them when
they are freed, so every step touches hundreds of megabytes of new pages, and the page faults land inside the
time loop: at N=500, T=200, B=400, 440 000 faults per step cost about a quarter of it (2.9 s instead of 2.2 s on
one thread; docs/performance.md).
:func:`reuse_freed_memory` makes ``malloc`` keep freed memory in the process heap for the duration of a run, the
in-process equivalent of the jemalloc/TCMalloc advice of PyTorch's CPU performance guide. Elsewhere than Linux
with glibc it does nothing.

Examples
--------
>>> with reuse_freed_memory(full_size=200 * 400 * 500):   # T * K * N
...     pass
"""
from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
"""``mallopt`` parameters (glibc's ``malloc.h``)."""
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
"""glibc's defaults, restored afterwards."""
KEPT_FREE = 2**31 - 1
"""Bytes of free memory at the top of the heap kept rather than returned to the system (``mallopt``'s maximum)."""
LARGEST = 64 * 1024 * 1024
"""Largest full-size tensor (elements; 256 MB of float32) of a run for which freed memory is kept."""


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_depth = 0
"""Number of :func:`reuse_freed_memory` blocks now open."""


@contextmanager
def reuse_freed_memory(full_size: int):
    """Serve large allocations from the heap and keep freed memory there until the block ends.

    ``full_size`` is the number of elements of a run's full-size (T, K, N) tensors. Above :data:`LARGEST` the
    block leaves ``malloc`` as it is: there the products dominate a step and the kept memory only raises its
    peak (at N=1500, T=650, B=200: 6.2 -> 7.1 GB for no gain; docs/performance.md). On leaving the outermost
    block, glibc's defaults are restored and the kept memory is returned to the system.
    """
    global _depth
    libc = _glibc()
    outermost = libc is not None and _depth == 0 and full_size <= LARGEST
    if outermost:
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, KEPT_FREE)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if outermost:
            libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)
