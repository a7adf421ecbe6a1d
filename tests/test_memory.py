"""Reusing freed memory: large allocations come from the heap inside the block only, and results are unchanged."""
import ctypes

import numpy as np
import pytest
import torch

from nwb_biornn.model import memory

LARGE = 16 * 1024 * 1024  # float32 elements: 64 MB, far above glibc's mmap threshold


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo():
    libc = memory._glibc()
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2()


needs_glibc = pytest.mark.skipif(memory._glibc() is None or not hasattr(memory._glibc(), "mallinfo2"),
                                 reason="needs Linux with glibc >= 2.33")


@needs_glibc
def test_large_tensors_come_from_the_heap_inside_the_block_only():
    def mapped_while_alive():
        """Bytes malloc maps separately (mallinfo2's ``hblkhd``) for a tensor larger than the heap's free space."""
        before = _mallinfo()
        tensor = torch.ones(before.fordblks // 4 + LARGE)
        grown = _mallinfo().hblkhd - before.hblkhd
        del tensor
        return grown

    assert mapped_while_alive() >= 4 * LARGE
    with memory.reuse_freed_memory(full_size=LARGE):
        with memory.reuse_freed_memory(full_size=LARGE):
            assert mapped_while_alive() == 0
        assert memory._depth == 1 and mapped_while_alive() == 0
    assert memory._depth == 0
    assert mapped_while_alive() >= 4 * LARGE
    with memory.reuse_freed_memory(full_size=memory.LARGEST + 1):  # large runs: malloc left as it is
        assert mapped_while_alive() >= 4 * LARGE


def test_results_do_not_depend_on_it():
    x = torch.randn(300, 300, generator=torch.Generator().manual_seed(0))
    outside = (x @ x).numpy()
    with memory.reuse_freed_memory(full_size=LARGE):
        inside = (x @ x).numpy()
    np.testing.assert_array_equal(outside, inside)
