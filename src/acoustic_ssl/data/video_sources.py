"""Where the clips of ``import-video`` come from: the folder layout, image + sound pairs, or a CSV.

Labels come from the folder layout ``SRC/<label>/**/*.mp4``, from image + sound pairs (``SRC/frames/<id>.jpg``
with ``SRC/audio/<id>.wav``, as the Flickr-SoundNet and VGG-SS test sets are shipped; labelled with the
folder's name), or from a CSV (``file,label[,split]``, a header row naming ``file, label, split, start,
seconds`` columns, or VGGSound's ``youtube_id,start,label,split``). A clip's id is the annotation key: the
file stem, or VGGSound's ``<youtube_id>_<start:06d>`` (VGG-SS's ``file``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acoustic_ssl.errors import DataError

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Clip",
    "is_pairs_layout",
    "read_clip_csv",
    "scan_folder",
    "scan_pairs",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # stills of image + sound pairs (SRC/frames, SRC/audio)
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
VGGSOUND_SECONDS = 10  # VGGSound clips: 10 s from the CSV's start
SPLIT_NAMES = {
    "train": "training", "training": "training", "val": "validation", "valid": "validation",
    "validation": "validation", "test": "testing", "testing": "testing", "": "",
}


@dataclass(frozen=True)
class Clip:
    """One clip to import: its file, annotation id, label, split and time window (seconds into the file)."""

    source: Path
    clip: str
    label: str
    split: str = ""
    start: float = 0.0
    seconds: float | None = None  # None: to the end of the file
    audio: Path | None = None  # a separate sound file; ``source`` is then a still shown throughout
    origin: str = ""  # the CSV line that lists it (``FILE:LINE``), for messages


def _video_files(root: Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Video files (or files of ``extensions``) under ``root``, recursive, hidden entries skipped, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(
            Path(dirpath) / name
            for name in sorted(filenames)
            if not name.startswith(".") and Path(name).suffix.lower() in extensions
        )
    return found


def is_pairs_layout(src: str | os.PathLike[str]) -> bool:
    """Image + sound pairs, as test sets ship them: ``SRC/frames/<id>.jpg`` with ``SRC/audio/<id>.wav``."""
    return (Path(src) / "frames").is_dir() and (Path(src) / "audio").is_dir()


def _pair_audio(src: Path) -> dict[str, Path]:
    return {p.stem: p for p in _video_files(src / "audio", AUDIO_EXTENSIONS)}


def scan_pairs(
    src: str | os.PathLike[str], start: float = 0.0, seconds: float | None = None
) -> tuple[list[Clip], list[str]]:
    """Clips of an image + sound pair folder, labelled with the folder's name (labels come with --csv), and
    the names of images without a sound file."""
    root = Path(src)
    sounds = _pair_audio(root)
    images = _video_files(root / "frames", IMAGE_EXTENSIONS)
    clips = [
        Clip(image, image.stem, root.resolve().name, "", start, seconds, sounds[image.stem])
        for image in images
        if image.stem in sounds
    ]
    if not clips:
        raise DataError(f"{root}: no frames/<id>.jpg with a matching audio/<id>.wav (or .flac, .mp3, ...)")
    _check_unique(clips)
    return clips, [image.name for image in images if image.stem not in sounds]


def _check_unique(clips: Sequence[Clip]) -> None:
    seen: dict[str, Clip] = {}
    for clip in clips:
        first = seen.get(clip.clip)
        if first is not None and clip.origin:
            line = first.origin.rpartition(":")[2]
            same = "the same file" if first.source == clip.source else f"{first.source}"
            raise DataError(
                f"{clip.origin}: clip {clip.clip!r} is already listed on line {line} ({same}); clip ids must "
                "be unique because annotations refer to them"
            )
        if first is not None:
            raise DataError(
                f"{clip.source}: clip id {clip.clip!r} is also {first.source}; clip ids (file "
                "stems) must be unique because annotations refer to them"
            )
        seen[clip.clip] = clip


def scan_folder(src: str | os.PathLike[str], start: float = 0.0, seconds: float | None = None) -> list[Clip]:
    """Clips of the folder layout ``SRC/<label>/**/<clip>.<ext>`` (the label is the top folder's name)."""
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    if loose:
        raise DataError(
            f"{loose[0]}: videos must sit in label folders (SRC/<label>/{loose[0].name}); or pass --csv"
        )
    clips = [
        Clip(path, path.stem, label_dir.name, "", start, seconds)
        for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in _video_files(label_dir)
    ]
    if not clips:
        raise DataError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in SRC/<label>/ folders")
    _check_unique(clips)
    return clips


class _FileIndex:
    """Video files under SRC found by relative path, file name or stem."""

    def __init__(self, root: Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> None:
        self.root = root
        self.by_key: dict[str, list[Path]] = {}
        for path in _video_files(root, extensions):
            rel = path.relative_to(root).as_posix()
            for key in {rel, path.name, path.stem}:
                self.by_key.setdefault(key, []).append(path)

    def find(self, *names: str) -> Path | None:
        for name in names:
            hits = self.by_key.get(name.replace("\\", "/").strip("/"), [])
            if len(hits) > 1:
                raise DataError(f"{self.root}: {name!r} matches several files ({hits[0]}, {hits[1]})")
            if hits:
                return hits[0]
        return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_name(text: str, where: str) -> str:
    key = text.strip().lower()
    if key not in SPLIT_NAMES:
        raise DataError(f"{where}: unknown split {text!r} (use train, val or test)")
    return SPLIT_NAMES[key]


_HEADER_ALIASES = {
    "file": "file", "path": "file", "filename": "file", "video": "file", "youtube_id": "youtube_id",
    "ytid": "youtube_id", "label": "label", "class": "label", "split": "split", "start": "start",
    "start_seconds": "start", "seconds": "seconds", "duration": "seconds",
}


def read_clip_csv(
    csv_path: str | os.PathLike[str],
    src: str | os.PathLike[str],
    start: float = 0.0,
    seconds: float | None = None,
) -> tuple[list[Clip], list[str]]:
    """Clips of a CSV and the names of rows whose video is not under ``src`` (any depth).

    Forms: a header row of known column names (``file`` or ``youtube_id``, ``label``, optional ``split``,
    ``start``, ``seconds``); headerless ``file,label[,split]``; headerless VGGSound ``youtube_id,start,label,
    split``. ``file`` is a path relative to ``src``, a file name or a stem. A VGGSound row (or any row with
    ``youtube_id``) matches ``<id>_<start:06d>``, ``<id>_<start>`` (with or without an ``_<end>`` suffix),
    which are already cut and start at 0, or a full-length ``<id>`` file cut from ``start``; its clip id is
    ``<id>_<start:06d>`` (VGG-SS's key) and it lasts 10 s unless ``seconds`` says otherwise. Rows without
    a window take ``start``/``seconds``.
    """
    path = Path(csv_path)
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read clip CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: the CSV has no rows")
    first = [c.strip().lower() for c in rows[0]]
    if all(c in _HEADER_ALIASES for c in first):
        columns = [_HEADER_ALIASES[c] for c in first]
        body, line0 = rows[1:], 2
    elif len(first) == 4 and _is_number(first[1]) and not _is_number(first[2]):
        columns, body, line0 = ["youtube_id", "start", "label", "split"], rows, 1
    else:
        columns, body, line0 = ["file", "label", "split"][: len(first)], rows, 1
    if "label" not in columns or not ({"file", "youtube_id"} & set(columns)):
        raise DataError(f"{path}: expected columns file,label[,split] or youtube_id,start,label,split")
    pairs = is_pairs_layout(src)
    files = _FileIndex(Path(src) / "frames", IMAGE_EXTENSIONS) if pairs else _FileIndex(Path(src))
    sounds = _pair_audio(Path(src)) if pairs else {}
    clips: list[Clip] = []
    missing: list[str] = []
    for line, row in enumerate(body, start=line0):
        where = f"{path}:{line}"
        if len(row) != len(columns):
            raise DataError(f"{where}: expected {len(columns)} fields ({','.join(columns)}), got {len(row)}")
        rec = {k: v.strip() for k, v in zip(columns, row, strict=True)}
        if not rec["label"]:
            raise DataError(f"{where}: empty label")
        split = _split_name(rec.get("split", ""), where)
        try:
            row_start = float(rec["start"]) if rec.get("start") else None
            row_seconds = float(rec["seconds"]) if rec.get("seconds") else None
        except ValueError as exc:
            raise DataError(f"{where}: start and seconds must be numbers ({exc})") from exc
        if row_start is not None and not (math.isfinite(row_start) and row_start >= 0):
            raise DataError(f"{where}: start must be a number of seconds >= 0, got {rec['start']!r}")
        if row_seconds is not None and not (math.isfinite(row_seconds) and row_seconds > 0):
            raise DataError(f"{where}: seconds must be a number > 0, got {rec['seconds']!r}")
        if rec.get("youtube_id"):
            ytid, at = rec["youtube_id"], int(row_start or 0)
            clip_id = f"{ytid}_{at:06d}"
            end = at + VGGSOUND_SECONDS
            cut = files.find(clip_id, f"{ytid}_{at}", f"{clip_id}_{end:06d}", f"{ytid}_{at}_{end}")
            length = row_seconds or seconds or VGGSOUND_SECONDS
            if cut is not None:
                window = (0.0, row_seconds or seconds)
                clips.append(Clip(cut, clip_id, rec["label"], split, *window, origin=where))
            elif (full := files.find(ytid)) is not None:
                clips.append(Clip(full, clip_id, rec["label"], split, float(at), length, origin=where))
            else:
                missing.append(clip_id)
            continue
        found = files.find(rec["file"])
        if found is None or (pairs and found.stem not in sounds):
            missing.append(rec["file"])
            continue
        window = (start if row_start is None else row_start, seconds if row_seconds is None else row_seconds)
        clips.append(Clip(found, found.stem, rec["label"], split, *window, sounds.get(found.stem), where))
    _check_unique(clips)
    return clips, missing
