"""``compute_metrics`` / ``evaluate_checkpoint`` wire the tested protocols together: which split plays which
role, which feature is the headline, which way retrieval ranks, where localisation maps point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hand_cases import KNN_SPLITS

from acoustic_ssl.evaluation.evaluate import compute_metrics, evaluate_checkpoint, localization_metrics
from acoustic_ssl.evaluation.knn import knn_protocol
from acoustic_ssl.evaluation.retrieval import retrieval_metrics
from acoustic_ssl.models import ResNet18, attention_distance, build_model
from acoustic_ssl.training.objectives import SelfSupervised


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(2)[labels]


def _knn_splits() -> dict[str, dict[str, np.ndarray]]:
    """``audio`` = the hand case (k = 3 chosen on validation, test accuracy 0.0); ``video`` and ``joint``
    separate the classes perfectly (accuracy 1.0 at every k)."""
    train, train_y, val, val_y, test, test_y = KNN_SPLITS
    splits = {}
    for name, x, y in (("training", train, train_y), ("validation", val, val_y), ("testing", test, test_y)):
        splits[name] = {"labels": y, "audio": x, "video": _one_hot(y), "joint": 2 * _one_hot(y)}
    return splits


def test_knn_fits_on_training_chooses_k_on_validation_and_scores_the_audio_feature_on_test() -> None:
    metrics = compute_metrics(_knn_splits(), ks=(1, 3, 5), probe=False)
    knn = metrics["knn"]["audio"]
    assert knn == pytest.approx(knn_protocol(*KNN_SPLITS, ks=(1, 3, 5)))
    assert knn["k"] == 3 and knn["accuracy"] == 0.0
    train, train_y, val, val_y, test, test_y = KNN_SPLITS
    roles_swapped = knn_protocol(train, train_y, test, test_y, val, val_y, ks=(1, 3, 5))
    assert roles_swapped["accuracy"] != knn["accuracy"]  # k chosen on the test split would show
    assert metrics["knn"]["video"]["accuracy"] == metrics["knn"]["joint"]["accuracy"] == 1.0
    summary = metrics["summary"]
    assert summary["audio_knn_feature"] == "audio" and summary["audio_knn_accuracy"] == 0.0


def _naive_distances(audio_maps: torch.Tensor, video_maps: torch.Tensor) -> np.ndarray:
    """d[i, j]: audio map i against video map j, one pair at a time."""
    n = len(audio_maps)
    return np.array(
        [[float(attention_distance(audio_maps[i : i + 1], video_maps[j : j + 1])[0, 0]) for j in range(n)]
         for i in range(n)]
    )  # fmt: skip


def audio_role(audio_kind: str) -> str:
    return "audio" if audio_kind == "hearnet" else "acoustic"


@pytest.mark.parametrize("audio_kind", ["hearnet", "dualcamnet"])
def test_retrieval_ranks_videos_for_audio_queries_and_audio_for_video_queries(audio_kind: str) -> None:
    g = torch.Generator().manual_seed(7)
    n = 9
    labels = np.arange(n) % 3
    video_maps = torch.exp(1.5 * torch.randn(n, 128, 12, 16, generator=g))
    test: dict[str, Any] = {"labels": labels, "video_map": video_maps.numpy()}
    if audio_kind == "hearnet":
        raw = torch.randn(n, 128, generator=g)
        test["audio_raw"] = raw.numpy()
        audio_maps = torch.relu(raw)[:, :, None, None].expand(n, 128, 12, 16)
    else:
        audio_maps = torch.exp(1.5 * torch.randn(n, 128, 12, 16, generator=g))
        test["audio_map"] = audio_maps.numpy()
    splits = {"training": {"labels": labels}, "validation": {"labels": labels}, "testing": test}
    objective = SelfSupervised({"video": ResNet18(width=4), audio_role(audio_kind): build_model(audio_kind)})
    retrieval = compute_metrics(splits, objective=objective, probe=False)["retrieval"]

    d = _naive_distances(audio_maps, video_maps)
    expected = {
        "audio_to_video": retrieval_metrics(d, labels, labels),
        "video_to_audio": retrieval_metrics(d.T, labels, labels),
    }
    assert expected["audio_to_video"] != expected["video_to_audio"]  # the two directions differ here
    swapped = _naive_distances(video_maps, audio_maps) if audio_kind == "dualcamnet" else None
    for direction, scores in expected.items():
        got = {k: v for k, v in retrieval[direction].items() if k != "confusion"}
        assert got == pytest.approx(scores, abs=1e-9), direction
        recalls = [got[f"recall@{k}"] for k in (1, 2, 5, 10, 30)]
        assert recalls == sorted(recalls) and recalls[-1] == 1.0  # monotone in k; the gallery has every class
    if swapped is not None:  # maps taken the other way round (video map as the audio side) rank otherwise
        assert retrieval_metrics(swapped, labels, labels) != expected["audio_to_video"]


def _hot_cells(test: dict[str, np.ndarray], raw_dir: Path, mirror: bool) -> np.ndarray:
    """One hot 12×16 cell per sample, under the source its ground truth places in the 640×480 frame."""
    import csv

    from acoustic_ssl.data.layout import split_video_id, video_dir_name

    maps = np.zeros((len(test["labels"]), 12, 16))
    for i, (vid, frames) in enumerate(zip(test["video_ids"], test["frames"], strict=True)):
        path = raw_dir / video_dir_name(*split_video_id(int(vid))) / "ground_truth.csv"
        with open(path, newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if int(r["frame"]) == int(frames[0]))
        col = int(float(row["x"]) // 40)
        maps[i, int(float(row["y"]) // 40), 15 - col if mirror else col] = 1.0
    return maps


def test_localisation_scores_maps_in_video_orientation(evaluated_run: Path, extracted: Path) -> None:
    from acoustic_ssl.evaluation.extract import load_features

    raw_dir = evaluated_run.parent / "raw"
    arrays, _ = load_features(extracted)
    test = {k: arrays[k] for k in ("labels", "video_ids", "frames")}
    hits = localization_metrics({**test, "attention_map": _hot_cells(test, raw_dir, mirror=False)}, raw_dir)
    assert hits["attention"]["n"] == 9 and hits["attention"]["pointing_accuracy"] == 1.0
    mirrored = {**test, "attention_map": _hot_cells(test, raw_dir, mirror=True)}
    assert localization_metrics(mirrored, raw_dir)["attention"]["pointing_accuracy"] == 0.0


def test_evaluate_extracts_each_split_from_the_run_list(
    tiny_dataset: dict[str, Path], make_checkpoint: Any, tmp_path: Path
) -> None:
    from acoustic_ssl.data import read_list
    from acoustic_ssl.evaluation.extract import load_features

    records = read_list(tiny_dataset["list"])  # class, video, second order: 4 records per video
    videos = [records[i : i + 4] for i in range(0, len(records), 4)]
    parts = {
        "train_list": [r for v in videos[0::2] for r in v],  # video 1 of each class, 4 s
        "valid_list": [r for v in videos[1::2] for r in v[:2]],  # video 2, first 2 s
        "test_list": [r for v in videos[1::2] for r in v[2:]],  # video 2, last 2 s
    }
    data: dict[str, Any] = {"stats_dir": str(tiny_dataset["stats"]), "nr_frames": 1, "video_size": [112, 149]}
    for key, paths in parts.items():
        data[key] = str(tmp_path / f"{key}.txt")
        Path(data[key]).write_text("".join(f"{p}\n" for p in paths))
    roles = {"video": ("resnet18", {"output_stride": 8, "width": 4}), "audio": ("hearnet", {})}
    checkpoint = make_checkpoint(tmp_path / "run" / "checkpoints" / "random", roles, {"data": data})
    metrics = evaluate_checkpoint(checkpoint, tmp_path / "eval", ks=(1, 3), probe=False, device="cpu")
    args = []
    for split, key in (("training", "train_list"), ("validation", "valid_list"), ("testing", "test_list")):
        arrays, meta = load_features(tmp_path / "eval" / f"features_{split}.npz")
        assert meta["list"] == data[key] and len(arrays["labels"]) == len(parts[key]) // 2
        args += [arrays["audio"], arrays["labels"]]
    assert metrics["knn"]["audio"] == pytest.approx(knn_protocol(*args, ks=(1, 3)))


def test_largest_object_baseline_on_the_tiny_ground_truth(
    evaluated_run: Path, extracted: Path, tmp_path: Path
) -> None:
    """End to end through ``localization_metrics``: per-sample hits under ``per_sample["localization"]``,
    their mean as ``pointing_accuracy``. One object per frame: the largest is the source, wherever it is on
    screen. A bigger silent distractor beside class 1's source (boxes as drawn) turns those samples into
    misses, while pointing at a random object still hits half the time."""
    import shutil

    from acoustic_ssl.data.layout import GROUND_TRUTH_FILE, video_dir_name
    from acoustic_ssl.evaluation.extract import load_features
    from acoustic_ssl.evaluation.localization import gt_boxes, read_ground_truth
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.simulate.objects import OBJECT_SIZE_M

    arrays, _ = load_features(extracted)
    test = {k: arrays[k] for k in ("labels", "locations", "video_ids", "frames")}
    test["attention_map"] = np.zeros((len(test["labels"]), 12, 16))
    scored = ~((test["locations"] == 2) & (test["frames"].min(axis=1) > 24))  # source off screen there
    assert scored.sum() == 9

    per_sample: dict[str, Any] = {}
    result = localization_metrics(test, evaluated_run.parent / "raw", per_sample=per_sample)
    hits = per_sample["localization"]["largest_object"]["hit"]
    assert hits == [1 if s else None for s in scored]
    assert result["largest_object"] == {"pointing_accuracy": 1.0, "n": 9.0}

    raw = tmp_path / "raw"
    shutil.copytree(evaluated_run.parent / "raw", raw)
    focal = PinholeCamera.load(raw / "camera.json").focal_px
    for loc in (1, 2):
        path = raw / video_dir_name(1, loc) / GROUND_TRUTH_FILE
        lines = ["frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1"]
        for frame, rows in sorted(read_ground_truth(path).items()):
            (r,) = rows
            box = gt_boxes([r], focal, OBJECT_SIZE_M)
            x0, y0, x1, y1 = box[0] if len(box) else (0.0, 0.0, 0.0, 0.0)
            lines.append(f"{frame},0,1,{r.x},{r.y},{r.distance_m},{int(r.on_screen)},1,{x0},{y0},{x1},{y1}")
            lines.append(f"{frame},1,4,500,380,1.0,1,0,400,300,600,460")  # 200 × 160, silent, always there
        path.write_text("\n".join(lines) + "\n")
    per_sample = {}
    result = localization_metrics(test, raw, per_sample=per_sample)
    expected = [None if not s else int(label != 1) for s, label in zip(scored, test["labels"], strict=True)]
    assert per_sample["localization"]["largest_object"]["hit"] == expected
    assert result["largest_object"]["pointing_accuracy"] == pytest.approx(6 / 9)
    assert result["largest_object"]["n"] == 9.0
    any_hits = per_sample["localization"]["any_object"]["hit"]
    assert [h for h, label in zip(any_hits, test["labels"], strict=True) if label == 1 and h is not None] == [
        0.5, 0.5, 0.5
    ]


def test_chance_is_the_mean_share_of_the_frame_inside_the_sounding_boxes(tmp_path: Path) -> None:
    """Hand-computed: a 100×100 box in a 640×480 frame, then two of them (the source moved between the
    sample's two frames); a sample with its source off screen is not scored (null outcome)."""
    from acoustic_ssl.data.layout import GROUND_TRUTH_FILE, video_dir_name, video_id
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.simulate.objects import OBJECT_SIZE_M

    camera = PinholeCamera(640, 480, 60.0)
    raw = tmp_path / "raw"
    camera.save(raw / "camera.json")
    distance = camera.focal_px * OBJECT_SIZE_M[0] / 100.0  # a 100-pixel box
    positions = {1: [(150, 150), (150, 150)], 2: [(150, 150), (350, 350)], 3: [(-500, 150), (-500, 150)]}
    for location, (first, last) in positions.items():
        lines = ["frame,source_id,class,x,y,distance_m,on_screen"]
        for frame in range(1, 25):
            x, y = first if frame < 24 else last
            lines.append(f"{frame},0,0,{x},{y},{distance:.6f},{int(x > 0)}")
        path = raw / video_dir_name(0, location) / GROUND_TRUTH_FILE
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n")
    test = {
        "labels": np.zeros(3, np.int64),
        "video_ids": np.array([video_id(0, loc) for loc in positions]),
        "frames": np.array([[1, 24]] * 3),
        "attention_map": np.ones((3, 12, 16)),
    }
    per_sample: dict[str, Any] = {}
    result = localization_metrics(test, raw, per_sample=per_sample)
    shares = per_sample["localization"]["chance"]["hit"]
    assert shares[:2] == pytest.approx([10_000 / (640 * 480), 20_000 / (640 * 480)], rel=0.03)
    assert shares[2] is None
    assert result["chance"]["pointing_accuracy"] == pytest.approx(np.mean(shares[:2]))
    assert result["chance"]["n"] == 2
