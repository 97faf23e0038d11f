"""Data concern: raw ACIVW readers, TFRecord I/O without TensorFlow, conversion, video import, lists,
statistics, dataset.

Heavy members (torch-based dataset and audio helpers) load on first access so that importing
``acoustic_ssl.data`` (and the CLI's --help) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_record": "acoustic_ssl.data.tfrecord",
    "write_record": "acoustic_ssl.data.tfrecord",
    "read_dc": "acoustic_ssl.data.raw",
    "read_mfcc_mat": "acoustic_ssl.data.raw",
    "read_bmp": "acoustic_ssl.data.raw",
    "read_video_seconds": "acoustic_ssl.data.raw",
    "iter_video_dirs": "acoustic_ssl.data.raw",
    "convert_dataset": "acoustic_ssl.data.convert",
    "import_videos": "acoustic_ssl.data.video_import",
    "framecount": "acoustic_ssl.data.framecount",
    "read_list": "acoustic_ssl.data.lists",
    "make_lists": "acoustic_ssl.data.lists",
    "reroot_lists": "acoustic_ssl.data.lists",
    "compute_stats": "acoustic_ssl.data.stats",
    "load_stats": "acoustic_ssl.data.stats",
    "pack_records": "acoustic_ssl.data.packed",
    "ACIVWDataset": "acoustic_ssl.data.dataset",
    "pick_frames": "acoustic_ssl.data.dataset",
    "waveform_to_spectrogram": "acoustic_ssl.data.audio",
    "sensor_audio_to_waveform": "acoustic_ssl.data.audio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'acoustic_ssl.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
