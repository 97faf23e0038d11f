"""The demo's own report: the comparison table with 95% intervals, and the paired comparisons that carry the
paper's claims and the objectives' comparison, as report.json (written and rendered to Markdown and HTML by
:mod:`acoustic_ssl.demo.render`).

Inputs are the ``metrics.json`` files written by ``acoustic-ssl evaluate`` for each row and seed (a baseline
row's once, the same for every seed), read by ``evaluation.metrics_file.read_metrics``; nothing is recomputed
but the intervals, which come from the per-sample outcomes (``Metrics.outcomes``) by the video-clustered
bootstrap of
:mod:`acoustic_ssl.evaluation.statistics` (across seeds too, where there are several). ``report.json`` keys:

* ``audio_knn_accuracy``, ``joint_knn_accuracy`` (the audio + video vector, the original's active kNN),
  ``retrieval_recall_at_{1,5,10}``: {random, logmel, supervised, selfsup_video, transfer, contrastive,
  contrastive_transfer} → mean over seeds (None where a row has no such score or the preset trains no such
  run: the supervised HearNet and the log-mel baseline have no video side, so no retrieval);
* ``localization_accuracy``, ``_ciou``, ``_auc``, ``localization_mismatched_accuracy`` (attention computed
  with the audio of a clip of another class): {audio_video, acoustic_video, contrastive,
  contrastive_transfer};
* scalars: ``supervised_test_accuracy`` (the supervised HearNet's own classifier), ``acoustic_knn_accuracy``
  (the acoustic-image network itself), ``localization_random_init_accuracy`` (the audio+video attention
  before training), ``localization_random_init_acoustic_accuracy`` (the acoustic+video one),
  ``localization_random_init_contrastive_accuracy`` (the contrastive map before training),
  ``localization_energy_accuracy`` (raw acoustic-image energy, no learning),
  ``localization_any_object_accuracy`` (pointing at a random visible object, sound ignored: the saliency
  baseline, about 1 / objects on screen), ``localization_largest_object_accuracy`` (pointing at the largest
  visible box: a size prior), ``localization_chance`` (a random point);
* beside each of those ``<key>_std`` (population std over seeds) and ``<key>_ci95`` of the same shape
  holding ``[low, high]`` (None where no per-sample outcomes exist);
* ``comparisons``: paired differences (first minus second, in accuracy) ``{"difference", "ci95",
  "verdict"}`` — see ``COMPARISONS``;
* ``per_seed`` (each row's numbers per seed), ``test_samples``, ``test_videos``, ``machine``
  (:func:`acoustic_ssl.evaluation.machine.machine_info`), ``preset``, ``seeds``, ``dataset``, ``alpha``.

Timings vary from run to run, so they go to ``timings.json`` beside it (:func:`stage_timings`); the same
seed on the same machine then gives a byte-identical report.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.demo.config import DemoConfig
from acoustic_ssl.demo.stages import MARKER_DIR, cpu_seconds
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.localization import weighted_auc
from acoustic_ssl.evaluation.machine import machine_info
from acoustic_ssl.evaluation.metrics_file import LOCALIZATION_BASELINES, LOCALIZATION_MAPS, Metrics
from acoustic_ssl.evaluation.protocol import REPORTED_RANKS
from acoustic_ssl.evaluation.statistics import bootstrap_ci, paired_difference, weighted_mean

PerSeed = Mapping[int, Mapping[str, Metrics]]  # seed → row → its metrics.json

TABLE_ROWS = (
    "random", "logmel", "supervised", "selfsup_video", "transfer", "contrastive", "contrastive_transfer"
)
LOCALIZATION_ROWS = {
    "audio_video": "selfsup_video",
    "acoustic_video": "selfsup_acoustic",
    "contrastive": "contrastive",
    "contrastive_transfer": "contrastive_transfer",
}
# Where the baselines that ignore the learned maps (energy, objects, chance) are read: every row evaluated
# with localisation scores them on the same test clips; the first present is taken.
BASELINE_ROWS = ("selfsup_acoustic", "selfsup_video", "contrastive", "contrastive_transfer", "transfer")


@dataclass(frozen=True)
class Metric:
    """One number of the report: which outcome of which row, and the statistic over test samples.

    ``rows``: column → row for a per-model table, one row name for a scalar, or a tuple of rows for a
    scalar read from the first present; ``outcome``: a key of ``Metrics.outcomes``; ``auc``: the area
    under the cIoU success curve instead of the mean.
    """

    key: str
    rows: Mapping[str, str] | str | tuple[str, ...]
    outcome: str
    auc: bool = False


TABLE = {row: row for row in TABLE_ROWS}
METRICS: tuple[Metric, ...] = (
    Metric("audio_knn_accuracy", TABLE, "knn"),
    Metric("joint_knn_accuracy", TABLE, "joint_knn"),
    *(Metric(f"retrieval_recall_at_{k}", TABLE, f"recall@{k}") for k in REPORTED_RANKS),
    Metric("supervised_test_accuracy", "supervised", "classifier"),
    Metric("acoustic_knn_accuracy", "selfsup_acoustic", "knn"),
    Metric("localization_accuracy", LOCALIZATION_ROWS, "attention_hit"),
    Metric("localization_ciou", LOCALIZATION_ROWS, "attention_ciou"),
    Metric("localization_auc", LOCALIZATION_ROWS, "attention_ciou", auc=True),
    Metric("localization_mismatched_accuracy", LOCALIZATION_ROWS, "attention_mismatched_hit"),
    Metric("localization_random_init_accuracy", "random", "attention_hit"),
    Metric("localization_random_init_acoustic_accuracy", "random_acoustic", "attention_hit"),
    Metric("localization_random_init_contrastive_accuracy", "random_contrastive", "attention_hit"),
    Metric("localization_energy_accuracy", BASELINE_ROWS, "energy_hit"),
    Metric("localization_any_object_accuracy", BASELINE_ROWS, "any_object_hit"),
    Metric("localization_largest_object_accuracy", BASELINE_ROWS, "largest_object_hit"),
    Metric("localization_chance", BASELINE_ROWS, "chance_hit"),
)

BASELINE = ""  # in a comparison, the row of BASELINE_ROWS the scalar baselines are read from
# The paired comparisons behind the claims: name → (row, outcome) minus (row, outcome).
COMPARISONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "selfsup_vs_random": (("selfsup_video", "knn"), ("random", "knn")),
    "transfer_vs_video": (("transfer", "knn"), ("selfsup_video", "knn")),
    "transfer_vs_random": (("transfer", "knn"), ("random", "knn")),
    "contrastive_vs_random": (("contrastive", "knn"), ("random_contrastive", "knn")),
    "contrastive_vs_selfsup_video": (("contrastive", "knn"), ("selfsup_video", "knn")),
    "contrastive_transfer_vs_contrastive": (("contrastive_transfer", "knn"), ("contrastive", "knn")),
    "contrastive_vs_logmel": (("contrastive", "knn"), ("logmel", "knn")),
    "supervised_vs_logmel": (("supervised", "knn"), ("logmel", "knn")),
    "localization_audio_video_vs_random_init": (
        ("selfsup_video", "attention_hit"),
        ("random", "attention_hit"),
    ),
    "localization_acoustic_video_vs_random_init": (
        ("selfsup_acoustic", "attention_hit"),
        ("random_acoustic", "attention_hit"),
    ),
    "localization_contrastive_vs_random_init": (
        ("contrastive", "attention_hit"),
        ("random_contrastive", "attention_hit"),
    ),
    "localization_contrastive_transfer_vs_contrastive": (
        ("contrastive_transfer", "attention_hit"),
        ("contrastive", "attention_hit"),
    ),
    "localization_acoustic_video_vs_energy": (
        ("selfsup_acoustic", "attention_hit"),
        ("selfsup_acoustic", "energy_hit"),
    ),
    "localization_audio_video_vs_mismatched_audio": (
        ("selfsup_video", "attention_hit"),
        ("selfsup_video", "attention_mismatched_hit"),
    ),
    "localization_acoustic_video_vs_mismatched_audio": (
        ("selfsup_acoustic", "attention_hit"),
        ("selfsup_acoustic", "attention_mismatched_hit"),
    ),
    "localization_contrastive_vs_mismatched_audio": (
        ("contrastive", "attention_hit"),
        ("contrastive", "attention_mismatched_hit"),
    ),
    "localization_audio_video_vs_any_object": (
        ("selfsup_video", "attention_hit"),
        (BASELINE, "any_object_hit"),
    ),
    "localization_acoustic_video_vs_any_object": (
        ("selfsup_acoustic", "attention_hit"),
        (BASELINE, "any_object_hit"),
    ),
    "localization_contrastive_vs_any_object": (
        ("contrastive", "attention_hit"),
        (BASELINE, "any_object_hit"),
    ),
    "localization_contrastive_vs_largest_object": (
        ("contrastive", "attention_hit"),
        (BASELINE, "largest_object_hit"),
    ),
}


def row_scores(metrics: Metrics) -> dict[str, float | None]:
    """The numbers of one evaluated row that the comparison uses (as ``evaluate`` summarised them)."""
    summary = metrics.summary
    scores: dict[str, float | None] = {
        "knn_accuracy": summary.audio_knn_accuracy,
        "joint_knn_accuracy": summary.joint_knn_accuracy,
        "classifier_accuracy": summary.classifier_accuracy,
    }
    for k in REPORTED_RANKS:
        scores[f"recall@{k}"] = metrics.recall.get(k)
    for name in LOCALIZATION_MAPS:
        block = metrics.localization_scores(name)
        scores[f"{name}_pointing"] = block.pointing_accuracy
        scores[f"{name}_ciou"] = block.ciou_mean
        scores[f"{name}_auc"] = block.auc
    for name in LOCALIZATION_BASELINES:
        scores[f"{name}_pointing"] = metrics.localization_scores(name).pointing_accuracy
    return scores


# Which summarised number of row_scores a per-sample outcome reproduces (the table's point estimates).
SCORE_OF = {
    "knn": "knn_accuracy",
    "joint_knn": "joint_knn_accuracy",
    "classifier": "classifier_accuracy",
    **{f"recall@{k}": f"recall@{k}" for k in REPORTED_RANKS},
    "attention_hit": "attention_pointing",
    "attention_ciou": "attention_ciou",
    "attention_mismatched_hit": "attention_mismatched_pointing",
    "energy_hit": "energy_pointing",
    "any_object_hit": "any_object_pointing",
    "largest_object_hit": "largest_object_pointing",
    "chance_hit": "chance_pointing",
}


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and population std (as the original's aggregation) of the values that exist."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return float(np.mean(present)), float(np.std(present))


@dataclass(frozen=True)
class ScoredClips:
    """The test clips every row was scored on: the video (bootstrap cluster) and class (stratum) of each."""

    videos: np.ndarray
    labels: np.ndarray


def scored_clips(per_seed: PerSeed) -> ScoredClips | None:
    """The common test set of every row and seed (None without per-sample outcomes); a row scored on other
    clips is an error, since paired differences would then compare different samples."""
    found: ScoredClips | None = None
    for seed, rows in per_seed.items():
        for row, metrics in rows.items():
            if metrics.labels is None:
                continue
            labels, videos = np.asarray(metrics.labels), metrics.video_ids
            current = ScoredClips(np.arange(len(labels)) if videos is None else np.asarray(videos), labels)
            found = found or current
            if not (np.array_equal(found.labels, labels) and np.array_equal(found.videos, current.videos)):
                raise DataError(f"row {row} of seed {seed} was scored on other test clips than the others")
    return found


class Outcomes:
    """Per-sample outcomes of every row and seed, as [seeds, samples] arrays for the bootstrap."""

    def __init__(self, per_seed: PerSeed, clips: ScoredClips | None) -> None:
        self.clips = clips
        self.by_seed = {seed: {row: metrics.outcomes for row, metrics in rows.items()}
                        for seed, rows in per_seed.items()}

    def seeds(self, row: str, outcome: str) -> list[int]:
        """The seeds whose evaluation of ``row`` has this outcome."""
        return [s for s, rows in self.by_seed.items() if outcome in rows.get(row, {})]

    def array(self, row: str, outcome: str, seeds: Sequence[int]) -> np.ndarray:
        """[seeds, samples], NaN where a sample is not scored."""
        return np.array([self.by_seed[s][row][outcome] for s in seeds], dtype=np.float64)

    def interval(self, row: str, outcome: str, auc: bool = False) -> list[float] | None:
        seeds = self.seeds(row, outcome)
        if self.clips is None or not seeds:
            return None
        values = self.array(row, outcome, seeds)
        if not np.isfinite(values).any():
            return None
        statistic = weighted_auc if auc else weighted_mean
        return bootstrap_ci(values, self.clips.videos, self.clips.labels, statistic=statistic).as_list()

    def baseline_row(self, outcome: str, rows: Sequence[str] = BASELINE_ROWS) -> str:
        """The first of ``rows`` that has ``outcome`` (the scalar baselines' source)."""
        return next((row for row in rows if self.seeds(row, outcome)), rows[0])

    def difference(self, first: tuple[str, str], second: tuple[str, str]) -> dict[str, object] | None:
        """Paired over the clips and over the seeds both sides have (``BASELINE``: ``baseline_row``)."""
        first, second = ((row or self.baseline_row(out), out) for row, out in (first, second))
        seeds = sorted(set(self.seeds(*first)) & set(self.seeds(*second)))
        if self.clips is None or not seeds:
            return None
        a, b = self.array(*first, seeds), self.array(*second, seeds)
        return paired_difference(a, b, self.clips.videos, self.clips.labels).as_dict()


def _aggregate(
    metric: Metric, scores: Mapping[int, Mapping[str, Mapping[str, float | None]]], outcomes: Outcomes
) -> tuple[Any, Any, Any]:
    """(mean, std, ci95) of one metric: dicts over columns for a table, single values for a scalar."""
    score = SCORE_OF[metric.outcome] if not metric.auc else "attention_auc"

    def one(row: str) -> tuple[float | None, float | None, list[float] | None]:
        mean, std = mean_std([rows[row][score] for rows in scores.values() if row in rows])
        return mean, std, outcomes.interval(row, metric.outcome, metric.auc) if mean is not None else None

    if isinstance(metric.rows, str):
        return one(metric.rows)
    if isinstance(metric.rows, tuple):
        return one(outcomes.baseline_row(metric.outcome, metric.rows))
    parts = {column: one(row) for column, row in metric.rows.items()}
    return tuple({column: part[i] for column, part in parts.items()} for i in range(3))


def build_report(
    config: DemoConfig, per_seed: PerSeed, labels: dict[str, int] | None = None
) -> dict[str, Any]:
    """report.json from each seed's metrics.json per row (a baseline row's under every seed); ``labels``: the
    records' class names (``simulate --objects``), which then name the dataset's classes."""
    scores = {seed: {row: row_scores(m) for row, m in rows.items()} for seed, rows in per_seed.items()}
    seeds = sorted(scores)
    tests = scored_clips(per_seed)
    outcomes = Outcomes(per_seed, tests)
    report: dict[str, Any] = {"preset": config.preset, "description": config.demo.description, "seeds": seeds}
    for metric in METRICS:
        mean, std, ci = _aggregate(metric, scores, outcomes)
        report[metric.key], report[f"{metric.key}_std"], report[f"{metric.key}_ci95"] = mean, std, ci
    report["comparisons"] = {
        name: outcomes.difference(first, second) for name, (first, second) in COMPARISONS.items()
    }
    report["test_samples"] = None if tests is None else len(tests.labels)
    report["test_videos"] = None if tests is None else len(np.unique(tests.videos))
    report["per_seed"] = {str(s): scores[s] for s in seeds}
    sim = config.simulate
    report["dataset"] = {
        "videos_per_class": sim.videos_per_class,
        "seconds_per_video": sim.seconds,
        "snr_db": sim.snr_db,
        "classes": _classes(sim.classes, labels),
        "frame_size": list(sim.frame_size),
        "split_fractions": list(config.lists.fractions),
        "locations": sim.locations,
        "distractors": sim.distractors,
        "extra_sources": sim.extra_sources,
        "matched_sizes": sim.matched_sizes,
        "test_videos_per_class": sim.test_videos_per_class,
        "test_seconds_per_video": sim.test_seconds if sim.test_videos_per_class else sim.seconds,
        **({"objects": sim.objects} if sim.objects else {}),
    }
    report["alpha"] = config.train.alpha
    report["machine"] = machine_info()
    return report


def _classes(chosen: tuple[int, ...], labels: dict[str, int] | None) -> list[int] | list[str]:
    """The simulated classes: indices of ACIVW's ten, or the names of a library's (all, or the chosen)."""
    if labels is None:
        return list(chosen) or list(range(10))
    names = sorted(labels, key=labels.__getitem__)
    return [names[c] for c in chosen] if chosen else names


def stage_timings(out_dir: Path, report_start: float, report_cpu_start: float) -> dict[str, Any]:
    """timings.json: wall and CPU seconds of every finished stage (from the markers) and of the report."""
    markers = [json.loads(p.read_text(encoding="utf-8")) for p in (out_dir / MARKER_DIR).glob("*.done")]
    markers = sorted((m for m in markers if m.get("stage") != "report"), key=lambda m: m.get("finished", ""))
    wall = {m["stage"]: float(m.get("seconds", 0.0)) for m in markers}
    cpu = {m["stage"]: float(m.get("cpu_seconds", 0.0)) for m in markers}
    wall["report"] = time.time() - report_start
    cpu["report"] = cpu_seconds() - report_cpu_start
    return {
        "seconds": round(float(sum(wall.values())), 1),
        "cpu_seconds": round(float(sum(cpu.values())), 1),
        "stage_seconds": {k: round(v, 1) for k, v in wall.items()},
        "stage_cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
    }
