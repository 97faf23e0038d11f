"""Sound-source localisation scored as the Flickr-SoundNet and VGG-SS benchmarks do (``evaluate --boxes``).

Annotations (every box becomes pixel rows/columns of a 224×224 grid, the whole frame squashed to a square):

* **Flickr-SoundNet**: one XML file per clip (``<clip id>.xml``; a folder of them, or one file). Every child
  of the root holding ``bbox`` elements is an annotator; a ``bbox`` holds a type, then ``xmin ymin xmax ymax``
  in pixels of a 256×256 image (read by tag name, else by position after the type, as the published parsers).
  Coordinates become ``int(224·v/256)``; the GT map is the **consensus**: each box adds 1 on rows
  ``ymin..ymax-1`` and columns ``xmin..xmax-1``, the sum is halved and capped at 1 (one annotator → 0.5,
  two or more → 1).
* **VGG-SS**: one JSON list of ``{"file": "<youtube id>_<start:06d>", "class": ..., "bbox": [[x0, y0, x1, y1],
  ...]}`` with fractions of the frame; coordinates become ``int(224·clip(v, 0, 1))`` and the GT map is the
  binary union of the boxes.
* **CSV**: ``file,frame_time,x0,y0,x1,y1`` (header row optional), pixels of the source video's frame,
  ``frame_time`` in seconds from the start of the source file; rows with the same file and time are the boxes
  of one annotated frame (binary union, as VGG-SS). Coordinates become ``int(224·x/width)`` etc.

The annotated frame: the CSV's ``frame_time``; for Flickr and VGG-SS the middle frame of the clip (VGG-SS's
paper; Flickr's stills carry no time, so the middle frame is assumed). The map is the network's attention for
that one frame (the video input is that frame) with the 2-s audio window around it.

Prediction → mask, as the published evaluation code (protocol ``ez`` = EZ-VSL, the default; ``lvs`` = LVS):
the map is resized to 224×224 (bilinear; EZ-VSL with ``align_corners=True``, LVS with OpenCV's half-pixel
centres), min–max normalised, and thresholded at ``t`` = element ⌊N/2⌋ of its ascending sort (N = 224²);
positive = ``≥ t`` (EZ-VSL) or ``> t`` (LVS). Scores:

* cIoU = Σ_{p∈P} g(p) / (Σ_p g(p) + #{p ∈ P : g(p) = 0}), g the GT map (a half-weight pixel counts half);
* success ("cIoU" in the papers' tables, "AP50" in EZ-VSL's code) = fraction of clips with cIoU ≥ 0.5;
* AUC = trapezoidal area under the success rate (cIoU ≥ τ) at the 21 thresholds τ = 0.05·i, i = 0..20
  (the floating-point products, as the published code computes them).

The cIoU, success curve and AUC are ``localization``'s (:func:`~acoustic_ssl.evaluation.localization.ciou`,
``success_curve(inclusive=True)`` at these thresholds, ``auc``); what differs from ``localization.score_maps``
(simulated ground truth: binary GT, mean binarisation, success at cIoU > τ for 11 thresholds) is this
module's parameters, kept for ACIVW and simulated data. The 95 % intervals are
``statistics.bootstrap_ci`` with the clips resampled one by one (``clusters=None``): each annotated clip of
these benchmarks comes from a video of its own, so, unlike the simulated test set, no two clips share one.

Boxes are checked in their declared units before any scoring, so a wrong file cannot pass as a bad score: an
annotation without a box, a coordinate that is not finite, beyond the image (Flickr: 0..256 pixels; VGG-SS:
fractions above 1; CSV: negative or beyond the source frame), an inverted or empty box, and an annotated frame
whose GT map is empty on the 224 grid are errors naming the file (and entry or line). VGG-SS as shipped has
negative coordinates (≈ −2.88e16), zero-area boxes and two clips whose GT is empty: those are clamped and
scored 0 as the published code does, with one warning line counting them, so the figure stays comparable.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.errors import DataError, warn_once
from acoustic_ssl.evaluation.localization import auc, ciou, success_curve, upsample_map, weighted_auc
from acoustic_ssl.evaluation.protocol import OVERLAYS_PER_MAP
from acoustic_ssl.evaluation.statistics import LEVEL, N_BOOTSTRAP, bootstrap_ci, weighted_mean

if TYPE_CHECKING:
    from acoustic_ssl.training.trained import Trained

__all__ = [
    "GRID",
    "PROTOCOLS",
    "THRESHOLDS",
    "Annotation",
    "bootstrap_intervals",
    "evaluate_boxes",
    "gt_map",
    "prediction_mask",
    "read_annotations",
    "score_cious",
]

GRID = 224  # the benchmarks score on a 224×224 grid
FLICKR_IMAGE = 256  # Flickr-SoundNet boxes are pixels of a 256×256 image
THRESHOLDS: tuple[float, ...] = tuple(0.05 * i for i in range(21))
SUCCESS_AT = 0.5
PROTOCOLS = ("ez", "lvs")
FORMATS = ("flickr", "vggss", "csv")


@dataclass(frozen=True)
class Annotation:
    """The boxes of one annotated frame: integer 224-grid coordinates [n, 4] (x0, y0, x1, y1).

    ``kind`` picks the GT map (``flickr``: consensus; else binary union); ``frame_time`` is seconds from the
    source file's start (None: the clip's middle frame); ``pixel`` marks CSV boxes still in source pixels;
    ``origin`` says where it was read (file, and entry or line) for messages.
    """

    clip: str
    kind: str
    boxes: np.ndarray
    frame_time: float | None = None
    pixel: bool = False
    origin: str = ""


# --------------------------------------------------------------------------------------------- annotations
def _box_problem(box: Sequence[float], high: tuple[float, float] | None) -> str | None:
    """What makes ``box`` (x0, y0, x1, y1) unusable in its declared units, or None: a coordinate that is not
    finite, below 0 or above ``high`` (width, height; None: unbounded), or x1 ≤ x0 / y1 ≤ y0."""
    x0, y0, x1, y1 = box
    if not all(np.isfinite(box)):
        return "a coordinate is not a finite number"
    if min(box) < 0 or (high is not None and (max(x0, x1) > high[0] or max(y0, y1) > high[1])):
        limit = f" 0..{high[0]:g} x 0..{high[1]:g}" if high is not None else " (≥ 0)"
        return f"lies outside the declared{limit}"
    if x1 < x0 or y1 < y0:
        return "is inverted (x1 < x0 or y1 < y0)"
    if x1 == x0 or y1 == y0:
        return "is empty (zero width or height)"
    return None


def _check_box(box: Sequence[float], high: tuple[float, float] | None, where: str) -> None:
    problem = _box_problem(box, high)
    if problem is not None:
        raise DataError(f"{where}: box {[float(v) for v in box]} {problem}")


def _flickr_box(element: ET.Element, path: Path) -> list[int]:
    named = [element.find(tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
    fields = named if all(e is not None for e in named) else list(element)[1:5]
    try:
        values = [int(str(e.text).strip()) for e in fields]
    except ValueError as exc:
        raise DataError(f"{path}: a bbox coordinate is not an integer ({exc})") from exc
    if len(values) != 4:
        raise DataError(f"{path}: a bbox needs type, xmin, ymin, xmax, ymax; got {len(values) + 1} fields")
    _check_box(values, (FLICKR_IMAGE, FLICKR_IMAGE), f"{path} (pixels of a 256x256 image)")
    return [int(GRID * v / FLICKR_IMAGE) for v in values]


def read_flickr_xml(path: str | os.PathLike[str]) -> dict[str, Annotation]:
    """Flickr-SoundNet annotations: a folder of ``<clip>.xml`` files or one such file."""
    source = Path(path)
    files = sorted(source.glob("*.xml")) if source.is_dir() else [source]
    if not files:
        raise DataError(f"{source}: no .xml annotation files")
    result = {}
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except (OSError, ET.ParseError) as exc:
            raise DataError(f"{file}: cannot read Flickr-SoundNet XML ({exc})") from exc
        boxes = [_flickr_box(bbox, file) for person in root for bbox in person if bbox.tag == "bbox"]
        if not boxes:
            raise DataError(f"{file}: no bbox (Flickr-SoundNet XML: <person><bbox><type/><xmin/>...</bbox>)")
        clip = file.stem
        boxes_array = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        result[clip] = Annotation(clip, "flickr", boxes_array, origin=str(file))
    return result


def read_vggss_json(path: str | os.PathLike[str]) -> dict[str, Annotation]:
    """VGG-SS annotations: ``[{"file", "class", "bbox": [[x0, y0, x1, y1], ...]}, ...]``, frame fractions."""
    source = Path(path)
    try:
        entries = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read VGG-SS JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise DataError(f"{source}: expected a JSON list of {{file, class, bbox}} objects")
    result = {}
    clamped: list[str] = []  # negative coordinates (the shipped file's ≈ −2.88e16), clamped as published
    empty: list[str] = []  # zero-area boxes, which the published code keeps (they add nothing)
    for i, entry in enumerate(entries):
        try:
            clip, raw = str(entry["file"]), np.asarray(entry["bbox"], dtype=np.float64).reshape(-1, 4)
        except (KeyError, TypeError, ValueError) as exc:
            need = "needs 'file' and 'bbox' [[x0, y0, x1, y1], ...]"
            raise DataError(f"{source}: entry {i} {need} ({exc})") from exc
        where = f"{source}: entry {i} ({clip})"
        if len(raw) == 0:
            raise DataError(f"{where}: no box")
        for box in raw:
            problem = _box_problem(box, (1.0, 1.0))
            if problem is None:
                continue
            if "outside" in problem and np.isfinite(box).all() and box.max() <= 1.0:
                clamped.append(where)  # only below 0, as the published file's defects are
            elif "empty" in problem:
                empty.append(where)
            else:
                _check_box(box, (1.0, 1.0), f"{where} (fractions of the frame)")
        boxes = (GRID * np.clip(raw, 0.0, 1.0)).astype(np.int64)
        # one annotation per clip: a repeated file replaces
        result[clip] = Annotation(clip, "vggss", boxes, origin=where)
    if clamped or empty:
        first = (clamped or empty)[0]
        warn_once(f"{source}: {len(clamped)} boxes have coordinates below 0 (clamped to 0) and {len(empty)} "
                  f"have zero area; kept as the published evaluation keeps them (first: {first})")
    return result


def read_box_csv(path: str | os.PathLike[str]) -> dict[str, Annotation]:
    """CSV ``file,frame_time,x0,y0,x1,y1`` (source pixels); keys ``<file>@<frame_time>``."""
    source = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{source}: cannot read box CSV ({exc})") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if rows and rows[0] and rows[0][0].strip().lower() in ("file", "path", "clip"):
        rows = rows[1:]
    grouped: dict[tuple[str, float], list[list[float]]] = {}
    first_row: dict[tuple[str, float], int] = {}
    for line, row in enumerate(rows, start=1):
        if len(row) != 6:
            raise DataError(f"{source}: row {line}: expected file,frame_time,x0,y0,x1,y1, got {len(row)}")
        try:
            key = (row[0].strip(), float(row[1]))
            box = [float(v) for v in row[2:]]
        except ValueError as exc:
            raise DataError(f"{source}: row {line}: frame_time and boxes must be numbers ({exc})") from exc
        if not (np.isfinite(key[1]) and key[1] >= 0):
            raise DataError(f"{source}: row {line}: frame_time must be seconds ≥ 0, got {row[1].strip()!r}")
        _check_box(box, None, f"{source}: row {line} (pixels of the source frame)")
        grouped.setdefault(key, []).append(box)
        first_row.setdefault(key, line)
    if not grouped:
        raise DataError(f"{source}: no boxes")
    return {
        f"{name}@{time:g}": Annotation(name, "csv", np.asarray(boxes), frame_time=time, pixel=True,
                                       origin=f"{source}: row {first_row[(name, time)]}")
        for (name, time), boxes in grouped.items()
    }


def detect_format(path: str | os.PathLike[str]) -> str:
    """``flickr`` for a folder or .xml, ``vggss`` for .json, ``csv`` for .csv."""
    source = Path(path)
    if source.is_dir() or source.suffix.lower() == ".xml":
        return "flickr"
    if source.suffix.lower() == ".json":
        return "vggss"
    if source.suffix.lower() == ".csv":
        return "csv"
    raise DataError(f"{source}: cannot tell the annotation format; pass --boxes-format flickr|vggss|csv")


def read_annotations(path: str | os.PathLike[str], fmt: str = "auto") -> dict[str, Annotation]:
    """Annotations of any of the three formats (``fmt`` = auto, flickr, vggss or csv)."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {"flickr": read_flickr_xml, "vggss": read_vggss_json, "csv": read_box_csv}
    if fmt not in readers:
        raise DataError(f"unknown annotation format {fmt!r} (use {', '.join(FORMATS)})")
    if not Path(path).exists():
        raise DataError(f"{path}: annotation file not found")
    return readers[fmt](path)


def to_grid(annotation: Annotation, width: int, height: int) -> Annotation:
    """CSV boxes in source pixels -> 224-grid integers (truncated, clipped to the frame)."""
    if not annotation.pixel:
        return annotation
    if width <= 0 or height <= 0:
        raise DataError(f"{annotation.clip}: the import index has no frame size for pixel boxes")
    for box in annotation.boxes:
        _check_box(box, (width, height), f"{annotation.origin or annotation.clip} ({annotation.clip}: a "
                                         f"{width}x{height} frame)")
    scale = np.array([GRID / width, GRID / height, GRID / width, GRID / height])
    boxes = np.clip(annotation.boxes * scale, 0, GRID).astype(np.int64)
    return dataclasses.replace(annotation, boxes=boxes, pixel=False)


# -------------------------------------------------------------------------------------------------- scoring
def gt_map(annotation: Annotation) -> np.ndarray:
    """224×224 GT map: Flickr's consensus (min(k/2, 1) for k covering boxes), else the binary union."""
    total = np.zeros((GRID, GRID))
    for x0, y0, x1, y1 in np.asarray(annotation.boxes, dtype=np.int64).reshape(-1, 4):
        box = np.zeros((GRID, GRID))
        box[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
        total += box
    if annotation.kind == "flickr":
        return np.minimum(total / 2.0, 1.0)
    return (total > 0).astype(np.float64)


def prediction_mask(heat: np.ndarray, protocol: str = "ez") -> np.ndarray:
    """Binary 224×224 prediction of a heat map: resize, min–max, median-element threshold (see module doc)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (use {', '.join(PROTOCOLS)})")
    up = upsample_map(heat, (GRID, GRID), align_corners=protocol == "ez")
    span = up.max() - up.min()
    if span != 0:
        up = (up - up.min()) / span
    threshold = np.sort(up, axis=None)[up.size // 2]
    return up >= threshold if protocol == "ez" else up > threshold


def score_cious(cious: Sequence[float]) -> dict[str, Any]:
    """Success at cIoU ≥ 0.5, AUC over the 21 thresholds, mean cIoU, the success curve and n."""
    values = np.asarray(cious, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "success@0.5": None, "auc": None, "ciou_mean": None, "success_curve": []}
    rates = success_curve(values, THRESHOLDS, inclusive=True)
    return {
        "n": int(values.size),
        "success@0.5": float(success_curve(values, (SUCCESS_AT,), inclusive=True)[0]),
        "auc": auc(THRESHOLDS, rates),
        "ciou_mean": float(values.mean()),
        "success_curve": [float(r) for r in rates],
    }


def _success_at(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return success_curve(values, (SUCCESS_AT,), inclusive=True, weights=weights)[:, 0]


def _box_auc(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return weighted_auc(values, weights, THRESHOLDS, inclusive=True)


def bootstrap_intervals(
    cious: Sequence[float], resamples: int = N_BOOTSTRAP, level: float = LEVEL
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals of success@0.5, AUC and mean cIoU: ``statistics.bootstrap_ci`` over
    clips drawn one by one (``clusters=None``; each annotated clip is its own video), the same draws for
    the three."""
    values = np.asarray(cious, dtype=np.float64)
    if values.size < 2:
        return {}
    statistics = {"success@0.5": _success_at, "auc": _box_auc, "ciou_mean": weighted_mean}
    return {
        key: bootstrap_ci(values, clusters=None, statistic=statistic, n_boot=resamples, level=level).as_list()
        for key, statistic in statistics.items()
    }


# ------------------------------------------------------------------------------------------ against records
@dataclass(frozen=True)
class _Target:
    """One annotated frame located in the records: its annotation and where the model looks."""

    key: str
    annotation: Annotation
    records: tuple[Path, Path]
    frame: int  # 0..23 within the 2-s sample
    time: float  # seconds from the clip's start


def _clip_lookup(rows: Sequence[Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
    """Imported clips by clip id, source file name, and source stem (clip id wins)."""
    lookup: dict[str, Mapping[str, str]] = {}
    for row in rows:
        source = Path(row.get("source", ""))
        for key in (source.stem, source.name):
            lookup.setdefault(key, row)
    for row in rows:
        lookup[row["clip"]] = row
    return lookup


def locate(
    annotations: Mapping[str, Annotation], records_root: Path
) -> tuple[list[_Target], list[str], list[str]]:
    """The annotated frames found among imported clips, the keys not found, and why the others cannot be
    scored (``KEY: reason``: a clip shorter than the 2-s sample, or a frame time outside the clip)."""
    from acoustic_ssl.data.layout import FRAMES_PER_SECOND, record_name, video_dir_name
    from acoustic_ssl.data.video_import import INDEX_FILE, read_index

    rows = [r for r in read_index(records_root) if r.get("status") == "imported"]
    if not rows:
        raise DataError(f"{records_root / INDEX_FILE}: no imported clips (run import-video; or --records)")
    lookup = _clip_lookup(rows)
    targets, missing, unusable = [], [], []
    for key, annotation in annotations.items():
        row = lookup.get(annotation.clip) or lookup.get(Path(annotation.clip).name)
        if row is None:
            missing.append(key)
            continue
        folder = records_root / video_dir_name(int(row["class"]), int(row["location"]))
        seconds = sum(1 for _ in folder.glob("Data_*.tfrecord"))
        if seconds < 2:
            unusable.append(f"{key}: its clip has {seconds} s of records, shorter than the 2-s sample")
            continue
        if annotation.frame_time is None:
            frame = seconds * FRAMES_PER_SECOND // 2  # the middle frame
        else:
            start = float(row.get("start") or 0.0)
            frame = round((annotation.frame_time - start) * FRAMES_PER_SECOND)
            if not 0 <= frame < seconds * FRAMES_PER_SECOND:
                unusable.append(f"{key}: frame time {annotation.frame_time:g} s is outside the imported clip "
                                f"({start:g}-{start + seconds:g} s of its file)")
                continue
        # the 2-s window with the frame nearest its centre (ties: Python's round, half to even)
        first = min(max(round(frame / FRAMES_PER_SECOND - 1.0), 0), seconds - 2)
        width, height = int(float(row.get("width") or 0)), int(float(row.get("height") or 0))
        targets.append(
            _Target(
                key,
                to_grid(annotation, width, height),
                (folder / record_name(first + 1), folder / record_name(first + 2)),
                frame - first * FRAMES_PER_SECOND,
                frame / FRAMES_PER_SECOND,
            )
        )
    return targets, missing, unusable


def _check_gt_maps(targets: Sequence[_Target], fmt: str, boxes: str | Path) -> None:
    """An annotated frame whose GT map is empty on the 224 grid scores 0 whatever the model does: an error,
    except in VGG-SS, whose shipped file has two such clips that the published evaluation scores 0."""
    empty = [t for t in targets if not gt_map(t.annotation).any()]
    if not empty:
        return
    first = empty[0].annotation
    if fmt != "vggss":
        raise DataError(f"{first.origin or first.clip}: the boxes of {empty[0].key} cover no pixel of the "
                        f"{GRID}x{GRID} grid (boxes too small?)")
    _warn(f"{boxes}: {len(empty)} annotated frames have an empty GT map (first: {first.origin}); scored 0, "
          "as the published evaluation does")


class AnnotatedFrames(ACIVWDataset):
    """The 2-s windows of annotated frames; the video input of sample ``i`` is its annotated frame."""

    def __init__(self, targets: Sequence[_Target], **kwargs: Any) -> None:
        paths = [p for t in targets for p in t.records]
        super().__init__(paths, mode="inference", total_length=2, sample_length=2, **kwargs)
        self.annotated = np.array([t.frame for t in targets], dtype=np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        self.frame_indices = np.full(self.nr_frames, self.annotated[index], dtype=np.int64)
        return super().__getitem__(index)


def attention_maps(
    trained: Trained,
    targets: Sequence[_Target],
    *,
    batch_size: int | None = None,
    device: str = "auto",
    num_workers: int = 0,
) -> dict[str, np.ndarray]:
    """The checkpoint's localisation map (its objective's) and a thumbnail for every annotated frame."""
    from torch.utils.data import DataLoader

    from acoustic_ssl.device import pick_device
    from acoustic_ssl.evaluation.extract import dataset_options, extract_from_batches, extraction_batch_size

    if not trained.objective.has_pair:
        roles = sorted(trained.roles)
        raise DataError(f"{trained.path}: localisation needs audio+video networks (roles: {roles})")
    options = dataset_options(trained)
    if options.pop("sample_length") != 2 or options.pop("total_length") != 2:
        raise DataError(f"{trained.path}: box scoring takes the 2-s window around each annotated frame; this "
                        f"run was trained on {trained.config.data.sample_length}-s samples")
    dataset = AnnotatedFrames(targets, **options)
    batch_size = extraction_batch_size(trained.networks, batch_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = extract_from_batches(trained.objective, loader, nr_frames=options["nr_frames"], sample_length=2,
                                  energy_maps=False, total=len(loader),
                                  device=pick_device(device, setting="--device"))
    return {k: arrays[k] for k in ("attention_map", "thumbnails") if k in arrays}


def _records_root(records: str | Path | None, test_list: str | Path | None) -> Path:
    from acoustic_ssl.data.labels import records_root_of

    if records is not None:
        return Path(records)
    root = records_root_of(test_list) if test_list else None
    if root is None:
        raise DataError("cannot tell which records the annotations refer to; pass --records IMPORT_OUT")
    return root


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def evaluate_boxes(
    checkpoint: str | Path | Trained,
    boxes: str | Path,
    out_dir: str | Path,
    *,
    fmt: str = "auto",
    protocol: str = "ez",
    records: str | Path | None = None,
    test_list: str | Path | None = None,
    stats_dir: str | Path | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    num_workers: int = 0,
    overlays: int = OVERLAYS_PER_MAP,
) -> dict[str, Any]:
    """Score a checkpoint's attention against box annotations -> ``boxes.json`` and ``boxes_per_clip.csv``.

    ``records`` is the ``import-video`` output holding the annotated clips (default: the root of
    ``test_list``). The block is also added to ``metrics.json`` (key ``localization_boxes``) when one exists.
    """
    from acoustic_ssl.evaluation.extract import as_trained
    from acoustic_ssl.evaluation.localization import save_overlay
    from acoustic_ssl.evaluation.metrics_file import add_block
    from acoustic_ssl.io_utils import atomic_path, write_json_atomic

    if protocol not in PROTOCOLS:
        raise DataError(f"unknown --boxes-protocol {protocol!r} (use {', '.join(PROTOCOLS)})")
    fmt = detect_format(boxes) if fmt == "auto" else fmt
    annotations = read_annotations(boxes, fmt)
    root = _records_root(records, test_list)
    targets, missing, unusable = locate(annotations, root)
    first_missing = ", ".join(missing[:3])
    absent = (f"{len(missing)} of {len(annotations)} annotated clips are not among {root}'s records "
              f"(first: {first_missing})")
    left_out = f"{len(unusable)} annotated frames cannot be scored (first: {(unusable or [''])[0]})"
    if not targets:
        reasons = [text for text, found in ((left_out, unusable), (absent, missing)) if found]
        raise DataError(f"{boxes}: none of the {len(annotations)} annotated frames can be scored: "
                        f"{'; '.join(reasons)}")
    if missing:
        _warn(f"{boxes}: {absent}; scoring the {len(targets)} found")
    if unusable:
        _warn(f"{boxes}: {left_out}; they are left out")
    _check_gt_maps(targets, fmt, boxes)
    trained = as_trained(checkpoint, stats_dir)
    arrays = attention_maps(trained, targets, batch_size=batch_size, device=device, num_workers=num_workers)
    cious = [
        ciou(prediction_mask(heat, protocol), gt_map(t.annotation))
        for heat, t in zip(arrays["attention_map"], targets, strict=True)
    ]
    result: dict[str, Any] = {
        "format": fmt, "protocol": protocol, "annotations": str(boxes), "records": str(root),
        "annotated": len(annotations), "missing": len(missing), "unusable": len(unusable),
        **score_cious(cious), "interval95": bootstrap_intervals(cious),
        "thresholds": [float(t) for t in THRESHOLDS],
    }
    out = Path(out_dir)
    write_json_atomic(out / "boxes.json", result)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["key", "clip", "frame_time_in_clip", "ciou"])
    for t, c in zip(targets, cious, strict=True):
        writer.writerow([t.key, t.annotation.clip, f"{t.time:g}", f"{c:.6f}"])
    with atomic_path(out / "boxes_per_clip.csv") as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8")
    if "thumbnails" in arrays and overlays > 0:
        for i in np.unique(np.linspace(0, len(targets) - 1, min(overlays, len(targets))).astype(int)):
            save_overlay(out / "localization_boxes" / f"attention_{i:05d}.png", arrays["thumbnails"][i],
                         arrays["attention_map"][i], targets[i].annotation.boxes,
                         title=f"{targets[i].key} · cIoU {cious[i]:.2f}", frame_size=(GRID, GRID))
    add_block(out, "localization_boxes", result)
    return result
