"""The demo's comparison table: how it aggregates seeds, maps rows to columns, reads the baselines, and
draws the intervals and paired comparisons from the right rows' per-sample outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from acoustic_ssl.demo.config import load_demo_config, preset_path
from acoustic_ssl.demo.summary import build_report
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.metrics_file import Metrics
from acoustic_ssl.evaluation.statistics import bootstrap_ci, paired_difference

ROWS = (
    "random",
    "random_acoustic",
    "random_contrastive",
    "logmel",
    "supervised",
    "selfsup_video",
    "selfsup_acoustic",
    "transfer",
    "contrastive",
    "contrastive_transfer",
)
SEEDS = (0, 1, 2)
VIDEOS = np.repeat(np.arange(6), 2)  # 12 test clips: 6 videos of 2 clips, 2 videos per class
LABELS = VIDEOS // 2
OUTCOMES = (
    "knn",
    "joint",
    "attention",
    "energy",
    "attention_mismatched",
    "any_object",
    "largest_object",
    "chance",
)


def _value(row: str, seed: int, offset: float) -> float:
    """Distinct per row and metric, asymmetric over seeds (mean ≠ median, population ≠ sample std)."""
    return round(0.1 * ROWS.index(row) + 0.02 * seed**2 + offset, 6)


def _hits(row: str, seed: int, outcome: str) -> list[int]:
    """Per-sample 0/1 outcomes, different for every row, seed and outcome."""
    rng = np.random.default_rng([ROWS.index(row), seed, OUTCOMES.index(outcome)])
    return rng.integers(0, 2, size=len(VIDEOS)).tolist()


def _per_sample(row: str, seed: int) -> dict[str, Any]:
    """``per_sample`` as ``evaluate`` writes it; the "features" kNN key is not the headline one."""
    loc = {name: {"hit": _hits(row, seed, name), "ciou": [0.5] * len(VIDEOS)} for name in OUTCOMES[2:5]}
    for name in OUTCOMES[5:]:
        loc[name] = {"hit": _hits(row, seed, name)}
    knn = {"audio": _hits(row, seed, "knn"), "joint": _hits(row, seed, "joint"), "features": [0] * 12}
    return {"video_ids": VIDEOS.tolist(), "labels": LABELS.tolist(), "knn_correct": knn, "localization": loc}


def _metrics(row: str, seed: int) -> dict[str, Any]:
    """A metrics.json as ``evaluate`` writes it (the keys the demo reads), with both retrieval directions and
    both localisation maps so that picking the wrong one shows."""
    metrics: dict[str, Any] = {
        "summary": {
            "audio_knn_accuracy": _value(row, seed, 0.0),
            "audio_knn_feature": "audio",
            "joint_knn_accuracy": _value(row, seed, 0.05),
        },
        "per_sample": _per_sample(row, seed),
        "localization": {
            name: {
                "pointing_accuracy": _value(row, seed, offset),
                "ciou_mean": _value(row, seed, offset + 0.01),
                "auc": _value(row, seed, offset + 0.02),
            }
            for name, offset in (("attention", 0.3), ("energy", 0.5))
        },
    }
    for name, offset in (("any_object", 0.7), ("largest_object", 0.75), ("chance", 0.8)):
        metrics["localization"][name] = {"pointing_accuracy": _value(row, seed, offset)}
    if row not in ("supervised", "logmel"):
        metrics["retrieval"] = {
            name: {f"recall@{k}": _value(row, seed, offset + 0.001 * k) for k in (1, 5, 10)}
            for name, offset in (("audio_to_video", 0.1), ("video_to_audio", 0.2))
        }
    return metrics


def _read(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[int, dict[str, Metrics]]:
    """Each metrics.json as the demo reads it (``metrics_file``)."""
    return {seed: {row: Metrics.from_json(m) for row, m in rows.items()} for seed, rows in per_seed.items()}


def _expected(row: str, offset: float) -> tuple[float, float]:
    values = [_value(row, seed, offset) for seed in SEEDS]
    return float(np.mean(values)), float(np.std(values))  # plain mean, population std


def test_report_is_the_mean_and_population_std_over_seeds_of_each_row() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS} for seed in SEEDS}
    report = build_report(config, _read(per_seed))
    assert report["seeds"] == list(SEEDS)
    for row in (
        "random",
        "logmel",
        "supervised",
        "selfsup_video",
        "transfer",
        "contrastive",
        "contrastive_transfer",
    ):
        mean, std = _expected(row, 0.0)
        assert report["audio_knn_accuracy"][row] == pytest.approx(mean)
        assert report["audio_knn_accuracy_std"][row] == pytest.approx(std)
        for k in (1, 5, 10):
            if row in ("supervised", "logmel"):  # no video side
                assert report[f"retrieval_recall_at_{k}"][row] is None
                continue
            mean, std = _expected(row, 0.1 + 0.001 * k)  # audio → video
            assert report[f"retrieval_recall_at_{k}"][row] == pytest.approx(mean)
            assert report[f"retrieval_recall_at_{k}_std"][row] == pytest.approx(std)
        for seed in SEEDS:
            assert report["per_seed"][str(seed)][row]["knn_accuracy"] == _value(row, seed, 0.0)
    assert report["acoustic_knn_accuracy"] == pytest.approx(_expected("selfsup_acoustic", 0.0)[0])
    for column, row in (
        ("audio_video", "selfsup_video"),
        ("acoustic_video", "selfsup_acoustic"),
        ("contrastive", "contrastive"),
        ("contrastive_transfer", "contrastive_transfer"),
    ):
        for key, offset in (("accuracy", 0.3), ("ciou", 0.31), ("auc", 0.32)):
            mean, std = _expected(row, offset)  # the attention map of the row's own networks
            assert report[f"localization_{key}"][column] == pytest.approx(mean)
            assert report[f"localization_{key}_std"][column] == pytest.approx(std)
    # the baselines that ignore the learned maps come from the first row of BASELINE_ROWS
    for key, offset in (("energy", 0.5), ("any_object", 0.7), ("largest_object", 0.75), ("chance", 0.8)):
        expected = _expected("selfsup_acoustic", offset)[0]
        assert report[f"localization_{key}{'' if key == 'chance' else '_accuracy'}"] == pytest.approx(
            expected
        )
    for key, row in (
        ("", "random"),
        ("_acoustic", "random_acoustic"),
        ("_contrastive", "random_contrastive"),
    ):
        assert report[f"localization_random_init{key}_accuracy"] == pytest.approx(_expected(row, 0.3)[0])


def test_without_the_acoustic_run_the_baselines_come_from_the_next_row() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS if "acoustic" not in row} for seed in SEEDS}
    report = build_report(config, _read(per_seed))
    assert report["localization_any_object_accuracy"] == pytest.approx(_expected("selfsup_video", 0.7)[0])
    assert (
        report["acoustic_knn_accuracy"] is None and report["localization_accuracy"]["acoustic_video"] is None
    )
    expected = paired_difference(
        _seeds_of("contrastive", "attention"), _seeds_of("selfsup_video", "any_object"), VIDEOS, LABELS
    )
    assert report["comparisons"]["localization_contrastive_vs_any_object"]["difference"] == pytest.approx(
        expected.difference
    )


def test_a_seed_without_a_score_is_left_out_of_its_mean() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS} for seed in SEEDS}
    del per_seed[1]["transfer"]["summary"]["audio_knn_accuracy"]
    report = build_report(config, _read(per_seed))
    present = [_value("transfer", seed, 0.0) for seed in (0, 2)]
    assert report["audio_knn_accuracy"]["transfer"] == pytest.approx(np.mean(present))
    assert report["audio_knn_accuracy_std"]["transfer"] == pytest.approx(np.std(present))


def _seeds_of(row: str, outcome: str, key: str | None = None) -> np.ndarray:
    """[seeds, samples] of one row's outcome as the fixture wrote it."""
    if key is None:
        return np.array([_hits(row, seed, outcome) for seed in SEEDS], dtype=float)
    return np.array([_per_sample(row, seed)[key][outcome] for seed in SEEDS], dtype=float)


def test_intervals_come_from_each_rows_own_outcomes_clustered_by_video() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS} for seed in SEEDS}
    report = build_report(config, _read(per_seed))
    for row in ("random", "selfsup_video", "transfer"):
        expected = bootstrap_ci(_seeds_of(row, "knn"), VIDEOS, LABELS)
        assert report["audio_knn_accuracy_ci95"][row] == pytest.approx(expected.as_list())
        joint = bootstrap_ci(_seeds_of(row, "joint"), VIDEOS, LABELS)
        assert report["joint_knn_accuracy_ci95"][row] == pytest.approx(joint.as_list())
    assert set(report["audio_knn_accuracy_ci95"]) == set(report["audio_knn_accuracy"])
    for column, row in (("audio_video", "selfsup_video"), ("acoustic_video", "selfsup_acoustic")):
        expected = bootstrap_ci(_seeds_of(row, "attention"), VIDEOS, LABELS)
        assert report["localization_accuracy_ci95"][column] == pytest.approx(expected.as_list())
    for key, row, outcome in (
        ("localization_random_init_accuracy", "random", "attention"),
        ("localization_random_init_acoustic_accuracy", "random_acoustic", "attention"),
        ("localization_random_init_contrastive_accuracy", "random_contrastive", "attention"),
        ("localization_energy_accuracy", "selfsup_acoustic", "energy"),
        ("localization_any_object_accuracy", "selfsup_acoustic", "any_object"),
        ("localization_largest_object_accuracy", "selfsup_acoustic", "largest_object"),
        ("localization_chance", "selfsup_acoustic", "chance"),
    ):
        expected = bootstrap_ci(_seeds_of(row, outcome), VIDEOS, LABELS)
        assert report[f"{key}_ci95"] == pytest.approx(expected.as_list()), key
    assert report["test_samples"] == 12 and report["test_videos"] == 6
    assert {"cpu_model", "torch_threads", "torch_version", "onednn_version"} <= set(report["machine"])


def test_comparisons_pair_the_rows_that_carry_each_claim() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS} for seed in SEEDS}
    comparisons = build_report(config, _read(per_seed))["comparisons"]
    for name, (first, second) in {
        "selfsup_vs_random": (("selfsup_video", "knn"), ("random", "knn")),
        "transfer_vs_video": (("transfer", "knn"), ("selfsup_video", "knn")),
        "localization_audio_video_vs_random_init": (("selfsup_video", "attention"), ("random", "attention")),
        "localization_acoustic_video_vs_random_init": (
            ("selfsup_acoustic", "attention"),
            ("random_acoustic", "attention"),
        ),
        "localization_acoustic_video_vs_energy": (
            ("selfsup_acoustic", "attention"),
            ("selfsup_acoustic", "energy"),
        ),
        "contrastive_vs_random": (("contrastive", "knn"), ("random_contrastive", "knn")),
        "contrastive_vs_selfsup_video": (("contrastive", "knn"), ("selfsup_video", "knn")),
        "contrastive_transfer_vs_contrastive": (("contrastive_transfer", "knn"), ("contrastive", "knn")),
        "contrastive_vs_logmel": (("contrastive", "knn"), ("logmel", "knn")),
        "supervised_vs_logmel": (("supervised", "knn"), ("logmel", "knn")),
        "localization_contrastive_vs_random_init": (
            ("contrastive", "attention"),
            ("random_contrastive", "attention"),
        ),
        "localization_contrastive_vs_any_object": (
            ("contrastive", "attention"),
            ("selfsup_acoustic", "any_object"),
        ),
        "localization_contrastive_vs_largest_object": (
            ("contrastive", "attention"),
            ("selfsup_acoustic", "largest_object"),
        ),
    }.items():
        expected = paired_difference(_seeds_of(*first), _seeds_of(*second), VIDEOS, LABELS)
        assert comparisons[name]["difference"] == pytest.approx(expected.difference), name
        assert comparisons[name]["ci95"] == pytest.approx([expected.low, expected.high]), name
        assert comparisons[name]["verdict"] == expected.verdict


def test_rows_scored_on_other_clips_are_an_error() -> None:
    config = load_demo_config(preset_path("test"))
    per_seed = {seed: {row: _metrics(row, seed) for row in ROWS} for seed in SEEDS}
    per_seed[2]["transfer"]["per_sample"]["video_ids"] = list(range(12))
    with pytest.raises(DataError, match="row transfer of seed 2 was scored on other test clips"):
        build_report(config, _read(per_seed))
