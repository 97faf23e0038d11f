"""Writers for the ACIVW raw formats (used by the simulator and by tests that fabricate raw folders)."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from acoustic_ssl.data.layout import (
    ACOUSTIC_SHAPE,
    SAMPLES_PER_FRAME,
    VIDEO_TIME_FILE,
    audio_frame_path,
    mfcc_frame_path,
    video_frame_path,
)
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_bytes, write_bytes_atomic, write_text_atomic

_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: acoustic-ssl".ljust(116, b" ")


def dc_bytes(samples: np.ndarray) -> memoryview:
    """The bytes of one audio frame: int32 (mics, samples) stored Fortran order (sample-major, mic-minor)."""
    import torch  # its transposing copy is ~4x faster than NumPy's for this shape

    if samples.ndim != 2 or samples.shape[1] != SAMPLES_PER_FRAME or len(samples) == 0:  # any array (--array)
        raise DataError(f"audio frame must be (mics, {SAMPLES_PER_FRAME}), got {samples.shape}")
    words = torch.from_numpy(np.asarray(samples, dtype="<i4"))
    return memoryview(words.t().contiguous().numpy()).cast("B")


def mat_bytes(mfcc: np.ndarray) -> bytes:
    """The bytes of one acoustic image: MATLAB v5, variable ``MFCC``, single precision 36x48x12: what
    ``scipy.io.savemat`` writes (its header and tags for this shape, cached, with a fixed text header), then
    the values in column-major order."""
    if mfcc.shape != ACOUSTIC_SHAPE:
        raise DataError(f"acoustic image must be {ACOUSTIC_SHAPE}, got {mfcc.shape}")
    return _mat_prefix() + np.asarray(mfcc, dtype="<f4").tobytes(order="F")


@functools.lru_cache(maxsize=1)
def _mat_prefix() -> bytes:
    """Everything scipy writes before the values of a 36x48x12 single ``MFCC`` (its data fill 8-byte words,
    so nothing follows them)."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"MFCC": np.zeros(ACOUSTIC_SHAPE, dtype=np.float32)}, do_compression=False)
    # scipy stamps the creation time into the 116-byte text header; a fixed one keeps output reproducible.
    data = _MAT_HEADER + buffer.getvalue()[len(_MAT_HEADER) :]
    return data[: len(data) - 4 * int(np.prod(ACOUSTIC_SHAPE))]


def bmp_bytes(bgr: np.ndarray) -> bytes:
    """The bytes of one video frame given as BGR uint8 (H, W, 3), the channel order OpenCV reads back: PIL's
    24-bit BMP (its header for the size, cached), whose pixel rows are the BGR rows bottom-up, each padded to
    four bytes; built with NumPy, ten times faster than encoding every frame through PIL."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise DataError(f"video frame must be uint8 (H, W, 3), got {bgr.dtype} {bgr.shape}")
    height, width = bgr.shape[:2]
    rows = np.zeros((height, -(-3 * width // 4) * 4), dtype=np.uint8)
    rows[:, : 3 * width] = bgr[::-1].reshape(height, 3 * width)
    return _bmp_header(height, width) + rows.tobytes()


@functools.lru_cache(maxsize=8)
def _bmp_header(height: int, width: int) -> bytes:
    """What PIL writes before the pixel rows of a 24-bit BMP of this size."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="BMP")
    return buffer.getvalue()[: -height * (-(-3 * width // 4) * 4)]


def _write(path: Path, build: Callable[[], bytes | memoryview], atomic: bool) -> None:
    """Write what ``build`` makes (its errors name ``path``), atomically or in place."""
    try:
        data = build()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    (write_bytes_atomic if atomic else write_bytes)(path, data)


def write_dc(path: Path, samples: np.ndarray, *, atomic: bool = True) -> None:
    """Write one audio frame (:func:`dc_bytes`); ``atomic=False``: see :func:`write_frame`."""
    _write(path, lambda: dc_bytes(samples), atomic)


def write_mfcc_mat(path: Path, mfcc: np.ndarray, *, atomic: bool = True) -> None:
    """Write one acoustic image (:func:`mat_bytes`)."""
    _write(path, lambda: mat_bytes(mfcc), atomic)


def write_bmp(path: Path, bgr: np.ndarray, *, atomic: bool = True) -> None:
    """Write one video frame (:func:`bmp_bytes`)."""
    _write(path, lambda: bmp_bytes(bgr), atomic)


def write_video_time(video_dir: Path, seconds: int) -> None:
    """Write ``video_time.txt`` as the original framecount did."""
    write_text_atomic(video_dir / VIDEO_TIME_FILE, f"video seconds: {seconds}\n")


def write_frame(
    video_dir: Path, frame: int, audio: np.ndarray, mfcc: np.ndarray, bgr: np.ndarray, *, atomic: bool = True
) -> None:
    """Write the three files of one frame (1-based index) of a raw video folder.

    ``atomic=False`` writes each file in place rather than through a temporary and a rename (a third of the
    time on a small frame): for a writer that marks the whole folder complete afterwards and rewrites every
    frame of an incomplete one, as the simulator does with ``ground_truth.csv``.
    """
    write_dc(audio_frame_path(video_dir, frame), audio, atomic=atomic)
    write_mfcc_mat(mfcc_frame_path(video_dir, frame), mfcc, atomic=atomic)
    write_bmp(video_frame_path(video_dir, frame), bgr, atomic=atomic)
