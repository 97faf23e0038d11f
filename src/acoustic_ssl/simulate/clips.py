"""User-supplied sounds for the simulator (``simulate --sounds``): real mono clips instead of the procedural
models.

Two layouts:

* a folder with one subfolder per class, named by the class index (``4``) or name (``drill``, ``hair_dryer``,
  ``hair dryer``, ``hoover``, ...; case, spaces, ``_`` and ``-`` do not matter), holding audio files (WAV,
  FLAC, OGG, AIFF, MP3; nested folders too);
* a metadata CSV in the style of ESC-50 (``filename,fold,target,category,...``) or UrbanSound8K
  (``slice_file_name,fsID,...,fold,classID,class``): the file column is the first of ``filename``,
  ``slice_file_name``, ``file``, ``path``; each row's label (``category`` / ``class`` / ``label`` /
  ``target`` / ``classID``) is mapped to a simulator class by a small table (``DEFAULT_TABLE``, by category
  name; ``--sound-map`` replaces it: a CSV ``label,class`` with the label as written in the metadata and the
  class as index or name). Rows whose label is not in the table are skipped. A file is looked for next to the
  CSV, in ``audio/``, in ``audio/fold<fold>/`` and in the same places one folder up (the datasets' layouts).

Each clip is mixed to mono, resampled to 12 288 Hz (``data.audio.resample``: librosa's kaiser_best), then
cut at a random offset, or looped with a 20-ms crossfade at the seam when shorter than the video, and scaled
to unit RMS: the scene sets its level exactly as for a procedural sound. Classes without clips keep the
procedural model. The clip used (path relative to the sounds folder, and start offset) is written to the
ground truth.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.audio import resample
from acoustic_ssl.data.layout import CLASS_NAMES, NUM_CLASSES, SENSOR_SAMPLE_RATE
from acoustic_ssl.errors import DataError, describe_non_finite

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3")
FILE_COLUMNS = ("filename", "slice_file_name", "file", "path")
NAME_COLUMNS = ("category", "class", "label")
INDEX_COLUMNS = ("target", "classid")
CROSSFADE_S = 0.02
ALIASES = {"hairdryer": 6, "vacuum cleaner": 7, "vacuum": 7, "cart": 8, "shoppingcart": 8, "car traffic": 9}
# ESC-50 categories and UrbanSound8K classes that sound like a simulator class (override with --sound-map).
DEFAULT_TABLE: dict[str, int] = {
    "train": 0,
    "helicopter": 2,  # rotor blade-pass harmonics, as a drone's
    "pouring_water": 3,
    "water_drops": 3,
    "chainsaw": 4,
    "drilling": 4,
    "jackhammer": 4,
    "vacuum_cleaner": 7,
    "engine": 9,
    "engine_idling": 9,
    "car_horn": 9,
}


class SilentClipError(DataError):
    """A clip that reads but holds no sound: a library may leave it out (a note) rather than stop."""


def class_of(name: str) -> int | None:
    """Class index of a folder or table name (index, or class name in any case/spacing), or None."""
    text = re.sub(r"[\s_\-]+", " ", name.strip().lower())
    if text.isdigit():
        return int(text) if int(text) < NUM_CLASSES else None
    names = {n: i for i, n in enumerate(CLASS_NAMES)}
    return names.get(text, ALIASES.get(text, ALIASES.get(text.replace(" ", ""))))


@dataclass(frozen=True)
class SoundBank:
    """Clips per class (absolute paths, sorted) and the folder their names in the ground truth are relative
    to."""

    root: str
    clips: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"root": self.root, "clips_per_class": {str(c): len(v) for c, v in sorted(self.clips.items())}}

    def signal(
        self, class_index: int, n_samples: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, str, float]:
        """A unit-RMS signal of ``n_samples`` at 12 288 Hz from a random clip of the class: (signal, clip name
        relative to the root, start offset in seconds)."""
        paths = self.clips[class_index]
        path = paths[int(rng.integers(len(paths)))]
        signal, start_s = clip_signal(path, n_samples, rng)
        name = str(Path(path).relative_to(self.root)) if Path(path).is_relative_to(self.root) else path
        return signal, name, start_s


def clip_signal(path: str, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A unit-RMS stretch of ``n_samples`` of a clip, cut at a random offset or looped with a crossfade when
    the clip is shorter: (signal, start offset in seconds)."""
    clip = load_clip(path)
    if len(clip) >= n_samples:
        start = int(rng.integers(len(clip) - n_samples + 1))
        signal = clip[start : start + n_samples]
    else:
        loop = _seamless_loop(clip)
        start = int(rng.integers(len(loop)))
        signal = loop[(start + np.arange(n_samples)) % len(loop)]
    rms = float(np.sqrt(np.mean(signal**2)))
    if rms < 1e-9:  # a silent stretch of a clip with silence in it: take the whole clip's level instead
        rms = float(np.sqrt(np.mean(clip**2)))
    return signal / rms, start / SENSOR_SAMPLE_RATE


def _seamless_loop(clip: np.ndarray) -> np.ndarray:
    """The clip shortened by a crossfade length, its start crossfaded with its end (no click when
    repeated)."""
    fade = min(int(CROSSFADE_S * SENSOR_SAMPLE_RATE), len(clip) // 4)
    if fade < 2:
        return clip
    loop = clip[: len(clip) - fade].copy()
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade) ** 2
    loop[:fade] = ramp * clip[:fade] + (1.0 - ramp) * clip[len(clip) - fade :]
    return loop


@functools.lru_cache(maxsize=256)
def load_clip(path: str) -> np.ndarray:
    """Mono float64 at 12 288 Hz (read-only, cached per process)."""
    import soundfile

    try:
        data, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot read audio clip ({exc})") from exc
    problem = describe_non_finite(data, ("sample", "channel"))
    if problem is not None:
        raise DataError(f"{path}: audio clip: {problem}")
    mono = data.mean(axis=1)
    if len(mono) == 0 or np.abs(mono).max() == 0.0:
        raise SilentClipError(f"{path}: audio clip is empty or silent")
    if rate != SENSOR_SAMPLE_RATE:
        ratio = Fraction(SENSOR_SAMPLE_RATE, int(rate)).limit_denominator(10000)
        mono = resample(mono, ratio.numerator, ratio.denominator)
    mono.setflags(write=False)
    return mono


def open_sounds(source: str | Path, table_path: str | Path | None = None) -> SoundBank:
    """The clips of a class-folder tree or of an ESC-50/UrbanSound8K-style metadata CSV (module docstring)."""
    source = Path(source)
    if source.is_dir():
        if table_path is not None:
            raise DataError(
                f"{source}: --sound-map applies to a metadata CSV, not to a folder of class folders"
            )
        return _from_folders(source)
    if source.is_file():
        return _from_csv(source, _read_table(Path(table_path)) if table_path else DEFAULT_TABLE)
    raise DataError(f"{source}: no such sounds folder or metadata CSV")


def _audio_files(folder: Path) -> list[str]:
    return sorted(str(p.resolve()) for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _from_folders(root: Path) -> SoundBank:
    clips: dict[int, tuple[str, ...]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        index = class_of(folder.name)
        if index is None:
            raise DataError(
                f"{folder}: folder name is not a class (0-{NUM_CLASSES - 1} or one of "
                f"{', '.join(CLASS_NAMES)})"
            )
        files = _audio_files(folder)
        if files:
            clips[index] = tuple(sorted(set(clips.get(index, ())) | set(files)))
    if not clips:
        raise DataError(f"{root}: no audio clips in class folders (e.g. {root}/drill/*.wav)")
    return SoundBank(str(root.resolve()), clips)


def _read_table(path: Path) -> dict[str, int]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read sound map ({exc})") from exc
    table: dict[str, int] = {}
    for line_no, row in enumerate(rows, start=1):
        if line_no == 1 and [c.strip().lower() for c in row] == ["label", "class"]:
            continue
        index = class_of(row[1]) if len(row) == 2 else None
        if index is None:
            raise DataError(f"{path}: line {line_no}: expected 'label,class' with a class index or name")
        table[row[0].strip()] = index
    return table


def _from_csv(path: Path, table: dict[str, int]) -> SoundBank:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read sounds metadata ({exc})") from exc
    columns = {name.strip().lower(): name for name in (rows[0].keys() if rows else [])}
    file_column = next((columns[c] for c in FILE_COLUMNS if c in columns), None)
    label_columns = [columns[c] for c in (*NAME_COLUMNS, *INDEX_COLUMNS) if c in columns]
    if file_column is None or not label_columns:
        raise DataError(
            f"{path}: metadata CSV needs a file column ({', '.join(FILE_COLUMNS)}) and a label "
            f"column ({', '.join(NAME_COLUMNS + INDEX_COLUMNS)})"
        )
    clips: dict[int, list[str]] = {}
    for line_no, row in enumerate(rows, start=2):
        labels = [str(row[c]).strip() for c in label_columns]
        index = next((table[label] for label in labels if label in table), None)
        if index is None:
            continue
        found = _find_clip(
            path.parent, str(row[file_column]).strip(), str(row.get(columns.get("fold", ""), ""))
        )
        if found is None:
            raise DataError(
                f"{path}: line {line_no}: audio file {row[file_column]!r} not found next to the CSV, "
                "in audio/ or audio/fold<fold>/"
            )
        clips.setdefault(index, []).append(str(found.resolve()))
    if not clips:
        raise DataError(f"{path}: no row's label is in the sound map ({', '.join(sorted(table))})")
    root = path.parent.parent if path.parent.name.lower() in ("meta", "metadata") else path.parent
    return SoundBank(str(root.resolve()), {c: tuple(sorted(v)) for c, v in sorted(clips.items())})


def _find_clip(folder: Path, name: str, fold: str) -> Path | None:
    for base in (folder, folder.parent):
        for candidate in (base / name, base / "audio" / name, base / "audio" / f"fold{fold}" / name):
            if candidate.is_file():
                return candidate
    return None
