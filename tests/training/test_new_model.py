"""Adding a network is one class plus one registry entry: a toy model defined here trains and is extracted.

Nothing else is touched — not the config validation, the trainers, the checkpoints nor feature extraction:
they read the modality, the L2 set and the outputs from the class.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from training_helpers import TINY_MODELS, epoch_records, tiny_config

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import Modality
from acoustic_ssl.data.stats import compute_stats, load_normalization
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.evaluation.extract import extract_features, load_features
from acoustic_ssl.models import MODELS, Network, register_model
from acoustic_ssl.training.checkpoint import load_checkpoint
from acoustic_ssl.training.run import train


class ToyAudioNet(Network):
    """Spectrogram [N,257,T] → 128-d embedding (or logits): a convolution, a mean over time, a linear head."""

    modality = Modality.AUDIO

    def __init__(self, num_classes: int | None = None, hidden: int = 16) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv1d(257, hidden, 3)
        self.head = nn.Linear(hidden, 128)
        self.classifier = nn.Linear(128, num_classes) if num_classes is not None else None

    def weight_decay_parameters(self) -> list[nn.Parameter]:
        return [self.conv.weight]

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.head(F.relu(self.conv(x)).mean(dim=2))
        if self.classifier is None:
            return {"embedding": embedding}
        features = F.relu(embedding)
        return {"logits": self.classifier(features), "features": features}


@pytest.fixture
def toy_registered() -> Iterator[None]:
    register_model("toy_audio", ToyAudioNet)
    yield
    del MODELS["toy_audio"]


@pytest.fixture(scope="module")
def stats(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy_stats")
    compute_stats(tiny_data["train"], out)
    return out


@pytest.mark.usefixtures("toy_registered")
@pytest.mark.parametrize(
    ("kind", "models"),
    [
        ("selfsup", {"video": TINY_MODELS["video"], "audio": {"name": "toy_audio", "hidden": 8}}),
        ("supervised", {"model": {"name": "toy_audio", "num_classes": 3}}),
    ],
)
def test_a_registered_toy_model_trains_and_is_extracted(
    kind: str, models: dict, tiny_data: dict[str, Path], stats: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(kind, tiny_data, tmp_path / "run", models=models, experiment={"epochs": 2})
    assert "audio" in cfg.modalities
    run_dir = train(cfg)
    losses = [r["train/loss"] for r in epoch_records(run_dir)]
    assert len(losses) == 2 and all(np.isfinite(losses))

    networks, info = load_checkpoint(run_dir / "checkpoints" / "last")
    toy = next(net for net in networks.values() if isinstance(net, ToyAudioNet))
    assert info["models"][next(r for r, n in networks.items() if n is toy)]["name"] == "toy_audio"

    out = extract_features(run_dir / "checkpoints" / "last", tiny_data["valid"], tmp_path / "f.npz",
                           stats_dir=stats, device="cpu", maps=True)
    arrays, meta = load_features(out)
    assert len(arrays["labels"]) == 3
    if kind == "selfsup":
        assert meta["audio_kind"] == "toy_audio"
        assert arrays["audio"].shape == (3, 128) and arrays["video"].shape == (3, 128)
        np.testing.assert_allclose(np.linalg.norm(arrays["audio"], axis=1), 1.0, rtol=1e-5)
        assert arrays["attention_map"].shape == (3, 12, 16)
        # the same input path as training: audio_raw is the toy's embedding of the normalised spectrogram
        dataset = ACIVWDataset(
            tiny_data["valid"], mode="inference", modalities=("audio",), normalize=load_normalization(stats)
        )
        with torch.no_grad():
            expected = toy(torch.stack([dataset[i]["spectrogram"] for i in range(len(dataset))]))
        np.testing.assert_allclose(arrays["audio_raw"], expected.numpy(), rtol=1e-4, atol=1e-5)
    else:
        assert arrays["features"].shape == (3, 128) and np.all(arrays["features"] >= 0)


@pytest.mark.usefixtures("toy_registered")
def test_the_l2_set_and_the_modality_come_from_the_class(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    from acoustic_ssl.models import decay_parameter_groups

    toy = ToyAudioNet()
    decayed, undecayed = decay_parameter_groups(nn.ModuleDict({"audio": toy}), 5e-4)
    assert decayed["params"] == [toy.conv.weight] and decayed["weight_decay"] == 5e-4
    assert len(undecayed["params"]) == 3 and undecayed["weight_decay"] == 0.0
    video_role = {"video": {"name": "toy_audio"}, "audio": {"name": "toy_audio"}}
    with pytest.raises(ConfigError, match=r"models.video.name: kind 'selfsup' needs a network reading video"):
        tiny_config("selfsup", tiny_data, tmp_path / "run", models=video_role)
