"""Keep freed memory in the process for reuse (glibc's malloc), set once by the ``acoustic-ssl`` command.

By default glibc serves every allocation above a few MiB with a fresh ``mmap`` and unmaps it on free, so each
training step's large tensors (a 64-sample batch of acoustic images is 128 MB, DualCamNet's activations more)
arrive as new pages the kernel must fault in and zero: measured on the 2-core machine, ~440 000 page faults
and a fifth of the CPU time in the kernel per acoustic+video step. Served from the heap and kept there when
freed, the same memory is reused from the second step on: `tiny`'s two acoustic+video runs went from 205 and
192 s to 111 and 118 s. The cost is that the process keeps its peak heap (up to ``TRIM_THRESHOLD`` free at the
top) until it exits, which is what a training or extraction run wants anyway. Elsewhere than glibc nothing
changes.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 1 << 30  # allocations below 1 GiB come from the heap
TRIM_THRESHOLD = 2**31 - 1  # the heap gives memory back only when 2 GiB lie free at its top
TOP_PAD = 1 << 26  # grow the heap 64 MiB at a time


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module docstring says; False (and no change) where that is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl or another libc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    applied = [mallopt(parameter, value) == 1 for parameter, value in settings]  # every one, then check
    return all(applied)
