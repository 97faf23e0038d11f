"""Checkpoints: pickle-free round trip of weights, Adam state and RNG states; clear errors for bad files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from acoustic_ssl.models import build_model
from acoustic_ssl.training.checkpoint import (
    CheckpointError,
    capture_rng,
    load_checkpoint,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
)

SPEC = {"name": "dualcamnet", "kwargs": {"num_classes": 3}}


def _trained_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = build_model("dualcamnet", num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = model(torch.randn(12, 12, 36, 48)).square().mean()
    loss.backward()
    optimizer.step()
    return model, optimizer


def test_round_trip_of_weights_optimizer_and_rng(tmp_path: Path) -> None:
    model, optimizer = _trained_model()
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    save_checkpoint(
        tmp_path / "ck",
        models={"model": model},
        specs={"model": SPEC},
        info={"epoch": 1, "step": 1},
        optimizer=optimizer,
        rng=True,
    )
    expected = (random.random(), np.random.rand(), torch.rand(1))

    models, info = load_checkpoint(tmp_path / "ck.safetensors")
    assert info["epoch"] == 1 and not models["model"].training
    for name, value in model.state_dict().items():
        assert torch.equal(models["model"].state_dict()[name], value)

    tensors, info = read_checkpoint(tmp_path / "ck.json")
    fresh = torch.optim.Adam(models["model"].parameters(), lr=1e-3)
    restore_optimizer(fresh, tensors, info, source=tmp_path / "ck")
    for a, b in zip(optimizer.state.values(), fresh.state.values(), strict=True):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(a[key], b[key])
    assert fresh.param_groups[0]["betas"] == optimizer.param_groups[0]["betas"]
    restore_rng(tensors, info["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    assert all(v.dtype == torch.uint8 for k, v in tensors.items() if k.startswith("rng/"))


def test_rng_capture_is_pure_tensors_and_scalars() -> None:
    tensors, scalars = capture_rng()
    assert set(tensors) >= {"rng/torch", "rng/numpy", "rng/python"}
    import json

    json.dumps(scalars)  # JSON-serialisable, no pickle anywhere


def test_missing_corrupt_and_torn_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.json: checkpoint file not found"):
        load_checkpoint(tmp_path / "nothing")
    model, _ = _trained_model()
    save_checkpoint(tmp_path / "a", models={"model": model}, specs={"model": SPEC}, info={})
    save_checkpoint(tmp_path / "b", models={"model": model}, specs={"model": SPEC}, info={})
    (tmp_path / "a.json").replace(tmp_path / "c.json")
    (tmp_path / "b.safetensors").replace(tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match=r"c\.safetensors: does not belong to c\.json"):
        load_checkpoint(tmp_path / "c")
    save_checkpoint(tmp_path / "d", models={"model": model}, specs={"model": SPEC}, info={})
    (tmp_path / "d.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"d\.safetensors: corrupt checkpoint tensors"):
        load_checkpoint(tmp_path / "d")
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"d\.json: corrupt checkpoint metadata"):
        load_checkpoint(tmp_path / "d")


def test_weights_that_do_not_fit_the_spec_are_rejected(tmp_path: Path) -> None:
    model, _ = _trained_model()
    wrong = {"model": {"name": "dualcamnet", "kwargs": {"num_classes": 5}}}
    save_checkpoint(tmp_path / "w", models={"model": model}, specs=wrong, info={})
    with pytest.raises(CheckpointError, match=r"weights of models\.model do not fit dualcamnet"):
        load_checkpoint(tmp_path / "w")


def test_optimizer_state_of_other_parameters_is_rejected(tmp_path: Path) -> None:
    model, optimizer = _trained_model()
    save_checkpoint(
        tmp_path / "o", models={"model": model}, specs={"model": SPEC}, info={}, optimizer=optimizer
    )
    tensors, info = read_checkpoint(tmp_path / "o")
    reordered = torch.optim.Adam(list(model.parameters())[::-1], lr=1e-3)
    with pytest.raises(CheckpointError, match=r"o: optimizer state 0/exp_avg has shape"):
        restore_optimizer(reordered, tensors, info, source=tmp_path / "o")
