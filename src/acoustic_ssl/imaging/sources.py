"""Where ``acoustic-ssl beamform`` gets its frames: a multichannel audio file or a folder of ``.dc`` frames.

Frames are streamed in batches so a long recording never has to fit in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import AUDIO_DIR, NUM_MICS, SAMPLES_PER_FRAME
from acoustic_ssl.errors import DataError

_DC_NAME = re.compile(r"^A_(\d+)\.dc$")
SENSOR_FULL_SCALE = float(2**23)  # a 24-bit word in the int32 .dc files (the simulator's convention)


@dataclass(frozen=True)
class FrameSource:
    """A recording cut into 1024-sample frames; ``numbers`` are the 1-based output indices."""

    path: Path
    numbers: list[int]
    batches: Callable[[], Iterator[np.ndarray]]  # float arrays (B, mics, 1024) in frame order


def load_frames(
    path: Path, num_mics: int, sample_rate: float, batch: int = 48, full_scale: float = SENSOR_FULL_SCALE
) -> FrameSource:
    """Open ``path`` (audio file or ``.dc`` folder) and check it against the array and the sample rate.

    Audio-file samples (floats in [-1, 1] as soundfile reads them) are multiplied by ``full_scale`` so that
    their images have the level of images made from the sensor's integer ``.dc`` frames."""
    path = Path(path)
    if path.is_dir():
        return _dc_frames(path, num_mics, batch)
    if path.is_file():
        return _audio_file_frames(path, num_mics, sample_rate, batch, full_scale)
    raise DataError(f"{path}: no such file or folder")


def _dc_frames(folder: Path, num_mics: int, batch: int) -> FrameSource:
    from acoustic_ssl.data.raw import read_dc

    if not any(_DC_NAME.match(p.name) for p in folder.iterdir()) and (folder / AUDIO_DIR).is_dir():
        folder = folder / AUDIO_DIR
    files = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _DC_NAME.match(p.name)))
    if not files:
        raise DataError(f"{folder}: no A_%06d.dc frames found")
    if num_mics != NUM_MICS:
        raise DataError(f"{folder}: .dc frames hold {NUM_MICS} microphones but the geometry has {num_mics}")

    def batches() -> Iterator[np.ndarray]:
        for i in range(0, len(files), batch):
            yield np.stack([read_dc(p) for _, p in files[i : i + batch]]).astype(np.float32)

    return FrameSource(folder, [n for n, _ in files], batches)


def _audio_file_frames(
    path: Path, num_mics: int, sample_rate: float, batch: int, full_scale: float
) -> FrameSource:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot read audio file ({exc})") from exc
    if info.channels != num_mics:
        raise DataError(f"{path}: has {info.channels} channels but the geometry has {num_mics} microphones")
    if abs(info.samplerate - sample_rate) > 1e-6:
        raise DataError(
            f"{path}: recorded at {info.samplerate} Hz but --sample-rate is {sample_rate:g} Hz; "
            "resample the recording (or pass its rate)"
        )
    count = info.frames // SAMPLES_PER_FRAME
    if count == 0:
        raise DataError(f"{path}: shorter than one frame ({info.frames} < {SAMPLES_PER_FRAME} samples)")

    def batches() -> Iterator[np.ndarray]:
        with soundfile.SoundFile(str(path)) as handle:
            for start in range(0, count, batch):
                n = min(batch, count - start)
                block = handle.read(n * SAMPLES_PER_FRAME, dtype="float32", always_2d=True)
                yield full_scale * block.reshape(n, SAMPLES_PER_FRAME, num_mics).transpose(0, 2, 1)

    return FrameSource(path, list(range(1, count + 1)), batches)
