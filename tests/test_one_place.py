"""One decision, one place (issue 27): each decision that was coded two or three times has one home, and
every user of it calls that home; where two protocols differ, the difference is a named parameter.

(This file first pinned the copies against each other, before they were merged.)
"""

from __future__ import annotations

import itertools
import json
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


def test_one_ciou_for_binary_and_consensus_maps() -> None:
    from acoustic_ssl.evaluation import boxes, localization

    assert boxes.ciou is localization.ciou
    pred, gt = _binary_case()
    assert localization.ciou(pred, gt) == pytest.approx(1 / 6, rel=1e-12)
    consensus = gt * 0.5  # every GT pixel marked by one annotator of two: it counts half
    assert localization.ciou(pred, consensus) == pytest.approx(1 / (3 + 6), rel=1e-12)


def test_boxes_and_the_simulated_gt_scoring_give_the_same_ciou_on_a_binary_map() -> None:
    """A 0/1 map on the 224 grid with 30 % ones: the LVS rule (> the median element, 0) and the simulated
    GT's rule (> the mean) both keep the ones; the GT is a VGG-SS box, binary. Rows 0-99 × columns 0-149
    against rows and columns 56-167: 44 × 94 = 4136 px inside, 15000 − 4136 outside, 112² in the GT."""
    from acoustic_ssl.evaluation.boxes import Annotation, gt_map, prediction_mask
    from acoustic_ssl.evaluation.localization import ciou, score_samples

    heat = np.zeros((224, 224))
    heat[:100, :150] = 1.0
    box = Annotation("clip", "vggss", (224 * np.array([[0.25, 0.25, 0.75, 0.75]])).astype(np.int64))
    benchmark = ciou(prediction_mask(heat, "lvs"), gt_map(box))
    _, (simulated,) = score_samples([heat], [gt_map(box) > 0])
    assert benchmark == simulated == pytest.approx(4136 / (112**2 + 15000 - 4136), rel=1e-12)


def test_one_success_curve_with_the_benchmarks_rule_as_a_parameter() -> None:
    from acoustic_ssl.evaluation import boxes, localization

    simulated = localization.success_curve(CIOUS)  # cIoU > τ, τ = 0.0 … 1.0
    benchmark = localization.success_curve(CIOUS, boxes.THRESHOLDS, inclusive=True)  # ≥ τ, 0.05 steps
    np.testing.assert_array_equal(simulated, benchmark[::2])  # no cIoU on a threshold: the rules agree
    assert simulated.tolist()[:3] == [1.0, 6 / 7, 6 / 7]
    assert boxes.score_cious(CIOUS)["success_curve"] == benchmark.tolist()
    on_threshold = [0.5, 0.2]  # 0.5 passes τ = 0.5 only when ≥ counts
    assert localization.success_curve(on_threshold, (0.5,)).tolist() == [0.0]
    assert localization.success_curve(on_threshold, (0.5,), inclusive=True).tolist() == [0.5]
    assert np.isnan(localization.success_curve([None, float("nan")], (0.5,))).all()  # nothing scored


def test_one_trapezoid_for_one_curve_and_for_bootstrap_replicates() -> None:
    from acoustic_ssl.evaluation import boxes, localization
    from acoustic_ssl.evaluation.localization import weighted_auc

    rates = localization.success_curve(CIOUS)
    expected = localization.auc(localization.THRESHOLDS, rates)
    # by hand: rates 7/7, 6/7, 6/7, 5/7, 5/7, 4/7, 2/7, 2/7, 2/7, 1/7, 0 at τ = 0 … 1
    sevenths = [7, 6, 6, 5, 5, 4, 2, 2, 2, 1, 0]
    trapezoids = [0.1 * (a + b) / 14 for a, b in itertools.pairwise(sevenths)]
    assert expected == pytest.approx(sum(trapezoids), rel=1e-12)
    assert weighted_auc(CIOUS, np.ones((1, len(CIOUS))))[0] == expected
    doubled = np.r_[CIOUS, CIOUS[:1]]  # weight 2 on the first clip = the clip drawn twice
    weights = np.array([[2.0, 1, 1, 1, 1, 1, 1], [1.0, 1, 1, 1, 1, 1, 1]])
    twice = localization.auc(localization.THRESHOLDS, localization.success_curve(doubled))
    np.testing.assert_array_equal(weighted_auc(CIOUS, weights), [twice, expected])
    box_rates = localization.success_curve(CIOUS, boxes.THRESHOLDS, inclusive=True)
    assert boxes.score_cious(CIOUS)["auc"] == localization.auc(boxes.THRESHOLDS, box_rates)


def test_the_clip_bootstrap_is_the_clustered_one_with_one_clip_per_video() -> None:
    from acoustic_ssl.evaluation import boxes
    from acoustic_ssl.evaluation.localization import weighted_auc
    from acoustic_ssl.evaluation.statistics import bootstrap_ci

    cious = np.random.default_rng(4).uniform(0.0, 1.0, 37)
    intervals = boxes.bootstrap_intervals(cious)
    one_clip_per_video = 3 * np.arange(len(cious)) + 2  # distinct, increasing video ids
    assert intervals["ciou_mean"] == bootstrap_ci(cious, one_clip_per_video).as_list()
    assert intervals["ciou_mean"] == bootstrap_ci(cious, clusters=None).as_list()
    box_auc = bootstrap_ci(
        cious, statistic=lambda v, w: weighted_auc(v, w, boxes.THRESHOLDS, inclusive=True)
    )
    assert intervals["auc"] == box_auc.as_list()
    success = bootstrap_ci((cious >= 0.5).astype(float))
    assert intervals["success@0.5"] == success.as_list()
    low, high = intervals["ciou_mean"]
    assert low < float(np.mean(cious)) < high and high - low < 0.25


def test_scene_crops_are_z_scored_by_trainings_normalization() -> None:
    """One z-scoring with "a zero std divides by 1": ``data.stats.Normalization``, which the scene protocol's
    training-crop statistics now are."""
    from acoustic_ssl.data.stats import Normalization
    from acoustic_ssl.evaluation.scenes import crop_statistics

    crops = np.random.default_rng(5).gamma(2.0, 3.0, (6, 257, 4))
    crops[:, 7, :] = 2.5  # a bin that never varies: std 0, divided by 1
    normalization = crop_statistics(crops, n_clips=2)
    assert isinstance(normalization, Normalization)
    mean, std = normalization.stats
    assert (mean[7], std[7]) == (2.5, 1.0)
    np.testing.assert_allclose(std[:7], crops[:, :7].std(axis=(0, 2)), rtol=1e-6)
    z_scored = normalization(torch.as_tensor(crops, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(z_scored, (crops - crops.mean(axis=(0, 2))[:, None]) / std[:, None], atol=1e-5)
    assert np.all(z_scored[:, 7, :] == 0.0)


def test_one_dc_reader_and_one_frame_name_rule(tmp_path: Path) -> None:
    """``beamform`` and the converter list and read ``.dc`` frames alike: the names ``A_%06d.dc`` writes,
    six digits and seven from frame 1 000 000 on (a 23-h recording), never an unpadded or over-padded
    one, which would give one frame two names."""
    from acoustic_ssl.data.layout import AUDIO_FRAME_NAME
    from acoustic_ssl.data.raw import _FRAME_PATTERNS, dc_frames
    from acoustic_ssl.imaging.sources import open_recording

    assert _FRAME_PATTERNS["audio"][0] is AUDIO_FRAME_NAME
    folder = tmp_path / "audio"
    values = np.arange(3 * 2048, dtype=np.int32).reshape(3, 2048) * 7 - 5  # (channels, samples)
    write_dc(folder / "A_999999.dc", values[:, :1024])
    write_dc(folder / "A_1000000.dc", values[:, 1024:])
    for stray in ("A_1.dc", "A_0000002.dc", "A_000003.dc.tmp", "B_000004.dc"):
        (folder / stray).write_bytes(b"\0" * 12)  # not frames: left alone, not read as 3 x 1 samples
    assert [n for n, _ in dc_frames(folder)] == [999999, 1000000]
    recording = open_recording(tmp_path)  # a video folder: its audio/ subfolder
    assert (recording.num_channels, recording.num_samples) == (3, 2048)
    assert recording.file_numbers == [999999, 1000000]
    np.testing.assert_array_equal(recording.read(1000, 48), values[:, 1000:1048].T.astype(np.float32))


def _defaults(command: str) -> dict[str, object]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {a.dest: a.default for a in sub._actions}


def test_protocol_constants_have_one_home() -> None:
    """The kNN k values, the reported retrieval ranks and the overlay count are ``evaluation.protocol``'s,
    whichever way evaluation is reached: the functions, the command line, the demo."""
    import inspect

    from acoustic_ssl.demo.config import EvaluateSettings
    from acoustic_ssl.evaluation import evaluate, knn, protocol, retrieval, scenes
    from acoustic_ssl.evaluation.boxes import evaluate_boxes

    assert protocol.KNN_KS == (7, 9, 11, 13, 15) and protocol.REPORTED_RANKS == (1, 5, 10)
    for function in (knn.knn_protocol, scenes.scene_transfer, evaluate.classification_metrics,
                     evaluate.compute_metrics, evaluate.evaluate_checkpoint, evaluate.evaluate_baseline):
        assert inspect.signature(function).parameters["ks"].default is protocol.KNN_KS
    assert tuple(_defaults("evaluate")["knn_k"]) == tuple(_defaults("scenes")["knn_k"]) == protocol.KNN_KS
    assert EvaluateSettings().knn_k is protocol.KNN_KS
    for function in (evaluate.localization_metrics, evaluate.compute_metrics, evaluate.evaluate_checkpoint,
                     evaluate_boxes):
        assert inspect.signature(function).parameters["overlays"].default == protocol.OVERLAYS_PER_MAP
    assert _defaults("evaluate")["overlays"] == EvaluateSettings().overlays == protocol.OVERLAYS_PER_MAP
    confusion_ks = inspect.signature(retrieval.retrieval_confusions).parameters["ks"].default
    recall_ranks = inspect.signature(retrieval.retrieval_metrics).parameters["ranks"].default
    assert (confusion_ks, recall_ranks) == (protocol.REPORTED_RANKS, protocol.RETRIEVAL_RANKS)


def test_no_protocol_number_is_written_out_again() -> None:
    """The k values and the reported ranks as literals appear in ``evaluation/protocol.py`` only."""
    import re

    import acoustic_ssl

    literal = re.compile(r"[\[(]7, 9, 11, 13, 15[\])]|\(1, 5, 10\)")
    package = Path(acoustic_ssl.__file__).parent
    found = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if literal.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["evaluation/protocol.py"]


def test_per_sample_retrieval_hits_are_the_recall_rule() -> None:
    from acoustic_ssl.evaluation.evaluate import retrieval_hits
    from acoustic_ssl.evaluation.retrieval import retrieval_metrics

    rng = np.random.default_rng(6)
    distances, labels = rng.random((9, 9)), np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    hits = retrieval_hits(distances, labels)
    recall = retrieval_metrics(distances, labels, labels)
    assert sorted(hits) == ["retrieval_hit@1", "retrieval_hit@10", "retrieval_hit@5"]
    for k in (1, 5, 10):
        assert np.mean(hits[f"retrieval_hit@{k}"]) == recall[f"recall@{k}"]
    assert recall["recall@1"] < recall["recall@5"] == recall["recall@10"] == 1.0


def test_the_imaging_package_exports_through_lazy_exports() -> None:
    import acoustic_ssl.imaging as imaging
    from acoustic_ssl.imaging.geometry import PinholeCamera

    assert imaging.__getattr__.__qualname__ == "lazy_exports.<locals>.__getattr__"
    assert imaging.__all__ == sorted(imaging._EXPORTS)
    assert imaging.PinholeCamera is PinholeCamera
    assert set(imaging.__all__) <= set(dir(imaging))
    with pytest.raises(AttributeError, match=r"'acoustic_ssl\.imaging' has no attribute 'Nope'"):
        imaging.Nope  # noqa: B018


def test_metrics_json_has_one_writer_and_one_reader_for_both_reports(tmp_path: Path) -> None:
    """What ``evaluate`` writes (``metrics_file.write_metrics``) the demo and ``acoustic-ssl report`` read
    through ``metrics_file.read_metrics``: the same numbers, the video→audio direction never taken for
    audio→video, NaN as a missing score."""
    from acoustic_ssl.demo.summary import row_scores
    from acoustic_ssl.evaluation.metrics_file import add_block, read_metrics, write_metrics
    from acoustic_ssl.evaluation.report import collect_run, flatten_metrics

    written = {
        "summary": {"audio_knn_accuracy": 0.61, "audio_knn_feature": "audio", "joint_knn_accuracy": 0.7,
                    "classifier_accuracy": float("nan")},
        "retrieval": {"audio_to_video": {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.75,
                                         "confusion": {"10": [[0.9, 0.1], [0.3, 0.7]]}},
                      "video_to_audio": {"recall@1": 0.125, "recall@5": 0.375, "recall@10": 0.625}},
        "localization": {"attention": {"pointing_accuracy": 0.4, "ciou_mean": 0.3, "auc": 0.35},
                         "chance": {"pointing_accuracy": 0.1}},
        "per_sample": {"labels": [0, 1, 1], "video_ids": [4, 9, 9], "knn_correct": {"audio": [1, 0, 1]},
                       "retrieval_hit@5": [1, 1, 0],
                       "localization": {"attention": {"hit": [0, 1, None], "ciou": [0.2, 0.6, None]}}},
    }
    path = write_metrics(tmp_path, written)
    metrics = read_metrics(path)
    scores, flat = row_scores(metrics), flatten_metrics(metrics.sections)
    assert scores["knn_accuracy"] == flat["summary/audio_knn_accuracy"] == 0.61
    assert scores["classifier_accuracy"] is None and np.isnan(flat["summary/classifier_accuracy"])
    assert scores["recall@5"] == flat["retrieval/audio_to_video/recall@5"] == 0.5
    assert scores["attention_auc"] == flat["localization/attention/auc"] == 0.35
    assert scores["chance_pointing"] == flat["localization/chance/pointing_accuracy"] == 0.1
    assert scores["energy_pointing"] is None
    assert metrics.outcomes == {"knn": [1, 0, 1], "recall@5": [1, 1, 0], "attention_hit": [0, 1, None],
                                "attention_ciou": [0.2, 0.6, None]}
    assert (metrics.labels, metrics.video_ids) == ([0, 1, 1], [4, 9, 9])
    (evaluation,) = collect_run(tmp_path).evaluations  # the report's reader is the same
    assert evaluation.metrics == metrics and evaluation.metrics.confusion(10) == [[0.9, 0.1], [0.3, 0.7]]
    add_block(tmp_path, "localization_boxes", {"n": 3})
    assert json.loads(path.read_text(encoding="utf-8"))["localization_boxes"] == {"n": 3}
    assert read_metrics(path).sections == metrics.sections  # an extra block leaves the tables as they were
    assert add_block(tmp_path / "elsewhere", "localization_boxes", {"n": 3}) is None
    with pytest.raises(ValueError, match=r"summary keys unknown to .*metrics_file: \['audio_knn'\]"):
        write_metrics(tmp_path, {"summary": {"audio_knn": 0.5}})
    renamed = {"per_sample": {"localization": {"attention_map": {"hit": [1]}}}}
    with pytest.raises(ValueError, match=r"per_sample\.localization keys unknown .*\['attention_map'\]"):
        write_metrics(tmp_path, renamed)


@pytest.mark.parametrize("name", ["test", "tiny", "small", "paper", "tiny_short"])
def test_demo_presets_state_only_what_differs(name: str) -> None:
    """A demo preset names a training preset and variant plus deltas: no key equal to its section's default,
    no ``set`` line that leaves the run's training config as the preset and variant already have it."""
    import dataclasses
    import tomllib

    from acoustic_ssl.demo.config import SECTIONS, TrainSettings, load_demo_config, preset_path
    from acoustic_ssl.training.config import load_config

    path = preset_path(name)
    raw, config = tomllib.loads(path.read_text(encoding="utf-8")), load_demo_config(path)
    restated = []
    for section, cls in {**SECTIONS, "train": TrainSettings}.items():
        for f in dataclasses.fields(cls):
            value = getattr(getattr(config, section), f.name)
            if f.name in raw.get(section, {}) and f.default is not dataclasses.MISSING and value == f.default:
                restated.append(f"[{section}] {f.name}")
    for run, spec in config.runs.items():
        lines = [*config.train.overrides, *spec.overrides]
        full = load_config(spec.config, lines, variant=spec.variant or None)
        for i, line in enumerate(lines):
            if load_config(spec.config, lines[:i] + lines[i + 1 :], variant=spec.variant or None) == full:
                restated.append(f"train.{run}: {line}")
    assert restated == []
