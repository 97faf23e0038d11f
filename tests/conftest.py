"""Shared test settings: quiet progress bars, deterministic seeds, few threads (CI has 2 cores)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")
# Spinning OpenMP threads steal the other core on a busy 2-core machine (2-20x slower); set before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
