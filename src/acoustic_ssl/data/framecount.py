"""Video lengths of a raw or record tree, written in the original ``framecount.py`` files.

Per video ``video_time.txt`` ("video seconds: N"; N = floor(#bmp / 12) for raw folders, #records for record
folders), per class ``class_time.txt`` ("class seconds: S"), and in the root ``datadir.txt``,
``timedataset.txt`` and ``videodataset.txt`` with the original wording. Differences from the original, all
to avoid its crashes: any argument combination works, averages divide by the number of classes found (10 for
ACIVW, so the same numbers), the minimum video is reported as ``n/a`` when no video has >= 2 s, and an empty
root is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from acoustic_ssl.data.layout import CLASS_TIME_FILE, FRAMES_PER_SECOND, VIDEO_DIR, VIDEO_TIME_FILE
from acoustic_ssl.data.raw import iter_video_dirs
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_text_atomic

__all__ = ["ClassCount", "FrameCount", "count_seconds", "format_table", "framecount"]

DATADIR_FILE = "datadir.txt"
TIMEDATASET_FILE = "timedataset.txt"
VIDEODATASET_FILE = "videodataset.txt"
_MIN_SENTINEL = 32 * 60  # the original's initial minimum (32 minutes)


@dataclass
class ClassCount:
    """Seconds of every video of one class (location -> seconds)."""

    class_index: int
    folder: Path
    videos: dict[int, int] = field(default_factory=dict)

    @property
    def seconds(self) -> int:
        return sum(self.videos.values())


@dataclass
class FrameCount:
    """Counts of a whole tree, class by class."""

    root: Path
    source: str
    classes: list[ClassCount]


def count_seconds(video_dir: Path, source: str) -> int:
    """Seconds of a video: whole 12-frame seconds of ``video/*.bmp`` (raw) or number of ``*.tfrecord``."""
    if source == "raw":
        frames = video_dir / VIDEO_DIR
        count = sum(1 for p in frames.glob("*.bmp")) if frames.is_dir() else 0
        return count // FRAMES_PER_SECOND
    return sum(1 for p in video_dir.glob("*.tfrecord"))


def _dir_text(path: Path) -> str:
    return f"{path}/"


def framecount(root: str | os.PathLike[str], source: str = "raw") -> FrameCount:
    """Count every video under ``root`` and write the original's five kinds of text files."""
    if source not in ("raw", "tfrecord"):
        raise DataError(f"source must be 'raw' or 'tfrecord', got {source!r}")
    root_path = Path(root)
    classes: dict[int, ClassCount] = {}
    for class_index, location, video_dir in iter_video_dirs(root_path):
        entry = classes.setdefault(class_index, ClassCount(class_index, video_dir.parent))
        entry.videos[location] = count_seconds(video_dir, source)
    if not classes:
        raise DataError(f"{root_path}: no class_K/data_NNN folders found")
    result = FrameCount(root_path, source, [classes[k] for k in sorted(classes)])
    for entry in result.classes:
        for location, seconds in entry.videos.items():
            write_text_atomic(
                entry.folder / f"data_{location:03d}" / VIDEO_TIME_FILE, f"video seconds: {seconds}"
            )
        write_text_atomic(entry.folder / CLASS_TIME_FILE, f"class seconds: {entry.seconds}")
    _write_summaries(result)
    return result


def _write_summaries(result: FrameCount) -> None:
    classes = result.classes
    n_classes = len(classes)
    fewest = min(classes, key=lambda c: len(c.videos))  # first of ties, as the original's strict '<'
    most = max(classes, key=lambda c: len(c.videos))
    total_videos = sum(len(c.videos) for c in classes)
    write_text_atomic(
        result.root / DATADIR_FILE,
        f"Number of minimum datadir : {len(fewest.videos)} in class {_dir_text(fewest.folder)}\n"
        f" Number of average datadir : {total_videos / n_classes} \n "
        f"Number of total datadir : {total_videos} \n"
        f" Number of maximum datadir : {len(most.videos)} in class {_dir_text(most.folder)}\n",
    )
    shortest = min(classes, key=lambda c: c.seconds)
    longest = max(classes, key=lambda c: c.seconds)
    total_seconds = sum(c.seconds for c in classes)
    write_text_atomic(
        result.root / TIMEDATASET_FILE,
        f"Number of average seconds : {total_seconds / n_classes} \n"
        f" Number of maximum seconds : {longest.seconds} in class {_dir_text(longest.folder)}\n "
        f"Number of minimum seconds : {shortest.seconds} in class {_dir_text(shortest.folder)}",
    )
    videos = [(seconds, c, loc) for c in classes for loc, seconds in c.videos.items()]
    max_video = max(videos, key=lambda v: v[0])
    eligible = [v for v in videos if 2 <= v[0] < _MIN_SENTINEL]
    if eligible:
        s, c, loc = min(eligible, key=lambda v: v[0])
        min_text = f"{s} in video {_dir_text(c.folder / f'data_{loc:03d}')} in class {_dir_text(c.folder)}"
    else:
        min_text = f"{_MIN_SENTINEL} in video n/a in class n/a"
    s, c, loc = max_video
    write_text_atomic(
        result.root / VIDEODATASET_FILE,
        f"Total {total_seconds} Number of average seconds : {total_seconds / total_videos} \n"
        f" Number of maximum seconds : {s} in video {_dir_text(c.folder / f'data_{loc:03d}')} "
        f"in class {_dir_text(c.folder)}\n Number of minimum seconds : {min_text}",
    )


def format_table(result: FrameCount) -> str:
    """A readable per-class table of videos and seconds."""
    from acoustic_ssl.data.labels import class_names

    header = f"{'class':<18}{'videos':>7}{'seconds':>9}{'min s':>7}{'max s':>7}"
    lines = [f"{result.root} ({result.source})", header, "-" * len(header)]
    names = class_names(result.root, max((c.class_index for c in result.classes), default=-1) + 1)
    for c in result.classes:
        name = names[c.class_index]
        lengths = list(c.videos.values())
        label = f"{c.class_index} {name}"
        lines.append(f"{label:<18}{len(lengths):>7}{c.seconds:>9}{min(lengths):>7}{max(lengths):>7}")
    all_lengths = [s for c in result.classes for s in c.videos.values()]
    lines.append("-" * len(header))
    lines.append(
        f"{'all':<18}{len(all_lengths):>7}{sum(all_lengths):>9}{min(all_lengths):>7}{max(all_lengths):>7}"
    )
    return "\n".join(lines)
