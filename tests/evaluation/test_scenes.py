"""Scene transfer on a tiny DCASE/TUT-style folder written by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation import scenes
from acoustic_ssl.evaluation.scenes import (
    CROPS_PER_CLIP,
    crop_offsets,
    crop_statistics,
    inner_split,
    load_clip,
    read_scene_folder,
    scene_transfer,
)
from acoustic_ssl.models import HearNet

RATE = 8000
SCENES = ("park", "metro", "street")


def _scene_audio(scene: int, rng: np.random.Generator, seconds: float = 10.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    if scene == 0:
        return 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.normal(size=t.size)
    if scene == 1:
        return 0.3 * rng.normal(size=t.size)
    return 0.3 * np.sin(2 * np.pi * 2500 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2


def write_scene_folder(
    root: Path, train_per_scene: int = 5, test_per_scene: int = 2, valid_per_scene: int = 0
) -> Path:
    """A DCASE tree: audio/, meta.csv, fold1_train / fold1_evaluate and (with ``valid_per_scene``) a
    fold1_validation.txt of other recordings."""
    import soundfile

    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True)
    (root / "evaluation_setup").mkdir()
    meta, train, test, valid = ["filename\tscene_label\tidentifier"], [], [], []
    for s, scene in enumerate(SCENES):
        for i in range(train_per_scene + test_per_scene + valid_per_scene):
            name = f"audio/{scene}-{i}.wav"
            soundfile.write(root / name, _scene_audio(s, rng), RATE)
            meta.append(f"{name}\t{scene}\t{scene}-loc{i}")
            split = train if i < train_per_scene else test if i < train_per_scene + test_per_scene else valid
            split.append(f"{name}\t{scene}")
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    (root / "evaluation_setup" / "fold1_train.txt").write_text("\n".join(train) + "\n")
    (root / "evaluation_setup" / "fold1_evaluate.txt").write_text("\n".join(n.split("\t")[0] for n in test))
    if valid:
        (root / "evaluation_setup" / "fold1_validation.txt").write_text("\n".join(valid) + "\n")
    return root


def test_read_folder_and_crops(tmp_path: Path) -> None:
    root = write_scene_folder(tmp_path / "tut", train_per_scene=3, test_per_scene=1)
    folder = read_scene_folder(root)
    train, test, classes = folder.train, folder.test, folder.classes
    assert classes == ["metro", "park", "street"] and folder.valid == []
    assert len(train) == 9 and len(test) == 3
    assert test[0].label == classes.index("park") and test[0].group == "park-loc3"
    wave = load_clip(train[0].path)
    assert wave.shape == (220500,)
    short = tmp_path / "short.wav"
    import soundfile

    soundfile.write(short, np.ones(RATE), RATE)  # 1 s: zero-padded to 10 s
    padded = load_clip(short)
    assert padded.shape == (220500,) and padded[-1] == 0.0 and abs(padded[1000] - 1.0) < 0.05
    broken = np.ones(RATE)
    broken[500] = np.nan
    soundfile.write(tmp_path / "nan.wav", broken, RATE, subtype="DOUBLE")
    with pytest.raises(DataError) as caught:
        load_clip(tmp_path / "nan.wav")
    assert str(caught.value) == (
        f"{tmp_path / 'nan.wav'}: 1 value is NaN or infinite (first: sample 500, channel 0 = nan)"
    )
    np.testing.assert_array_equal(crop_offsets(2, train=False), [[0, 44100, 88200, 132300, 176400]] * 2)
    random_offsets = crop_offsets(4, train=True, seed=3)
    assert random_offsets.shape == (4, CROPS_PER_CLIP) and random_offsets.max() <= 220500 - 44100
    np.testing.assert_array_equal(random_offsets, crop_offsets(4, train=True, seed=3))
    fit, val = inner_split(train)
    assert val.sum() == 3 and not (fit & val).any()  # one of three recordings per class


def test_missing_fold_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "evaluation_setup").mkdir()
    with pytest.raises(DataError, match=r"fold1_train\.txt"):
        read_scene_folder(tmp_path)


def test_scene_transfer_cli(tmp_path: Path, tiny_dataset: dict[str, Path]) -> None:
    import json

    from acoustic_ssl.cli import main

    root = write_scene_folder(tmp_path / "tut", train_per_scene=3, test_per_scene=1)
    out = tmp_path / "scenes.json"
    ckpt = str(tiny_dataset["checkpoint"])
    argv = ["scenes", "--checkpoint", ckpt, "--data", str(root), "--out", str(out), "--knn-k", "1", "3"]
    assert main([*argv, "--protocol", "inner"]) == 0
    result = json.loads(out.read_text())
    assert result["protocol"] == "inner" and result["n_fit_crops"] == 6 * CROPS_PER_CLIP
    assert result["n_test_crops"] == 3 * CROPS_PER_CLIP
    assert result["classes"] == ["metro", "park", "street"]
    # three very different synthetic scenes (chance 1/3): every test crop right, at both k and every C, so
    # the smallest k and the smallest C win the validation ties
    assert result["knn"]["accuracy"] == 1.0 and result["knn"]["k"] == 1
    assert result["knn"]["val_accuracy@3"] == result["knn"]["test_accuracy@3"] == 1.0
    assert result["linear_probe"] == {"accuracy": 1.0, "C": 0.001, "val_accuracy": 1.0}


def test_scene_transfer_needs_an_audio_network(tmp_path: Path) -> None:
    from acoustic_ssl.models import DualCamNet, ResNet18
    from acoustic_ssl.training.objectives import SelfSupervised

    root = write_scene_folder(tmp_path / "tut", train_per_scene=1, test_per_scene=1)
    with pytest.raises(DataError, match="no network reading audio"):
        scene_transfer(SelfSupervised({"video": ResNet18(width=4), "acoustic": DualCamNet()}), root)


def test_original_protocol_on_a_generated_dcase_tree(
    tmp_path: Path, tiny_dataset: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consecutive crops in every split, kNN fitted on all training crops, k chosen on the validation fold."""
    root = write_scene_folder(tmp_path / "tut", train_per_scene=2, test_per_scene=1, valid_per_scene=1)
    offsets_seen: list[np.ndarray] = []
    real_spectrograms = scenes.clip_spectrograms

    def spy(clips: list, offsets: np.ndarray) -> np.ndarray:
        offsets_seen.append(offsets)
        return real_spectrograms(clips, offsets)

    monkeypatch.setattr(scenes, "clip_spectrograms", spy)
    result = scene_transfer(tiny_dataset["checkpoint"], root, ks=(1, 3), probe=False)
    assert result["protocol"] == "original" and result["statistics"] == "per-bin"
    consecutive = [0, 44100, 88200, 132300, 176400]
    assert len(offsets_seen) == 3  # training, test and validation clips
    assert all((o == consecutive).all() for o in offsets_seen)
    assert result["n_fit_crops"] == 6 * CROPS_PER_CLIP  # every training crop
    assert result["n_valid_crops"] == result["n_test_crops"] == 3 * CROPS_PER_CLIP
    assert result["knn"]["k"] == 1 and result["knn"]["accuracy"] == 1.0  # all right at k = 1 and 3
    assert result["knn"]["val_accuracy@3"] == result["knn"]["test_accuracy@3"] == 1.0
    # the validation fold is required, and can be given anywhere
    moved = tmp_path / "moved.txt"
    (root / "evaluation_setup" / "fold1_validation.txt").rename(moved)
    with pytest.raises(DataError, match=r"fold1_validation\.txt: not found; the original protocol chooses k"):
        scene_transfer(tiny_dataset["checkpoint"], root, ks=(1, 3), probe=False)
    again = scene_transfer(tiny_dataset["checkpoint"], root, valid_fold=moved, ks=(1, 3), probe=False)
    assert again["knn"] == result["knn"]
    with pytest.raises(DataError, match=r"nowhere\.txt: validation fold file not found"):
        scene_transfer(tiny_dataset["checkpoint"], root, valid_fold="nowhere.txt")


def test_the_original_mis_scaled_statistics() -> None:
    rng = np.random.default_rng(0)
    crops = rng.gamma(2.0, size=(4 * CROPS_PER_CLIP, 257, 200))  # 4 clips, 5 crops each
    mean, std = crop_statistics(crops, n_clips=4).stats  # float32, as the checkpoints store them
    np.testing.assert_allclose(mean, crops.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, crops.std(axis=(0, 2)), rtol=1e-6)
    scaled, _ = crop_statistics(crops, n_clips=4, original=True).stats
    np.testing.assert_allclose(scaled, mean * 5 / 257, rtol=1e-6)  # spec §7 item 8
class _SpyNet(HearNet):
    """A HearNet whose 128-d embedding the test chooses, recording every spectrogram batch it is fed."""

    def __init__(self, feature: Any) -> None:
        super().__init__()
        self.feature = feature
        self.inputs: list[torch.Tensor] = []

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.inputs.append(x.clone())
        return {"embedding": self.feature(x)}


def _objective(net: HearNet) -> Any:
    """The spy as the audio network of the paper's self-supervised objective (its audio feature: the unit
    vector of the ReLU of the embedding)."""
    from acoustic_ssl.training.objectives import SelfSupervised

    return SelfSupervised({"audio": net})


def _band_energy(x: torch.Tensor) -> torch.Tensor:
    """Time mean of the first 128 (z-scored) bins: 440 Hz, 2.5 kHz and noise scenes differ there."""
    return torch.exp(x.mean(dim=2)[:, :128])


@pytest.fixture(scope="module")
def scene_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene_folder(
        tmp_path_factory.mktemp("scenes") / "tut", train_per_scene=5, test_per_scene=2, valid_per_scene=1
    )


def test_scene_transfer_feeds_z_scored_training_crops_and_scores_per_crop(scene_folder: Path) -> None:
    spy = _SpyNet(_band_energy)
    result = scene_transfer(_objective(spy), scene_folder, ks=(1, 3), probe=False)
    assert result["n_test_crops"] == 3 * 2 * CROPS_PER_CLIP
    # k is chosen on the validation fold (1 clip per scene), never on the test fold (2 per scene)
    assert result["n_valid_crops"] == 3 * 1 * CROPS_PER_CLIP
    assert result["n_fit_crops"] == 3 * 5 * CROPS_PER_CLIP
    assert result["knn"]["accuracy"] == 1.0  # separable features, labels aligned with their crops
    fed = torch.cat(spy.inputs)
    assert fed.shape[1:] == (257, 200)
    train = fed[: 3 * 5 * CROPS_PER_CLIP]  # the training crops come first
    mean, std = train.double().mean(dim=(0, 2)), train.double().std(dim=(0, 2), unbiased=False)
    varying = std > 1e-6
    assert varying.sum() > 200
    assert mean.abs().max() < 1e-3 and (std[varying] - 1).abs().max() < 1e-3  # z-scored per bin


def test_scene_transfer_with_uninformative_features_is_at_chance(scene_folder: Path) -> None:
    """Constant features give every test crop the same class: a third of the balanced test crops."""
    uninformative = _objective(_SpyNet(lambda x: torch.ones(len(x), 128)))
    result = scene_transfer(uninformative, scene_folder, ks=(1, 3), probe=False)
    assert result["knn"]["accuracy"] == pytest.approx(1 / 3)
