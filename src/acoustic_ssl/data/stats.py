"""Per-frequency-bin spectrogram statistics of a training list, for z-scoring HearNet's input.

Streams the 2-s inference samples of the list once and accumulates, per bin (257), min, max, Σx and Σx² in
float64. The mean and std use the true per-bin count (samples × frames). ``original_scaling=True`` instead
reproduces the released statistics (reference §7 item 8): n = list lines × frames × 257, mean = Σx / n and
var = (Σx² − (Σx)²/n) / n, i.e. the mean shrunk 514-fold for 2-s samples. Use it only to match published
numbers; a model trained with one kind of statistics must be evaluated with the same kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from acoustic_ssl.data.audio import NUM_BINS
from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import Modality
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import atomic_path, progress, write_json_atomic

__all__ = ["STAT_NAMES", "Normalization", "compute_stats", "load_normalization", "load_stats", "summarise"]

STAT_NAMES = ("global_min", "global_max", "global_sum", "global_sum_squared", "global_mean", "global_std_dev")


def summarise(
    total: np.ndarray, total_sq: np.ndarray, count: int, *, original_n: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per bin from Σx and Σx² over ``count`` values per bin.

    With ``original_n`` the original's formulas with its n are used instead: mean = Σx/n,
    var = (Σx² − (Σx)²/n)/n.
    """
    if original_n is not None:
        mean = total / original_n
        var = (total_sq - total**2 / original_n) / original_n
    else:
        mean = total / count
        var = total_sq / count - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def compute_stats(
    list_file: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    original_scaling: bool = False,
    workers: int = 0,
    batch_size: int = 16,
) -> dict[str, np.ndarray]:
    """Write ``global_{mean,std_dev,min,max,sum,sum_squared}.npy`` (float32, (257,)) for ``list_file``.

    Samples are the 2-s consecutive windows of the list (the original's setting: total and sample length 2).
    """
    dataset = ACIVWDataset(
        list_file, mode="inference", total_length=2, sample_length=2, modalities=(Modality.AUDIO,)
    )
    if len(dataset) == 0:
        raise DataError(f"{list_file}: the list holds no samples")
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    lo = np.full(NUM_BINS, np.inf)
    hi = np.full(NUM_BINS, -np.inf)
    total = np.zeros(NUM_BINS)
    total_sq = np.zeros(NUM_BINS)
    count = 0
    for batch in progress(loader, desc="stats", total=len(loader), unit="batch"):
        spec = batch["spectrogram"].to(torch.float64).numpy()  # [B, 257, T]
        lo = np.minimum(lo, spec.min(axis=(0, 2)))
        hi = np.maximum(hi, spec.max(axis=(0, 2)))
        total += spec.sum(axis=(0, 2))
        total_sq += np.square(spec).sum(axis=(0, 2))
        count += spec.shape[0] * spec.shape[2]
    lines = len(dataset.source)
    frames = count // len(dataset)
    original_n = float(lines * frames * NUM_BINS) if original_scaling else None
    mean, std = summarise(total, total_sq, count, original_n=original_n)
    values = dict(zip(STAT_NAMES, (lo, hi, total, total_sq, mean, std), strict=True))
    out = Path(out_dir)
    for name, value in values.items():
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as handle:
            np.save(handle, value.astype(np.float32))
    write_json_atomic(
        out / "stats.json",
        {
            "list": str(list_file),
            "samples": len(dataset),
            "records": lines,
            "values_per_bin": count,
            "original_scaling": original_scaling,
        },
    )
    return {name: value.astype(np.float32) for name, value in values.items()}


def load_stats(stats_dir: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float32 (257,) from a folder written by ``compute_stats`` (or the original's)."""
    folder = Path(stats_dir)
    arrays = []
    for name in ("global_mean", "global_std_dev"):
        path = folder / f"{name}.npy"
        try:
            array = np.load(path).astype(np.float32).reshape(-1)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot load statistics ({exc})") from exc
        if array.shape != (NUM_BINS,):
            raise DataError(f"{path}: expected {NUM_BINS} values, got {array.shape}")
        arrays.append(array)
    return arrays[0], arrays[1]


@dataclass(frozen=True)
class Normalization:
    """Per-bin z-scoring of spectrograms [257,T] (or [B,257,T]); a zero std leaves its bin unscaled."""

    mean: torch.Tensor  # [257, 1] float32
    std: torch.Tensor  # [257, 1] float32, zeros replaced by 1

    @classmethod
    def from_stats(cls, mean: np.ndarray, std: np.ndarray) -> Normalization:
        """From the (257,) mean and std arrays of ``load_stats``."""
        return cls(
            torch.from_numpy(mean.astype(np.float32))[:, None],
            torch.from_numpy(np.where(std > 0, std, 1.0).astype(np.float32))[:, None],
        )

    def __call__(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return (spectrogram - self.mean) / self.std


def load_normalization(stats_dir: str | os.PathLike[str]) -> Normalization:
    """The ``Normalization`` of a statistics folder (for ``ACIVWDataset(normalize=...)``)."""
    return Normalization.from_stats(*load_stats(stats_dir))
