"""Exact resume (epoch boundary and mid-epoch after SIGTERM), NaN detection and the train CLI."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import epoch_records, step_records, tiny_config

from acoustic_ssl.cli import main as cli_main
from acoustic_ssl.training.checkpoint import CheckpointError, load_checkpoint
from acoustic_ssl.training.objectives import Supervised
from acoustic_ssl.training.run import TrainingError, TrainingInterrupted, train
from acoustic_ssl.training.rundir import load_run_config

# ResNet18 (BatchNorm buffers, coupled L2) on 1-s samples: 12 samples, 3 steps of 4 per epoch.
SECTIONS: dict[str, Any] = {
    "models": {"model": {"name": "resnet18", "width": 8, "output_stride": 8, "num_classes": 3}},
    "data": {"sample_length": 1, "total_length": 1},
    "experiment": {"epochs": 2},
}


def _config(tiny_data: dict[str, Path], run_dir: Path, epochs: int = 2) -> Any:
    sections = {**SECTIONS, "experiment": {"epochs": epochs}}
    return tiny_config("supervised", tiny_data, run_dir, **sections)


def _curve(run_dir: Path) -> tuple[list[dict], list[tuple]]:
    steps = [(r["step"], r["epoch"], r["train/loss"], r["train/accuracy"]) for r in step_records(run_dir)]
    return epoch_records(run_dir), steps


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run_dir / "checkpoints" / "last.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(("model/", "optim/"))}


def _assert_same_run(a: Path, b: Path) -> None:
    assert _curve(a) == _curve(b)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.fixture(scope="module")
def reference_run(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two uninterrupted epochs."""
    return train(_config(tiny_data, tmp_path_factory.mktemp("ref") / "run"))


def test_resume_at_epoch_boundary_is_exact(
    reference_run: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    run_dir = train(_config(tiny_data, tmp_path / "run", epochs=1))
    cfg = load_run_config(run_dir, ["experiment.epochs=2"])
    assert train(cfg, resume=run_dir) == run_dir
    _assert_same_run(reference_run, run_dir)


def test_sigterm_saves_last_and_resume_is_exact(
    reference_run: Path, tiny_data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Supervised.loss
    calls = {"n": 0}

    def loss_then_signal(self: Supervised, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGTERM)  # arrives mid-step: the step finishes, then 'last' is saved
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Supervised, "loss", loss_then_signal)
    with pytest.raises(TrainingInterrupted, match=r"SIGTERM: stopped at epoch 1, step 2.*--resume") as err:
        train(_config(tiny_data, tmp_path / "run"))
    run_dir = err.value.run_dir
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))
    monkeypatch.setattr(Supervised, "loss", original)
    train(load_run_config(run_dir), resume=run_dir)
    _assert_same_run(reference_run, run_dir)


def test_nan_loss_stops_naming_the_step(
    tiny_data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Supervised.loss
    calls = {"n": 0}

    def nan_at_step_two(self: Supervised, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        loss, metrics = original(self, *args, **kwargs)
        return (loss * float("nan"), metrics) if calls["n"] == 2 else (loss, metrics)

    monkeypatch.setattr(Supervised, "loss", nan_at_step_two)
    with pytest.raises(TrainingError, match=r"non-finite training loss at epoch 1, step 2"):
        train(_config(tiny_data, tmp_path / "run", epochs=1))


def test_resume_without_last_is_a_clear_error(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoints/last\.json"):
        train(_config(tiny_data, tmp_path / "run"), resume=tmp_path / "nowhere")


def test_cli_trains_a_tiny_preset(
    tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = [
        "train",
        "--config",
        "supervised_resnet18",
        "--variant",
        "tiny",
        "--out",
        str(tmp_path / "runs"),
        "--set",
        f"data.train_list={tiny_data['train']}",
        "--set",
        f"data.valid_list={tiny_data['valid']}",
        "--set",
        "data.sample_length=1",
        "--set",
        "data.total_length=1",
        "--set",
        "data.batch_size=6",
        "--set",
        "data.num_workers=0",
        "--set",
        "experiment.epochs=1",
        "--set",
        "models.model.width=8",
        "--set",
        "runtime.device=cpu",
    ]
    assert cli_main(argv) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("tiny_supervised_resnet18-")
    assert (run_dir / "checkpoints" / "best.safetensors").is_file()
    # --resume auto finds the finished run; nothing is left to train, the run dir is reused.
    assert cli_main([*argv, "--resume", "auto"]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]) == run_dir
    assert cli_main(["train", "--config", "supervised_resnet18", "--set", "loss.alpah=1"]) == 2
    assert "unknown key 'loss.alpah'" in capsys.readouterr().err


def test_two_stream_run_resumes_with_matching_adam_state(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    """Resumed at the epoch boundary, a two-network run continues exactly as the uninterrupted one: the same
    losses, weights and Adam moments (a reset or misassigned Adam state changes the second epoch's step)."""
    # config.json stores roles sorted (audio, video) while the preset lists video first: the network and
    # Adam parameter order must not depend on it.
    def config(name: str, epochs: int) -> Any:
        return tiny_config("selfsup", tiny_data, tmp_path / name, experiment={"epochs": epochs})

    reference = train(config("reference", 2))
    run_dir = train(config("resumed", 1))
    train(load_run_config(run_dir, ["experiment.epochs=2"]), resume=run_dir)
    assert [r["epoch"] for r in epoch_records(run_dir)] == [1, 2]
    _assert_same_run(reference, run_dir)
    models, _ = load_checkpoint(run_dir / "checkpoints" / "last")
    moments = [k for k in _weights(run_dir) if k.startswith("optim/") and k.endswith("/exp_avg_sq")]
    assert len(moments) == sum(len(list(net.parameters())) for net in models.values())  # every parameter
