"""Decisions coded more than once (issue 27): the copies agree where their protocols agree.

Pinned before the copies are merged into one home each, so that the merge is seen to change no number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from acoustic_ssl.cli import build_parser
from acoustic_ssl.data.raw_writer import write_dc

# cIoU values none of which lies on a threshold, so "> τ" and "≥ τ" count alike
CIOUS = np.array([0.03, 0.27, 0.55, 0.81, 0.99, 0.42, 0.58])


def _binary_case() -> tuple[np.ndarray, np.ndarray]:
    """GT: rows 0-1 × columns 0-2 (6 px); prediction: rows 1-2 × columns 1-4 (8 px). Overlap 2 px,
    prediction outside the GT 6 px: cIoU = 2 / (6 + 6) = 1/6."""
    gt = np.zeros((4, 6), dtype=bool)
    gt[0:2, 0:3] = True
    pred = np.zeros((4, 6), dtype=bool)
    pred[1:3, 1:5] = True
    return pred, gt


def test_ciou_copies_agree_on_a_binary_map() -> None:
    from acoustic_ssl.evaluation.boxes import box_ciou
    from acoustic_ssl.evaluation.localization import ciou

    pred, gt = _binary_case()
    assert ciou(pred, gt) == pytest.approx(1 / 6, rel=1e-12)
    assert box_ciou(pred, gt.astype(np.float64)) == ciou(pred, gt)


def test_success_curves_agree_off_the_thresholds() -> None:
    from acoustic_ssl.evaluation import boxes, localization

    simulated = localization.success_curve(CIOUS)  # cIoU > τ, τ = 0.0 … 1.0
    benchmark = boxes._rates(CIOUS)  # cIoU ≥ τ, τ = 0.00, 0.05 … 1.00
    np.testing.assert_array_equal(simulated, benchmark[::2])
    assert simulated.tolist()[:3] == [1.0, 6 / 7, 6 / 7]


def test_the_three_trapezoids_agree() -> None:
    from acoustic_ssl.evaluation import boxes, localization
    from acoustic_ssl.evaluation.statistics import weighted_auc

    rates = localization.success_curve(CIOUS)
    expected = localization.auc(localization.THRESHOLDS, rates)
    assert weighted_auc(CIOUS, np.ones((1, len(CIOUS))))[0] == pytest.approx(expected, rel=1e-12)
    box_rates = boxes._rates(CIOUS)
    assert boxes._trapezoid(box_rates[None])[0] == pytest.approx(
        localization.auc(boxes.THRESHOLDS, box_rates), rel=1e-12
    )


def test_the_two_bootstraps_draw_alike_given_the_same_seed() -> None:
    """The clip bootstrap of ``boxes`` is the clustered one with every clip its own video, seed 0."""
    from acoustic_ssl.evaluation.boxes import bootstrap_intervals
    from acoustic_ssl.evaluation.statistics import bootstrap_ci

    cious = np.random.default_rng(4).uniform(0.0, 1.0, 37)
    boxes = bootstrap_intervals(cious)
    clustered = bootstrap_ci(cious, np.arange(len(cious)), seed=0)
    assert boxes["ciou_mean"] == pytest.approx(clustered.as_list(), rel=1e-12)
    success = bootstrap_ci((cious >= 0.5).astype(float), seed=0)
    assert boxes["success@0.5"] == pytest.approx(success.as_list(), rel=1e-12)


def test_scene_statistics_z_score_as_normalization_does() -> None:
    from acoustic_ssl.data.stats import Normalization
    from acoustic_ssl.evaluation.scenes import crop_statistics

    crops = np.random.default_rng(5).gamma(2.0, 3.0, (6, 257, 4))
    crops[:, 7, :] = 2.5  # a bin that never varies: std 0, divided by 1
    mean, std = crop_statistics(crops, n_clips=2)
    scenes = (crops - mean) / std
    normalization = Normalization.from_stats(mean[0, :, 0], std[0, :, 0])
    np.testing.assert_allclose(normalization(torch.as_tensor(crops)).numpy(), scenes, rtol=1e-5, atol=1e-5)
    assert np.all(scenes[:, 7, :] == 0.0)


def test_the_two_dc_readers_read_alike(tmp_path: Path) -> None:
    from acoustic_ssl.data.raw import _FRAME_PATTERNS, read_dc
    from acoustic_ssl.imaging.sources import _DC_NAME, _read_dc

    samples = np.arange(4 * 1024, dtype=np.int32).reshape(4, 1024) * 3 - 7
    write_dc(tmp_path / "A_000012.dc", samples)
    np.testing.assert_array_equal(read_dc(tmp_path / "A_000012.dc", 4), samples)
    np.testing.assert_array_equal(_read_dc(tmp_path / "A_000012.dc", 4), samples)
    dataset_rule = _FRAME_PATTERNS["audio"][0]
    assert dataset_rule.match("A_000012.dc").group(1) == _DC_NAME.match("A_000012.dc").group(1) == "000012"


def _defaults(command: str) -> dict[str, object]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {a.dest: a.default for a in sub._actions}


def test_protocol_constants_agree() -> None:
    from acoustic_ssl.demo.config import EvaluateSettings
    from acoustic_ssl.demo.summary import RANKS
    from acoustic_ssl.evaluation.boxes import evaluate_boxes
    from acoustic_ssl.evaluation.evaluate import OVERLAYS_PER_MAP, PER_SAMPLE_RANKS
    from acoustic_ssl.evaluation.knn import KNN_KS
    from acoustic_ssl.evaluation.retrieval import CONFUSION_KS

    assert KNN_KS == (7, 9, 11, 13, 15)
    assert tuple(_defaults("evaluate")["knn_k"]) == tuple(_defaults("scenes")["knn_k"]) == KNN_KS
    assert EvaluateSettings().knn_k == KNN_KS
    assert PER_SAMPLE_RANKS == RANKS == CONFUSION_KS == (1, 5, 10)
    assert _defaults("evaluate")["overlays"] == OVERLAYS_PER_MAP == 8
    assert evaluate_boxes.__kwdefaults__["overlays"] == OVERLAYS_PER_MAP


def test_per_sample_retrieval_hits_average_to_the_recall() -> None:
    from acoustic_ssl.evaluation.evaluate import retrieval_hits
    from acoustic_ssl.evaluation.retrieval import retrieval_metrics

    rng = np.random.default_rng(6)
    distances, labels = rng.random((9, 9)), np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    hits = retrieval_hits(distances, labels)
    recall = retrieval_metrics(distances, labels, labels)
    for k in (1, 5, 10):
        assert np.mean(hits[f"retrieval_hit@{k}"]) == pytest.approx(recall[f"recall@{k}"], rel=1e-12)
    assert recall["recall@1"] < recall["recall@5"] == recall["recall@10"] == 1.0


def test_the_lazy_imaging_exports_behave_as_lazy_exports() -> None:
    import acoustic_ssl.imaging as imaging
    from acoustic_ssl.imaging.geometry import PinholeCamera

    assert imaging.__all__ == sorted(imaging._EXPORTS)
    assert imaging.PinholeCamera is PinholeCamera
    assert set(imaging.__all__) <= set(dir(imaging))
    with pytest.raises(AttributeError, match=r"'acoustic_ssl\.imaging' has no attribute 'Nope'"):
        imaging.Nope  # noqa: B018


def test_the_demo_and_the_report_read_the_same_numbers_of_a_metrics_file() -> None:
    from acoustic_ssl.demo.summary import row_scores
    from acoustic_ssl.evaluation.report import flatten_metrics

    metrics = {
        "summary": {"audio_knn_accuracy": 0.61, "joint_knn_accuracy": 0.7, "classifier_accuracy": None},
        "retrieval": {"audio_to_video": {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.75},
                      "video_to_audio": {"recall@1": 0.125, "recall@5": 0.375, "recall@10": 0.625}},
        "localization": {"attention": {"pointing_accuracy": 0.4, "ciou_mean": 0.3, "auc": 0.35},
                         "chance": {"pointing_accuracy": 0.1}},
    }
    scores, flat = row_scores(metrics), flatten_metrics(metrics)
    assert scores["knn_accuracy"] == flat["summary/audio_knn_accuracy"] == 0.61
    assert scores["recall@5"] == flat["retrieval/audio_to_video/recall@5"] == 0.5
    assert scores["attention_auc"] == flat["localization/attention/auc"] == 0.35
    assert scores["chance_pointing"] == flat["localization/chance/pointing_accuracy"] == 0.1
