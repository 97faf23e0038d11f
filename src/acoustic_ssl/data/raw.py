"""Readers for the ACIVW raw layout: ``class_K/data_NNN/{audio, MFCC_Image, video, video_time.txt}``.

Every error names the file or folder at fault, so a broken recording in a large dataset is found quickly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import (
    ACOUSTIC_SHAPE,
    AUDIO_DIR,
    AUDIO_FRAME_NAME,
    FRAMES_PER_SECOND,
    MFCC_DIR,
    MFCC_FRAME_NAME,
    NUM_MICS,
    SAMPLES_PER_FRAME,
    VIDEO_DIR,
    VIDEO_FRAME_NAME,
    VIDEO_TIME_FILE,
    Modality,
    audio_frame_path,
    mfcc_frame_path,
    video_frame_path,
)
from acoustic_ssl.errors import DataError, describe_non_finite

__all__ = [
    "RawVideo",
    "dc_frames",
    "dc_num_mics",
    "iter_video_dirs",
    "read_bmp",
    "read_dc",
    "read_mfcc_mat",
    "read_video_seconds",
    "scan_video_dir",
]

_CLASS_RE = re.compile(r"^class_(\d+)$")
_DATA_RE = re.compile(r"^data_(\d+)$")
_FRAME_PATTERNS = {
    AUDIO_DIR: (AUDIO_FRAME_NAME, audio_frame_path),
    MFCC_DIR: (MFCC_FRAME_NAME, mfcc_frame_path),
    VIDEO_DIR: (VIDEO_FRAME_NAME, video_frame_path),
}


def read_dc(path: Path, num_mics: int = NUM_MICS) -> np.ndarray:
    """One audio frame: int32 little endian, sample-interleaved on disk -> (128 mics, 1024 samples); other
    arrays simulated with ``simulate --array`` have ``num_mics`` channels. The only ``.dc`` reader: the
    converter and ``beamform`` both read frames with it."""
    try:
        data = np.fromfile(path, dtype="<i4")
    except OSError as exc:
        raise DataError(f"{path}: cannot read audio frame ({exc.strerror})") from exc
    expected = num_mics * SAMPLES_PER_FRAME
    if data.size != expected:
        raise DataError(
            f"{path}: audio frame has {data.size} int32 values, expected {expected} ({num_mics} x 1024)"
        )
    return data.reshape((num_mics, SAMPLES_PER_FRAME), order="F").astype(np.int32, copy=False)


def dc_frames(folder: Path) -> list[tuple[int, Path]]:
    """``(frame number, path)`` of the ``A_%06d.dc`` frames in ``folder`` (``layout.AUDIO_FRAME_NAME``), in
    numeric order."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the audio frames ({exc.strerror})") from exc
    return sorted((int(m.group(1)), p) for p in entries if (m := AUDIO_FRAME_NAME.match(p.name)))


def dc_num_mics(path: Path) -> int:
    """Microphones of the array that wrote a ``.dc`` frame, from its size (M × 1024 int32; the DualCam's
    128 when the size is no whole number of channels, so that ``read_dc`` names the file at fault)."""
    size = path.stat().st_size if path.is_file() else 0
    frame_bytes = 4 * SAMPLES_PER_FRAME
    return size // frame_bytes if size and size % frame_bytes == 0 else NUM_MICS


def _read_mat_v5(path: Path) -> np.ndarray | None:
    """The MFCC variable of a MATLAB v4-v7.2 file, or None when the file is v7.3 (HDF5)."""
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, variable_names=["MFCC"])
    except NotImplementedError:  # scipy's signal for v7.3 files
        return None
    except Exception as exc:  # garbage raises anything from MatReadError to IndexError
        if _is_hdf5(path):
            return None
        raise DataError(f"{path}: not a readable MATLAB file ({_describe(exc)})") from exc
    if "MFCC" not in contents:
        raise DataError(f"{path}: MATLAB file has no variable 'MFCC'")
    return np.asarray(contents["MFCC"])


def _describe(exc: Exception) -> str:
    """An exception as one short phrase: its message, or its type when it has none (IndexError())."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(520)
    except OSError as exc:
        raise DataError(f"{path}: cannot read acoustic image file ({exc.strerror})") from exc
    return b"\x89HDF\r\n\x1a\n" in head


def _read_mat_v73(path: Path) -> np.ndarray:
    """The MFCC variable of a MATLAB v7.3 file; HDF5 holds MATLAB's column-major arrays with axes reversed."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "MFCC" not in handle:
                raise DataError(f"{path}: MATLAB v7.3 file has no variable 'MFCC'")
            stored = handle["MFCC"][()]
    except DataError:
        raise
    except Exception as exc:  # h5py reports damage as OSError, KeyError, TypeError, ...
        raise DataError(f"{path}: not a readable MATLAB v7.3 file ({_describe(exc)})") from exc
    return np.asarray(stored).transpose()


def read_mfcc_mat(path: Path) -> np.ndarray:
    """One acoustic image (variable ``MFCC``) as float32 (36 rows, 48 cols, 12 MFCC), MATLAB v5 or v7.3."""
    if not Path(path).is_file():
        raise DataError(f"{path}: acoustic image file is missing")
    if Path(path).stat().st_size == 0:
        raise DataError(f"{path}: acoustic image file is empty")
    array = _read_mat_v5(path)
    if array is None:
        array = _read_mat_v73(path)
    if array.shape != ACOUSTIC_SHAPE:
        raise DataError(f"{path}: variable 'MFCC' has shape {array.shape}, expected {ACOUSTIC_SHAPE}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{path}: variable 'MFCC' has dtype {array.dtype}, expected single or double")
    problem = describe_non_finite(array, ("row", "column", "coefficient"))
    if problem is not None:  # it would reach the records and turn the training loss into NaN
        raise DataError(f"{path}: variable 'MFCC': {problem}")
    return np.ascontiguousarray(array, dtype=np.float32)


def read_bmp(path: Path) -> np.ndarray:
    """One video frame as uint8 BGR (H, W, 3), the channel order OpenCV's imread gives."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: video frame file is missing") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode video frame ({exc})") from exc
    return np.ascontiguousarray(rgb[..., ::-1])


def read_video_seconds(video_dir: Path) -> int:
    """Seconds of a video from its ``video_time.txt`` (first line ``video seconds: N``)."""
    path = Path(video_dir) / VIDEO_TIME_FILE
    try:
        first_line = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except FileNotFoundError as exc:
        raise DataError(f"{video_dir}: missing {VIDEO_TIME_FILE} (run `acoustic-ssl framecount`)") from exc
    label, _, value = first_line.partition(":")
    try:
        seconds = int(value.strip())
    except ValueError:
        seconds = -1
    if label.strip() != "video seconds" or seconds < 0:
        raise DataError(f"{path}: expected a first line 'video seconds: N', got {first_line!r}")
    return seconds


def iter_video_dirs(root: Path) -> Iterator[tuple[int, int, Path]]:
    """``(class, location, folder)`` of every ``class_K/data_NNN`` under ``root``, in numeric order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    classes = sorted(
        (int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CLASS_RE.match(p.name))
    )
    for class_index, class_dir in classes:
        videos = sorted(
            (int(m.group(1)), p) for p in class_dir.iterdir() if p.is_dir() and (m := _DATA_RE.match(p.name))
        )
        for location, video_dir in videos:
            yield class_index, location, video_dir


def _frame_numbers(folder: Path, kind: str) -> set[int]:
    pattern, _ = _FRAME_PATTERNS[kind]
    if not folder.is_dir():
        raise DataError(f"{folder}: missing folder '{kind}'")
    return {int(m.group(1)) for name in (e.name for e in folder.iterdir()) if (m := pattern.match(name))}


@dataclass(frozen=True)
class RawVideo:
    """A checked raw video folder: identity, frame count and the seconds to convert."""

    directory: Path
    class_index: int
    location: int
    num_frames: int
    seconds: int
    num_mics: int = NUM_MICS  # channels of the .dc frames (128 for the DualCam)

    def read_second(self, second: int, modalities: Collection[str], mic: int = 0) -> dict[str, np.ndarray]:
        """Raw arrays of second ``second`` (0-based) of the named modalities: acoustic (12,36,48,12), audio
        (12,1024) of mic ``mic``, video (12,H,W,3) BGR uint8 at the recorded size (the converter resizes)."""
        frames = range(second * FRAMES_PER_SECOND + 1, (second + 1) * FRAMES_PER_SECOND + 1)
        out: dict[str, np.ndarray] = {}
        if Modality.ACOUSTIC in modalities:
            out["acoustic"] = np.stack([read_mfcc_mat(mfcc_frame_path(self.directory, f)) for f in frames])
        if Modality.AUDIO in modalities:
            out["audio"] = np.stack(
                [read_dc(audio_frame_path(self.directory, f), self.num_mics)[mic] for f in frames]
            )
        if Modality.VIDEO in modalities:
            images = [read_bmp(video_frame_path(self.directory, f)) for f in frames]
            sizes = sorted({image.shape for image in images})
            if len(sizes) > 1:
                folder = self.directory / VIDEO_DIR
                raise DataError(f"{folder}: the frames of second {second + 1} differ in size {sizes}")
            out["video"] = np.stack(images)
        return out


def scan_video_dir(
    video_dir: Path, class_index: int, location: int, modalities: Collection[str] = tuple(Modality)
) -> RawVideo:
    """Check a raw video folder before conversion: equal file counts in the three folders, a readable
    ``video_time.txt`` and every frame file of the seconds it announces present."""
    video_dir = Path(video_dir)
    kinds = {Modality.ACOUSTIC: MFCC_DIR, Modality.AUDIO: AUDIO_DIR, Modality.VIDEO: VIDEO_DIR}
    numbers = {kind: _frame_numbers(video_dir / kind, kind) for kind in (MFCC_DIR, AUDIO_DIR, VIDEO_DIR)}
    counts = {kind: len(n) for kind, n in numbers.items()}
    if len(set(counts.values())) != 1:
        detail = ", ".join(f"{kind}/: {count}" for kind, count in counts.items())
        raise DataError(f"{video_dir}: the frame folders hold different numbers of files ({detail})")
    num_frames = counts[VIDEO_DIR]
    seconds = read_video_seconds(video_dir)
    needed = seconds * FRAMES_PER_SECOND
    for modality in modalities:
        kind = kinds[Modality(modality)]
        missing = sorted(set(range(1, needed + 1)) - numbers[kind])
        if missing:
            path = _FRAME_PATTERNS[kind][1](video_dir, missing[0])
            raise DataError(
                f"{path}: frame file is missing ({len(missing)} of the {needed} frames that "
                f"{VIDEO_TIME_FILE} = {seconds} s needs are absent)"
            )
    # a simulated array of M microphones (simulate --array) writes M x 1024 frames: take M from the first one
    num_mics = dc_num_mics(audio_frame_path(video_dir, 1))
    return RawVideo(video_dir, class_index, location, num_frames, seconds, num_mics)
