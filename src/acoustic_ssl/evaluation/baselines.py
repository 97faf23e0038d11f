"""Features that need no learning: the row a learned embedding has to beat to have learned anything.

A baseline is a function from a batch of magnitude spectrograms [B, 257, T] (unnormalised, 22 050 Hz, the
loader's STFT: ``data.audio``) to one feature vector per sample. ``extract_baseline`` runs it on the very
samples a checkpoint's extraction sees (``ACIVWDataset(mode="inference")``: consecutive 2-s samples, the same
ids, starts and frame numbers) and saves its vectors as the ``audio`` feature of an ordinary features
``.npz``, so ``evaluate`` scores it with the same kNN protocol (k chosen on validation) and the same
per-sample outcomes, hence the same bootstrap intervals, as every trained row. Another baseline is one more
function in ``BASELINES``.

``logmel`` (issue 26): the mean and the standard deviation over time of a 64-band log-mel spectrogram of the
clip, concatenated (128 numbers) and l2-normalised, so that the project's Euclidean kNN ranks by cosine
similarity. Power spectrum → 64 triangular HTK-mel filters from 0 Hz to 6 144 Hz (``imaging.mfcc``'s
filterbank; 6 144 Hz is the sensor's Nyquist frequency: the track resampled from 12 288 Hz holds nothing
above it) → natural log, floored → mean and population std over the frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from acoustic_ssl.data.audio import FFT_LENGTH, NUM_BINS
from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import AUDIO_SAMPLE_RATE, SENSOR_SAMPLE_RATE, Modality
from acoustic_ssl.errors import ConfigError, DataError
from acoustic_ssl.evaluation.extract import DEFAULT_BATCH_SIZE, batch_ids, collect_batches, save_features
from acoustic_ssl.imaging.mfcc import mel_filterbank
from acoustic_ssl.training.config import DataConfig

Baseline = Callable[[np.ndarray], np.ndarray]  # spectrograms [B, 257, T] -> features [B, D]

LOGMEL_BANDS = 64
LOGMEL_F_MAX_HZ = SENSOR_SAMPLE_RATE / 2.0  # 6144 Hz: the resampled sensor track is empty above
# Bounds the log of digital silence only: a 2-s clip peaks at 256, so a band's power reaches ~1e9, and the
# quietest simulated band lies many decades above this floor.
LOGMEL_FLOOR = 1e-6


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (an all-zero row stays zero): Euclidean kNN then ranks by cosine."""
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def logmel_statistics(spectrograms: np.ndarray) -> np.ndarray:
    """``logmel`` features [..., 128] float32 of magnitude spectrograms [..., 257, T] (module docstring):
    l2n(mean over frames ‖ std over frames) of the floored natural log of 64 mel band powers."""
    magnitude = np.asarray(spectrograms, dtype=np.float64)
    if magnitude.ndim < 2 or magnitude.shape[-2] != NUM_BINS:
        raise ValueError(f"spectrograms must be [..., {NUM_BINS}, T], got shape {magnitude.shape}")
    bank = mel_filterbank(
        float(AUDIO_SAMPLE_RATE), FFT_LENGTH, NUM_BINS, 0.0, LOGMEL_F_MAX_HZ, n_mels=LOGMEL_BANDS
    )
    log_mel = np.log(np.maximum(np.einsum("mk,...kt->...mt", bank, magnitude**2), LOGMEL_FLOOR))
    stats = np.concatenate([log_mel.mean(axis=-1), log_mel.std(axis=-1)], axis=-1)
    return l2_normalise(stats).astype(np.float32)


BASELINES: dict[str, Baseline] = {"logmel": logmel_statistics}


def baseline_function(name: str) -> Baseline:
    """The registered baseline ``name`` (a one-line error naming the known ones otherwise)."""
    if name not in BASELINES:
        raise ConfigError(f"--baseline {name!r}: unknown baseline (known: {', '.join(sorted(BASELINES))})")
    return BASELINES[name]


def extract_baseline(
    name: str,
    list_file: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    batch_size: int | None = None,
    num_workers: int = 0,
    sample_length: int = DataConfig.sample_length,
    nr_frames: int = DataConfig.nr_frames,
) -> Path:
    """Baseline ``name`` on every sample of ``list_file`` → the features ``.npz`` at ``out`` (key ``audio``
    and the identity arrays, as ``extract.extract_features`` writes them; meta ``run_kind: "baseline"``).

    ``sample_length`` / ``nr_frames``: the samples (and the frame numbers recorded for them) of a run with
    the default data settings, the ones a checkpoint's features of the same list hold.
    """
    compute = baseline_function(name)
    if batch_size is not None and batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    dataset = ACIVWDataset(
        list_file, mode="inference", modalities={Modality.AUDIO}, normalize=None,
        total_length=sample_length, sample_length=sample_length, nr_frames=nr_frames,
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = collect_batches(
        loader, lambda batch: {**batch_ids(batch), "audio": compute(batch["spectrogram"].numpy())},
        nr_frames=nr_frames, sample_length=sample_length, total=len(loader),
    )
    meta = {
        "baseline": name,
        "run_kind": "baseline",
        "list": str(list_file),
        "split": split or Path(list_file).stem,
        "nr_frames": nr_frames,
        "sample_length": sample_length,
        "batch_size": batch_size,
    }
    return save_features(out, arrays, meta)
