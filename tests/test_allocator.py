"""The allocator setting: freed tensors are reused instead of faulted in afresh (glibc only)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from acoustic_ssl.allocator import keep_freed_memory

PROBE = """
import json, resource, sys
import numpy as np
from acoustic_ssl.allocator import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(12):
    np.ones(8 * 2**20).sum()  # 64 MiB (above glibc's largest automatic mmap threshold), written, freed
print(json.dumps({"tuned": tuned, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def faults(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_a_freed_64_mib_array_is_reused_not_faulted_in_again() -> None:
    default, tuned = faults("default"), faults("tuned")
    assert tuned["tuned"] is True
    # by default each of the 12 allocations is mapped and faulted in afresh; tuned, only the first
    assert tuned["faults"] * 6 < default["faults"], (default, tuned)


def test_elsewhere_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False
