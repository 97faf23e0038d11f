"""Recordings ``acoustic-ssl beamform`` reads, streamed in blocks so a long one never has to fit in memory.

Three formats, one interface (:class:`Recording`: channels, length, rate and a ``read(start, count)`` of
samples × channels):

* a multichannel audio file that soundfile reads (WAV, FLAC, ...), one channel per microphone, at any rate;
  float samples in [-1, 1] are multiplied by ``scale`` (default 2^23, the level of the 24-bit ``.dc`` words);
* Acoular's HDF5 time data: dataset ``time_data`` (samples × channels) with the attribute ``sample_freq``
  (Hz), in physical units (default scale 1);
* a folder of raw DualCam frames ``A_%06d.dc`` (int32, 128 × 1024 each; a raw video folder with an ``audio/``
  subfolder also works), at the sensor rate 12 288 Hz, concatenated in frame-number order; named and read as
  the converter reads them (``data.raw.dc_frames``, ``read_dc``).

:func:`frame_batches` cuts a recording into the setup's frames (``frame_length`` samples every ``hop``), a
batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import AUDIO_DIR, SAMPLES_PER_FRAME, SENSOR_SAMPLE_RATE
from acoustic_ssl.data.raw import dc_frames, dc_num_mics, read_dc
from acoustic_ssl.errors import DataError, describe_non_finite
from acoustic_ssl.imaging.setup import ImagingSetup

SENSOR_FULL_SCALE = float(2**23)  # a 24-bit word in the int32 .dc files (the simulator's convention)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


@dataclass(frozen=True)
class Recording:
    """A multichannel recording: ``read(start, count)`` returns float32 samples (count, channels), scaled."""

    path: Path
    kind: str
    num_channels: int
    num_samples: int
    sample_rate: float | None  # None: the format does not say
    read: Callable[[int, int], np.ndarray]
    file_numbers: list[int] | None = None  # .dc folders: the number of each 1024-sample file


def open_recording(path: Path, scale: float | None = None) -> Recording:
    """Open an audio file, an HDF5 time-data file or a ``.dc`` folder (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _dc_recording(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    if path.suffix.lower() in HDF5_SUFFIXES:
        return _hdf5_recording(path, 1.0 if scale is None else scale)
    return _audio_recording(path, SENSOR_FULL_SCALE if scale is None else scale)


def check_recording(recording: Recording, setup: ImagingSetup) -> int:
    """Check channels and sample rate against the setup; return the number of frames."""
    if recording.num_channels != setup.geometry.num_mics:
        raise DataError(
            f"{recording.path}: has {recording.num_channels} channels but the geometry has "
            f"{setup.geometry.num_mics} microphones"
        )
    rate = recording.sample_rate
    if rate is not None and abs(rate - setup.sample_rate) > 1e-6:
        raise DataError(
            f"{recording.path}: recorded at {rate:g} Hz but the sample rate is "
            f"{setup.sample_rate:g} Hz; resample the recording (or pass its rate)"
        )
    count = setup.num_frames(recording.num_samples)
    if count == 0:
        raise DataError(
            f"{recording.path}: shorter than one frame ({recording.num_samples} < "
            f"{setup.frame_length} samples)"
        )
    if recording.file_numbers is not None and not _one_file_per_frame(setup):
        numbers = recording.file_numbers
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            raise DataError(
                f"{recording.path}: the .dc numbers have gaps, so the frames are not one "
                "continuous recording; beamform them with the default 1024-sample frames"
            )
    return count


def _one_file_per_frame(setup: ImagingSetup) -> bool:
    return setup.frame_length == setup.hop == SAMPLES_PER_FRAME


def frame_numbers(recording: Recording, setup: ImagingSetup, count: int) -> list[int]:
    """1-based output numbers: the ``.dc`` numbers when each file is one frame, else 1 … count."""
    if recording.file_numbers is not None and _one_file_per_frame(setup):
        return recording.file_numbers[:count]
    return list(range(1, count + 1))


def frame_batches(recording: Recording, setup: ImagingSetup, batch: int = 48) -> Iterator[np.ndarray]:
    """Frames float32 (B, channels, frame_length) in order, ``batch`` at a time (the last may be shorter).

    A NaN or infinite sample (a float file written after an overflow, or a scale that overflows float32)
    stops with a ``DataError`` naming it: every image of its frames would be NaN."""
    count = setup.num_frames(recording.num_samples)
    length, hop = setup.frame_length, setup.hop
    for first in range(0, count, batch):
        n = min(batch, count - first)
        start = first * hop
        block = recording.read(start, (n - 1) * hop + length)  # (samples, channels)
        problem = describe_non_finite(block, ("sample", "channel"), (start,))
        if problem is not None:
            raise DataError(f"{recording.path}: {problem} in the samples read (after --full-scale)")
        windows = np.lib.stride_tricks.sliding_window_view(block, length, axis=0)[::hop]  # (n, C, L)
        yield np.ascontiguousarray(windows[:n])


def _dc_recording(folder: Path) -> Recording:
    if not dc_frames(folder) and (folder / AUDIO_DIR).is_dir():
        folder = folder / AUDIO_DIR
    files = dc_frames(folder)
    if not files:
        raise DataError(f"{folder}: no A_%06d.dc frames found")
    channels = dc_num_mics(files[0][1])  # 128 for the DualCam; M for a simulated M-mic array

    def read(start: int, count: int) -> np.ndarray:
        first, last = start // SAMPLES_PER_FRAME, (start + count - 1) // SAMPLES_PER_FRAME
        samples = np.concatenate([read_dc(files[k][1], channels) for k in range(first, last + 1)], axis=1)
        offset = start - first * SAMPLES_PER_FRAME
        return samples[:, offset : offset + count].T.astype(np.float32)

    return Recording(
        folder,
        ".dc frames",
        channels,
        len(files) * SAMPLES_PER_FRAME,
        float(SENSOR_SAMPLE_RATE),
        read,
        [n for n, _ in files],
    )


def _audio_recording(path: Path, scale: float) -> Recording:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot read audio file ({exc})") from exc

    def read(start: int, count: int) -> np.ndarray:
        try:
            with soundfile.SoundFile(str(path)) as handle:
                handle.seek(start)
                block = handle.read(count, dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            raise DataError(f"{path}: cannot read samples {start}..{start + count} ({exc})") from exc
        if len(block) != count:
            raise DataError(f"{path}: ends after {start + len(block)} samples, expected {info.frames}")
        return block if scale == 1.0 else block * np.float32(scale)

    return Recording(path, "audio file", info.channels, info.frames, float(info.samplerate), read)


def _hdf5_recording(path: Path, scale: float) -> Recording:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "time_data" not in handle or not isinstance(handle["time_data"], h5py.Dataset):
                raise DataError(f"{path}: no 'time_data' dataset (Acoular time data: samples x channels)")
            data = handle["time_data"]
            if data.ndim != 2:
                raise DataError(f"{path}: 'time_data' must be samples x channels, got shape {data.shape}")
            rate = data.attrs.get("sample_freq", handle.attrs.get("sample_freq"))
            num_samples, num_channels = data.shape
    except OSError as exc:
        raise DataError(f"{path}: cannot read HDF5 file ({exc})") from exc
    if rate is None:
        raise DataError(f"{path}: 'time_data' has no 'sample_freq' attribute (Hz)")
    try:
        hz = float(np.asarray(rate).item())
    except (TypeError, ValueError):
        hz = float("nan")
    if not (np.isfinite(hz) and hz > 0):
        raise DataError(f"{path}: 'sample_freq' must be a positive number of Hz, got {rate}")

    def read(start: int, count: int) -> np.ndarray:
        with h5py.File(path, "r") as handle:
            block = np.asarray(handle["time_data"][start : start + count], dtype=np.float32)
        return block if scale == 1.0 else block * np.float32(scale)

    return Recording(
        path, "HDF5 time data", int(num_channels), int(num_samples), hz, read
    )
