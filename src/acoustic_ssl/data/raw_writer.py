"""Writers for the ACIVW raw formats (used by the simulator and by tests that fabricate raw folders)."""

from __future__ import annotations

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
from acoustic_ssl.io_utils import atomic_path, write_bytes_atomic, write_text_atomic

_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: acoustic-ssl".ljust(116, b" ")


def write_dc(path: Path, samples: np.ndarray) -> None:
    """Write one audio frame: int32 (mics, samples) stored Fortran order (sample-major, mic-minor)."""
    if samples.ndim != 2 or samples.shape[1] != SAMPLES_PER_FRAME or len(samples) == 0:  # any array (--array)
        raise DataError(f"{path}: audio frame must be (mics, {SAMPLES_PER_FRAME}), got {samples.shape}")
    data = np.asarray(samples, dtype="<i4").ravel(order="F").tobytes()
    write_bytes_atomic(path, data)


def write_mfcc_mat(path: Path, mfcc: np.ndarray) -> None:
    """Write one acoustic image as a MATLAB v5 file with variable ``MFCC`` (single precision 36x48x12)."""
    if mfcc.shape != ACOUSTIC_SHAPE:
        raise DataError(f"{path}: acoustic image must be {ACOUSTIC_SHAPE}, got {mfcc.shape}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            scipy.io.savemat(handle, {"MFCC": np.asarray(mfcc, dtype=np.float32)}, do_compression=False)
        # scipy stamps the creation time into the 116-byte text header; a fixed one keeps output reproducible.
        with open(tmp, "r+b") as handle:
            handle.write(_MAT_HEADER)


def write_bmp(path: Path, bgr: np.ndarray) -> None:
    """Write one video frame given as BGR uint8 (H, W, 3), the channel order OpenCV reads back."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise DataError(f"{path}: video frame must be uint8 (H, W, 3), got {bgr.dtype} {bgr.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).save(tmp, format="BMP")


def write_video_time(video_dir: Path, seconds: int) -> None:
    """Write ``video_time.txt`` as the original framecount did."""
    write_text_atomic(video_dir / VIDEO_TIME_FILE, f"video seconds: {seconds}\n")


def write_frame(video_dir: Path, frame: int, audio: np.ndarray, mfcc: np.ndarray, bgr: np.ndarray) -> None:
    """Write the three files of one frame (1-based index) of a raw video folder."""
    write_dc(audio_frame_path(video_dir, frame), audio)
    write_mfcc_mat(mfcc_frame_path(video_dir, frame), mfcc)
    write_bmp(video_frame_path(video_dir, frame), bgr)
