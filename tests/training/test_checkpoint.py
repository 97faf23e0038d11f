"""Checkpoints: pickle-free round trip of weights, Adam state and RNG states; clear errors for bad files."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from training_helpers import save_random_teacher, tiny_config

from acoustic_ssl.cli import main as cli_main
from acoustic_ssl.data.stats import compute_stats, load_stats
from acoustic_ssl.errors import AcousticSSLWarning
from acoustic_ssl.evaluation.extract import extract_features, load_features
from acoustic_ssl.evaluation.hear import get_scene_embeddings, load_model
from acoustic_ssl.models import build_model
from acoustic_ssl.training.checkpoint import (
    STATS_MEAN,
    STATS_STD,
    CheckpointError,
    build_models,
    capture_rng,
    load_checkpoint,
    read_checkpoint,
    read_position,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
)
from acoustic_ssl.training.run import train

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


def _flip_last_byte(path: Path) -> None:
    """Damage a tensor's data (the end of a safetensors file), leaving its header readable."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10
    path.write_bytes(bytes(data))


def test_damaged_tensor_bytes_are_rejected_by_the_recorded_sha256(tmp_path: Path) -> None:
    model, optimizer = _trained_model()
    save_checkpoint(
        tmp_path / "h", models={"model": model}, specs={"model": SPEC}, info={}, optimizer=optimizer
    )
    info = json.loads((tmp_path / "h.json").read_text())
    assert info["tensors_sha256"] == hashlib.sha256((tmp_path / "h.safetensors").read_bytes()).hexdigest()
    _flip_last_byte(tmp_path / "h.safetensors")
    with pytest.raises(CheckpointError, match=r"h\.safetensors: damaged \(its SHA-256 differs from the one"):
        read_checkpoint(tmp_path / "h")


def test_checkpoints_without_a_hash_load_with_a_warning(tmp_path: Path) -> None:
    model, _ = _trained_model()
    save_checkpoint(tmp_path / "old", models={"model": model}, specs={"model": SPEC}, info={})
    info = json.loads((tmp_path / "old.json").read_text())
    del info["tensors_sha256"]  # as written before checkpoints carried one
    (tmp_path / "old.json").write_text(json.dumps(info))
    with pytest.warns(AcousticSSLWarning, match=r"old\.json: written before checkpoints carried a content"):
        load_checkpoint(tmp_path / "old")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.pop("step"), r"position\.step must be a non-negative integer, got None"),
        (lambda p: p.update(epoch="2"), r"position\.epoch must be a non-negative integer, got '2'"),
        (lambda p: p.update(batch_in_epoch=-1), r"position\.batch_in_epoch must be a non-negative integer"),
        (lambda p: p.update(sums=[1.0]), r"position\.sums must map metric names to numbers"),
        (lambda p: p.update(best={"epoch": 1}), r"position\.best must be null or \{epoch, accuracy, loss\}"),
        (lambda p: p.update(extra=1), r"position\.extra is not a field of the trainer position"),
    ],
)
def test_trainer_position_is_checked_field_by_field(edit: Any, message: str) -> None:
    position = {"epoch": 1, "batch_in_epoch": 0, "step": 3, "samples": 12, "sums": {"loss": 1.5}}
    position["best"] = None
    assert read_position({"position": dict(position)}, Path("run/last")) == position
    edit(position)
    with pytest.raises(CheckpointError, match=rf"run/last: {message}"):
        read_position({"position": position}, Path("run/last"))
    with pytest.raises(CheckpointError, match=r"run/last: holds no trainer position"):
        read_position({}, Path("run/last"))


def test_damaged_adam_and_rng_state_are_checkpoint_errors(tmp_path: Path) -> None:
    model, optimizer = _trained_model()
    save_checkpoint(
        tmp_path / "s", models={"model": model}, specs={"model": SPEC}, info={}, optimizer=optimizer, rng=True
    )
    tensors, info = read_checkpoint(tmp_path / "s")
    del info["optimizer"]["param_groups"]
    with pytest.raises(CheckpointError, match=r"s: damaged optimizer state \(KeyError"):
        restore_optimizer(optimizer, tensors, info, source=tmp_path / "s")
    del info["rng"]["numpy"]
    with pytest.raises(CheckpointError, match=r"s: damaged RNG state \(KeyError"):
        restore_rng(tensors, info["rng"], source=tmp_path / "s")


@pytest.fixture(scope="module")
def run_with_stats(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-epoch audio-video run whose spectrograms were z-scored with a statistics folder."""
    root = tmp_path_factory.mktemp("stats_run")
    compute_stats(tiny_data["train"], root / "stats")
    sections = {"experiment": {"epochs": 1}, "data": {"stats_dir": str(root / "stats")}}
    cfg = tiny_config("selfsup", tiny_data, root / "run", **sections)
    return {"root": root, "run": train(cfg), "stats": root / "stats"}


def test_a_checkpoint_whose_statistics_folder_is_gone_embeds_identically(
    run_with_stats: dict[str, Path], tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    best, stats = run_with_stats["run"] / "checkpoints" / "best", run_with_stats["stats"]
    tensors, info = read_checkpoint(best)
    mean, std = load_stats(stats)
    assert torch.equal(tensors[STATS_MEAN], torch.from_numpy(mean))
    assert torch.equal(tensors[STATS_STD], torch.from_numpy(std))
    sound = torch.from_numpy(np.random.default_rng(4).standard_normal((1, 30000)).astype(np.float32))
    before = load_features(extract_features(best, tiny_data["valid"], tmp_path / "a.npz", maps=False))[0]
    hear_before = get_scene_embeddings(sound, load_model(str(best)))
    moved = tmp_path / "moved_stats"
    shutil.copytree(stats, moved)
    shutil.rmtree(stats)
    try:
        after = load_features(extract_features(best, tiny_data["valid"], tmp_path / "b.npz", maps=False))[0]
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_array_equal(before[key], after[key], err_msg=key)
        assert torch.equal(get_scene_embeddings(sound, load_model(str(best))), hear_before)

        # a checkpoint written before statistics were stored in it: a clear error naming the lost folder ...
        legacy = tmp_path / "legacy"
        models = build_models(tensors, info)
        save_checkpoint(legacy, models=models, specs=info["models"], info={"config": info["config"]})
        gone = rf"legacy: .*trained with \({re.escape(str(stats))}\) are gone"
        with pytest.raises(CheckpointError, match=gone):
            extract_features(legacy, tiny_data["valid"], tmp_path / "c.npz")
        with pytest.raises(CheckpointError, match="are gone"):
            load_model(str(legacy))
        # ... and the statistics given explicitly make it embed as before
        explicit = extract_features(legacy, tiny_data["valid"], tmp_path / "d.npz", stats_dir=moved)
        np.testing.assert_array_equal(load_features(explicit)[0]["audio"], before["audio"])
        hear_explicit = get_scene_embeddings(sound, load_model(str(legacy), stats_dir=str(moved)))
        assert torch.equal(hear_explicit, hear_before)
    finally:
        shutil.copytree(moved, stats)


def test_every_loader_refuses_a_damaged_checkpoint(
    run_with_stats: dict[str, Path],
    tiny_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_with_stats["run"], run)
    for name in ("last", "best", "epoch_1"):  # the run dir stands for epoch_1 (a self-supervised run's last)
        _flip_last_byte(run / "checkpoints" / f"{name}.safetensors")
    damaged = r"damaged \(its SHA-256 differs"
    assert cli_main(["train", "--resume", str(run)]) == 2  # resume
    (err,) = capsys.readouterr().err.splitlines()
    prefix = re.escape(f"acoustic-ssl train: error: {run}/checkpoints/last.safetensors: ")
    assert re.match(prefix + damaged, err), err
    out = tmp_path / "f.npz"
    argv = ["extract", "--checkpoint", str(run), "--list", str(tiny_data["valid"]), "--out", str(out)]
    assert cli_main(argv) == 2  # extract
    assert re.search(damaged, capsys.readouterr().err) and not out.exists()
    with pytest.raises(CheckpointError, match=damaged):  # HEAR
        load_model(str(run / "checkpoints" / "best"))
    teacher = save_random_teacher(tmp_path / "teacher", None)
    _flip_last_byte(tmp_path / "teacher.safetensors")
    cfg = tiny_config("transfer", tiny_data, tmp_path / "student", loss={"teacher_checkpoint": str(teacher)})
    with pytest.raises(CheckpointError, match=damaged):  # teacher
        train(cfg)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.pop("position"), r"holds no trainer position \('position'\)"),
        (lambda p: p["position"].update(step="7"), r"position\.step must be a non-negative integer, got '7'"),
    ],
    ids=["missing", "mistyped"],
)
def test_resume_from_a_last_json_with_a_bad_position_is_one_line(
    run_with_stats: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    message: str,
) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_with_stats["run"], run)
    last = run / "checkpoints" / "last.json"
    info = json.loads(last.read_text())
    edit(info)
    last.write_text(json.dumps(info))
    assert cli_main(["train", "--resume", str(run), "--set", "experiment.epochs=2"]) == 2
    (err,) = capsys.readouterr().err.splitlines()
    prefix = re.escape(f"acoustic-ssl train: error: {run}/checkpoints/last: ")
    assert re.fullmatch(f"{prefix}{message}; cannot resume from it", err), err


def test_explicit_statistics_override_the_stored_ones(tmp_path: Path) -> None:
    """``stats_dir`` given to a checkpoint that stores its own statistics wins (the documented order: given,
    then stored, then the run config's folder)."""
    from acoustic_ssl.training.checkpoint import spectrogram_stats

    rng = np.random.default_rng(2)
    stored = (rng.random(257).astype(np.float32), rng.random(257).astype(np.float32) + 0.5)
    given = (rng.random(257).astype(np.float32) + 3.0, rng.random(257).astype(np.float32) + 2.0)
    np.save(tmp_path / "global_mean.npy", given[0])
    np.save(tmp_path / "global_std_dev.npy", given[1])
    model, _ = _trained_model()
    save_checkpoint(tmp_path / "ck", models={"model": model}, specs={"model": SPEC}, info={},
                    spectrogram_stats=stored)
    tensors, info = read_checkpoint(tmp_path / "ck")
    for got, want in zip(spectrogram_stats(tensors, info, tmp_path), given, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(spectrogram_stats(tensors, info), stored, strict=True):
        np.testing.assert_array_equal(got, want)
