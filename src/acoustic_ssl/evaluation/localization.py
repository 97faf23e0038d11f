"""Sound-source localisation scores of heat maps against simulated ground truth.

Maps (12×16 attention energy from ``localization_map`` or 36×48 acoustic energy from ``mfcc_to_energy``, both
in video orientation) are upsampled bilinearly to the frame (480×640 by default; pixel centres at ``i + 0.5``
in continuous coordinates where the frame spans [0, W] × [0, H], the camera's convention, i.e.
``align_corners=False``).

Ground truth (``ground_truth.csv`` of the simulator: ``frame,source_id,class,x,y,distance_m,on_screen,
sounding,x0,y0,x1,y1``, one row per object per frame; frames numbered from 1; pixels of the 640×480 video)
gives each object's box as drawn (``x0..y1``, clipped to the frame, empty when nothing is visible) and
whether it sounds; silent distractors have ``sounding = 0``. Files of the first simulator (columns up to
``on_screen``) are read too: every row sounds, and the box of an on-screen row is centred on (x, y) with
side ``focal_px · OBJECT_SIZE_M[class] / distance_m`` (focal from ``camera.json``). For a sample (a 2-s clip
starting at second ``start``) the frames used are those the loader fed to the video network (``nr_frames``
picked by linspace over the 12·L frames, e.g. indices 0 and 23 → frames ``start·12 + 1`` and
``start·12 + 24``); the GT mask is the union of the boxes of the *sounding* objects in those frames, so a
map that points at a silent object misses. Samples with no visible sounding object are skipped.

Scores:

* pointing accuracy: the argmax of the upsampled map (first in row-major order on ties) falls in the GT mask;
* cIoU = |GT ∩ P| / (|GT| + |P − GT|) with P the map binarised at its mean (as the reference does for the
  acoustic energy; ``"top"`` keeps the top ``fraction`` of pixels instead, as some follow-up papers do).
  Binarisation is done after upsampling; ``mask_at="map"`` binarises on the map's own grid instead and
  upsamples the mask (bilinear, kept where > 0.5), as the follow-up's acoustic-image scoring did. The ground
  truth is one exact set of boxes, so the annotator-consensus weighting of Flickr-SoundNet's cIoU
  (``evaluation.boxes``) has nothing to weigh here (:func:`ciou` reduces to this formula);
* success rate at τ = 0.0, 0.1, …, 1.0: fraction of samples with cIoU > τ; AUC = trapezoidal area of the
  success curve over τ ∈ [0, 1];

:func:`ciou`, :func:`success_curve` and :func:`auc` are the only cIoU, success curve and AUC of the package:
the box benchmarks (``evaluation.boxes``: consensus maps, cIoU ≥ τ at 21 thresholds) and the bootstrap
(:func:`weighted_auc` under ``evaluation.statistics``' weights, one curve per replicate) call them with
their own parameters.
* the "any object" baseline (:func:`any_object_pointing`): the expected pointing accuracy of a perfect
  object detector that ignores the sound, pointing at the centre of one visible object chosen at random; it
  is sounding objects / visible objects, 1 with one object on screen and about 1/(objects on screen) with
  silent distractors;
* the "largest object" baseline (:func:`largest_object_pointing`): pointing at the centre of the largest
  visible box, sound ignored; it scores how often the sounding object is the biggest thing on screen (a
  size prior a learned map can exploit without listening).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.errors import DataError

FRAME_SIZE = (480, 640)
THRESHOLDS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


@functools.cache
def _interp_matrix(n_out: int, n_in: int, align_corners: bool = False) -> np.ndarray:
    """Linear interpolation weights [n_out, n_in] with half-pixel centres and edge clamping.

    ``align_corners``: first and last samples on the edges instead (``F.interpolate(align_corners=True)``).
    """
    if align_corners:
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    else:
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1.0 - w)
    np.add.at(m, (np.arange(n_out), hi), w)
    m.flags.writeable = False  # cached: every map of a size shares it
    return m


def upsample_map(
    heat: np.ndarray, size: tuple[int, int] = FRAME_SIZE, *, align_corners: bool = False
) -> np.ndarray:
    """Bilinear resize of a [h, w] map to ``size`` = (H, W), as ``F.interpolate``: half-pixel centres (the
    camera's convention, and LVS's OpenCV resize), or with ``align_corners`` the first and last samples on
    the edges (EZ-VSL's evaluation code calls ``F.interpolate(align_corners=True)``)."""
    heat = np.asarray(heat, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"a heat map must be 2-D, got shape {heat.shape}")
    rows = _interp_matrix(size[0], heat.shape[0], align_corners)
    return rows @ heat @ _interp_matrix(size[1], heat.shape[1], align_corners).T


def binarize(heat: np.ndarray, method: str = "mean", fraction: float = 0.5) -> np.ndarray:
    """Predicted source mask: pixels above the map's mean (``"mean"``) or its top ``fraction`` (``"top"``)."""
    heat = np.asarray(heat, dtype=np.float64)
    if method == "mean":
        return heat > heat.mean()
    if method == "top":
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        n_keep = max(1, round(fraction * heat.size))
        order = np.argsort(-heat, axis=None, kind="stable")[:n_keep]
        mask = np.zeros(heat.size, dtype=bool)
        mask[order] = True
        return mask.reshape(heat.shape)
    raise ValueError(f"unknown binarisation {method!r} (use 'mean' or 'top')")


def ciou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Σ_{p∈P} g(p) / (Σ_p g(p) + #{p ∈ P : g(p) = 0}) of a predicted mask P and a GT map g; 0 when both are
    empty. A binary g (simulated boxes, VGG-SS) gives |GT ∩ P| / (|GT| + |P − GT|); Flickr-SoundNet's
    consensus map (g = ½ where one annotator of several marked a pixel) counts such a pixel half."""
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=np.float64)
    denom = gt.sum() + np.count_nonzero(pred & (gt == 0))
    return float(gt[pred].sum() / denom) if denom else 0.0


def pointing_hit(heat: np.ndarray, gt: np.ndarray) -> bool:
    """Whether the map's maximum (first in row-major order) lies inside the GT mask."""
    return bool(np.asarray(gt, bool).ravel()[int(np.argmax(heat))])


def success_curve(
    cious: Sequence[float | None] | np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS,
    *,
    inclusive: bool = False,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Share of the scored samples (NaN/None: not scored) whose cIoU passes each τ → [len(thresholds)].

    ``inclusive``: pass at cIoU ≥ τ, as the box benchmarks' published code counts (a cIoU of exactly 0.5 is
    a success at 0.5); else cIoU > τ, the simulated-GT protocol. ``weights`` [B, n] (how often a bootstrap
    replicate drew each sample) gives one curve per row → [B, len(thresholds)]. No scored sample: NaN.
    """
    from acoustic_ssl.evaluation.statistics import weighted_mean

    values = np.asarray(cious, dtype=np.float64)
    rows = np.ones((1, values.size)) if weights is None else np.asarray(weights, dtype=np.float64)
    present = np.isfinite(values)
    rates = np.stack(
        [weighted_mean(np.where(present, values >= t if inclusive else values > t, np.nan), rows)
         for t in thresholds],
        axis=1,
    )
    return rates[0] if weights is None else rates


def auc(thresholds: Sequence[float], rates: Sequence[float] | np.ndarray) -> float | np.ndarray:
    """Trapezoidal area under a success curve over ``thresholds``: a float for one curve [T], an array [B]
    for a batch of them [B, T] (the bootstrap's replicates)."""
    x, y = np.asarray(thresholds, dtype=np.float64), np.asarray(rates, dtype=np.float64)
    area = np.sum((x[1:] - x[:-1]) * (y[..., 1:] + y[..., :-1]) / 2.0, axis=-1)
    return float(area) if area.ndim == 0 else area


def weighted_auc(
    values: np.ndarray,
    weights: np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS,
    *,
    inclusive: bool = False,
) -> np.ndarray:
    """The AUC as a bootstrap statistic (``statistics.bootstrap_ci(statistic=...)``): :func:`auc` of the
    :func:`success_curve` under each weight row → [B]."""
    rates = success_curve(values, thresholds, inclusive=inclusive, weights=weights)
    return np.asarray(auc(thresholds, rates))


# ----------------------------------------------------------------------------------------------- ground truth
@dataclass(frozen=True)
class GroundTruthRow:
    """One object in one frame. ``box`` is (x0, y0, x1, y1) as drawn, None in files without box columns."""

    frame: int
    source_id: int
    label: int
    x: float
    y: float
    distance_m: float
    on_screen: bool
    sounding: bool = True
    box: tuple[float, float, float, float] | None = None

    @property
    def visible(self) -> bool:
        """Whether any of the object is in the frame (files without boxes: its centre is)."""
        if self.box is None:
            return self.on_screen
        return self.box[2] > self.box[0] and self.box[3] > self.box[1]


BOX_COLUMNS = ("x0", "y0", "x1", "y1")


def _flag(value: str | None) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


def read_ground_truth(path: str | Path) -> dict[int, list[GroundTruthRow]]:
    """Rows of a ``ground_truth.csv`` grouped by frame number (1-based)."""
    rows: dict[int, list[GroundTruthRow]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            has_box = set(BOX_COLUMNS) <= set(reader.fieldnames or ())
            has_sounding = "sounding" in (reader.fieldnames or ())
            for line_no, rec in enumerate(reader, start=2):
                try:
                    row = GroundTruthRow(
                        frame=int(rec["frame"]),
                        source_id=int(rec["source_id"]),
                        label=int(rec["class"]),
                        x=float(rec["x"]),
                        y=float(rec["y"]),
                        distance_m=float(rec["distance_m"]),
                        on_screen=_flag(rec["on_screen"]),
                        sounding=_flag(rec["sounding"]) if has_sounding else True,
                        box=tuple(float(rec[k]) for k in BOX_COLUMNS) if has_box else None,  # type: ignore[arg-type]
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataError(f"{path}:{line_no}: bad ground-truth row ({exc})") from exc
                rows.setdefault(row.frame, []).append(row)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ground truth ({exc})") from exc
    return rows


def gt_boxes(
    rows: Sequence[GroundTruthRow], focal_px: float, object_size_m: Mapping[int, float] | Sequence[float]
) -> np.ndarray:
    """Boxes [n, 4] (x0, y0, x1, y1) of the visible rows: their own box, or for files without box columns a
    square of side ``focal_px · size / distance`` around an on-screen centre. Filter ``sounding`` first to
    score against the sound sources only."""
    boxes = []
    for r in rows:
        if not r.visible:
            continue
        if r.box is not None:
            boxes.append(r.box)
            continue
        if r.distance_m <= 0:
            continue
        half = focal_px * float(object_size_m[r.label]) / r.distance_m / 2.0
        boxes.append((r.x - half, r.y - half, r.x + half, r.y + half))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_centre(row: GroundTruthRow) -> tuple[float, float]:
    """Centre of the visible part of an object (its box's centre; the point itself without boxes)."""
    if row.box is None:
        return row.x, row.y
    x0, y0, x1, y1 = row.box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def first_visible(rows: Sequence[GroundTruthRow]) -> dict[int, GroundTruthRow]:
    """Each object visible in any of a sample's frames → its row in the first such frame (by source id):
    where a detector that ignores the sound would point for the sample."""
    first: dict[int, GroundTruthRow] = {}
    for r in sorted(rows, key=lambda r: r.frame):
        if r.visible:
            first.setdefault(r.source_id, r)
    return first


def centre_hits(row: GroundTruthRow, gt: np.ndarray) -> bool:
    """Whether the centre of the object's box (:func:`box_centre`) falls in the mask ``gt`` (the pixel that
    holds it, clamped to the frame)."""
    height, width = gt.shape
    x, y = box_centre(row)
    col = min(max(int(np.floor(x)), 0), width - 1)
    line = min(max(int(np.floor(y)), 0), height - 1)
    return bool(gt[line, col])


def any_object_pointing(rows: Sequence[GroundTruthRow], gt: np.ndarray | None) -> float | None:
    """Expected pointing hit of "point at a random visible object" for one sample (None when not scored).

    Each visible object (in any of the sample's frames; its first such frame) is pointed at through the
    centre of its box; the value is the share of those points that fall in the sounding-object mask ``gt``
    (a mask in the boxes' pixel frame).
    """
    if gt is None or not np.any(gt):
        return None
    first = first_visible(rows)
    if not first:
        return None
    return float(np.mean([centre_hits(r, gt) for r in first.values()]))


def largest_object_pointing(
    rows: Sequence[GroundTruthRow],
    gt: np.ndarray | None,
    focal_px: float,
    object_size_m: Mapping[int, float] | Sequence[float],
) -> bool | None:
    """Pointing hit of "point at the largest visible object" for one sample (None when not scored): the
    size prior, sound ignored. Scenes whose sounding object tends to be the biggest reward it, and a learned
    map that does no better has learned the prior, not the sound.

    As :func:`any_object_pointing`: each visible object in its first visible frame among the sample's
    frames, pointed at through the centre of its box; the object pointed at is the one whose box
    (:func:`gt_boxes`: as drawn, or for files without boxes the square of its size at its distance) has the
    largest area there, the lower source id on a tie.
    """
    if gt is None or not np.any(gt):
        return None
    first = first_visible(rows)
    if not first:
        return None

    def area(row: GroundTruthRow) -> float:
        boxes = gt_boxes([row], focal_px, object_size_m)
        return float(np.sum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))

    largest = min(first.values(), key=lambda r: (-area(r), r.source_id))
    return centre_hits(largest, gt)


def visible_objects(rows: Sequence[GroundTruthRow]) -> int:
    """Number of distinct objects visible in any of a sample's frames."""
    return len({r.source_id for r in rows if r.visible})


def boxes_to_mask(boxes: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Union mask [H, W] of boxes: a pixel belongs to a box when its centre (i + 0.5) lies inside."""
    mask = np.zeros(size, dtype=bool)
    cy, cx = np.arange(size[0]) + 0.5, np.arange(size[1]) + 0.5
    for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4):
        mask |= ((cy >= y0) & (cy <= y1))[:, None] & ((cx >= x0) & (cx <= x1))[None, :]
    return mask


def score_samples(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    gt_masks: Sequence[np.ndarray | None],
    method: str = "mean",
    fraction: float = 0.5,
    mask_at: str = "frame",
) -> tuple[list[bool | None], list[float | None]]:
    """Per sample: pointing hit and cIoU, None where the GT mask is None/empty (the sample is not scored).

    ``mask_at``: binarise the upsampled map (``"frame"``) or the map itself, then upsample (``"map"``).
    """
    if mask_at not in ("frame", "map"):
        raise ValueError(f"unknown mask_at {mask_at!r} (use 'frame' or 'map')")
    hits: list[bool | None] = []
    cious: list[float | None] = []
    for heat, gt in zip(heatmaps, gt_masks, strict=True):
        if gt is None or not np.any(gt):
            hits.append(None)
            cious.append(None)
            continue
        up = upsample_map(heat, gt.shape)
        hits.append(pointing_hit(up, gt))
        if mask_at == "map":
            pred = upsample_map(binarize(heat, method, fraction).astype(np.float64), gt.shape) > 0.5
        else:
            pred = binarize(up, method, fraction)
        cious.append(ciou(pred, gt))
    return hits, cious


def summarise_scores(
    hits: Sequence[bool | None], cious: Sequence[float | None], thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, float]:
    """Pointing accuracy, mean cIoU, success rates and AUC of per-sample scores (None = not scored)."""
    scored_hits = [h for h in hits if h is not None]
    scored_cious = [c for c in cious if c is not None]
    rates = success_curve(scored_cious, thresholds)
    result: dict[str, float] = {
        "pointing_accuracy": float(np.mean(scored_hits)) if scored_hits else float("nan"),
        "ciou_mean": float(np.mean(scored_cious)) if scored_cious else float("nan"),
        "n": float(len(scored_cious)),
    }
    result.update({f"success@{t:.1f}": float(r) for t, r in zip(thresholds, rates, strict=True)})
    result["auc"] = float(auc(thresholds, rates)) if scored_cious else float("nan")
    return result


def score_maps(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    gt_masks: Sequence[np.ndarray | None],
    method: str = "mean",
    fraction: float = 0.5,
    thresholds: Sequence[float] = THRESHOLDS,
    mask_at: str = "frame",
) -> dict[str, float]:
    """Pointing accuracy, mean cIoU, success rates and AUC over samples whose GT mask is not None/empty.

    Keys: ``pointing_accuracy``, ``ciou_mean``, ``success@τ`` for every τ, ``auc``, ``n`` (samples scored).
    ``mask_at``: as :func:`score_samples`.
    """
    hits, cious = score_samples(heatmaps, gt_masks, method, fraction, mask_at)
    return summarise_scores(hits, cious, thresholds)


def save_overlay(
    path: str | Path,
    frame_rgb: np.ndarray,
    heat: np.ndarray,
    boxes: np.ndarray | None = None,
    title: str = "",
    frame_size: tuple[int, int] = FRAME_SIZE,
) -> None:
    """PNG of a frame (any size, stretched to ``frame_size``) with the upsampled heat map and GT boxes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from acoustic_ssl.io_utils import atomic_path

    h, w = frame_size
    fig, ax = plt.subplots(figsize=(4.0, 4.0 * h / w), dpi=80)
    ax.imshow(np.asarray(frame_rgb), extent=(0, w, h, 0))
    up = upsample_map(heat, frame_size)
    span = np.ptp(up)
    ax.imshow((up - up.min()) / (span if span > 0 else 1.0), extent=(0, w, h, 0), cmap="jet", alpha=0.45,
              vmin=0.0, vmax=1.0)
    for x0, y0, x1, y1 in np.asarray(boxes if boxes is not None else []).reshape(-1, 4):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="lime", linewidth=2))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.2)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
