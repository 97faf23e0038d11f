"""``benchmarks/gpu_check.py``: says so and exits 0 without CUDA; its whole CUDA code path runs on the CPU
at tiny size (``--device cpu --dry-run``), so the script a GPU owner runs is tested code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
KEYS = ("beamform_realtime_factor", "train_samples_per_s", "mfu_bf16", "loader_samples_per_s",
        "peak_memory_gib")  # fmt: skip


def _run(*args: str) -> tuple[list[str], dict]:
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_without_cuda_it_says_so_and_exits_0() -> None:
    lines, result = _run()
    assert lines[0].startswith("gpu_check: no CUDA device is visible, so nothing was measured")
    assert "--device cpu --dry-run" in lines[0]
    assert all(result[k] is None for k in KEYS) and result["skipped"] == "no CUDA device"


@pytest.mark.slow
def test_dry_run_exercises_every_step_on_the_cpu() -> None:
    lines, result = _run("--device", "cpu", "--dry-run")
    assert result["dry_run"] is True and set(KEYS) <= result.keys()
    assert result["beamform_realtime_factor"] > 0
    assert result["beamform"]["power_rel_error"] < 1e-4 and result["beamform"]["mfcc_rel_error"] < 1e-4
    for pair in ("audio_video", "acoustic_video"):
        assert result["train_samples_per_s"][pair] > 0 and result["mfu_bf16"][pair] > 0
        assert result["step_samples_per_s"][pair] > 0 and result["paper_epoch_minutes"][pair] > 0
        assert all(result["loader_samples_per_s"][source][pair] > 0 for source in ("records", "packed"))
        assert result["peak_memory_gib"][pair] is None  # CUDA memory only
    assert any(line.startswith("data: ") for line in lines)
