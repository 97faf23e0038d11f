"""Localisation scores against hand-computed examples."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.evaluation.localization import (
    THRESHOLDS,
    GroundTruthRow,
    auc,
    binarize,
    boxes_to_mask,
    ciou,
    gt_boxes,
    pointing_hit,
    read_ground_truth,
    save_overlay,
    score_maps,
    success_curve,
    upsample_map,
)


def test_upsample_hand_and_torch() -> None:
    np.testing.assert_allclose(upsample_map(np.array([[0.0, 1.0]]), (1, 4)), [[0.0, 0.25, 0.75, 1.0]])
    import torch

    heat = np.random.default_rng(0).random((12, 16))
    expected = torch.nn.functional.interpolate(
        torch.tensor(heat)[None, None], size=(48, 64), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(upsample_map(heat, (48, 64)), expected, atol=1e-12)


def test_binarize_ciou_pointing() -> None:
    heat = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert binarize(heat).tolist() == [[False, False], [True, True]]
    assert binarize(heat, "top", 0.25).tolist() == [[False, False], [False, True]]
    with pytest.raises(ValueError):
        binarize(heat, "median")
    gt = np.zeros((3, 3), bool)
    gt[:2, :2] = True  # 4 pixels
    pred = np.zeros((3, 3), bool)
    pred[0, 0] = pred[1, 1] = pred[2, 2] = True  # 2 inside, 1 outside
    assert ciou(pred, gt) == pytest.approx(2 / (4 + 1))
    assert ciou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 0.0
    assert pointing_hit(np.array([[0.0, 5.0], [5.0, 1.0]]), np.array([[False, True], [False, False]]))
    assert not pointing_hit(np.array([[0.0, 5.0], [5.0, 1.0]]), np.array([[False, False], [True, False]]))


def test_success_curve_and_auc() -> None:
    rates = success_curve([0.0, 0.4, 1.0])
    expected = [2 / 3] * 4 + [1 / 3] * 6 + [0.0]  # τ = 0.0..0.3, 0.4..0.9, 1.0 (strict >)
    np.testing.assert_allclose(rates, expected)
    assert auc(THRESHOLDS, rates) == pytest.approx(0.1 * (3 * 2 / 3 + 0.5 + 5 / 3 + 1 / 6))


def test_boxes_and_mask(tmp_path: Path) -> None:
    csv_path = tmp_path / "ground_truth.csv"
    csv_path.write_text(
        "frame,source_id,class,x,y,distance_m,on_screen\n"
        "1,0,2,100,50,2.0,1\n"
        "1,1,3,10,10,1.0,0\n"
        "24,0,2,300,200,4.0,1\n"
    )
    gt = read_ground_truth(csv_path)
    assert sorted(gt) == [1, 24]
    boxes = gt_boxes(gt[1], focal_px=400.0, object_size_m={2: 0.5, 3: 1.0})
    np.testing.assert_allclose(boxes, [[50.0, 0.0, 150.0, 100.0]])  # side 400·0.5/2; off-screen row dropped
    mask = boxes_to_mask(np.array([[1.0, 1.0, 3.0, 2.0]]), (4, 5))
    assert np.argwhere(mask).tolist() == [[1, 1], [1, 2]]


def test_score_maps() -> None:
    gt = np.zeros((4, 4), bool)
    gt[:2, :2] = True
    inside = np.zeros((4, 4))
    inside[:2, :2] = 1.0  # binarised = GT exactly: cIoU 1
    outside = np.zeros((4, 4))
    outside[3, 3] = 1.0  # one pixel outside: cIoU 0
    result = score_maps([inside, outside, inside], [gt, gt, None])
    assert result["n"] == 2
    assert result["pointing_accuracy"] == 0.5
    assert result["ciou_mean"] == 0.5
    assert result["success@0.0"] == 0.5 and result["success@1.0"] == 0.0
    assert result["auc"] == pytest.approx(0.5 * 0.9 + 0.25 * 0.1)  # 0.5 up to τ=0.9, then down to 0 at 1.0
    assert np.isnan(score_maps([inside], [None])["pointing_accuracy"])


def test_overlay_png(tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    save_overlay(out, np.zeros((112, 149, 3), np.uint8), np.eye(12, 16), np.array([[10, 10, 100, 100]]), "x")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_mask_can_be_taken_on_the_map_grid_before_upsampling() -> None:
    heat = np.array([[1.0, 0.2], [0.2, 0.0]])
    gt = np.zeros((4, 4), dtype=bool)
    gt[:2, :2] = True
    # on the map grid only the top-left cell is above the mean; its upsampled mask is exactly the GT block
    assert score_maps([heat], [gt], mask_at="map")["ciou_mean"] == 1.0
    # upsampled first, the bilinear ramp spreads above the mean beyond the block
    assert score_maps([heat], [gt], mask_at="frame")["ciou_mean"] < 1.0
    with pytest.raises(ValueError, match="mask_at"):
        score_maps([heat], [gt], mask_at="pixels")


def test_boxes_sounding_flags_and_any_object_baseline(tmp_path: Path) -> None:
    """New-format ground truth: boxes as drawn, silent distractors excluded from the mask, the any-object
    baseline = sounding objects / visible objects."""
    from acoustic_ssl.evaluation.localization import any_object_pointing, visible_objects

    csv_path = tmp_path / "ground_truth.csv"
    csv_path.write_text(
        "frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1\n"
        "1,0,2,100,50,2.0,1,1,80,40,120,60\n"  # class source
        "1,1,3,900,10,9.0,0,1,0,0,0,0\n"  # off-screen interferer: heard, no box
        "1,2,5,300,300,2.0,1,0,290,280,310,320\n"  # silent distractor
        "1,3,7,500,400,2.0,1,0,480,390,520,410\n"  # silent distractor
    )
    rows = read_ground_truth(csv_path)[1]
    assert [r.sounding for r in rows] == [True, True, False, False]
    assert [r.visible for r in rows] == [True, False, True, True]
    sounding = gt_boxes([r for r in rows if r.sounding], focal_px=400.0, object_size_m={2: 0.5, 3: 1.0})
    np.testing.assert_allclose(sounding, [[80.0, 40.0, 120.0, 60.0]])  # its own box, not a square
    assert len(gt_boxes(rows, 400.0, {})) == 3
    mask = boxes_to_mask(sounding, (480, 640))
    assert visible_objects(rows) == 3
    assert any_object_pointing(rows, mask) == pytest.approx(1 / 3)
    assert any_object_pointing(rows, None) is None
    only_source = [rows[0], rows[1]]
    assert any_object_pointing(only_source, mask) == 1.0


def test_overlay_draws_the_map_in_frame_orientation(tmp_path: Path) -> None:
    """A map hot in its top-right cells is drawn hot (jet: red) at the top right of the picture."""
    from PIL import Image

    heat = np.zeros((12, 16))
    heat[:3, 12:] = 1.0
    out = tmp_path / "o.png"
    save_overlay(out, np.zeros((120, 160, 3), np.uint8), heat)
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(float)
    redness = rgb[..., 0] - rgb[..., 2]  # jet: red where hot, blue where cold
    h, w = redness.shape
    quadrants = {
        "top right": redness[: h // 3, w // 2 :].mean(),
        "top left": redness[: h // 3, : w // 2].mean(),
        "bottom right": redness[-h // 3 :, w // 2 :].mean(),
    }
    assert max(quadrants, key=quadrants.get) == "top right", quadrants


def test_box_edges_on_pixel_centres_belong_to_the_box() -> None:
    """A pixel is inside when its centre i + 0.5 lies in [x0, x1] × [y0, y1], both ends included."""
    mask = boxes_to_mask(np.array([[0.5, 1.5, 2.5, 2.5]]), (4, 4))
    assert np.argwhere(mask).tolist() == [[1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]]


def test_a_box_of_zero_width_or_height_is_not_visible(tmp_path: Path) -> None:
    """Boxes clipped to the frame edge: zero width (tall) or zero height (wide) hide the object."""
    csv_path = tmp_path / "ground_truth.csv"
    csv_path.write_text(
        "frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1\n"
        "1,0,2,0,50,2.0,0,1,0,40,0,60\n"  # zero width, 20 tall
        "1,1,3,50,0,2.0,0,1,40,0,60,0\n"  # zero height, 20 wide
        "1,2,4,50,50,2.0,1,1,40,40,60,60\n"
    )
    rows = read_ground_truth(csv_path)[1]
    assert [r.visible for r in rows] == [False, False, True]
    np.testing.assert_array_equal(gt_boxes(rows, 400.0, {}), [[40.0, 40.0, 60.0, 60.0]])


def test_any_object_points_at_each_objects_first_visible_frame(tmp_path: Path) -> None:
    """The class source is in its box in frame 1 and has moved out of the sounding mask by frame 24 (the mask
    here is frame 1's box only); the silent distractor is visible from frame 24 only: one hit in two."""
    from acoustic_ssl.evaluation.localization import any_object_pointing

    csv_path = tmp_path / "ground_truth.csv"
    csv_path.write_text(
        "frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1\n"
        "24,0,2,300,50,2.0,1,1,280,40,320,60\n"
        "1,0,2,100,50,2.0,1,1,80,40,120,60\n"
        "1,1,5,0,0,2.0,0,0,0,0,0,0\n"
        "24,1,5,500,400,2.0,1,0,480,390,520,410\n"
    )
    truth = read_ground_truth(csv_path)
    rows = truth[24] + truth[1]  # in file order: the later frame first
    mask = boxes_to_mask(np.array([[80.0, 40.0, 120.0, 60.0]]), (480, 640))
    assert any_object_pointing(rows, mask) == 0.5


def test_scored_frames_are_floored_from_the_linspace() -> None:
    """The frames a sample is scored on (the loader's): for three frames of a 2-s sample linspace(0, 23, 3) =
    0, 11.5, 23 → indices 0, 11, 23 (floor, not round)."""
    from acoustic_ssl.data.dataset import sample_frame_numbers

    assert sample_frame_numbers(0, 2, 3) == [1, 12, 24]
    assert sample_frame_numbers(2, 2, 5) == [25, 30, 36, 42, 48]  # 0, 5.75, 11.5, 17.25, 23


def test_binarisation_boundaries() -> None:
    """"mean": strictly above the mean (a pixel equal to it is out); "top": round(fraction · N) pixels."""
    heat = np.array([[0.0, 1.0, 2.0]])  # mean 1
    assert binarize(heat).tolist() == [[False, False, True]]
    six = np.array([[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]])
    assert binarize(six, "top", 0.3).sum() == 2  # 0.3 · 6 = 1.8 → 2
    assert binarize(six, "top", 0.3).tolist() == [[True, True, False], [False, False, False]]


def _row(frame: int, source: int, sounding: bool, box: tuple[float, float, float, float]) -> GroundTruthRow:
    """A new-format row: the object's box as drawn (empty: not visible in that frame)."""
    x0, y0, x1, y1 = box
    return GroundTruthRow(frame, source, 0, (x0 + x1) / 2, (y0 + y1) / 2, 2.0, x1 > x0, sounding, box)


def _sounding_mask(rows: list[GroundTruthRow]) -> np.ndarray:
    return boxes_to_mask(gt_boxes([r for r in rows if r.sounding], 400.0, {}), (480, 640))


def test_largest_object_points_at_the_biggest_visible_box_whether_it_sounds_or_not() -> None:
    """The size prior: the centre of the largest box in its first visible frame, the lower source id on a
    tie; a hit only when that object sounds."""
    from acoustic_ssl.evaluation.localization import any_object_pointing, largest_object_pointing

    def largest(rows: list[GroundTruthRow]) -> bool | None:
        return largest_object_pointing(rows, _sounding_mask(rows), 400.0, {})

    source = _row(1, 0, True, (10, 10, 50, 50))  # 40 × 40 = 1600 px², sounding
    big_silent = _row(1, 1, False, (100, 100, 300, 200))  # 200 × 100 = 20 000 px², silent
    small_silent = _row(1, 2, False, (500, 400, 520, 410))  # 20 × 10
    assert largest([source, big_silent, small_silent]) is False  # the biggest thing on screen is silent
    scene = [source, big_silent, small_silent]
    assert any_object_pointing(scene, _sounding_mask(scene)) == pytest.approx(1 / 3)
    assert largest([source, small_silent]) is True
    # a tie of areas (40 × 40 both, the silent one listed first): the lower source id is pointed at
    tie_silent = _row(1, 3, False, (400, 300, 440, 340))
    assert largest([tie_silent, source]) is True
    low_silent, high_source = _row(1, 0, False, (400, 300, 440, 340)), _row(1, 5, True, (10, 10, 50, 50))
    assert largest([high_source, low_silent]) is False
    # visible only in the second frame: a silent object off screen in frame 1 (empty box), 160 × 160 in frame
    # 24; the source is 20 × 20 in frame 1 and 300 × 300 in frame 24, but each object counts in its first
    # visible frame, so the silent one is the largest and its frame-24 centre (560, 400) misses
    rows = [
        _row(1, 0, True, (0, 0, 20, 20)), _row(1, 1, False, (0, 0, 0, 0)),
        _row(24, 0, True, (0, 0, 300, 300)), _row(24, 1, False, (480, 320, 640, 480)),
    ]
    assert largest(rows) is False
    # same scene, the silent object now smaller in frame 24 than the source's frame-1 box: the source wins
    rows[3] = _row(24, 1, False, (600, 440, 610, 450))
    assert largest(rows) is True
    # not scored: no sounding object visible
    assert largest_object_pointing([big_silent], None, 400.0, {}) is None
    assert largest_object_pointing([], _sounding_mask([source]), 400.0, {}) is None


def test_largest_object_sizes_boxless_rows_by_their_distance(tmp_path: Path) -> None:
    """First-simulator files (no box columns): an object's box is focal · size / distance, so a small object
    near the camera outranks a big one far away."""
    from acoustic_ssl.evaluation.localization import largest_object_pointing

    csv_path = tmp_path / "ground_truth.csv"
    csv_path.write_text(
        "frame,source_id,class,x,y,distance_m,on_screen\n"
        "1,4,2,100,100,2.0,1\n"  # class 2 (0.5 m) at 2 m: 100 px
        "1,1,3,400,300,8.0,1\n"  # class 3 (1.0 m) at 8 m: 50 px
    )
    rows = read_ground_truth(csv_path)[1]
    sizes, focal = {2: 0.5, 3: 1.0}, 400.0
    near = boxes_to_mask(gt_boxes(rows[:1], focal, sizes), (480, 640))
    far = boxes_to_mask(gt_boxes(rows[1:], focal, sizes), (480, 640))
    assert largest_object_pointing(rows, near, focal, sizes) is True
    assert largest_object_pointing(rows, far, focal, sizes) is False
    # the far one moved closer (2 m: 200 px) is now the largest
    closer = [rows[0], dataclasses.replace(rows[1], distance_m=2.0)]
    assert largest_object_pointing(closer, far, focal, sizes) is True
