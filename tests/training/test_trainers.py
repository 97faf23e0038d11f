"""Every trainer lowers its loss on tiny data and leaves a complete, loadable run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from training_helpers import TINY_MODELS, epoch_records, save_random_teacher, step_records, tiny_config

from acoustic_ssl.training.checkpoint import load_checkpoint
from acoustic_ssl.training.run import train

# Full-batch training (1 step per epoch) so the epoch losses are measured on the same samples.
CASES: dict[str, dict[str, Any]] = {
    "supervised": {"kind": "supervised", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}},
    "selfsup_audio_video": {"kind": "selfsup", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}},
    "selfsup_acoustic_video": {
        "kind": "selfsup",
        "optim": {"lr": 1e-4},
        "data": {"batch_size": 12, "sample_length": 1, "total_length": 1},
        "models": {"video": TINY_MODELS["video"], "acoustic": TINY_MODELS["acoustic"]},
    },
    "transfer": {"kind": "transfer", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}, "teacher": None},
    "distillation": {"kind": "distillation", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}, "teacher": 3},
}
EXPECTED_ROLES = {
    "supervised": {"model"},
    "selfsup_audio_video": {"video", "audio"},
    "selfsup_acoustic_video": {"video", "acoustic"},
    "transfer": {"video", "audio", "acoustic"},
    "distillation": {"model", "acoustic"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_training_lowers_the_loss(case: str, tiny_data: dict[str, Path], tmp_path: Path) -> None:
    spec = dict(CASES[case])
    kind = spec.pop("kind")
    sections: dict[str, Any] = {"optim": spec["optim"], "data": spec["data"], "experiment": {"epochs": 3}}
    if "models" in spec:
        sections["models"] = spec["models"]
    if "teacher" in spec:
        teacher = save_random_teacher(tmp_path / "teacher", spec["teacher"])
        sections["loss"] = {"teacher_checkpoint": str(teacher), "hard_from_epoch": 100}
    run_dir = train(tiny_config(kind, tiny_data, tmp_path / "run", **sections))

    losses = [r["train/loss"] for r in epoch_records(run_dir)]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert all("valid/accuracy" in r and "valid/loss" in r for r in epoch_records(run_dir))
    steps = step_records(run_dir)
    assert [r["step"] for r in steps] == [1, 2, 3] and all(r["samples_per_s"] > 0 for r in steps)

    config = json.loads((run_dir / "config.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert config["experiment"]["kind"] == kind and meta["seed"] == 3 and meta["world_size"] == 1
    assert meta["torch_version"] == torch.__version__ and meta["code_version"]
    assert any((run_dir / "tb").iterdir())
    names = {p.name for p in (run_dir / "checkpoints").iterdir()}
    for stem in ("random", "epoch_1", "epoch_3", "best", "last"):
        assert {f"{stem}.safetensors", f"{stem}.json"} <= names

    models, info = load_checkpoint(run_dir / "checkpoints" / "last")
    assert set(models) == EXPECTED_ROLES[case] and info["epoch"] == 3 and info["kind"] == kind
    if "teacher" in spec:
        assert info["frozen_roles"] == ["acoustic"]
        teacher_models, _ = load_checkpoint(tmp_path / "teacher")
        (teacher_net,) = teacher_models.values()
        for name, value in teacher_net.state_dict().items():  # the teacher did not move
            assert torch.equal(models["acoustic"].state_dict()[name], value)
