"""Acoustic-scene transfer: a frozen audio network's features on a DCASE / TUT Urban Acoustic Scenes folder.

Layout (as TUT Urban Acoustic Scenes 2018): ``audio/*.wav``; ``meta.csv``, tab-separated
``filename<TAB>scene_label[<TAB>identifier[...]]`` with an optional header line;
``evaluation_setup/fold1_train.txt`` and ``fold1_evaluate.txt`` (or ``fold1_test.txt``), one
``filename[<TAB>label]`` per line, and for the original protocol a third fold file of the same kind to choose
k on (``--valid-fold``; default ``evaluation_setup/fold1_validation.txt``). Labels come from ``meta.csv``
(else from the fold file) and are indexed in sorted order.

Common to both protocols: clips mixed to mono, resampled to 22 050 Hz (librosa's kaiser_best, exact ratio),
cut to 10 s (zero-padded at the end if shorter); five 2-s crops per clip; magnitude spectrogram of the data
layer (``waveform_to_spectrogram``), z-scored per frequency bin with statistics of the training crops by
training's ``data.stats.Normalization`` (a bin that never varies is divided by 1; no peak normalisation, as
the original TUT loader); features: the objective's audio feature
(``Objective.audio_features``, the vector kNN evaluates: for the paper's self-supervised HearNet its
embedding after ReLU, l2-normalised, as ``computeTUTfeatures`` with ``--embedding 1`` up to that scale;
``features()`` (ReLU fc2) for a supervised one); accuracy per test crop (as the original's 12 590 test
crops).

* ``protocol="original"`` (the original ``TUTDataLoader`` in inference mode + ``computeTUTfeatures.py`` +
  ``knn.py``): every split is cut into the consecutive crops at 0, 2, 4, 6, 8 s; kNN (and the linear probe)
  are fitted on all training crops, k ∈ ``ks`` (smallest wins ties) and C are chosen on the validation fold,
  accuracy on the test fold. ``original_stats`` reproduces the original's mis-scaled statistics (spec §7
  item 8: n = clips · frames · 257 while 5 crops per clip are streamed, so the mean is 5/257 of the true one).
  The original's validation and test sets had the same size (12 590 crops, DCASE 2018's 2 518 fold-1
  evaluation clips), which suggests it chose k on the test fold; passing that fold as ``valid_fold`` does so
  (then k is tuned on the test set).
* ``protocol="inner"`` (for a folder without a third fold): training crops at 5 random offsets drawn per clip
  from ``seed`` (the original's training mode drew one set for all clips, §7 item 11); the training clips
  are split into inner-train / inner-validation (20 % of the recording groups of each class, grouped by
  ``identifier`` when present so crops of one location never straddle the split); k and C chosen on
  inner-validation, the classifiers fitted on inner-train; test crops consecutive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acoustic_ssl.data.layout import AUDIO_SAMPLE_RATE
from acoustic_ssl.errors import DataError, describe_non_finite
from acoustic_ssl.evaluation.knn import knn_protocol, linear_probe
from acoustic_ssl.evaluation.protocol import KNN_KS

if TYPE_CHECKING:
    from acoustic_ssl.data.stats import Normalization
    from acoustic_ssl.training.objectives import Objective
    from acoustic_ssl.training.trained import Trained

CLIP_SECONDS = 10
CROP_SECONDS = 2
CROPS_PER_CLIP = 5
VALIDATION_FRACTION = 0.2
TEST_FOLDS = ("fold1_evaluate.txt", "fold1_test.txt")
VALID_FOLD = "fold1_validation.txt"
PROTOCOLS = ("original", "inner")


@dataclass(frozen=True)
class SceneClip:
    path: Path
    label: int
    group: str


@dataclass(frozen=True)
class SceneFolder:
    """The clips of each split (``valid`` empty when no validation fold was read) and the class names."""

    train: list[SceneClip]
    valid: list[SceneClip]
    test: list[SceneClip]
    classes: list[str]


def _read_rows(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    rows = [line.split("\t") for line in lines if line.strip()]
    if rows and rows[0][0].strip().lower() == "filename":
        rows = rows[1:]
    return [[field.strip() for field in row] for row in rows]


def read_scene_folder(root: str | Path, valid_fold: str | Path | None = None) -> SceneFolder:
    """The clips of a DCASE/TUT-style folder; ``valid_fold``: a fold file (relative to ``root`` or absolute)
    listing the validation clips."""
    root = Path(root)
    meta_path = root / "meta.csv"
    meta = {row[0]: row for row in _read_rows(meta_path)} if meta_path.is_file() else {}
    setup = root / "evaluation_setup"
    test_path = next((setup / name for name in TEST_FOLDS if (setup / name).is_file()), None)
    if not (setup / "fold1_train.txt").is_file() or test_path is None:
        raise DataError(f"{setup}: needs fold1_train.txt and fold1_evaluate.txt (or fold1_test.txt)")
    folds = [setup / "fold1_train.txt", test_path]
    if valid_fold is not None:
        folds.append(root / valid_fold)
        if not folds[-1].is_file():
            raise DataError(f"{folds[-1]}: validation fold file not found")
    splits: list[list[tuple[str, str, str]]] = []
    for fold in folds:
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
    train, test, *valid = (
        [SceneClip(root / name, index[label], group) for name, label, group in entries] for entries in splits
    )
    return SceneFolder(train, valid[0] if valid else [], test, classes)


def load_clip(path: str | Path, seconds: int = CLIP_SECONDS) -> np.ndarray:
    """Mono float64 waveform at 22 050 Hz, exactly ``seconds`` long (cut, or zero-padded at the end)."""
    import soundfile

    from acoustic_ssl.data.audio import resample

    try:
        audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot read audio ({exc})") from exc
    problem = describe_non_finite(audio, ("sample", "channel"))
    if problem is not None:
        raise DataError(f"{path}: {problem}")
    mono = audio.mean(axis=1)
    if rate != AUDIO_SAMPLE_RATE:
        g = math.gcd(int(rate), AUDIO_SAMPLE_RATE)
        mono = resample(mono, AUDIO_SAMPLE_RATE // g, int(rate) // g)
    n = seconds * AUDIO_SAMPLE_RATE
    return np.pad(mono[:n], (0, max(0, n - len(mono))))


def crop_offsets(n_clips: int, train: bool, seed: int = 0) -> np.ndarray:
    """Crop starts [n_clips, 5] in samples: random per clip (``train``, inner protocol), else 0/2/4/6/8 s."""
    crop = CROP_SECONDS * AUDIO_SAMPLE_RATE
    if train:
        rng = np.random.default_rng(seed)
        return rng.integers(0, CLIP_SECONDS * AUDIO_SAMPLE_RATE - crop + 1, size=(n_clips, CROPS_PER_CLIP))
    return np.tile(np.arange(CROPS_PER_CLIP) * crop, (n_clips, 1))


def crop_statistics(spectrograms: np.ndarray, n_clips: int, original: bool = False) -> Normalization:
    """The per-bin z-scoring of training crops [n, 257, T]: their mean and std as the ``Normalization``
    training uses (``data.stats``: a zero std divides by 1).

    ``original``: the original's formulas with its count n = clips · T · 257 (``data.stats.summarise``).
    """
    from acoustic_ssl.data.stats import Normalization, summarise

    x = spectrograms.astype(np.float64)
    total, total_sq = x.sum(axis=(0, 2)), np.square(x).sum(axis=(0, 2))
    n = float(n_clips * x.shape[2] * x.shape[1]) if original else None
    mean, std = summarise(total, total_sq, x.shape[0] * x.shape[2], original_n=n)
    return Normalization.from_stats(mean, std, source="the scene training crops")


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


def audio_features(
    objective: Objective, spectrograms: np.ndarray, normalization: Normalization, batch_size: int = 32
) -> np.ndarray:
    """The objective's audio features (``Objective.audio_features``: what kNN evaluates) of un-normalised
    spectrograms, z-scored by ``normalization`` a batch at a time."""
    import torch

    parts = []
    with torch.inference_mode():
        for lo in range(0, len(spectrograms), batch_size):
            x = normalization(torch.as_tensor(spectrograms[lo : lo + batch_size], dtype=torch.float32))
            parts.append(objective.audio_features(x).numpy())
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
    model: str | Path | Trained | Objective,
    data_dir: str | Path,
    *,
    protocol: str = "original",
    valid_fold: str | Path | None = None,
    original_stats: bool = False,
    seed: int = 0,
    ks: Sequence[int] = KNN_KS,
    batch_size: int = 32,
    probe: bool = True,
) -> dict[str, Any]:
    """kNN and linear-probe scene accuracy of the audio features of a checkpoint (a path, or loaded) or of
    an objective holding an audio network.

    ``protocol``: "original" (needs a validation fold: ``valid_fold``, default
    ``evaluation_setup/fold1_validation.txt``) or "inner" (module docstring).
    """
    from acoustic_ssl.training.trained import Trained, load_trained

    if protocol not in PROTOCOLS:
        raise DataError(f"unknown scene protocol {protocol!r} (use {' or '.join(PROTOCOLS)})")
    if isinstance(model, (str, Path)):
        model = load_trained(model)
    objective = model.objective if isinstance(model, Trained) else model
    try:
        objective.audio_network  # noqa: B018 - a checkpoint without one cannot be scored
    except ValueError as exc:
        raise DataError(f"scene transfer needs audio features: {exc}") from None
    root = Path(data_dir)
    if protocol == "original" and valid_fold is None:
        valid_fold = Path("evaluation_setup") / VALID_FOLD
        if not (root / valid_fold).is_file():
            raise DataError(
                f"{root / valid_fold}: not found; the original protocol chooses k on a separate validation "
                "set: give --valid-fold FILE (clips listed like fold1_train.txt), or --protocol inner to "
                "hold out 20 % of the training recordings"
            )
    folder = read_scene_folder(root, valid_fold if protocol == "original" else None)
    train_clips = folder.train
    offsets = crop_offsets(len(train_clips), protocol == "inner", seed)
    train_spec = clip_spectrograms(train_clips, offsets)
    normalization = crop_statistics(train_spec, len(train_clips), original_stats)

    def features(clips: Sequence[SceneClip], spectrograms: np.ndarray | None = None) -> np.ndarray:
        if spectrograms is None:
            spectrograms = clip_spectrograms(clips, crop_offsets(len(clips), False))
        return audio_features(objective, spectrograms, normalization, batch_size)

    def labels(clips: Sequence[SceneClip]) -> np.ndarray:
        return np.repeat([c.label for c in clips], CROPS_PER_CLIP)

    train_x, train_y = features(train_clips, train_spec), labels(train_clips)
    test_x, test_y = features(folder.test), labels(folder.test)
    if protocol == "original":
        fit_x, fit_y = train_x, train_y
        val_x, val_y = features(folder.valid), labels(folder.valid)
    else:
        fit_clips, val_clips = inner_split(train_clips, seed)
        if not val_clips.any():
            raise DataError(f"{data_dir}: need at least two training recordings in some class for validation")
        fit, val = np.repeat(fit_clips, CROPS_PER_CLIP), np.repeat(val_clips, CROPS_PER_CLIP)
        fit_x, fit_y, val_x, val_y = train_x[fit], train_y[fit], train_x[val], train_y[val]
    args = (fit_x, fit_y, val_x, val_y, test_x, test_y)
    result: dict[str, Any] = {
        "protocol": protocol,
        "statistics": "original (mis-scaled)" if original_stats else "per-bin",
        "knn": knn_protocol(*args, ks=ks),
        "classes": folder.classes,
        "n_train_clips": len(train_clips),
        "n_fit_crops": len(fit_y),
        "n_valid_crops": len(val_y),
        "n_test_clips": len(folder.test),
        "n_test_crops": len(test_y),
    }
    if probe:
        result["linear_probe"] = linear_probe(*args)
    return result
