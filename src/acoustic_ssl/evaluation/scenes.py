"""Acoustic-scene transfer: a frozen audio network's features on a DCASE / TUT Urban Acoustic Scenes folder.

Layout (as TUT Urban Acoustic Scenes 2018): ``audio/*.wav``; ``meta.csv``, tab-separated
``filename<TAB>scene_label[<TAB>identifier[...]]`` with an optional header line;
``evaluation_setup/fold1_train.txt`` and ``fold1_evaluate.txt`` (or ``fold1_test.txt``), one
``filename[<TAB>label]`` per line. Labels come from ``meta.csv`` (else from the fold file) and are indexed in
sorted order.

Protocol (the original ``TUTDataLoader`` + ``computeTUTfeatures.py`` + ``knn.py``, with its quirks fixed):

* clips mixed to mono, resampled to 22 050 Hz (librosa's kaiser_best, exact ratio), cut to 10 s (zero-padded
  at the end if shorter);
* training clips: 5 random 2-s crops each, offsets drawn per clip from ``seed`` (the original drew one set of
  offsets for all clips, spec §7 item 11); test clips: the 5 non-overlapping crops at 0, 2, 4, 6, 8 s;
* magnitude spectrogram of the data layer (``waveform_to_spectrogram``), z-scored per frequency bin with the
  mean/std of the scene *training* crops (no peak normalisation, as the original TUT loader);
* features: HearNet embedding after ReLU for a self-supervised audio network (``computeTUTfeatures`` with
  ``--embedding 1``), ``features()`` (ReLU fc2) for a supervised one;
* the original chose k on a separate validation set; DCASE fold 1 has none, so the training clips are split
  into inner-train / inner-validation (20 % of the recording groups of each class, grouped by ``identifier``
  when present so crops of one location never straddle the split). k ∈ ``ks`` (smallest wins ties) and the
  linear probe's C are chosen there, the classifiers are fitted on inner-train, and the test accuracy is per
  crop (as the original's 12 590 test crops).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.layout import AUDIO_SAMPLE_RATE
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.knn import KNN_KS, knn_protocol, linear_probe

CLIP_SECONDS = 10
CROP_SECONDS = 2
CROPS_PER_CLIP = 5
VALIDATION_FRACTION = 0.2
TEST_FOLDS = ("fold1_evaluate.txt", "fold1_test.txt")


@dataclass(frozen=True)
class SceneClip:
    path: Path
    label: int
    group: str


def _read_rows(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    rows = [line.split("\t") for line in lines if line.strip()]
    if rows and rows[0][0].strip().lower() == "filename":
        rows = rows[1:]
    return [[field.strip() for field in row] for row in rows]


def read_scene_folder(root: str | Path) -> tuple[list[SceneClip], list[SceneClip], list[str]]:
    """(training clips, test clips, class names) of a DCASE/TUT-style folder."""
    root = Path(root)
    meta_path = root / "meta.csv"
    meta = {row[0]: row for row in _read_rows(meta_path)} if meta_path.is_file() else {}
    setup = root / "evaluation_setup"
    test_path = next((setup / name for name in TEST_FOLDS if (setup / name).is_file()), None)
    if not (setup / "fold1_train.txt").is_file() or test_path is None:
        raise DataError(f"{setup}: needs fold1_train.txt and fold1_evaluate.txt (or fold1_test.txt)")
    splits: list[list[tuple[str, str, str]]] = []
    for fold in (setup / "fold1_train.txt", test_path):
        entries = []
        for line_no, row in enumerate(_read_rows(fold), start=1):
            name = row[0]
            info = meta.get(name, row)
            if len(info) < 2 or not info[1]:
                raise DataError(f"{fold}:{line_no}: no scene label for {name} (in meta.csv or the fold file)")
            group = info[2] if len(info) > 2 and info[2] else name
            entries.append((name, info[1], group))
        if not entries:
            raise DataError(f"{fold}: no clips listed")
        splits.append(entries)
    classes = sorted({label for entries in splits for _, label, _ in entries})
    index = {c: i for i, c in enumerate(classes)}
    train, test = (
        [SceneClip(root / name, index[label], group) for name, label, group in entries] for entries in splits
    )
    return train, test, classes


def load_clip(path: str | Path, seconds: int = CLIP_SECONDS) -> np.ndarray:
    """Mono float64 waveform at 22 050 Hz, exactly ``seconds`` long (cut, or zero-padded at the end)."""
    import soundfile

    from acoustic_ssl.data.audio import resample

    try:
        audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot read audio ({exc})") from exc
    mono = audio.mean(axis=1)
    if rate != AUDIO_SAMPLE_RATE:
        g = math.gcd(int(rate), AUDIO_SAMPLE_RATE)
        mono = resample(mono, AUDIO_SAMPLE_RATE // g, int(rate) // g)
    n = seconds * AUDIO_SAMPLE_RATE
    return np.pad(mono[:n], (0, max(0, n - len(mono))))


def crop_offsets(n_clips: int, train: bool, seed: int = 0) -> np.ndarray:
    """Crop starts [n_clips, 5] in samples: random per clip (training) or 0, 2, 4, 6, 8 s (test)."""
    crop = CROP_SECONDS * AUDIO_SAMPLE_RATE
    if train:
        rng = np.random.default_rng(seed)
        return rng.integers(0, CLIP_SECONDS * AUDIO_SAMPLE_RATE - crop + 1, size=(n_clips, CROPS_PER_CLIP))
    return np.tile(np.arange(CROPS_PER_CLIP) * crop, (n_clips, 1))


def clip_spectrograms(clips: Sequence[SceneClip], offsets: np.ndarray) -> np.ndarray:
    """Un-normalised spectrograms [n_clips·5, 257, T] of the crops."""
    from acoustic_ssl.data.audio import waveform_to_spectrogram

    crop = CROP_SECONDS * AUDIO_SAMPLE_RATE
    out = []
    for clip, starts in zip(clips, offsets, strict=True):
        wave = load_clip(clip.path)
        crops = np.stack([wave[s : s + crop] for s in starts])
        out.append(waveform_to_spectrogram(crops).numpy())
    return np.concatenate(out)


def audio_feature_network(models: dict[str, Any]) -> tuple[Any, bool]:
    """The HearNet of a checkpoint and whether it is supervised (``model`` role) or self-supervised."""
    from acoustic_ssl.models import HearNet

    for role in ("audio", "model"):
        net = models.get(role)
        if isinstance(net, HearNet):
            return net.eval(), net.num_classes is not None
    raise DataError(f"checkpoint has no HearNet audio network (roles: {', '.join(models)})")


def hearnet_features(net: Any, spectrograms: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """128-d features: ReLU(embedding) in embedding mode, ``features()`` (ReLU fc2) in classifier mode."""
    import torch

    parts = []
    with torch.inference_mode():
        for lo in range(0, len(spectrograms), batch_size):
            x = torch.as_tensor(spectrograms[lo : lo + batch_size], dtype=torch.float32)
            parts.append(torch.relu(net.features(x)).numpy())
    return np.concatenate(parts)


def inner_split(clips: Sequence[SceneClip], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Masks (inner-train, inner-val) over clips: ~20 % of each class's recording groups go to validation."""
    rng = np.random.default_rng(seed + 1)
    val = np.zeros(len(clips), dtype=bool)
    for label in sorted({c.label for c in clips}):
        groups = sorted({c.group for c in clips if c.label == label})
        if len(groups) < 2:
            continue
        n_val = max(1, round(VALIDATION_FRACTION * len(groups)))
        chosen = set(rng.permutation(groups)[:n_val].tolist())
        val |= np.array([c.label == label and c.group in chosen for c in clips])
    return ~val, val


def scene_transfer(
    checkpoint: str | Path | Any,
    data_dir: str | Path,
    *,
    seed: int = 0,
    ks: Sequence[int] = KNN_KS,
    batch_size: int = 32,
    probe: bool = True,
) -> dict[str, Any]:
    """kNN and linear-probe scene accuracy of a checkpoint's (or a given HearNet's) audio features."""
    from torch import nn

    if isinstance(checkpoint, nn.Module):
        net, _ = audio_feature_network({"audio": checkpoint})
    else:
        from acoustic_ssl.training.checkpoint import load_checkpoint

        net, _ = audio_feature_network(load_checkpoint(checkpoint)[0])
    train_clips, test_clips, classes = read_scene_folder(data_dir)
    train_spec = clip_spectrograms(train_clips, crop_offsets(len(train_clips), True, seed))
    test_spec = clip_spectrograms(test_clips, crop_offsets(len(test_clips), False))
    mean = train_spec.mean(axis=(0, 2))[None, :, None]
    std = train_spec.std(axis=(0, 2))[None, :, None]
    std = np.where(std > 0, std, 1.0)
    train_x = hearnet_features(net, (train_spec - mean) / std, batch_size)
    test_x = hearnet_features(net, (test_spec - mean) / std, batch_size)
    train_y = np.repeat([c.label for c in train_clips], CROPS_PER_CLIP)
    test_y = np.repeat([c.label for c in test_clips], CROPS_PER_CLIP)
    fit_clips, val_clips = inner_split(train_clips, seed)
    if not val_clips.any():
        raise DataError(f"{data_dir}: need at least two training recordings in some class for validation")
    fit, val = np.repeat(fit_clips, CROPS_PER_CLIP), np.repeat(val_clips, CROPS_PER_CLIP)
    args = (train_x[fit], train_y[fit], train_x[val], train_y[val], test_x, test_y)
    result: dict[str, Any] = {
        "knn": knn_protocol(*args, ks=ks),
        "classes": classes,
        "n_train_clips": len(train_clips),
        "n_test_clips": len(test_clips),
        "n_test_crops": len(test_y),
    }
    if probe:
        result["linear_probe"] = linear_probe(*args)
    return result
