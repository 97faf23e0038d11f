"""Ordinary video files -> the pipeline's per-second GZIP records (``acoustic-ssl import-video``).

Any container FFmpeg reads (mp4, mkv, webm, avi, mov), any frame rate, audio sample rate and channel count,
decoded with PyAV (``video_decode``; FFmpeg's libraries ship inside its wheel, no system FFmpeg is needed);
clips and labels come from the folder layout, image + sound pairs or a CSV (``video_sources``). Each clip
becomes ``OUT/class_K/data_NNN/Data_%03d.tfrecord``, one SequenceExample per whole second, as ``convert``
writes:

* ``video/image``: 12 frames per second, uint8 BGR, resized so the shorter side is 224 with the converter's
  OpenCV-compatible bicubic;
* ``audio/data``: mono at the sensor rate 12 288 Hz, 12 × 1024 int32 samples per second, full scale ±1.0 ->
  ±2^23, the simulator's 24-bit scale (the loader normalises each sample by its peak anyway);
* no ``audio/image``: ordinary videos have no acoustic camera; only the audio+video networks apply.

A clip lasts its whole seconds (a shortfall of up to one sensor frame, 1/12 s, is padded: clips cut to
"10 s" are often a few milliseconds short). Clips shorter than one second, without an audio (or video) track,
truncated, with NaN or infinite audio, that FFmpeg cannot decode, or whose file name is not valid UTF-8 (it
could not be written to ``videos.csv``) are skipped with one line each and counted in the summary; an import
in which no clip is imported or already present fails.

``OUT/labels.json`` maps label names to class indices (sorted names; labels added by a later run get the next
indices, so existing records keep theirs). ``OUT/videos.csv`` lists every clip: class, location
(``data_NNN``), clip id (the annotation key), label, split, source file(s), window, status and the source's
frame size, frame rate, sample rate and channels.

Parallel over clips, resumable and atomic per clip: a clip is written into a hidden
``class_K/.data_NNN.partial`` folder that is renamed to ``data_NNN`` once every second is written, so an
interrupted run never leaves a half-imported clip; a finished ``data_NNN`` is kept by the next run, and stale
partial folders are removed. A ``class_K/data_NNN`` that ``videos.csv`` does not list (records of another
origin) is refused before anything is written, and the output folder is locked for the run
(``io_utils.folder_lock``): a second import into it stops at once, naming the first.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.labels import read_labels, write_labels
from acoustic_ssl.data.layout import (
    FRAMES_PER_SECOND,
    IMPORT_INDEX_FILE,
    KEY_AUDIO,
    KEY_CLASS,
    KEY_LOCATION,
    KEY_VIDEO,
    SAMPLES_PER_FRAME,
    SENSOR_SAMPLE_RATE,
    record_name,
    video_dir_name,
)
from acoustic_ssl.data.video_decode import SkipClip, decode_audio, probe, still_frames, video_frames
from acoustic_ssl.data.video_sources import Clip, is_pairs_layout, read_clip_csv, scan_folder, scan_pairs
from acoustic_ssl.errors import DataError, printable_path
from acoustic_ssl.io_utils import atomic_path, folder_lock, progress

__all__ = ["INDEX_FILE", "ImportSummary", "import_clip", "import_videos", "make_import_lists", "read_index"]

INDEX_FILE = IMPORT_INDEX_FILE
FULL_SCALE = 2**23  # int32 value of a full-scale (±1.0) sample: the simulator's 24-bit word
TOLERANCE_SAMPLES = SAMPLES_PER_FRAME  # a clip short of its last whole second by ≤ 1/12 s is padded
INDEX_COLUMNS = (
    "class", "location", "clip", "label", "split", "source", "audio", "start", "seconds", "status", "reason",
    "width", "height", "fps", "sample_rate", "channels",
)
_PARTIAL_SUFFIX = ".partial"
NOT_UTF8 = "file name not UTF-8"


@dataclass(frozen=True)
class Job:
    """A clip with its place in the records tree."""

    clip: Clip
    class_index: int
    location: int


@dataclass
class ClipResult:
    """What importing one clip did; ``status`` is ``imported``, ``present`` or ``skipped``."""

    job: Job
    status: str
    reason: str = ""
    category: str = ""
    seconds: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportSummary:
    """Counts of an import: clips seen, imported now, already present, skipped per reason, not found."""

    clips: int
    imported: int
    present: int
    skipped: dict[str, int]
    seconds: int
    not_found: int
    classes: int

    def skips(self) -> str:
        """``3 skipped (no audio 1, truncated 2)``."""
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items()))
        return f"{sum(self.skipped.values())} skipped" + (f" ({detail})" if detail else "")

    def describe(self, out: Path) -> str:
        """The one-line summary the CLI prints."""
        parts = [
            f"{self.clips} clips: {self.imported} imported ({self.seconds} s of records written)",
            f"{self.present} already present",
            self.skips(),
        ]
        if self.not_found:
            parts.append(f"{self.not_found} entries without a video or sound file")
        return ", ".join(parts) + f"; {self.classes} classes -> {out}"


# ------------------------------------------------------------------------------------------------- writing
def _partial_dir(target: Path) -> Path:
    return target.parent / f".{target.name}{_PARTIAL_SUFFIX}"


def _records_in(folder: Path) -> int:
    return sum(1 for _ in folder.glob("Data_*.tfrecord"))


def import_clip(job: Job, out_root: Path) -> ClipResult:
    """Import one clip into ``out_root/class_K/data_NNN`` (atomically, via a hidden partial folder).

    A clip FFmpeg cannot read, without audio or video, or shorter than one second is a ``skipped`` result;
    any other error (a full disk, say) removes the partial folder and propagates.
    """
    import torch

    from acoustic_ssl.data.convert import resize_bicubic, resized_shape
    from acoustic_ssl.data.tfrecord import write_record

    torch.set_num_threads(1)  # parallelism is over clips
    target = out_root / video_dir_name(job.class_index, job.location)
    if target.is_dir():
        return ClipResult(job, "present", seconds=_records_in(target), info=probe(job.clip))
    partial = _partial_dir(target)
    shutil.rmtree(partial, ignore_errors=True)
    clip, info = job.clip, {}
    try:
        audio, audio_info = decode_audio(clip.audio or clip.source, clip.start, clip.seconds,
                                         need_video=clip.audio is None)
        info.update(audio_info)
        whole = (audio.size + TOLERANCE_SAMPLES) // SENSOR_SAMPLE_RATE
        if clip.seconds is not None:
            whole = min(whole, math.floor(clip.seconds + 1e-9))
        if whole < 1:
            raise SkipClip(
                "shorter than 1 s", f"shorter than 1 s ({audio.size / SENSOR_SAMPLE_RATE:.2f} s of audio)"
            )
        samples = np.zeros(whole * SENSOR_SAMPLE_RATE)
        samples[: min(audio.size, samples.size)] = audio[: samples.size]
        ints = np.clip(np.round(samples * FULL_SCALE), -(2**31), 2**31 - 1).astype(np.int32)
        ints = ints.reshape(whole, FRAMES_PER_SECOND, SAMPLES_PER_FRAME)
        written, second = 0, []
        count = whole * FRAMES_PER_SECOND
        frames = (still_frames(clip.source, count, info) if clip.audio is not None
                  else video_frames(clip.source, clip.start, count, info))
        for frame in frames:
            if second and frame.shape != second[0].shape:
                raise SkipClip("undecodable", f"frame size changes ({second[0].shape} -> {frame.shape})")
            second.append(frame)
            if len(second) < FRAMES_PER_SECOND:
                continue
            frames = np.stack(second)
            second = []
            record = {
                KEY_CLASS: job.class_index,
                KEY_LOCATION: job.location,
                KEY_AUDIO: ints[written],
                KEY_VIDEO: resize_bicubic(frames, resized_shape(*frames.shape[1:3])),
            }
            write_record(partial / record_name(written + 1), record)
            written += 1
        if written < 1:
            raise SkipClip("shorter than 1 s", "shorter than 1 s of video")
        os.replace(partial, target)
    except SkipClip as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return ClipResult(job, "skipped", str(exc), exc.category, info=info)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return ClipResult(job, "imported", seconds=written, info=info)


# --------------------------------------------------------------------------------------------------- index
def read_index(out_dir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of ``OUT/videos.csv`` (empty when there is none)."""
    path = Path(out_dir) / INDEX_FILE
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the import index ({exc})") from exc
    if rows and not {"class", "location", "clip", "label"} <= set(rows[0]):
        raise DataError(f"{path}: not an import index (needs class, location, clip, label columns)")
    return rows


def _write_index(out_dir: Path, rows: dict[str, dict[str, Any]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows.values(), key=lambda r: (int(r["class"]), int(r["location"]))):
        writer.writerow({k: row.get(k, "") for k in INDEX_COLUMNS})
    with atomic_path(out_dir / INDEX_FILE) as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8")


def _index_row(job: Job, status: str, reason: str = "", info: dict[str, Any] | None = None) -> dict[str, Any]:
    clip = job.clip
    return {
        "class": job.class_index, "location": job.location, "clip": clip.clip, "label": clip.label,
        "split": clip.split, "source": str(clip.source), "audio": str(clip.audio or ""),
        "start": f"{clip.start:g}",
        "seconds": "" if clip.seconds is None else f"{clip.seconds:g}", "status": status, "reason": reason,
        **(info or {}),
    }


def _plan(clips: Sequence[Clip], out: Path) -> tuple[list[Job], dict[str, int], dict[str, dict[str, Any]]]:
    """Class indices and ``data_NNN`` numbers: kept from an earlier import, new ones appended."""
    labels = dict(read_labels(out) or {})
    for name in sorted({c.label for c in clips} - set(labels)):
        labels[name] = max(labels.values(), default=-1) + 1
    rows = {row["clip"]: dict(row) for row in read_index(out)}
    used: dict[int, set[int]] = {}
    for row in rows.values():
        used.setdefault(int(row["class"]), set()).add(int(row["location"]))
    jobs = []
    for clip in sorted(clips, key=lambda c: (labels[c.label], c.clip)):
        class_index = labels[clip.label]
        previous = rows.get(clip.clip)
        if previous is not None:
            if int(previous["class"]) != class_index:
                raise DataError(
                    f"{out / INDEX_FILE}: clip {clip.clip!r} was imported as {previous['label']!r}, now "
                    f"labelled {clip.label!r}; import into a new folder (or delete its data folder and row)"
                )
            location = int(previous["location"])
        else:
            taken = used.setdefault(class_index, set())
            location = max(taken, default=-1) + 1
            taken.add(location)
        job = Job(clip, class_index, location)
        jobs.append(job)
        keep = previous if previous is not None and previous.get("status") == "imported" else None
        rows[clip.clip] = keep or _index_row(job, "pending")
    return jobs, labels, rows


def _check_no_foreign_records(out: Path, rows: Sequence[dict[str, str]]) -> None:
    """Refuse an output holding ``class_K/data_NNN`` folders that ``videos.csv`` does not list: records of
    another origin (``convert``, a copy) would be taken for imported clips and indexed as another video."""
    listed = {video_dir_name(int(row["class"]), int(row["location"])) for row in rows}
    for folder in sorted(out.glob("class_*/data_*")):
        name = folder.relative_to(out)
        if folder.is_dir() and name not in listed:
            index = "not listed in" if (out / INDEX_FILE).is_file() else "there is no"
            raise DataError(
                f"{out}: holds records that import-video did not write ({name}; {index} {INDEX_FILE}); "
                "import into a new folder"
            )


def _has_utf8_names(clip: Clip) -> bool:
    """Whether the names that ``videos.csv`` and ``labels.json`` record for ``clip`` are valid UTF-8."""
    try:
        for text in (str(clip.source), str(clip.audio or ""), clip.label, clip.clip):
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _remove_debris(out: Path) -> None:
    """Partial folders of an interrupted run (never complete records)."""
    for partial in out.glob(f"class_*/.data_*{_PARTIAL_SUFFIX}"):
        shutil.rmtree(partial, ignore_errors=True)


def _remove_empty_class_dirs(out: Path) -> None:
    for class_dir in out.glob("class_*"):
        if class_dir.is_dir() and not any(class_dir.iterdir()):
            class_dir.rmdir()


def _say(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def import_videos(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    csv_path: str | os.PathLike[str] | None = None,
    start: float = 0.0,
    seconds: float | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import the clips of ``src`` (folder layout, or the rows of ``csv_path``) as records under ``out_dir``.

    Writes ``labels.json`` and ``videos.csv`` first (so a resumed run numbers clips the same way), then the
    clips in ``workers`` processes (default: CPUs), then the final ``videos.csv``. One line per skipped clip
    goes to stderr; the summary counts them.
    """
    bad_seconds = seconds is not None and not (math.isfinite(seconds) and seconds > 0)
    if not (math.isfinite(start) and start >= 0) or bad_seconds:
        raise DataError(f"--start must be >= 0 and --seconds > 0 (got {start}, {seconds})")
    src_root, out = Path(src).resolve(), Path(out_dir)
    if out.resolve() == src_root:
        raise DataError(f"{out}: the output is SRC itself; write the records to another folder")
    if csv_path is not None:
        clips, missing = read_clip_csv(csv_path, src_root, start, seconds)
        if not clips:
            raise DataError(f"{csv_path}: none of its {len(missing)} rows has a video file under {src_root}")
        lacking = f"{csv_path}: {len(missing)} rows have no video file under {src_root}"
    elif is_pairs_layout(src_root):
        clips, missing = scan_pairs(src_root, start, seconds)
        lacking = f"{src_root}: {len(missing)} frames have no sound file in audio/"
    else:
        clips, missing = scan_folder(src_root, start, seconds), []
    if missing:
        _say(f"{lacking} ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    unnamed = [clip for clip in clips if not _has_utf8_names(clip)]
    for clip in unnamed:
        _say(f"skip {printable_path(clip.source)}: the file or folder name is not valid UTF-8 (videos.csv "
             "and labels.json are UTF-8 text); rename it")
    clips = [clip for clip in clips if _has_utf8_names(clip)]
    if not clips:
        raise DataError(f"{src_root}: nothing to import: every file name is not valid UTF-8; rename them")
    _check_no_foreign_records(out, read_index(out))  # before the lock: nothing is created in a foreign folder
    with folder_lock(out, "import-video"):
        summary = _import(clips, out, workers, len(missing), len(unnamed))
    if summary.imported + summary.present == 0:
        raise DataError(
            f"{src_root}: none of the {summary.clips} clips could be imported ({summary.skips()}; "
            f"{out / INDEX_FILE} lists why)"
        )
    return summary


def _import(clips: list[Clip], out: Path, workers: int | None, missing: int, unnamed: int) -> ImportSummary:
    """The locked part of ``import_videos``: plan, import, index."""
    _remove_debris(out)
    jobs, labels, rows = _plan(clips, out)
    write_labels(out, labels)
    _write_index(out, rows)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    results: list[ClipResult] = []

    def record(result: ClipResult) -> None:
        results.append(result)
        if result.status == "skipped":
            _say(f"skip {result.job.clip.source}: {result.reason}")
            rows[result.job.clip.clip] = _index_row(result.job, "skipped", result.reason, result.info)
        elif result.status == "imported" or rows[result.job.clip.clip].get("status") != "imported":
            # imported now, or by a run killed before it could write the index
            rows[result.job.clip.clip] = _index_row(result.job, "imported", "", result.info)

    try:
        if workers == 1:
            for job in progress(jobs, desc="import-video", unit="clip"):
                record(import_clip(job, out))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(import_clip, job, out) for job in jobs]
                try:
                    for future in progress(as_completed(futures), desc="import-video", total=len(futures),
                                           unit="clip"):
                        record(future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        _write_index(out, rows)
        _remove_empty_class_dirs(out)
    skipped = Counter(r.category for r in results if r.status == "skipped")
    if unnamed:
        skipped[NOT_UTF8] = unnamed
    return ImportSummary(
        clips=len(jobs) + unnamed,
        imported=sum(r.status == "imported" for r in results),
        present=sum(r.status == "present" for r in results),
        skipped=dict(skipped),
        seconds=sum(r.seconds for r in results if r.status == "imported"),
        not_found=missing,
        classes=len(labels),
    )


# --------------------------------------------------------------------------------------------------- lists
def make_import_lists(
    records_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    total_length: int = 2,
) -> dict[str, list[Path]]:
    """Split lists that follow the splits of the import CSV (``videos.csv``'s ``split`` column).

    Clips marked test go to testing, val to validation. When the CSV names no validation clips (VGGSound has
    only train and test), each class's training clips are shuffled with ``seed`` and a share
    ``VAL / (TRAIN + VAL)`` of ``fractions`` (at least one of two or more) moves to validation. Each clip is
    listed from its first second, cut to a multiple of ``total_length`` (shorter clips are left out).
    """
    from acoustic_ssl.data.lists import SPLITS, _video_records, write_list

    root = Path(records_root).resolve()
    rows = [r for r in read_index(root) if r.get("status") == "imported"]
    if not rows:
        raise DataError(f"{root / INDEX_FILE}: no imported clips (is this an import-video folder?)")
    unsplit = [r["clip"] for r in rows if not r.get("split")]
    if unsplit:
        raise DataError(
            f"{root / INDEX_FILE}: {len(unsplit)} clips have no split (first: {unsplit[0]}); the CSV needs a "
            "split column, or make lists by --fractions without --splits-from-import"
        )
    carve = not any(r["split"] == "validation" for r in rows)
    val_share = fractions[1] / (fractions[0] + fractions[1]) if fractions[0] + fractions[1] > 0 else 0.0
    by_class: dict[int, dict[str, list[tuple[int, list[Path]]]]] = {}
    for row in rows:
        records = _video_records(root / video_dir_name(int(row["class"]), int(row["location"])))
        usable = len(records) // total_length * total_length
        if usable:
            entry = (int(row["location"]), records[:usable])
            by_class.setdefault(int(row["class"]), {}).setdefault(row["split"], []).append(entry)
    splits: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for class_index in sorted(by_class):
        videos = by_class[class_index]
        if carve and len(videos.get("training", [])) >= 2:
            train = sorted(videos["training"])
            order = np.random.default_rng([seed, class_index]).permutation(len(train))
            n_val = min(len(train) - 1, max(1, round(len(train) * val_share)))
            videos["validation"] = [train[i] for i in order[:n_val]]
            videos["training"] = [train[i] for i in order[n_val:]]
        for name in SPLITS:
            for _, records in sorted(videos.get(name, [])):
                splits[name].extend(records)
    for name, paths in splits.items():
        write_list(Path(out_dir) / f"{name}.txt", paths)
    return splits
