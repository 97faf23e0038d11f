"""The one rule that turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into a torch device.

Training (``runtime.device``, one GPU per ``torchrun`` process) and evaluation (``--device``) both use it, so
``auto`` means the same everywhere and asking for a GPU that is not there is one clear error, not a traceback.
"""

from __future__ import annotations

import re

import torch

from acoustic_ssl.errors import ConfigError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def valid_device(preference: str) -> bool:
    """Whether ``preference`` is one of auto, cpu, cuda, cuda:N."""
    return preference in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", preference) is not None


def pick_device(preference: str = "auto", local_rank: int = 0, *, setting: str = "device") -> torch.device:
    """``auto`` → this process's GPU when CUDA is available, else the CPU; ``cuda`` → GPU ``local_rank``.

    ``setting`` names the flag or key in errors (``runtime.device``, ``--device``).
    """
    if not valid_device(preference):
        raise ConfigError(f"{setting}={preference}: expected {DEVICE_CHOICES}")
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"{setting}={preference}: no CUDA device is available (use cpu or auto)")
    if preference.startswith("cuda:"):
        return torch.device(preference)
    return torch.device("cuda", local_rank % torch.cuda.device_count())
