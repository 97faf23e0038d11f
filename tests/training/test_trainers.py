"""The trainer against an independent reference: what it logs is the loss recomputed from its checkpoints.

Every kind trains full-batch (one step per epoch) on the tiny records, so the loss logged at epoch e must
equal the naive loss (``naive_losses``: Python loops, the test's own same-recording mask, its own z-scoring
and frame pooling) of the checkpoint saved before that step, on the whole training list in training mode,
and the validation loss the naive loss of ``epoch_e`` on the validation list in eval mode. That pins what
training feeds its networks, what it treats as positives, how it weighs the terms (α = 0.3, λ = 0.3), when
it switches to batch-hard, the contrastive objectives' projections, max-over-cells cosine and temperature,
and the best-checkpoint rule, without reading the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from naive_losses import (
    naive_batch_all,
    naive_cosine,
    naive_cross_entropy,
    naive_distillation,
    naive_info_nce,
    naive_max_cosine,
    naive_project,
    naive_retrieval_accuracy,
    naive_same_recording,
    naive_triplet,
    naive_vector_distances,
    per_frame,
    pooled,
    tiled,
)
from safetensors.torch import load_file
from training_helpers import (
    TINY_MODELS,
    VIDEO_SIZE,
    epoch_records,
    save_random_teacher,
    step_records,
    tiny_config,
)

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.stats import load_stats
from acoustic_ssl.models import attention_distance
from acoustic_ssl.training.checkpoint import load_checkpoint
from acoustic_ssl.training.run import Trainer, train

ALPHA, LAMBDA, MARGIN, HARD_FROM = 0.3, 0.3, 0.2, 2  # epochs 1-2 batch-all, epoch 3 batch-hard
TAU = 0.1  # contrastive temperature
# The [loss] keys of each kind: a key a kind does not take is a config error.
LOSS_KEYS = {
    "supervised": {},
    "selfsup": {"hard_from_epoch": HARD_FROM, "margin": MARGIN},
    "transfer": {"hard_from_epoch": HARD_FROM, "margin": MARGIN, "alpha": ALPHA},
    "distillation": {"lambda": LAMBDA},
    "contrastive": {"temperature": TAU},
    "contrastive_transfer": {"temperature": TAU, "alpha": ALPHA, "where_weight": 0.0},  # L_where elsewhere
}

# Full-batch training (1 step per epoch): every training sample is in the one batch of each epoch.
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
    "contrastive_audio_video": {"kind": "contrastive", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}},
    "contrastive_acoustic_video": {
        "kind": "contrastive",
        "optim": {"lr": 1e-4},
        "data": {"batch_size": 12, "sample_length": 1, "total_length": 1},
        "models": {"video": TINY_MODELS["video"], "acoustic": TINY_MODELS["acoustic"]},
    },
    "contrastive_transfer": {
        "kind": "contrastive_transfer", "optim": {"lr": 1e-4}, "data": {"batch_size": 6}, "teacher": None
    },
}
EXPECTED_ROLES = {
    "supervised": {"model"},
    "selfsup_audio_video": {"video", "audio"},
    "selfsup_acoustic_video": {"video", "acoustic"},
    "transfer": {"video", "audio", "acoustic"},
    "distillation": {"model", "acoustic"},
    "contrastive_audio_video": {"video", "audio"},
    "contrastive_acoustic_video": {"video", "acoustic"},
    "contrastive_transfer": {"video", "audio", "acoustic"},
}


def _whole_list(list_file: Path, sample_length: int, stats_dir: Path) -> dict[str, torch.Tensor]:
    """Every sample of a list as one batch, spectrograms z-scored here per bin with the statistics."""
    dataset = ACIVWDataset(
        list_file,
        mode="inference",
        total_length=sample_length,
        sample_length=sample_length,
        nr_frames=1,
        video_size=tuple(VIDEO_SIZE),
    )
    items = [dataset[i] for i in range(len(dataset))]
    batch = {key: torch.stack([item[key] for item in items]) for key in items[0]}
    mean, std = (torch.as_tensor(v, dtype=torch.float32)[:, None] for v in load_stats(stats_dir))
    batch["spectrogram"] = (batch["spectrogram"] - mean) / torch.where(std > 0, std, 1.0)
    return batch


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())


def naive_loss(
    case: str, checkpoint: Path, batch: dict[str, torch.Tensor], *, training: bool, hard: bool
) -> tuple[float, float]:
    """(loss, accuracy) of ``checkpoint``'s networks on ``batch`` by the spec's formulas."""
    models, info = load_checkpoint(checkpoint)
    for role, net in models.items():
        net.train(training and role not in info["frozen_roles"])
    labels = batch["label"]
    same = naive_same_recording(labels.tolist(), batch["location"].tolist())
    if case in ("supervised", "distillation"):
        logits = pooled(models["model"], batch["spectrogram"], "logits")
        if case == "supervised":
            return naive_cross_entropy(logits, labels), _accuracy(logits, labels)
        teacher = per_frame(models["acoustic"], batch["acoustic"], "logits")
        return naive_distillation(logits, labels, teacher, LAMBDA, 1.0, "softmax"), _accuracy(logits, labels)
    video = pooled(models["video"], batch["video"], "embedding")
    if case.startswith("contrastive"):
        return naive_contrastive(case, checkpoint, models, batch, video, same)
    if case == "selfsup_acoustic_video":
        audio_map = pooled(models["acoustic"], batch["acoustic"], "embedding")
    else:
        audio = pooled(models["audio"], batch["spectrogram"], "embedding")
        audio_map = tiled(audio)
    d = attention_distance(audio_map, video)
    loss = naive_triplet(d, same, MARGIN, hard)
    if case == "transfer":
        target = pooled(models["acoustic"], batch["acoustic"], "embedding").sum(dim=(2, 3))
        d_aa = naive_vector_distances(audio, target)
        loss = (1 - ALPHA) * loss + ALPHA * naive_triplet(d_aa, same, MARGIN, hard)
    return loss, naive_batch_all(d, same, MARGIN)[1]


def naive_contrastive(
    case: str,
    checkpoint: Path,
    models: dict[str, torch.nn.Module],
    batch: dict[str, torch.Tensor],
    video: torch.Tensor,
    same: torch.Tensor,
) -> tuple[float, float]:
    """EZ-VSL's loss with same-recording positives: the objective's own projections (its ``objective/``
    tensors), max-over-cells cosine, symmetric InfoNCE; transfer adds the audio↔teacher InfoNCE."""
    heads = {k[len("objective/") :]: v for k, v in load_file(f"{checkpoint}.safetensors").items()
             if k.startswith("objective/")}
    if case == "contrastive_acoustic_video":
        audio = pooled(models["acoustic"], batch["acoustic"], "embedding").mean(dim=(2, 3))
    else:
        audio = pooled(models["audio"], batch["spectrogram"], "embedding")
    a = naive_project(audio, heads["audio.weight"], heads["audio.bias"])
    v = naive_project(video, heads["video.weight"], heads["video.bias"])
    s = naive_max_cosine(a, v)
    loss = naive_info_nce(s, same, TAU)
    if case == "contrastive_transfer":
        target = pooled(models["acoustic"], batch["acoustic"], "embedding").mean(dim=(2, 3))
        student = naive_project(audio, heads["teacher.weight"], heads["teacher.bias"])
        loss = (1 - ALPHA) * loss + ALPHA * naive_info_nce(naive_cosine(student, target), same, TAU)
    return loss, naive_retrieval_accuracy(s, same)


def naive_best_epoch(records: list[dict[str, Any]]) -> int:
    """Highest validation accuracy, ties to the lower validation loss, exact ties to the later epoch (the
    original supervised trainer accepted a tie at equal loss)."""
    best = records[0]
    for r in records[1:]:
        if (r["valid/accuracy"], -r["valid/loss"]) >= (best["valid/accuracy"], -best["valid/loss"]):
            best = r
    return int(best["epoch"])


def trainable_roles(case: str) -> set[str]:
    """The networks the run updates (the frozen teacher is neither trained nor regularised)."""
    return EXPECTED_ROLES[case] - ({"acoustic"} if "teacher" in CASES[case] else set())


def naive_l2(path: Path, roles: set[str]) -> float:
    """The original's validation L2 term: 5e-4 · Σw²/2 over each trained network's regularised parameters."""
    models, _ = load_checkpoint(path)
    return sum(
        5e-4 * float(p.detach().double().square().sum()) / 2.0
        for role in roles
        for p in models[role].weight_decay_parameters()
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {
        k: v for k, v in load_file(str(path.with_suffix(".safetensors"))).items() if k.startswith("model/")
    }


@pytest.mark.parametrize("case", list(CASES))
def test_trainer_logs_the_naive_loss_of_its_checkpoints(
    case: str, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    spec = dict(CASES[case])
    kind = spec.pop("kind")
    data = {**spec["data"], "stats_dir": str(tiny_data["stats"])}
    loss_section: dict[str, Any] = dict(LOSS_KEYS[kind])
    sections: dict[str, Any] = {"optim": spec["optim"], "data": data, "experiment": {"epochs": 3}}
    if "models" in spec:
        sections["models"] = spec["models"]
    if "teacher" in spec:
        teacher = save_random_teacher(tmp_path / "teacher", spec["teacher"])
        loss_section["teacher_checkpoint"] = str(teacher)
    sections["loss"] = loss_section
    run_dir = train(tiny_config(kind, tiny_data, tmp_path / "run", **sections))
    ckpt = run_dir / "checkpoints"

    epochs, steps = epoch_records(run_dir), step_records(run_dir)
    assert [r["step"] for r in steps] == [1, 2, 3] and all(r["samples_per_s"] > 0 for r in steps)
    sample_length = int(data.get("sample_length", 2))
    train_batch = _whole_list(tiny_data["train"], sample_length, tiny_data["stats"])
    valid_batch = _whole_list(tiny_data["valid"], sample_length, tiny_data["stats"])
    assert len(train_batch["label"]) == data["batch_size"]  # full batch: the reference sees what training saw
    for e, (step, record) in enumerate(zip(steps, epochs, strict=True), start=1):
        before = ckpt / ("random" if e == 1 else f"epoch_{e - 1}")
        loss, accuracy = naive_loss(case, before, train_batch, training=True, hard=e > HARD_FROM)
        assert step["train/loss"] == pytest.approx(loss, rel=1e-4, abs=1e-6), f"epoch {e}"
        assert step["train/accuracy"] == pytest.approx(accuracy, abs=1e-6), f"epoch {e}"
        assert record["train/loss"] == pytest.approx(step["train/loss"], rel=1e-6)  # one step per epoch
        loss, accuracy = naive_loss(case, ckpt / f"epoch_{e}", valid_batch, training=False, hard=False)
        assert record["valid/loss_data"] == pytest.approx(loss, rel=1e-4, abs=1e-6), f"epoch {e}"
        l2 = naive_l2(ckpt / f"epoch_{e}", trainable_roles(case))
        assert record["valid/l2"] == pytest.approx(l2, rel=1e-6), f"epoch {e}"
        assert record["valid/loss"] == pytest.approx(loss + l2, rel=1e-4, abs=1e-6), f"epoch {e}"
        assert record["valid/accuracy"] == pytest.approx(accuracy, abs=1e-6), f"epoch {e}"

    # three steps lowered the (batch-all) training loss
    first = naive_loss(case, ckpt / "random", train_batch, training=True, hard=False)[0]
    assert naive_loss(case, ckpt / "last", train_batch, training=True, hard=False)[0] < first

    best = naive_best_epoch(epochs)
    assert json.loads((ckpt / "best.json").read_text())["epoch"] == best
    assert [r["best"] for r in epochs][best - 1]
    best_weights, best_epoch_weights = _weights(ckpt / "best"), _weights(ckpt / f"epoch_{best}")
    assert all(torch.equal(best_weights[k], best_epoch_weights[k]) for k in best_epoch_weights)

    config = json.loads((run_dir / "config.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    assert config["experiment"]["kind"] == kind and meta["seed"] == 3 and meta["world_size"] == 1
    assert meta["torch_version"] == torch.__version__ and meta["code_version"]
    assert any((run_dir / "tb").iterdir())
    names = {p.name for p in ckpt.iterdir()}
    for stem in ("random", "epoch_1", "epoch_3", "best", "last"):
        assert {f"{stem}.safetensors", f"{stem}.json"} <= names
    models, info = load_checkpoint(ckpt / "last")
    assert set(models) == EXPECTED_ROLES[case] and info["epoch"] == 3 and info["kind"] == kind
    optimizer = json.loads((ckpt / "last.json").read_text())["optimizer"]
    assert {g["lr"] for g in optimizer["param_groups"]} == {spec["optim"]["lr"]}
    assert sorted(g["weight_decay"] for g in optimizer["param_groups"]) == [0.0, 5e-4]  # the L2 set, the rest
    random, last = _weights(ckpt / "random"), _weights(ckpt / "last")
    trainable = [k for k in random if not k.startswith("model/acoustic/") or "teacher" not in spec]
    assert all(not torch.equal(random[k], last[k]) for k in trainable if k.endswith("conv1.weight"))
    if "teacher" in spec:
        assert info["frozen_roles"] == ["acoustic"]
        teacher_models, _ = load_checkpoint(tmp_path / "teacher")
        (teacher_net,) = teacher_models.values()
        for name, value in teacher_net.state_dict().items():  # the teacher did not move
            assert torch.equal(models["acoustic"].state_dict()[name], value)


# Validation results of five epochs, in order: ties on accuracy go to the lower loss, exact ties stay.
SCRIPTED = [(0.5, 1.0), (0.8, 0.9), (0.8, 0.5), (0.6, 0.1), (0.8, 0.5)]


def test_best_checkpoint_follows_a_scripted_sequence_of_validation_results(
    tiny_data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = iter(SCRIPTED)
    monkeypatch.setattr(
        Trainer, "validate", lambda self: dict(zip(("accuracy", "loss"), next(script), strict=True))
    )
    # 6 samples in batches of 4: two steps of unequal size per epoch
    sections = {"data": {"batch_size": 4, "stats_dir": str(tiny_data["stats"])}, "experiment": {"epochs": 5}}
    run_dir = train(tiny_config("supervised", tiny_data, tmp_path / "run", **sections))
    epochs, steps = epoch_records(run_dir), step_records(run_dir)
    # epoch 5 repeats epoch 3's accuracy and loss exactly: the later epoch wins the tie, as the original's
    assert [r["best"] for r in epochs] == [True, True, True, False, True]
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert (
        best["epoch"] == 5
        and best["metrics"]["valid/accuracy"] == 0.8
        and best["metrics"]["valid/loss"] == 0.5
    )
    best_weights, fifth = (
        _weights(run_dir / "checkpoints" / "best"),
        _weights(run_dir / "checkpoints" / "epoch_5"),
    )
    assert all(torch.equal(best_weights[k], fifth[k]) for k in fifth)
    # an epoch's training metrics are its steps' metrics weighted by their samples (4 then 2)
    for e, record in enumerate(epochs, start=1):
        first, second = (s for s in steps if s["epoch"] == e)
        for key in ("train/loss", "train/accuracy"):
            assert record[key] == pytest.approx((4 * first[key] + 2 * second[key]) / 6, rel=1e-6)


def test_the_seed_decides_the_initial_weights(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    from acoustic_ssl.training import distributed as ddp

    def initial(seed: int, name: str) -> dict[str, torch.Tensor]:
        cfg = tiny_config("selfsup", tiny_data, tmp_path / name, experiment={"seed": seed})
        info = ddp.setup("cpu")
        try:
            Trainer(cfg, tmp_path / name, info, resume=False, command=[])
        finally:
            ddp.teardown(info)
        return _weights(tmp_path / name / "checkpoints" / "random")

    a, b, c = initial(3, "a"), initial(3, "b"), initial(4, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k.endswith("weight"))
    assert np.isfinite([float(v.float().sum()) for v in c.values()]).all()
