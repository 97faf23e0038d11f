"""Benchmark localisation scoring: the three annotation formats and the metric on hand-computed maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.boxes import (
    THRESHOLDS,
    Annotation,
    bootstrap_intervals,
    box_ciou,
    gt_map,
    prediction_mask,
    read_annotations,
    score_cious,
    to_grid,
)

FLICKR_XML = """<?xml version="1.0"?>
<annotation>
  <file_name>{clip}.jpg</file_name>
  <person><bbox><type>object</type><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></person>
  <person><bbox><type>ambient sound</type><xmin>64</xmin><ymin>64</ymin><xmax>192</xmax><ymax>192</ymax>
  </bbox></person>
</annotation>
"""


def left_half_heat() -> np.ndarray:
    """224×224: 1 on columns 0..111, 0 elsewhere (the median element is a 1)."""
    heat = np.zeros((224, 224))
    heat[:, :112] = 1.0
    return heat


def test_flickr_consensus_map_and_ciou(tmp_path: Path) -> None:
    (tmp_path / "123.xml").write_text(FLICKR_XML.format(clip="123"))
    annotations = read_annotations(tmp_path)  # a folder of XML files
    assert list(annotations) == ["123"] and annotations["123"].kind == "flickr"
    # 256-pixel boxes -> int(224·v/256): (0, 0, 112, 112) and (56, 56, 168, 168)
    assert annotations["123"].boxes.tolist() == [[0, 0, 112, 112], [56, 56, 168, 168]]
    g = gt_map(annotations["123"])
    picks = (g[0, 0], g[60, 60], g[150, 150], g[200, 200], g[111, 111], g[112, 112])
    assert picks == (0.5, 1.0, 0.5, 0.0, 1.0, 0.5)
    assert g.sum() == 0.5 * (2 * 112 * 112 - 2 * 56 * 56) + 56 * 56  # 12 544

    pred = prediction_mask(left_half_heat(), "ez")  # threshold = the ⌊N/2⌋-th sorted value = 1, ≥ keeps it
    assert pred.sum() == 224 * 112 and pred[:, :112].all()
    # in P: box A (all of it, 112²), box B's columns 56..111 (112 × 56), overlap 56²:
    # Σ_P g = 0.5·(12 544 − 3 136) + 0.5·(6 272 − 3 136) + 3 136 = 9 408
    # #{P: g = 0} = 25 088 − (12 544 + 6 272 − 3 136) = 9 408
    assert box_ciou(pred, g) == pytest.approx(9408 / (12544 + 9408))  # 3/7
    assert not prediction_mask(left_half_heat(), "lvs").any()  # LVS's strict > leaves nothing: cIoU 0
    assert box_ciou(prediction_mask(left_half_heat(), "lvs"), g) == 0.0


def test_flickr_positional_fields_and_bad_file(tmp_path: Path) -> None:
    (tmp_path / "7.xml").write_text(
        "<a><file_name>7.jpg</file_name><p><bbox><t>object</t><a>32</a><b>0</b><c>64</c><d>256</d></bbox></p></a>"
    )
    assert read_annotations(tmp_path / "7.xml")["7"].boxes.tolist() == [[28, 0, 56, 224]]
    (tmp_path / "8.xml").write_text("<a><p><bbox><t>x</t><a>one</a></bbox></p></a>")
    with pytest.raises(DataError, match=r"8.xml: a bbox coordinate is not an integer"):
        read_annotations(tmp_path)


def test_vggss_union_clamping_and_empty_gt(tmp_path: Path) -> None:
    entries = [
        {"file": "abc_000010", "class": "dog", "bbox": [[0.0, 0.0, 0.5, 1.0], [0.25, 0.0, 0.75, 0.5]]},
        {"file": "neg_000000", "class": "cat", "bbox": [[-2.88e16, 0.1, 0.2, -2.88e16]]},  # clamps to nothing
    ]
    (tmp_path / "vggss.json").write_text(json.dumps(entries))
    annotations = read_annotations(tmp_path / "vggss.json")
    assert annotations["abc_000010"].boxes.tolist() == [[0, 0, 112, 224], [56, 0, 168, 112]]
    g = gt_map(annotations["abc_000010"])
    assert set(np.unique(g)) == {0.0, 1.0}  # binary union, not a consensus
    assert g.sum() == 112 * 224 + 56 * 112  # left half + the part of box 2 right of it
    pred = prediction_mask(left_half_heat(), "ez")
    # P = left half, all inside the GT: cIoU = 25 088 / (31 360 + 0)
    assert box_ciou(pred, g) == pytest.approx(25088 / 31360)
    empty = gt_map(annotations["neg_000000"])
    assert empty.sum() == 0 and box_ciou(pred, empty) == 0.0  # an empty GT scores 0, as in the benchmarks


def test_csv_pixels_scale_to_the_grid(tmp_path: Path) -> None:
    (tmp_path / "boxes.csv").write_text(
        "file,frame_time,x0,y0,x1,y1\nclipA.mp4,1.5,0,0,160,240\nclipA.mp4,1.5,80,0,240,120\nclipA.mp4,3,0,0,1,1\n"
    )
    annotations = read_annotations(tmp_path / "boxes.csv")
    assert sorted(annotations) == ["clipA.mp4@1.5", "clipA.mp4@3"]
    first = to_grid(annotations["clipA.mp4@1.5"], width=320, height=240)
    assert first.boxes.tolist() == [[0, 0, 112, 224], [56, 0, 168, 112]] and first.frame_time == 1.5
    assert gt_map(first).sum() == 112 * 224 + 56 * 112
    (tmp_path / "bad.csv").write_text("a.mp4,x,0,0,1,1\n")
    with pytest.raises(DataError, match=r"bad.csv: row 1: frame_time and boxes must be numbers"):
        read_annotations(tmp_path / "bad.csv")


def test_resize_protocols_differ_as_the_published_code() -> None:
    heat = np.array([[0.0, 1.0], [0.0, 1.0]])
    ez = prediction_mask(heat, "ez")  # align_corners: column c -> c/223; median element = column 112, ≥
    lvs = prediction_mask(heat, "lvs")  # half-pixel centres: column 112 -> 0.504..., > excludes it
    assert ez.all(axis=0).tolist() == [False] * 112 + [True] * 112
    assert lvs.all(axis=0).tolist() == [False] * 113 + [True] * 111
    assert ez.any(axis=0).tolist() == ez.all(axis=0).tolist()


def test_success_and_auc_as_the_benchmarks_count() -> None:
    scores = score_cious([0.0, 0.5, 1.0])
    assert scores["success@0.5"] == pytest.approx(2 / 3)  # ≥ 0.5 counts
    # success: 1 at τ = 0, 2/3 for τ in (0, 0.5], 1/3 for τ in (0.5, 1]; trapezoids of width 0.05
    expected = 0.05 * ((1 + 2 / 3) / 2 + 9 * 2 / 3 + (2 / 3 + 1 / 3) / 2 + 9 / 3)
    assert scores["auc"] == pytest.approx(expected) and len(scores["success_curve"]) == 21
    # the thresholds are the products 0.05·i: 0.05·3 = 0.15000000000000002 > 0.15
    assert THRESHOLDS[3] > 0.15
    assert score_cious([0.15])["auc"] == pytest.approx(0.05 + 0.05 + 0.025)
    assert score_cious([])["n"] == 0


def test_bootstrap_intervals_bracket_the_estimates() -> None:
    cious = np.random.default_rng(1).uniform(0, 1, 200)
    scores, intervals = score_cious(cious), bootstrap_intervals(cious)
    for key in ("success@0.5", "auc", "ciou_mean"):
        low, high = intervals[key]
        assert low < scores[key] < high and high - low < 0.2
    assert bootstrap_intervals(cious) == intervals  # seeded
    assert bootstrap_intervals([0.3]) == {}


def test_annotation_type_keeps_integer_grid() -> None:
    a = Annotation("x", "vggss", np.array([[10, 20, 30, 40]]))
    assert to_grid(a, 1, 1) is a  # already on the grid


def test_ez_mask_matches_torch_interpolate_as_ez_vsl_calls_it() -> None:
    import torch

    heat = np.random.default_rng(3).random((12, 16))
    up = torch.nn.functional.interpolate(torch.tensor(heat)[None, None], size=(224, 224), mode="bilinear",
                                         align_corners=True)[0, 0].numpy()
    up = (up - up.min()) / (up.max() - up.min())
    reference = up >= np.sort(up.flatten())[int(224 * 224 * 0.5)]
    assert np.count_nonzero(prediction_mask(heat, "ez") != reference) <= 2  # float64 ties at most


def test_flickr_coordinates_are_truncated_not_rounded(tmp_path: Path) -> None:
    """int(224·v/256) as the published parsers: 100 → 87.5 → 87, 255 → 223.1 → 223, 73 → 63.875 → 63."""
    xml = ("<a><p><bbox><type>object</type><xmin>100</xmin><ymin>73</ymin><xmax>255</xmax><ymax>9</ymax>"
           "</bbox></p></a>")
    (tmp_path / "5.xml").write_text(xml)
    assert read_annotations(tmp_path / "5.xml")["5"].boxes.tolist() == [[87, 63, 223, 7]]


def _imported(root: Path, clip: str, start: float, seconds: int, size: tuple[int, int] = (320, 240)) -> None:
    """An import-video folder holding one clip of ``seconds`` records cut from ``start`` s of its file."""
    from acoustic_ssl.data.layout import record_name, video_dir_name
    from acoustic_ssl.data.video_import import INDEX_COLUMNS

    folder = root / video_dir_name(0, 0)
    folder.mkdir(parents=True)
    for second in range(1, seconds + 1):
        (folder / record_name(second)).write_bytes(b"")
    row = {"class": 0, "location": 0, "clip": clip, "label": "bell", "source": f"/videos/{clip}.mp4",
           "start": f"{start:g}", "seconds": str(seconds), "status": "imported", "width": size[0],
           "height": size[1]}
    lines = [",".join(INDEX_COLUMNS), ",".join(str(row.get(k, "")) for k in INDEX_COLUMNS)]
    (root / "videos.csv").write_text("\n".join(lines) + "\n")


def test_csv_frame_times_count_from_the_source_file_not_the_imported_window(tmp_path: Path) -> None:
    """A clip imported from 10 s of its file (6 s long): a box at 12.7 s of the file is 2.7 s into the clip,
    frame round(32.4) = 32, in the 2-s window [2 s, 4 s) (the one whose centre, frame 36, is nearest; [1, 3)
    is centred on frame 24), as frame 8 of that window."""
    from acoustic_ssl.evaluation.boxes import locate

    _imported(tmp_path, "clipA", start=10.0, seconds=6)
    (tmp_path / "boxes.csv").write_text("file,frame_time,x0,y0,x1,y1\nclipA.mp4,12.7,32,24,160,120\n")
    targets, missing, unusable = locate(read_annotations(tmp_path / "boxes.csv"), tmp_path)
    assert (missing, unusable) == ([], [])
    (target,) = targets
    folder = tmp_path / "class_0" / "data_000"
    assert target.records == (folder / "Data_003.tfrecord", folder / "Data_004.tfrecord")
    assert target.frame == 8 and target.time == pytest.approx(32 / 12)
    assert target.annotation.boxes.tolist() == [[22, 22, 112, 112]]  # 224/320 across, 224/240 down


def test_annotated_frames_at_the_ends_of_the_imported_window(tmp_path: Path) -> None:
    """The last frame of a 6-s clip (5.95 s → frame 71) is frame 23 of the last window; 6.0 s (frame 72) is
    past the clip: unusable. VGG-SS boxes (no time) take the middle frame, 36: frame 12 of [2 s, 4 s)."""
    from acoustic_ssl.evaluation.boxes import locate

    _imported(tmp_path, "clipB", start=10.0, seconds=6)
    csv_rows = ["clipB.mp4,15.95,0,0,10,10", "clipB.mp4,16,0,0,10,10", "gone.mp4,1,0,0,10,10"]
    (tmp_path / "boxes.csv").write_text("\n".join(csv_rows) + "\n")
    targets, missing, unusable = locate(read_annotations(tmp_path / "boxes.csv"), tmp_path)
    assert missing == ["gone.mp4@1"] and unusable == ["clipB.mp4@16"]
    (last,) = targets
    folder = tmp_path / "class_0" / "data_000"
    assert last.records == (folder / "Data_005.tfrecord", folder / "Data_006.tfrecord")
    assert (last.frame, last.time) == (23, pytest.approx(71 / 12))
    (tmp_path / "vggss.json").write_text(json.dumps([{"file": "clipB", "bbox": [[0.1, 0.2, 0.3, 0.4]]}]))
    (middle,) = locate(read_annotations(tmp_path / "vggss.json"), tmp_path)[0]
    assert middle.records == (folder / "Data_003.tfrecord", folder / "Data_004.tfrecord")
    assert (middle.frame, middle.time) == (12, 3.0)


def test_bootstrap_interval_of_three_clips_by_hand() -> None:
    """cIoUs 0, 0, 1: a resample's mean is k/3 with k ~ Binomial(3, 1/3); P(k = 3) = 1/27 = 3.7% > 2.5%, so
    the 97.5th percentile is 1 (at the 95th it would be 2/3); P(k = 0) = 8/27, so the 2.5th is 0."""
    intervals = bootstrap_intervals([0.0, 0.0, 1.0])
    assert intervals["ciou_mean"] == [0.0, 1.0]
    assert intervals["success@0.5"] == [0.0, 1.0]
