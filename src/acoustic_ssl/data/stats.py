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
from acoustic_ssl.data.lists import duplicate_entries
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import atomic_path, progress, write_json_atomic

__all__ = [
    "STAT_NAMES",
    "Normalization",
    "check_stats",
    "compute_stats",
    "load_normalization",
    "load_stats",
    "summarise",
]

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
    A record listed twice counts twice (``stats.json`` says how many are).
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
            "records_listed_more_than_once": len(duplicate_entries(dataset.source.paths)),
            "values_per_bin": count,
            "original_scaling": original_scaling,
        },
    )
    return {name: value.astype(np.float32) for name, value in values.items()}


def _check_vector(values: np.ndarray, what: str, source: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "fiu" or np.squeeze(array).shape != (NUM_BINS,):
        raise DataError(
            f"{source}: spectrogram {what} must be {NUM_BINS} numbers (one per frequency bin), got "
            f"{array.dtype} of shape {array.shape}"
        )
    array = np.squeeze(array).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DataError(
            f"{source}: spectrogram {what} has {bad.size} non-finite value(s) (bin {bad[0]}: "
            f"{array[bad[0]]}); recompute the statistics with `acoustic-ssl stats`"
        )
    if what == "std" and (array < 0).any():
        raise DataError(f"{source}: spectrogram std is negative in bin {int(np.argmax(array < 0))}")
    return array


def check_stats(mean: np.ndarray, std: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` as float32 (257,) if they can z-score spectrograms, else a DataError naming ``source``.

    Refused rather than patched: a wrong shape, a NaN or infinity, a negative std. (A zero std, a bin that
    never varied, is kept; normalising divides such bins by 1.)
    """
    return _check_vector(mean, "mean", source), _check_vector(std, "std", source)


def load_stats(stats_dir: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float32 (257,) from a folder written by ``compute_stats`` (or the original's), checked
    as ``check_stats`` does."""
    folder = Path(stats_dir)
    arrays = []
    for name, what in (("global_mean", "mean"), ("global_std_dev", "std")):
        path = folder / f"{name}.npy"
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: cannot load statistics ({exc})") from exc
        arrays.append(_check_vector(array, what, str(path)))
    return arrays[0], arrays[1]


@dataclass(frozen=True)
class Normalization:
    """Per-bin z-scoring of spectrograms [257,T] (or [B,257,T]); a zero std leaves its bin unscaled."""

    mean: torch.Tensor  # [257, 1] float32
    std: torch.Tensor  # [257, 1] float32, zeros replaced by 1

    @classmethod
    def from_stats(
        cls, mean: np.ndarray, std: np.ndarray, source: str = "spectrogram statistics"
    ) -> Normalization:
        """From (257,) mean and std arrays (``load_stats``, or those a checkpoint stores), checked first."""
        mean, std = check_stats(mean, std, source)
        return cls(
            torch.from_numpy(mean.astype(np.float32))[:, None],
            torch.from_numpy(np.where(std > 0, std, 1.0).astype(np.float32))[:, None],
        )

    @property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) as (257,) float32 arrays: what a checkpoint stores so its model runs anywhere."""
        return self.mean[:, 0].numpy(), self.std[:, 0].numpy()

    def __call__(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Z-scored ``spectrogram``, on its device (a GPU batch of ``ACIVWDataset.finish`` stays there)."""
        device = spectrogram.device
        return (spectrogram - self.mean.to(device)) / self.std.to(device)


def load_normalization(stats_dir: str | os.PathLike[str]) -> Normalization:
    """The ``Normalization`` of a statistics folder (for ``ACIVWDataset(normalize=...)``)."""
    return Normalization.from_stats(*load_stats(stats_dir))
