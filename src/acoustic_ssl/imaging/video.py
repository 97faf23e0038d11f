"""The user's own video for ``acoustic-ssl show``: frames picked at the acoustic images' times.

A video file is decoded with PyAV (any container and codec FFmpeg reads) in one forward pass; a folder of
frames (PNG, JPEG or BMP, sorted by name) is read at ``fps`` frames per second. For each requested time the
frame on screen at that instant is returned: the last one starting at or before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from acoustic_ssl.errors import DataError

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def frames_at(video: Path, times_s: Sequence[float], fps: float | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) on screen at each of the increasing ``times_s`` (seconds from the start)."""
    video = Path(video)
    if video.is_dir():
        yield from _folder_frames_at(video, times_s, fps)
    elif video.is_file():
        yield from _file_frames_at(video, times_s)
    else:
        raise DataError(f"{video}: no such video file or frame folder")


def _folder_frames_at(folder: Path, times_s: Sequence[float], fps: float | None) -> Iterator[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no PNG, JPEG or BMP frames")
    if fps is None or not (math.isfinite(fps) and fps > 0):
        raise DataError(f"{folder}: a frame folder needs its frame rate (--fps, a positive number)")
    for t in times_s:
        index = int(np.floor(t * fps + 1e-9))
        if not 0 <= index < len(files):
            raise DataError(f"{folder}: no frame at {t:.3f} s ({len(files)} frames at {fps:g} fps)")
        try:
            with Image.open(files[index]) as image:
                yield np.asarray(image.convert("RGB"))
        except OSError as exc:
            raise DataError(f"{files[index]}: cannot read image ({exc})") from exc


def _file_frames_at(path: Path, times_s: Sequence[float]) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise DataError(f"{path}: cannot open video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise DataError(f"{path}: has no video stream")
        decoded = container.decode(video=0)
        current: np.ndarray | None = None
        upcoming = None
        try:
            for t in times_s:
                while True:
                    if upcoming is None:
                        upcoming = next(decoded, None)
                    if upcoming is None or (upcoming.time or 0.0) > t + 1e-6:
                        break
                    current, upcoming = upcoming.to_ndarray(format="rgb24"), None
                if current is None:
                    raise DataError(f"{path}: no video frame at {t:.3f} s (video starts later or is empty)")
                yield current
        except av.FFmpegError as exc:
            raise DataError(f"{path}: cannot decode video ({exc})") from exc
