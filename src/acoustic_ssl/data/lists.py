"""Split lists: one record path per line, videos complete and in order, like the original ``lists/*.txt``.

The original lists hold absolute paths such as ``/Dataset/class_0/data_046/Data_001.tfrecord`` (testing uses
``/dataset/``); ``read_list(path, root=...)`` re-roots them onto a local records folder. ``make_lists``
generates new splits that are disjoint by video and stratified by class: videos shuffled by a seed and dealt
out by count (``method="random"``), or the original's rule (``method="original"``, ``original_split``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import video_dir_name
from acoustic_ssl.data.raw import iter_video_dirs
from acoustic_ssl.errors import DataError, printable_path, warn_once
from acoustic_ssl.io_utils import write_text_atomic

__all__ = [
    "METHODS",
    "ORIGINAL_FRACTIONS",
    "SPLITS",
    "duplicate_entries",
    "make_lists",
    "original_split",
    "read_list",
    "reroot_lists",
    "split_counts",
    "write_list",
]

SPLITS = ("training", "validation", "testing")
METHODS = ("random", "original")
ORIGINAL_FRACTIONS = (0.75, 0.125, 0.125)  # the original's frame_organization.py
_CLASS_PART = re.compile(r"(?:^|/)(class_\d+/.*)$")
_RECORD_RE = re.compile(r"^Data_(\d+)\.tfrecord$")


def reroot(path: str, root: str | os.PathLike[str]) -> Path:
    """Replace everything before ``class_K/`` in ``path`` by ``root``."""
    match = _CLASS_PART.search(path.replace("\\", "/"))
    if not match:
        raise DataError(f"{path}: cannot re-root a path without a class_K/ component")
    return Path(root) / match.group(1)


def read_list(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Record paths of a list file (blank lines ignored); with ``root`` re-rooted onto a local folder.

    Relative paths in a list are taken relative to the list file's folder. A list may name a record more
    than once (oversampling); that is accepted with a warning.
    """
    list_path = Path(path)
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte-order mark
        lines = list_path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"{list_path}: cannot read list file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{list_path}: not a UTF-8 text list (undecodable byte at offset {exc.start})"
        ) from None
    entries = [line.strip() for line in lines if line.strip()]
    if root is not None:
        paths = [reroot(entry, root) for entry in entries]
    else:
        paths = [p if p.is_absolute() else list_path.parent / p for p in map(Path, entries)]
    repeated = duplicate_entries(paths)
    if repeated:
        first, (line_a, line_b, *_) = next(iter(repeated.items()))
        warn_once(
            f"{list_path}: {len(repeated)} record(s) listed more than once (first: {first}, entries "
            f"{line_a} and {line_b}); their samples are drawn that many times more often"
        )
    return paths


def duplicate_entries(paths: Sequence[Path]) -> dict[Path, list[int]]:
    """Records named more than once in ``paths`` -> the 1-based positions of every mention, in order."""
    positions: dict[Path, list[int]] = {}
    for number, p in enumerate(paths, start=1):
        positions.setdefault(p, []).append(number)
    return {p: numbers for p, numbers in positions.items() if len(numbers) > 1}


def _require_utf8(path: str | os.PathLike[str]) -> None:
    """List files are UTF-8 text: refuse a path that cannot be written as UTF-8 (POSIX allows any bytes)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(
            f"{printable_path(path)}: path is not valid UTF-8 and cannot be written to a list file; "
            "rename the folder"
        ) from None


def write_list(path: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]]) -> None:
    """Write one path per line, each ending with a newline (as the original lists)."""
    for p in paths:
        _require_utf8(p)
    write_text_atomic(path, "".join(f"{p}\n" for p in paths))


def split_counts(num_videos: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Videos per split for one class: proportional, every split of positive share >= 1 when there are >= 3
    videos, a split of share 0 none (a validation-only or test-only tree, or one with no test videos).

    With fewer than 3 videos and every share positive, training is filled first, then testing.
    """
    total = float(sum(fractions))
    if fractions[0] <= 0:  # no training videos: validation and/or testing share them all
        val = round(num_videos * fractions[1] / total) if fractions[2] > 0 else num_videos
        return 0, val, num_videos - val
    if num_videos < 3 and min(fractions) > 0:
        return (min(num_videos, 1), 0, max(num_videos - 1, 0))
    val = max(1, round(num_videos * fractions[1] / total)) if fractions[1] > 0 else 0
    test = max(1, round(num_videos * fractions[2] / total)) if fractions[2] > 0 else 0
    while num_videos - val - test < 1 and val + test:  # keep at least one training video
        if val >= test:
            val -= 1
        else:
            test -= 1
    return num_videos - val - test, val, test


def original_split(
    videos: Sequence[tuple[int, int]], fractions: Sequence[float] = ORIGINAL_FRACTIONS
) -> dict[str, list[int]]:
    """The original's split of one class's videos, given as (location, seconds): location lists per split.

    Its rule (the deleted ``frame_organization.py``): budgets of ⌊75 % of the class's seconds⌋ for training
    and ⌊half the rest⌋ for validation; the videos, longest first, go to training while its total stays
    strictly below its budget, else to validation likewise, else to testing, and the first video of
    training and of validation goes in whatever its length. A video that does not fit leaves the later,
    shorter ones free to. Ties in length are taken in location order; within a split, videos are listed in
    that order (longest first), as the released lists. Other ``fractions`` scale the budgets the same way
    (validation: its share of the rest).
    """
    total = sum(seconds for _, seconds in videos)
    share = float(sum(fractions))
    train_budget = math.floor(total * fractions[0] / share + 1e-9)
    rest = fractions[1] + fractions[2]
    valid_budget = math.floor((total - train_budget) * (fractions[1] / rest if rest else 0.0) + 1e-9)
    splits: dict[str, list[int]] = {name: [] for name in SPLITS}
    used = {name: 0 for name in SPLITS}
    for location, seconds in sorted(videos, key=lambda v: (-v[1], v[0])):
        if used["training"] + seconds < train_budget or not splits["training"]:
            name = "training"
        elif used["validation"] + seconds < valid_budget or not splits["validation"]:
            name = "validation"
        else:
            name = "testing"
        splits[name].append(location)
        used[name] += seconds
    return splits


def _video_records(video_dir: Path) -> list[Path]:
    """Records Data_001, Data_002, ... of a video up to the first gap (samples need consecutive seconds)."""
    numbered = dict(
        (int(m.group(1)), p) for p in video_dir.iterdir() if p.is_file() and (m := _RECORD_RE.match(p.name))
    )
    records = []
    while len(records) + 1 in numbered:
        records.append(numbered[len(records) + 1])
    return records


def make_lists(
    records_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    fractions: Sequence[float] | None = None,
    total_length: int = 2,
    method: str = "random",
) -> dict[str, list[Path]]:
    """Write ``training.txt``, ``validation.txt``, ``testing.txt`` under ``out_dir`` and return their paths.

    ``method="random"``: per class the videos are shuffled with ``seed`` and dealt out by ``fractions`` of
    their number (default 0.7 / 0.15 / 0.15; every split gets one when a class has ≥ 3); videos listed by
    increasing ``data_NNN`` index. ``method="original"``: the original's greedy rule over seconds
    (``original_split``; default 75 / 12.5 / 12.5 %, no seed), videos listed longest first. Disjoint by video
    either way. Each video is listed from its first second, in order (up to a missing second), cut to a
    multiple of ``total_length`` so a loader block never straddles two videos (its seconds count as cut);
    videos shorter than ``total_length`` seconds are left out. Classes are in increasing order.
    """
    if method not in METHODS:
        raise DataError(f"unknown split method {method!r} (use {' or '.join(METHODS)})")
    if fractions is None:
        fractions = ORIGINAL_FRACTIONS if method == "original" else (0.7, 0.15, 0.15)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DataError(f"fractions must be three non-negative numbers, got {list(fractions)}")
    if total_length < 1:
        raise DataError(f"total_length must be >= 1, got {total_length}")
    root = Path(records_root).resolve()  # lists hold absolute paths, like the original ones
    _require_utf8(root)  # before anything is written (class_K/data_NNN/Data_NNN names are ASCII)
    by_class: dict[int, list[tuple[int, list[Path]]]] = {}
    for class_index, location, video_dir in iter_video_dirs(root):
        records = _video_records(video_dir)
        usable = len(records) // total_length * total_length
        if usable:
            by_class.setdefault(class_index, []).append((location, records[:usable]))
    if not by_class:
        raise DataError(f"{root}: no class_K/data_NNN folders with at least {total_length} records")
    splits: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for class_index in sorted(by_class):
        videos = by_class[class_index]
        if method == "original":
            records = dict(videos)
            for name, locations in original_split([(v, len(r)) for v, r in videos], fractions).items():
                for location in locations:
                    splits[name].extend(records[location])
            continue
        order = np.random.default_rng([seed, class_index]).permutation(len(videos))
        n_train, n_val, _ = split_counts(len(videos), fractions)
        chosen = {
            "training": order[:n_train],
            "validation": order[n_train : n_train + n_val],
            "testing": order[n_train + n_val :],
        }
        for name, indices in chosen.items():
            for i in sorted(indices, key=lambda i: videos[i][0]):
                splits[name].extend(videos[i][1])
    out = Path(out_dir)
    for name, paths in splits.items():
        write_list(out / f"{name}.txt", paths)
    return splits


def reroot_lists(
    original_dir: str | os.PathLike[str],
    records_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    check: bool = True,
) -> dict[str, list[Path]]:
    """Rewrite the original ``training/validation/testing.txt`` onto ``records_root`` into ``out_dir``.

    With ``check`` every re-rooted record must exist (a mismatch between dataset and lists is an error).
    """
    _require_utf8(Path(records_root).resolve())
    result: dict[str, list[Path]] = {}
    for name in SPLITS:
        source = Path(original_dir) / f"{name}.txt"
        paths = read_list(source, root=Path(records_root).resolve())
        if check:
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise DataError(
                    f"{source}: {len(missing)} of {len(paths)} records are missing under {records_root} "
                    f"(first: {missing[0]})"
                )
        result[name] = paths
    for name, paths in result.items():
        write_list(Path(out_dir) / f"{name}.txt", paths)
    return result


def video_of(path: Path) -> Path:
    """``class_K/data_NNN`` of a record path (the unit splits are disjoint over)."""
    return video_dir_name(int(path.parent.parent.name.split("_")[1]), int(path.parent.name.split("_")[1]))
