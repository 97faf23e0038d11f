"""Adding a method is one ``Objective`` subclass registered from outside the package: a toy objective defined
here trains, is rebuilt by its kind from its checkpoints, and evaluation scores it with its own audio↔video
distance, localisation map and test mode. No package file names it.

Also: a ``contrastive`` checkpoint comes back as ``contrastive`` (with its projection heads) at extraction,
``[loss]`` keys belong to their objective, and ``evaluate`` reads a checkpoint once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_helpers import tiny_config

from acoustic_ssl.errors import ConfigError
from acoustic_ssl.evaluation.extract import extract_features, load_features
from acoustic_ssl.models import Network, l2n
from acoustic_ssl.training.objectives import OBJECTIVES, Objective, register_objective
from acoustic_ssl.training.objectives.base import Constraint
from acoustic_ssl.training.run import train


class ToyObjective(Objective):
    """Pull the audio vector towards the cell-mean video vector; score = squared distance between the two;
    localisation map = channel 0 of the video map (ignores the audio: easy to recognise)."""

    role_sets = (frozenset({"video", "audio"}),)
    reported = "final"
    constraints: ClassVar[Mapping[str, Constraint]] = {"scale": (lambda v: v > 0, "must be > 0")}

    def __init__(self, nets: Mapping[str, Network], teacher: Network | None = None, *, scale: float = 1.0):
        super().__init__(nets, teacher)
        self.scale = scale
        self.audio_role = "audio"

    def embed(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "video": self._outputs("video", batch)["embedding"],
            "audio": self._outputs("audio", batch)["embedding"],
        }

    def loss(self, out: dict, batch: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        d = self.scale * (l2n(out["audio"]) - l2n(out["video"].mean(dim=(2, 3)))).square().sum(dim=1).mean()
        return d, {"loss": d.detach(), "accuracy": (d.detach() < 1.0).float()}

    def validation_terms(self, out: dict, batch: dict) -> dict:
        return self.loss(out, batch, epoch=0)[1]

    def audio_feature(self, audio: torch.Tensor) -> torch.Tensor:
        return audio

    def video_feature(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return video.mean(dim=(2, 3))

    def pair_distances(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return torch.cdist(audio.double(), video.double().mean(dim=(2, 3))).square()

    def localization_map(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return video[:, 0]

    def test_metrics(self, splits: Any, distances: np.ndarray | None, batch_size: int) -> dict:
        return {"toy": {"mean_own_distance": float(np.mean(np.diag(distances)))}}


@pytest.fixture
def toy_registered() -> Iterator[None]:
    register_objective("toy", ToyObjective)
    yield
    del OBJECTIVES["toy"]


TINY_PAIR = {"video": {"name": "resnet18", "output_stride": 8, "width": 4}, "audio": {"name": "hearnet"}}


@pytest.mark.usefixtures("toy_registered")
def test_an_objective_registered_from_outside_trains_and_is_evaluated_as_itself(
    tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    from acoustic_ssl.evaluation.evaluate import evaluate_checkpoint, mismatched_attention
    from acoustic_ssl.evaluation.retrieval import retrieval_metrics
    from acoustic_ssl.training.trained import load_trained

    cfg = tiny_config("toy", tiny_data, tmp_path / "run", models=TINY_PAIR, loss={"scale": 2.0})
    assert cfg.loss.scale == 2.0
    run_dir = train(cfg)
    trained = load_trained(run_dir)  # the run directory stands for its last epoch (reported = "final")
    assert isinstance(trained.objective, ToyObjective) and trained.objective.scale == 2.0
    assert trained.name == "epoch_2"

    lists = {"training": tiny_data["train"], "validation": tiny_data["valid"], "testing": tiny_data["valid"]}
    metrics = evaluate_checkpoint(trained, tmp_path / "eval", lists=lists, ks=(1,), probe=False, device="cpu")
    test, _ = load_features(tmp_path / "eval" / "features_testing.npz")
    # features and the stored map are the toy's own
    np.testing.assert_allclose(test["audio"], test["audio_raw"], rtol=0, atol=0)
    np.testing.assert_allclose(test["attention_map"], test["video_map"][:, 0], rtol=0, atol=0)
    # retrieval ranks by its distance, the test mode is its own, the mismatched control uses its map
    video_vectors = test["video_map"].astype(np.float64).mean(axis=(2, 3))
    distances = ((test["audio_raw"][:, None, :] - video_vectors[None, :, :]) ** 2).sum(axis=2)
    expected = retrieval_metrics(distances, test["labels"], test["labels"])
    got = {k: v for k, v in metrics["retrieval"]["audio_to_video"].items() if k != "confusion"}
    assert got == pytest.approx(expected, abs=1e-9)
    assert metrics["toy"]["mean_own_distance"] == pytest.approx(float(np.diag(distances).mean()), rel=1e-6)
    np.testing.assert_array_equal(mismatched_attention(test, trained.objective), test["video_map"][:, 0])
    assert metrics["run_kind"] == "toy"


def test_a_contrastive_checkpoint_comes_back_as_contrastive(
    tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    """Extraction rebuilds the run's objective by its stored kind, with its projection heads: the features
    follow the contrastive rules (no ReLU, the cosine map of the projected outputs), not the triplet's."""
    from naive_losses import naive_project

    cfg = tiny_config("contrastive", tiny_data, tmp_path / "run", loss={"temperature": 0.1})
    run_dir = train(cfg)
    out = extract_features(run_dir, tiny_data["valid"], tmp_path / "f.npz", device="cpu", maps=True)
    arrays, meta = load_features(out)
    assert meta["run_kind"] == "contrastive" and meta["checkpoint_name"] == "epoch_2"
    raw = arrays["audio_raw"]
    np.testing.assert_allclose(arrays["audio"], raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    tensors = load_file(run_dir / "checkpoints" / "epoch_2.safetensors")
    heads = {k[len("objective/") :]: v for k, v in tensors.items() if k.startswith("objective/")}
    a = naive_project(torch.as_tensor(raw), heads["audio.weight"], heads["audio.bias"])
    v = naive_project(torch.as_tensor(arrays["video_map"]), heads["video.weight"], heads["video.bias"])
    cosine = torch.nn.functional.cosine_similarity(a[:, :, None, None], v, dim=1)
    np.testing.assert_allclose(arrays["attention_map"], cosine.numpy(), rtol=0, atol=1e-5)
    assert arrays["attention_map"].min() < 0  # a triplet attention map (Σ A⊙V²) is never negative


def test_loss_keys_belong_to_their_objective(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'loss\.alpha': kind 'selfsup' takes margin, hard"):
        tiny_config("selfsup", tiny_data, tmp_path / "a", loss={"alpha": 0.3})
    with pytest.raises(ConfigError, match=r"unknown key 'loss\.margin': kind 'contrastive' takes temper"):
        tiny_config("contrastive", tiny_data, tmp_path / "b", loss={"margin": 0.2})
    with pytest.raises(ConfigError, match=r"loss\.temperature: must be > 0, got 0\.0"):
        tiny_config("contrastive", tiny_data, tmp_path / "c", loss={"temperature": 0.0})
    with pytest.raises(ConfigError, match=r"loss\.where_weight: expected a number, got 'x'"):
        tiny_config("contrastive_transfer", tiny_data, tmp_path / "d", loss={"where_weight": "x"})
    cfg = tiny_config("contrastive_transfer", tiny_data, tmp_path / "e", loss={"teacher_checkpoint": "t"})
    assert cfg.loss.hyperparameters == {"temperature": 0.03, "projection_dim": 128, "alpha": 0.5,
                                        "where_weight": 0.5}  # the defaults, filled in


def test_evaluate_reads_the_checkpoint_once(
    tiny_data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three splits extracted and scored by one CLI call: the checkpoint is read and verified once."""
    from acoustic_ssl.cli import main
    from acoustic_ssl.training import checkpoint

    run_dir = train(tiny_config("selfsup", tiny_data, tmp_path / "run", experiment={"epochs": 1}))
    reads: list[str] = []
    real = checkpoint.read_checkpoint

    def counting(path: Any) -> Any:
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(checkpoint, "read_checkpoint", counting)
    monkeypatch.setattr("acoustic_ssl.training.trained.read_checkpoint", counting)
    hashed: list[str] = []
    real_hash = checkpoint.file_sha256
    monkeypatch.setattr(checkpoint, "file_sha256", lambda p: hashed.append(str(p)) or real_hash(p))
    argv = ["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path / "eval"), "--knn-k", "1",
            "--no-probe", "--train-list", str(tiny_data["train"]), "--valid-list", str(tiny_data["valid"]),
            "--test-list", str(tiny_data["valid"])]
    assert main(argv) == 0
    assert len(reads) == 1 and len(hashed) == 1, (reads, hashed)
