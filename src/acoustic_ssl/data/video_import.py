"""Ordinary video files -> the pipeline's per-second GZIP records (``acoustic-ssl import-video``).

Any container FFmpeg reads (mp4, mkv, webm, avi, mov), any frame rate, audio sample rate and channel count,
decoded with PyAV (FFmpeg's libraries ship inside its wheel; no system FFmpeg is needed). Each clip becomes
``OUT/class_K/data_NNN/Data_%03d.tfrecord``, one SequenceExample per whole second, as ``convert`` writes:

* ``video/image``: 12 frames per second, uint8 BGR, resized so the shorter side is 224 with the converter's
  OpenCV-compatible bicubic. Output frame ``i`` shows the source frame on screen at ``start + i/12`` s
  (sample and hold: the last decoded frame whose timestamp is ≤ that time; the first frame before it).
* ``audio/data``: mono at the sensor rate 12 288 Hz, 12 × 1024 int32 samples per second. Channels are averaged
  (FFmpeg's float samples, full scale ±1), resampled with ``scipy.signal.resample_poly`` at the exact
  rational ratio (Kaiser-windowed FIR, as the loader's 12 288 -> 22 050 Hz step) and scaled by 2^23, the
  simulator's 24-bit full scale (the loader normalises each sample by its peak anyway).
* no ``audio/image``: ordinary videos have no acoustic camera; only the audio+video networks apply.

A clip lasts its whole seconds (a shortfall of up to one sensor frame, 1/12 s, is padded: clips cut to
"10 s" are often a few milliseconds short). Clips shorter than one second, without an audio (or video) track,
or that FFmpeg cannot decode are skipped with one line each and counted in the summary.

Image + sound pairs (``SRC/frames/<id>.jpg`` with ``SRC/audio/<id>.wav``, as the Flickr-SoundNet and VGG-SS
test sets are shipped) import the same way: the still is every frame, the sound file sets the length.

Labels come from the folder layout ``SRC/<label>/**/*.mp4`` (pairs: the folder's name) or from a CSV
(``file,label[,split]``, a header row naming ``file, label, split, start, seconds`` columns, or VGGSound's
``youtube_id,start,label,split``).
``OUT/labels.json`` maps label names to class indices (sorted names; labels added by a later run get the next
indices, so existing records keep theirs). ``OUT/videos.csv`` lists every clip: class, location
(``data_NNN``), clip id (the annotation key: the file stem, or VGGSound's ``<youtube_id>_<start:06d>``),
label, split, source file, window, status and the source's frame size, frame rate, sample rate and channels.

Parallel over clips, resumable and atomic per clip: a clip is written into a hidden
``class_K/.data_NNN.partial`` folder that is renamed to ``data_NNN`` once every second is written, so an
interrupted run never leaves a half-imported clip; a finished ``data_NNN`` is kept by the next run, and stale
partial folders are removed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.labels import read_labels, write_labels
from acoustic_ssl.data.layout import (
    FRAMES_PER_SECOND,
    KEY_AUDIO,
    KEY_CLASS,
    KEY_LOCATION,
    KEY_VIDEO,
    SAMPLES_PER_FRAME,
    SENSOR_SAMPLE_RATE,
    record_name,
    video_dir_name,
)
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import atomic_path, progress

__all__ = [
    "INDEX_FILE",
    "VIDEO_EXTENSIONS",
    "Clip",
    "ImportSummary",
    "SkipClip",
    "decode_audio",
    "import_videos",
    "read_clip_csv",
    "read_index",
    "scan_folder",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # stills of image + sound pairs (SRC/frames, SRC/audio)
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
INDEX_FILE = "videos.csv"
FULL_SCALE = 2**23  # int32 value of a full-scale (±1.0) sample: the simulator's 24-bit word
TOLERANCE_SAMPLES = SAMPLES_PER_FRAME  # a clip short of its last whole second by ≤ 1/12 s is padded
VGGSOUND_SECONDS = 10  # VGGSound clips: 10 s from the CSV's start
SPLIT_NAMES = {
    "train": "training", "training": "training", "val": "validation", "valid": "validation",
    "validation": "validation", "test": "testing", "testing": "testing", "": "",
}
INDEX_COLUMNS = (
    "class", "location", "clip", "label", "split", "source", "audio", "start", "seconds", "status", "reason",
    "width", "height", "fps", "sample_rate", "channels",
)
_PARTIAL_SUFFIX = ".partial"


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

    def describe(self, out: Path) -> str:
        """The one-line summary the CLI prints."""
        skipped = sum(self.skipped.values())
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items()))
        parts = [
            f"{self.clips} clips: {self.imported} imported ({self.seconds} s of records written)",
            f"{self.present} already present",
            f"{skipped} skipped" + (f" ({detail})" if detail else ""),
        ]
        if self.not_found:
            parts.append(f"{self.not_found} entries without a video or sound file")
        return ", ".join(parts) + f"; {self.classes} classes -> {out}"


class SkipClip(Exception):
    """A clip that cannot be imported (``category`` counts it in the summary; the message says why)."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


# ------------------------------------------------------------------------------------------------- sources
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
        if clip.clip in seen:
            raise DataError(
                f"{clip.source}: clip id {clip.clip!r} is also {seen[clip.clip].source}; clip ids (file "
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
        if rec.get("youtube_id"):
            ytid, at = rec["youtube_id"], int(row_start or 0)
            clip_id = f"{ytid}_{at:06d}"
            end = at + VGGSOUND_SECONDS
            cut = files.find(clip_id, f"{ytid}_{at}", f"{clip_id}_{end:06d}", f"{ytid}_{at}_{end}")
            length = row_seconds or seconds or VGGSOUND_SECONDS
            if cut is not None:
                clips.append(Clip(cut, clip_id, rec["label"], split, 0.0, row_seconds or seconds))
            elif (full := files.find(ytid)) is not None:
                clips.append(Clip(full, clip_id, rec["label"], split, float(at), length))
            else:
                missing.append(clip_id)
            continue
        found = files.find(rec["file"])
        if found is None or (pairs and found.stem not in sounds):
            missing.append(rec["file"])
            continue
        window = (start if row_start is None else row_start, seconds if row_seconds is None else row_seconds)
        clips.append(Clip(found, found.stem, rec["label"], split, *window, sounds.get(found.stem)))
    _check_unique(clips)
    return clips, missing


# ------------------------------------------------------------------------------------------------ decoding
def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise SkipClip("undecodable", f"cannot open ({_ffmpeg_reason(exc)})") from exc


def _ffmpeg_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _origin(container: Any) -> float:
    """The file's time zero in seconds (its earliest stream start)."""
    return container.start_time / 1_000_000 if container.start_time is not None else 0.0


def _seek(container: Any, time_s: float) -> None:
    if time_s > 0:
        container.seek(int(time_s * 1_000_000), backward=True, any_frame=False)


def decode_audio(
    path: Path, start: float, seconds: float | None, need_video: bool = True
) -> tuple[np.ndarray, dict[str, Any]]:
    """Mono float64 samples at 12 288 Hz from ``start`` (up to ``seconds``), and the source's audio facts."""
    import av
    from scipy.signal import resample_poly

    from acoustic_ssl.data.audio import resample_filter

    with _open(path) as container:
        if not container.streams.audio:
            raise SkipClip("no audio", "no audio track")
        if need_video and not container.streams.video:
            raise SkipClip("no video", "no video track")
        stream = container.streams.audio[0]
        begin = _origin(container) + start
        stop = begin + seconds + 1.0 if seconds is not None else math.inf
        _seek(container, begin)
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        first_time = rate = channels = None
        try:
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= stop:
                    break
                if rate is None:
                    rate, channels = frame.sample_rate, len(frame.layout.channels)
                    first_time = frame.time if frame.time is not None else begin
                elif frame.sample_rate != rate:
                    change = f"{rate} -> {frame.sample_rate} Hz"
                    raise SkipClip("undecodable", f"audio sample rate changes ({change})")
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float64).mean(axis=0))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().astype(np.float64).mean(axis=0))
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"audio decoding failed ({_ffmpeg_reason(exc)})") from exc
    if rate is None or not chunks:
        raise SkipClip("no audio", "the audio track holds no samples")
    native = np.concatenate(chunks)
    offset = round((begin - first_time) * rate)
    native = native[offset:] if offset >= 0 else np.concatenate([np.zeros(-offset), native])
    if seconds is not None:
        native = native[: math.ceil((seconds + 1.0 / FRAMES_PER_SECOND) * rate)]
    g = math.gcd(SENSOR_SAMPLE_RATE, rate)
    up, down = SENSOR_SAMPLE_RATE // g, rate // g
    if native.size == 0 or (up, down) == (1, 1):
        mono = native
    else:
        mono = resample_poly(native, up, down, window=resample_filter(up, down))
    return mono, {"sample_rate": rate, "channels": channels}


def _probe(clip: Clip) -> dict[str, Any]:
    """Frame size, frame rate, sample rate and channels from the files' headers (empty if unreadable)."""
    try:
        with _open(clip.source) as container:
            video = container.streams.video[0]
            rate = video.average_rate or video.guessed_rate
            info = {"width": video.codec_context.width, "height": video.codec_context.height,
                    "fps": "" if clip.audio is not None or not rate else round(float(rate), 3)}
        with _open(clip.audio or clip.source) as container:
            audio = container.streams.audio[0]
            info.update(sample_rate=audio.codec_context.sample_rate, channels=audio.codec_context.channels)
        return info
    except (SkipClip, IndexError, AttributeError):
        return {}


def _still_frames(path: Path, count: int, info: dict[str, Any]) -> Iterator[np.ndarray]:
    """The image at ``path`` (BGR), ``count`` times: the video of an image + sound pair."""
    import av

    with _open(path) as container:
        try:
            frame = next(container.decode(video=0), None)
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"image decoding failed ({_ffmpeg_reason(exc)})") from exc
        if frame is None:
            raise SkipClip("undecodable", "the image holds no picture")
        info.update(width=frame.width, height=frame.height, fps="")
        still = frame.to_ndarray(format="bgr24")
    for _ in range(count):
        yield still


def _video_frames(path: Path, start: float, count: int, info: dict[str, Any]) -> Iterator[np.ndarray]:
    """Up to ``count`` BGR frames at 12 fps from ``start`` (sample and hold), at the source resolution.

    Output frame ``i`` is the last decoded frame with timestamp ≤ ``start + i/12`` (the first frame when none
    is yet); after the last frame, frames are emitted while it is on screen (its frame period) plus 1/12 s.
    Only emitted frames are converted to BGR.
    """
    import av

    eps = 1e-6
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        period = 1.0 / float(rate) if rate else 1.0 / 30
        info.update(width=stream.codec_context.width, height=stream.codec_context.height,
                    fps=round(float(rate), 3) if rate else "")
        begin = _origin(container) + start
        _seek(container, begin)

        def due(i: int) -> float:
            return begin + i / FRAMES_PER_SECOND

        emitted, held, held_time = 0, None, begin
        held_bgr: np.ndarray | None = None
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else held_time + period
                while held is not None and emitted < count and due(emitted) + eps < time:
                    if held_bgr is None:
                        held_bgr = held.to_ndarray(format="bgr24")
                    yield held_bgr
                    emitted += 1
                if emitted >= count:
                    return
                held, held_time, held_bgr = frame, time, None
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"video decoding failed ({_ffmpeg_reason(exc)})") from exc
        end = held_time + period + 1.0 / FRAMES_PER_SECOND
        while held is not None and emitted < count and due(emitted) + eps < end:
            if held_bgr is None:
                held_bgr = held.to_ndarray(format="bgr24")
            yield held_bgr
            emitted += 1


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
        return ClipResult(job, "present", seconds=_records_in(target), info=_probe(job.clip))
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
        frames = (_still_frames(clip.source, count, info) if clip.audio is not None
                  else _video_frames(clip.source, clip.start, count, info))
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
    if start < 0 or (seconds is not None and seconds <= 0):
        raise DataError(f"--start must be >= 0 and --seconds > 0 (got {start}, {seconds})")
    src_root, out = Path(src).resolve(), Path(out_dir)
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
    out.mkdir(parents=True, exist_ok=True)
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
    return ImportSummary(
        clips=len(jobs),
        imported=sum(r.status == "imported" for r in results),
        present=sum(r.status == "present" for r in results),
        skipped=dict(skipped),
        seconds=sum(r.seconds for r in results if r.status == "imported"),
        not_found=len(missing),
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
