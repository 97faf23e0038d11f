"""Benchmark localisation scoring: the three annotation formats and the metric on hand-computed maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.errors import AcousticSSLWarning, DataError
from acoustic_ssl.evaluation.boxes import (
    THRESHOLDS,
    Annotation,
    bootstrap_intervals,
    gt_map,
    prediction_mask,
    read_annotations,
    score_cious,
    to_grid,
)
from acoustic_ssl.evaluation.localization import ciou

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
    assert ciou(pred, g) == pytest.approx(9408 / (12544 + 9408))  # 3/7
    assert not prediction_mask(left_half_heat(), "lvs").any()  # LVS's strict > leaves nothing: cIoU 0
    assert ciou(prediction_mask(left_half_heat(), "lvs"), g) == 0.0


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
    with pytest.warns(AcousticSSLWarning, match="1 boxes have coordinates below 0"):
        annotations = read_annotations(tmp_path / "vggss.json")
    assert annotations["abc_000010"].boxes.tolist() == [[0, 0, 112, 224], [56, 0, 168, 112]]
    g = gt_map(annotations["abc_000010"])
    assert set(np.unique(g)) == {0.0, 1.0}  # binary union, not a consensus
    assert g.sum() == 112 * 224 + 56 * 112  # left half + the part of box 2 right of it
    pred = prediction_mask(left_half_heat(), "ez")
    # P = left half, all inside the GT: cIoU = 25 088 / (31 360 + 0)
    assert ciou(pred, g) == pytest.approx(25088 / 31360)
    empty = gt_map(annotations["neg_000000"])
    assert empty.sum() == 0 and ciou(pred, empty) == 0.0  # an empty GT scores 0, as in the benchmarks


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
    """int(224·v/256) as the published parsers: 100 → 87.5 → 87, 9 → 7.875 → 7, 255 → 223.1 → 223, 73 → 63.875
    → 63."""
    xml = ("<a><p><bbox><type>object</type><xmin>100</xmin><ymin>9</ymin><xmax>255</xmax><ymax>73</ymax>"
           "</bbox></p></a>")
    (tmp_path / "5.xml").write_text(xml)
    assert read_annotations(tmp_path / "5.xml")["5"].boxes.tolist() == [[87, 7, 223, 63]]


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
    assert missing == ["gone.mp4@1"]
    assert unusable == ["clipB.mp4@16: frame time 16 s is outside the imported clip (10-16 s of its file)"]
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


def _flickr(path: Path, *boxes: tuple[int, int, int, int]) -> Path:
    tags = ("xmin", "ymin", "xmax", "ymax")
    fields = ["".join(f"<{t}>{v}</{t}>" for t, v in zip(tags, box, strict=True)) for box in boxes]
    people = "".join(f"<person><bbox><type>object</type>{f}</bbox></person>" for f in fields)
    path.write_text(f"<annotation><file_name>{path.stem}.jpg</file_name>{people}</annotation>")
    return path


@pytest.mark.parametrize(
    ("boxes", "problem"),
    [
        ((), "no bbox"),
        (((10, 10, 50, 50), (120, 10, 60, 90)), "box [120.0, 10.0, 60.0, 90.0] is inverted (x1 < x0 or y1"),
        (((10, 10, 300, 90),), "box [10.0, 10.0, 300.0, 90.0] lies outside the declared 0..256 x 0..256"),
        (((10, 40, 50, 40),), "box [10.0, 40.0, 50.0, 40.0] is empty (zero width or height)"),
    ],
)
def test_flickr_files_without_usable_boxes_are_refused(
    tmp_path: Path, boxes: tuple[tuple[int, ...], ...], problem: str
) -> None:
    path = _flickr(tmp_path / "55.xml", *boxes)
    with pytest.raises(DataError) as caught:
        read_annotations(tmp_path)
    where = f"{path}" if not boxes else f"{path} (pixels of a 256x256 image)"
    assert str(caught.value).startswith(f"{where}: {problem}")


@pytest.mark.parametrize(
    ("bbox", "problem"),
    [
        ([[0.6, 0.1, 0.2, 0.5]], "box [0.6, 0.1, 0.2, 0.5] is inverted (x1 < x0 or y1 < y0)"),
        ([[10, 20, 110, 90]], "box [10.0, 20.0, 110.0, 90.0] lies outside the declared 0..1 x 0..1"),
        ([[0.1, None, 0.2, 0.3]], "box [0.1, nan, 0.2, 0.3] a coordinate is not a finite number"),
    ],
)
def test_vggss_boxes_inverted_or_not_fractions_are_refused(tmp_path: Path, bbox: list, problem: str) -> None:
    entries = [{"file": "ok_000000", "bbox": [[0.1, 0.1, 0.5, 0.5]]}, {"file": "bad_000010", "bbox": bbox}]
    (tmp_path / "vggss.json").write_text(json.dumps(entries))
    with pytest.raises(DataError) as caught:
        read_annotations(tmp_path / "vggss.json")
    where = f"{tmp_path / 'vggss.json'}: entry 1 (bad_000010) (fractions of the frame)"
    assert str(caught.value) == f"{where}: {problem}"
    (tmp_path / "none.json").write_text(json.dumps([{"file": "x_000000", "bbox": []}]))
    with pytest.raises(DataError, match=r"none\.json: entry 0 \(x_000000\): no box$"):
        read_annotations(tmp_path / "none.json")


def test_vggss_defects_of_the_shipped_file_are_kept_with_one_warning(tmp_path: Path) -> None:
    entries = [
        {"file": "a_000000", "bbox": [[0.1, 0.1, 0.5, 0.5], [-2.88e16, 0.2, 0.4, 0.6]]},
        {"file": "b_000000", "bbox": [[0.3, 0.1, 0.3, 0.5]]},  # zero area
    ]
    (tmp_path / "vggss.json").write_text(json.dumps(entries))
    with pytest.warns(AcousticSSLWarning) as caught:
        annotations = read_annotations(tmp_path / "vggss.json")
    assert annotations["a_000000"].boxes.tolist() == [[22, 22, 112, 112], [0, 44, 89, 134]]
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'vggss.json'}: 1 boxes have coordinates below 0 (clamped to 0) and 1 have zero area; "
        "kept as the published evaluation keeps them (first: "
        f"{tmp_path / 'vggss.json'}: entry 0 (a_000000))"
    ]


def test_csv_boxes_are_checked_in_source_pixels(tmp_path: Path) -> None:
    pixels = "row 1 (pixels of the source frame)"
    cases = {
        "clip.mp4,1,50,10,20,40": f"{pixels}: box [50.0, 10.0, 20.0, 40.0] is inverted",
        "clip.mp4,1,-5,10,20,40": f"{pixels}: box [-5.0, 10.0, 20.0, 40.0] lies outside",
        "clip.mp4,-1,5,10,20,40": "row 1: frame_time must be seconds ≥ 0, got '-1'",
    }
    for row, message in cases.items():
        (tmp_path / "b.csv").write_text(row + "\n")
        with pytest.raises(DataError) as caught:
            read_annotations(tmp_path / "b.csv")
        assert str(caught.value).startswith(f"{tmp_path / 'b.csv'}: {message}")
    (tmp_path / "b.csv").write_text("clip.mp4,1,5,10,400,40\n")
    annotation = read_annotations(tmp_path / "b.csv")["clip.mp4@1"]
    with pytest.raises(DataError) as caught:
        to_grid(annotation, width=320, height=240)
    assert str(caught.value) == (
        f"{tmp_path / 'b.csv'}: row 1 (clip.mp4: a 320x240 frame): box [5.0, 10.0, 400.0, 40.0] lies outside "
        "the declared 0..320 x 0..240"
    )


def _records(root: Path, seconds: int, start: float = 0.0) -> Path:
    """A stand-in import-video output: one imported clip ``clip.mp4`` of ``seconds`` records."""
    folder = root / "class_0" / "data_000"
    folder.mkdir(parents=True)
    for second in range(1, seconds + 1):
        (folder / f"Data_{second:03d}.tfrecord").write_bytes(b"")
    (root / "videos.csv").write_text(
        "class,location,clip,label,split,source,audio,start,seconds,status,reason,width,height\n"
        f"0,0,clip,bell,,/videos/clip.mp4,,{start:g},,imported,,320,240\n"
    )
    return root


def test_no_scorable_frame_says_why(tmp_path: Path) -> None:
    from acoustic_ssl.evaluation.boxes import evaluate_boxes

    records = _records(tmp_path / "records", seconds=4, start=10.0)
    (tmp_path / "late.csv").write_text("clip.mp4,15,0,0,100,100\nother.mp4,1,0,0,10,10\n")
    with pytest.raises(DataError) as caught:  # raised before any checkpoint is read
        evaluate_boxes("no-checkpoint", tmp_path / "late.csv", tmp_path / "out", records=records)
    assert str(caught.value) == (
        f"{tmp_path / 'late.csv'}: none of the 2 annotated frames can be scored: 1 annotated frames cannot "
        "be scored (first: clip.mp4@15: frame time 15 s is outside the imported clip (10-14 s of its file)); "
        f"1 of 2 annotated clips are not among {records}'s records (first: other.mp4@1)"
    )
    (tmp_path / "tiny.csv").write_text("clip.mp4,11,0,0,1,1\n")  # less than one cell of the 224 grid
    with pytest.raises(DataError) as caught:
        evaluate_boxes("no-checkpoint", tmp_path / "tiny.csv", tmp_path / "out", records=records)
    assert str(caught.value) == (
        f"{tmp_path / 'tiny.csv'}: row 1: the boxes of clip.mp4@11 cover no pixel of the 224x224 grid "
        "(boxes too small?)"
    )
    assert not (tmp_path / "out").exists()
