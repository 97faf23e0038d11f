"""Confidence intervals for test-set metrics and for paired differences between models.

Why a bootstrap over *videos*: the test samples of one video (its consecutive 2-s clips) share the source,
the place and the recording, so they are not independent; resampling single clips would pretend there is
more evidence than there is. Every replicate therefore draws whole videos with replacement (a cluster
bootstrap), separately within each class (stratified, as the split is: every class keeps its number of test
videos), and, where a model was trained with several seeds, also draws the seeds with replacement (the
replicate's value is the mean over the drawn seeds, so training noise widens the interval). The interval is
the percentile interval of ``N_BOOTSTRAP`` replicates from a fixed generator seed, so the same outcomes
always give the same interval. This is the package's one bootstrap: the box benchmarks
(``evaluation.boxes``) call it too, with ``clusters=None`` (each of their annotated clips is its own video).

A paired difference applies the *same* draws (videos and seeds) to both models: the two models were scored on
the same clips, and pairing removes the part of the variation the clips share. The verdict is "gain" when
the whole interval is above zero, "loss" when it is below, and "no detectable difference" otherwise.

Retrieval hits use the whole test set as the gallery; only the queries are resampled (the gallery is kept),
which is the usual approximation.

Statistics are weighted so that one replicate is one row of a weight matrix (weight = how many times the
sample's video was drawn): :func:`weighted_mean` for accuracies, hit rates and mean cIoU;
``localization.weighted_auc`` for the area under the cIoU success curve. Missing outcomes (NaN: a sample
that is not scored, e.g. no visible sounding object) get weight 0.

Example
-------
>>> import numpy as np
>>> hits = np.array([1.0, 1.0, 1.0, 0.0])          # 4 test clips
>>> videos = np.array([0, 0, 0, 1])                  # the first three come from one video
>>> interval = bootstrap_ci(hits, clusters=videos)
>>> interval.estimate, interval.low, interval.high
(0.75, 0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 20240611
VERDICTS = ("gain", "loss", "no detectable difference")

Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of ``values`` [n] under each row of ``weights`` [B, n] (NaN values ignored) → [B]."""
    present = np.isfinite(values)
    w = weights * present
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w @ np.where(present, values, 0.0) / total, np.nan)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Difference:
    """A paired difference (first model minus second) with its interval and plain-language verdict."""

    difference: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "gain"
        if self.high < 0:
            return "loss"
        return "no detectable difference"

    def as_dict(self) -> dict[str, object]:
        return {"difference": self.difference, "ci95": [self.low, self.high], "verdict": self.verdict}


def _as_seeds(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Outcomes as float [seeds, samples] (None → NaN)."""
    array = np.array(values, dtype=np.float64)  # None becomes NaN
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"outcomes must be [samples] or [seeds, samples], got shape {array.shape}")
    return array


def cluster_weights(
    clusters: np.ndarray | Sequence[int] | None,
    strata: np.ndarray | Sequence[int] | None,
    n_samples: int,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Weights [n_boot, n_samples]: how often each sample's cluster is drawn when, within every stratum, as
    many clusters as the stratum has are drawn with replacement. No clusters: every sample is its own."""
    cluster_ids = np.arange(n_samples) if clusters is None else np.asarray(clusters)
    strata_ids = np.zeros(n_samples, dtype=np.int64) if strata is None else np.asarray(strata)
    if cluster_ids.shape != (n_samples,) or strata_ids.shape != (n_samples,):
        raise ValueError("clusters and strata must give one value per sample")
    unique_clusters, cluster_of = np.unique(cluster_ids, return_inverse=True)
    counts = np.zeros((n_boot, len(unique_clusters)))
    stratum_of_cluster = np.empty(len(unique_clusters), dtype=strata_ids.dtype)
    stratum_of_cluster[cluster_of] = strata_ids
    for stratum in np.unique(stratum_of_cluster):
        members = np.flatnonzero(stratum_of_cluster == stratum)
        draws = rng.integers(0, len(members), size=(n_boot, len(members)))
        np.add.at(counts, (np.arange(n_boot)[:, None], members[draws]), 1.0)
    return counts[:, cluster_of]


def _replicates(
    outcomes: Sequence[np.ndarray],
    clusters: np.ndarray | Sequence[int] | None,
    strata: np.ndarray | Sequence[int] | None,
    statistic: Statistic,
    n_boot: int,
    seed: int,
) -> tuple[list[float], list[np.ndarray]]:
    """Point estimates and bootstrap replicates [n_boot] of each outcome array (same draws for all)."""
    n_seeds, n_samples = outcomes[0].shape
    rng = np.random.default_rng(seed)
    weights = cluster_weights(clusters, strata, n_samples, n_boot, rng)
    seed_draws = (
        rng.integers(0, n_seeds, size=(n_boot, n_seeds)) if n_seeds > 1 else np.zeros((n_boot, 1), int)
    )
    ones = np.ones((1, n_samples))
    estimates, replicates = [], []
    for values in outcomes:
        per_seed = np.stack([statistic(v, weights) for v in values])  # [seeds, n_boot]
        estimates.append(float(np.mean([statistic(v, ones)[0] for v in values])))
        replicates.append(per_seed[seed_draws, np.arange(n_boot)[:, None]].mean(axis=1))
    return estimates, replicates


def _percentiles(replicates: np.ndarray, level: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: np.ndarray | Sequence[float],
    clusters: np.ndarray | Sequence[int] | None = None,
    strata: np.ndarray | Sequence[int] | None = None,
    *,
    statistic: Statistic = weighted_mean,
    n_boot: int = N_BOOTSTRAP,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Estimate and percentile interval of ``statistic`` over per-sample outcomes.

    ``values``: [samples] or [seeds, samples] (the same samples for every seed; NaN/None = not scored);
    ``clusters``: the video of each sample, resampled whole (the clustered bootstrap, for test sets that
    cut several clips from one video), or None to resample the clips themselves (clip-iid: the box
    benchmarks, where each annotated clip comes from its own video, so the clip is the independent unit);
    ``strata``: the class of each sample (clusters are resampled within their stratum).
    """
    outcomes = _as_seeds(values)
    (estimate,), (replicates,) = _replicates([outcomes], clusters, strata, statistic, n_boot, seed)
    low, high = _percentiles(replicates, level)
    return Interval(estimate, low, high)


def paired_difference(
    first: np.ndarray | Sequence[float],
    second: np.ndarray | Sequence[float],
    clusters: np.ndarray | Sequence[int] | None = None,
    strata: np.ndarray | Sequence[int] | None = None,
    *,
    statistic: Statistic = weighted_mean,
    n_boot: int = N_BOOTSTRAP,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> Difference:
    """``statistic(first) − statistic(second)`` with its paired bootstrap interval and verdict.

    Both are [samples] or [seeds, samples] over the same samples; seeds are paired by position (seed k of
    one model with seed k of the other). A one-seed ``second`` (e.g. a baseline that does not train) is
    compared with every seed of ``first``.
    """
    a, b = _as_seeds(first), _as_seeds(second)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired outcomes need the same samples, got {a.shape[1]} and {b.shape[1]}")
    if b.shape[0] == 1 and a.shape[0] > 1:
        b = np.repeat(b, a.shape[0], axis=0)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired outcomes need the same seeds, got {a.shape[0]} and {b.shape[0]}")
    (est_a, est_b), (rep_a, rep_b) = _replicates([a, b], clusters, strata, statistic, n_boot, seed)
    low, high = _percentiles(rep_a - rep_b, level)
    return Difference(est_a - est_b, low, high)
