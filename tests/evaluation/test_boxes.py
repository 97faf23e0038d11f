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
