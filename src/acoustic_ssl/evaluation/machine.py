"""What machine a result was measured on: the facts that change float results or timings between machines.

Intel (oneDNN with AMX/AVX-512 kernels) and AMD (AVX2/AVX-512) CPUs sum in different orders, so the same
seed can train to different numbers on two machine kinds; a report that records the CPU, the thread count
and the torch / oneDNN / MKL versions says which kind it came from.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _config_version(config: str, pattern: str) -> str | None:
    match = re.search(pattern, config)
    return match.group(1) if match else None


def machine_info() -> dict[str, Any]:
    """CPU model, logical CPUs, torch threads, CPU capability, torch / oneDNN / MKL versions, GPU if any."""
    import numpy
    import torch

    config = torch.__config__.show()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": _config_version(config, r"CPU capability usage: (\S+)"),
        "torch_version": torch.__version__,
        "onednn_version": _config_version(config, r"(?:MKL-DNN|oneDNN)\s+v?([\d.]+)"),
        "mkl_version": _config_version(config, r"Math Kernel Library Version ([\d.]+)"),
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
