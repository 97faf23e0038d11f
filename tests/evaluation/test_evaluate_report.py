"""`acoustic-ssl evaluate` and `acoustic-ssl report` end to end on the tiny generated dataset."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acoustic_ssl.evaluation.evaluate import summary
from acoustic_ssl.evaluation.metrics_file import Summary, clean_json


def test_evaluate_writes_metrics(evaluated_run: Path) -> None:
    folder = evaluated_run / "evaluation" / "random"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["knn"]) >= {"audio", "video", "joint", "audio_raw"}
    assert metrics["knn"]["audio"]["k"] in (1, 3)
    assert "audio" in metrics["linear_probe"]
    a2v = metrics["retrieval"]["audio_to_video"]
    assert a2v["recall@30"] == 1.0  # every class is in the 12-sample gallery
    assert 0.0 <= a2v["recall@1"] <= a2v["recall@5"] <= 1.0
    assert np.allclose(np.sum(a2v["confusion"]["10"], axis=1), 1.0)
    loc = metrics["localization"]
    assert loc["attention"]["n"] == 9 and loc["energy"]["n"] == 9  # three samples have the source off screen
    # the acoustic hot spot lies under the object (after the loader's 180° flip): energy maps point at it
    assert loc["energy"]["pointing_accuracy"] == 1.0 and loc["energy"]["ciou_mean"] > 0.3
    s = metrics["summary"]
    assert s["audio_knn_accuracy"] == metrics["knn"]["audio"]["accuracy"]
    assert s["joint_knn_accuracy"] == metrics["knn"]["joint"]["accuracy"]  # the original's active kNN
    triplet = metrics["triplet"]  # the triplet trainers' test mode: one batch of the default 64 here
    assert triplet["batch_size"] == 64 and 0.0 <= triplet["accuracy"] <= 1.0 and triplet["loss"] >= 0.0
    assert s["triplet_test_accuracy"] == triplet["accuracy"]
    assert "classifier" not in metrics and s["classifier_accuracy"] is None
    assert s["retrieval_recall_at_1"] == a2v["recall@1"]
    assert s["localization_accuracy"] == loc["attention"]["pointing_accuracy"]
    assert len(list((folder / "localization").glob("*.png"))) == 2 * 2
    assert json.loads((folder / "retrieval_examples.json").read_text())[0]["query"] == 9
    # the same videos with the audio of another class: a random network's attention does not care
    assert loc["attention_mismatched"]["n"] == 9
    # one object per frame (old-format ground truth): pointing at "any object" always hits
    assert loc["any_object"]["pointing_accuracy"] == 1.0 and loc["any_object"]["visible_objects_mean"] == 1.0
    assert loc["largest_object"] == {"pointing_accuracy": 1.0, "n": 9.0}  # the largest is the source


def test_mismatched_partners_are_other_classes() -> None:
    from acoustic_ssl.evaluation.evaluate import mismatched_partners

    labels = np.array([0, 0, 0, 1, 1, 2])
    partners = mismatched_partners(labels)
    assert partners.tolist() == [3, 4, 5, 0, 1, 2]  # n/2 = 3 places later, else further on
    assert np.all(labels[partners] != labels)
    assert mismatched_partners(np.array([4, 4])).tolist() == [0, 1]  # one class: nobody to swap with


def test_per_sample_outcomes_reproduce_the_summaries(evaluated_run: Path) -> None:
    """The per-sample outcomes the confidence intervals are drawn from average to the reported metrics."""
    metrics = json.loads((evaluated_run / "evaluation" / "random" / "metrics.json").read_text())
    per = metrics["per_sample"]
    assert len(per["video_ids"]) == len(per["labels"]) == 12
    assert np.mean(per["knn_correct"]["audio"]) == pytest.approx(metrics["knn"]["audio"]["accuracy"])
    for k in (1, 5, 10):
        hits = per[f"retrieval_hit@{k}"]
        assert np.mean(hits) == pytest.approx(metrics["retrieval"]["audio_to_video"][f"recall@{k}"])
    for name in ("attention", "energy"):
        hits = [h for h in per["localization"][name]["hit"] if h is not None]
        cious = [c for c in per["localization"][name]["ciou"] if c is not None]
        assert len(hits) == 9 and per["localization"][name]["hit"].count(None) == 3
        assert np.mean(hits) == pytest.approx(metrics["localization"][name]["pointing_accuracy"])
        assert np.mean(cious) == pytest.approx(metrics["localization"][name]["ciou_mean"])
        assert per["localization"][name]["on_object"] == per["localization"][name]["hit"]  # one object


def test_summary_and_clean_json() -> None:
    cleaned = clean_json({"a": float("nan"), "b": np.float32(0.5), "c": [np.int64(2)]})
    assert cleaned == {"a": None, "b": 0.5, "c": [2]}
    s = summary({"knn": {"features": {"accuracy": 0.7}},
                 "localization": {"energy": {"pointing_accuracy": 0.2}}})
    assert s == Summary(audio_knn_accuracy=0.7, audio_knn_feature="features", localization_accuracy=0.2,
                        localization_map="energy")
    both = summary({"localization": {"energy": {"pointing_accuracy": 0.9},
                                      "attention": {"pointing_accuracy": 0.4}}})
    assert both.localization_accuracy == 0.4 and both.localization_map == "attention"  # the learned map


def test_a_supervised_checkpoint_reports_its_own_test_accuracy() -> None:
    from acoustic_ssl.evaluation.evaluate import compute_metrics

    rng = np.random.default_rng(0)

    def split(n: int) -> dict[str, np.ndarray]:
        labels = np.arange(n) % 3
        logits = rng.normal(size=(n, 3))
        logits[np.arange(n) % 2 == 0, labels[np.arange(n) % 2 == 0]] += 10  # right on the even samples
        return {"labels": labels, "features": rng.normal(size=(n, 8)) + labels[:, None], "logits": logits}

    from acoustic_ssl.models import HearNet
    from acoustic_ssl.training.objectives import Supervised

    splits = {"training": split(30), "validation": split(10), "testing": split(12)}
    objective = Supervised({"model": HearNet(num_classes=3)})
    metrics = compute_metrics(splits, objective=objective, test_batch_size=4, ks=(1,), probe=False)
    expected = float(np.mean(splits["testing"]["logits"].argmax(1) == splits["testing"]["labels"]))
    assert metrics["classifier"]["accuracy"] == expected and expected >= 0.5
    assert metrics["summary"]["classifier_accuracy"] == expected
    assert "features" in metrics["knn"]  # beside the kNN of its features


def _triplet_test_mode(d: np.ndarray, ids: np.ndarray, batch_size: int) -> dict[str, float]:
    from acoustic_ssl.models import HearNet, ResNet18
    from acoustic_ssl.training.objectives import SelfSupervised

    objective = SelfSupervised({"video": ResNet18(width=4), "audio": HearNet()})
    return objective.test_metrics({"testing": {"video_ids": ids}}, d, batch_size)["triplet"]


def test_triplet_test_mode_scores_consecutive_batches_of_the_test_list() -> None:
    ids = np.array([0, 0, 1, 1, 2, 2])
    d = np.where(ids[:, None] == ids[None, :], 0.1, 1.0)  # every positive far closer than every negative
    assert _triplet_test_mode(d, ids, batch_size=4)["accuracy"] == 1.0
    d[4, 5] = 2.0  # a far positive for anchor 4
    result = _triplet_test_mode(d, ids, batch_size=4)
    # batches [0..3] (accuracy 1) and [4, 5]: one video, no valid triplet, accuracy 1 by the formula
    assert result["accuracy"] == pytest.approx(1.0)
    whole = _triplet_test_mode(d, ids, batch_size=6)  # one batch: 4 of its 6·2·4 valid triplets violated
    assert whole["accuracy"] == pytest.approx(1 - 4 / 48) and whole["loss"] > 0


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        for key in ("href", "src"):
            if tag != "img" and values.get(key):
                self.links.append(values[key] or "")


def test_report_html_is_self_contained(evaluated_run: Path, tmp_path: Path) -> None:
    from acoustic_ssl.cli import main

    out = tmp_path / "report"
    assert main(["report", str(evaluated_run), "--out", str(out), "--title", "tiny"]) == 0
    text = (out / "report.html").read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.tags.count("table") >= 6
    assert parser.images, "no figures"
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not parser.links and "<script" not in text
    assert "Training curves" in text and "t-SNE" in text and "Retrieval examples" in text
    assert "Localisation overlays" in text
    md = (out / "report.md").read_text()
    assert "| run / evaluation |" in md
    for ref in md.split("](")[1:]:
        assert (out / ref.split(")")[0]).is_file()
    rows = json.loads((out / "report_metrics.json").read_text())
    metrics = json.loads((evaluated_run / "evaluation" / "random" / "metrics.json").read_text())
    assert rows["run / random"]["knn/audio/accuracy"] == pytest.approx(metrics["knn"]["audio"]["accuracy"])


def test_report_needs_metrics(tmp_path: Path) -> None:
    from acoustic_ssl.cli import main

    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r")]) == 2


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Chromium not installed")
def test_report_screenshot(evaluated_run: Path, tmp_path: Path) -> None:
    from acoustic_ssl.evaluation.report import write_report

    html_path, _ = write_report([evaluated_run], tmp_path, tsne=False)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [shutil.which("chromium") or "/usr/bin/chromium", "--headless", "--disable-gpu", "--no-sandbox",
         "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,2000", html_path.as_uri()],
        check=True, timeout=60, capture_output=True,
    )
    assert shot.stat().st_size > 10_000


def test_metric_tables_flatten_and_format() -> None:
    from acoustic_ssl.evaluation.report import all_metrics_table, flatten_metrics, metric_table

    a = flatten_metrics({"knn": {"audio": {"accuracy": 0.5, "k": 7.0}},
                         "retrieval": {"audio_to_video": {"recall@1": 0.25, "confusion": {"1": [[1.0]]}}}})
    b = flatten_metrics({"knn": {"features": {"accuracy": 0.75, "k": 9.0}}, "summary": {"x": None}})
    assert a == {"knn/audio/accuracy": 0.5, "knn/audio/k": 7.0, "retrieval/audio_to_video/recall@1": 0.25}
    assert np.isnan(b["summary/x"])
    header, body = metric_table([("A", a), ("B", b)], "knn", ("accuracy", "k"))
    assert header == ["run / evaluation", "audio/accuracy", "audio/k", "features/accuracy", "features/k"]
    assert body == [["A", "0.500", "7", "–", "–"], ["B", "–", "–", "0.750", "9"]]
    assert metric_table([("A", a)], "localization", ("auc",)) == ([], [])
    header, body = all_metrics_table([("A", a), ("B", b)])
    assert header == ["metric", "A", "B"]
    assert body[0] == ["knn/audio/accuracy", "0.500", "–"] and len(body) == 6


def test_evaluate_without_a_test_list_is_a_user_error(
    tiny_dataset: dict[str, Path], make_checkpoint: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acoustic_ssl.cli import main

    lists = {"train_list": str(tiny_dataset["list"]), "valid_list": str(tiny_dataset["list"])}
    data = {**lists, "stats_dir": str(tiny_dataset["stats"]), "nr_frames": 1, "video_size": [112, 149]}
    roles = {"video": ("resnet18", {"output_stride": 8, "width": 4}), "audio": ("hearnet", {})}
    checkpoint = make_checkpoint(tmp_path / "run" / "checkpoints" / "random", roles, {"data": data})
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "eval")])
    assert code == 2
    assert "its run config names no testing list; pass --test-list" in capsys.readouterr().err


def test_per_sample_outcomes_carry_video_ids_as_bootstrap_clusters() -> None:
    """The per-sample outcomes name each clip's *video* (the bootstrap cluster), not its class: then a single
    seed's interval has the width of a hand bootstrap by video, where clusters by class would give none.

    Class 0: video 10 (two clips, both right) and video 11 (two clips, both wrong); class 1: videos 12 and 13
    (one clip each, right). Drawing two videos per class: class 0's four clips score 1, 1/2 or 0 (w.p. 1/4,
    1/2, 1/4), class 1's two always 1, so the accuracy (4·m + 2) / 6 is 1, 2/3 or 1/3: interval [1/3, 1].
    """
    from acoustic_ssl.demo.summary import Outcomes, scored_clips
    from acoustic_ssl.evaluation.evaluate import compute_metrics
    from acoustic_ssl.evaluation.metrics_file import Metrics
    from acoustic_ssl.evaluation.statistics import bootstrap_ci

    labels = np.array([0, 0, 0, 0, 1, 1])
    videos = np.array([10, 10, 11, 11, 12, 13])
    right = np.array([1, 1, 0, 0, 1, 1], dtype=bool)
    logits = np.zeros((6, 2))
    logits[np.arange(6), np.where(right, labels, 1 - labels)] = 5.0

    def split(n: int) -> dict[str, np.ndarray]:
        return {"labels": np.arange(n) % 2, "logits": np.eye(2)[np.arange(n) % 2], "video_ids": np.arange(n)}

    splits = {"training": split(4), "validation": split(4),
              "testing": {"labels": labels, "logits": logits, "video_ids": videos}}
    metrics = compute_metrics(splits, ks=(1,), probe=False)
    per = metrics["per_sample"]
    assert per["video_ids"] == videos.tolist() and per["labels"] == labels.tolist()
    assert per["classifier_correct"] == right.astype(int).tolist()
    per_seed = {0: {"supervised": Metrics.from_json(metrics)}}
    interval = Outcomes(per_seed, scored_clips(per_seed)).interval("supervised", "classifier")
    assert interval == pytest.approx([1 / 3, 1.0])
    assert interval == bootstrap_ci(right.astype(float), clusters=videos, strata=labels).as_list()
    by_class = bootstrap_ci(right.astype(float), clusters=labels, strata=labels)
    assert by_class.low == by_class.high == pytest.approx(2 / 3)  # what labels as clusters would report


def test_evaluate_writes_each_test_clips_video_id(evaluated_run: Path, extracted: Path) -> None:
    """``per_sample.video_ids`` are the extracted clips' video ids in test-list order: 6 videos (2 per class),
    2 clips each; never the labels."""
    from acoustic_ssl.evaluation.extract import load_features

    per = json.loads((evaluated_run / "evaluation" / "random" / "metrics.json").read_text())["per_sample"]
    features = load_features(extracted)[0]
    assert per["video_ids"] == features["video_ids"].tolist()
    assert per["labels"] == features["labels"].tolist()
    ids, labels = np.array(per["video_ids"]), np.array(per["labels"])
    assert len(np.unique(ids)) == 6 and all(np.sum(ids == v) == 2 for v in np.unique(ids))
    assert all(len(np.unique(labels[ids == v])) == 1 for v in np.unique(ids))  # a video has one class
    assert not np.array_equal(ids, labels)
