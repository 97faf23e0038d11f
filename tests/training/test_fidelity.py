"""What the original's trainers did and these reproduce: float32, the L2 term in the validation loss, ties at
equal loss, the checkpoint each family is reported from, and initialising / fine-tuning from a checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from training_helpers import TINY_MODELS, epoch_records, tiny_config

from acoustic_ssl.models import build_model
from acoustic_ssl.training.checkpoint import (
    CheckpointError,
    checkpoint_paths,
    read_checkpoint,
    reported_checkpoint,
)
from acoustic_ssl.training.objectives import Objective
from acoustic_ssl.training.run import train


@pytest.fixture(scope="module")
def selfsup_run(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch audio-video run (the source of the init_from tests)."""
    root = tmp_path_factory.mktemp("fidelity_selfsup")
    return train(tiny_config("selfsup", tiny_data, root / "run", data={"batch_size": 6}))


@pytest.fixture(scope="module")
def supervised_run(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fidelity_supervised")
    cfg = tiny_config("supervised", tiny_data, root / "run", data={"batch_size": 6})
    return train(cfg)


def test_training_is_float32_unless_tf32_is_asked_for(
    tiny_data: dict[str, Path], supervised_run: Path, tmp_path: Path
) -> None:
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    sections = {"experiment": {"epochs": 1}, "runtime": {"tf32": True}}
    try:
        train(tiny_config("supervised", tiny_data, tmp_path / "run", **sections))
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False


def test_validation_loss_includes_the_l2_term(supervised_run: Path) -> None:
    records = epoch_records(supervised_run)
    tensors, _ = read_checkpoint(supervised_run / "checkpoints" / "epoch_2")
    squares = sum(float(tensors[f"model/model/conv{i}.weight"].double().square().sum()) for i in range(1, 6))
    last = records[-1]
    assert last["valid/l2"] == pytest.approx(5e-4 * squares / 2, rel=1e-6)
    assert last["valid/loss"] == pytest.approx(last["valid/loss_data"] + last["valid/l2"], rel=1e-9)
    assert last["valid/l2"] > 1e-3 * last["valid/loss_data"]  # not negligible: it can decide ties


def test_a_tie_at_equal_loss_is_an_improvement() -> None:
    is_improvement = Objective.is_improvement  # every objective's selection rule unless it says otherwise
    best = {"accuracy": 0.5, "loss": 1.0}
    assert is_improvement({"accuracy": 0.5, "loss": 1.0}, best)  # the later epoch wins, as the original
    assert is_improvement({"accuracy": 0.5, "loss": 0.9}, best)
    assert not is_improvement({"accuracy": 0.5, "loss": 1.1}, best)
    assert is_improvement({"accuracy": 0.6, "loss": 9.0}, best)
    assert not is_improvement({"accuracy": 0.4, "loss": 0.0}, best)
    assert is_improvement({"accuracy": 0.0, "loss": 9.0}, None)


def test_best_reset_epochs_make_those_epochs_best_as_the_original(
    tiny_data: dict[str, Path], supervised_run: Path, tmp_path: Path
) -> None:
    sections = {"data": {"batch_size": 6}, "runtime": {"best_reset_epochs": [2]}}
    run_dir = train(tiny_config("supervised", tiny_data, tmp_path / "run", **sections))
    records = epoch_records(run_dir)
    assert records[1]["best"]  # epoch 2 is best whatever its validation score
    _, info = read_checkpoint(run_dir / "checkpoints" / "best")
    assert info["epoch"] == 2 and info["position"]["best"]["epoch"] == 2


def test_a_run_directory_stands_for_the_checkpoint_the_original_reported(
    selfsup_run: Path, supervised_run: Path, tmp_path: Path
) -> None:
    assert reported_checkpoint(selfsup_run) == selfsup_run / "checkpoints" / "epoch_2"  # its model_1
    assert checkpoint_paths(selfsup_run)[1] == selfsup_run / "checkpoints" / "epoch_2.json"
    assert reported_checkpoint(supervised_run) == supervised_run / "checkpoints" / "best"
    # without epoch_N files (runtime.save_every=0), the end of the last epoch is `last`
    copy = tmp_path / "copy"
    shutil.copytree(selfsup_run, copy)
    for path in (copy / "checkpoints").glob("epoch_*"):
        path.unlink()
    assert reported_checkpoint(copy) == copy / "checkpoints" / "last"
    # an unfinished run is not silently reported from a mid-training checkpoint
    last = copy / "checkpoints" / "last.json"
    info = json.loads(last.read_text())
    info["epoch"] = 1
    last.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=r"reported from its last epoch \(epoch_2\), which it has not"):
        reported_checkpoint(copy)


def test_init_from_loads_the_network_and_keeps_a_fresh_head(
    selfsup_run: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    source = selfsup_run / "checkpoints" / "last"
    models = {"model": {"name": "hearnet", "num_classes": 3, "init_from": str(source)}}
    cfg = tiny_config("supervised", tiny_data, tmp_path / "run", models=models, experiment={"epochs": 1})
    run_dir = train(cfg)
    start, _ = read_checkpoint(run_dir / "checkpoints" / "random")  # the weights before the first step
    trained, _ = read_checkpoint(source)
    for name in ("conv1.weight", "conv5.bias", "fc1.weight", "fc2.bias"):
        assert torch.equal(start[f"model/model/{name}"], trained[f"model/audio/{name}"]), name
    torch.manual_seed(3)  # the run's seed: its head is what a new classifier gets
    fresh = build_model("hearnet", num_classes=3).state_dict()
    assert torch.equal(start["model/model/fc3.weight"], fresh["fc3.weight"])
    assert json.loads((run_dir / "config.json").read_text())["models"]["model"]["init_from"] == str(source)


def test_init_from_refuses_other_shapes_and_a_missing_head(
    selfsup_run: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    source = str(selfsup_run / "checkpoints" / "last")
    video = {**TINY_MODELS["video"], "width": 16, "init_from": source}
    wider = {"video": video, "audio": TINY_MODELS["audio"]}
    with pytest.raises(CheckpointError, match=r"models\.video \(resnet18\): conv1\.0\.weight has shape "
                       r"\[8, 3, 7, 7\], models\.video needs \[16, 3, 7, 7\]"):
        train(tiny_config("selfsup", tiny_data, tmp_path / "wide", models=wider))
    head = {"model": {"name": "hearnet", "num_classes": 3, "init_from": source, "init_head": True}}
    with pytest.raises(CheckpointError, match=r"models\.audio \(hearnet\) has no fc3\.weight"):
        train(tiny_config("supervised", tiny_data, tmp_path / "head", models=head))
    no_audio = {"model": {"name": "dualcamnet", "num_classes": 3, "init_from": source}}
    with pytest.raises(CheckpointError, match=r"no single network reading acoustic"):
        train(tiny_config("supervised", tiny_data, tmp_path / "none", models=no_audio))
