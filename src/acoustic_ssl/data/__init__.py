"""Data concern: raw ACIVW readers, TFRecord I/O without TensorFlow, conversion, video import, lists,
statistics, dataset.

Members load on first access (the torch-based dataset and audio helpers included), so importing
``acoustic_ssl.data`` (and the CLI's --help) stays fast. Modalities are named (``layout.Modality``:
acoustic, audio, video); the original's numbers 0 1 2 exist only at the command line.

Example: one second of a record, written and read back (feature lists by their original keys):

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from acoustic_ssl.data import read_record, write_record
>>> with tempfile.TemporaryDirectory() as folder:
...     path = Path(folder) / "class_0" / "data_001" / "Data_001.tfrecord"
...     write_record(path, {"classes": 3, "location": 1, "audio/data": np.ones((12, 1024), np.int32)})
...     record = read_record(path)
>>> record["classes"], record["location"], record["audio/data"].shape, "video/image" in record
(3, 1, (12, 1024), False)
"""

from __future__ import annotations

from acoustic_ssl.lazy import lazy_exports

_EXPORTS = {
    "Modality": "acoustic_ssl.data.layout",
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
    "load_normalization": "acoustic_ssl.data.stats",
    "pack_records": "acoustic_ssl.data.packed",
    "ACIVWDataset": "acoustic_ssl.data.dataset",
    "pick_frames": "acoustic_ssl.data.dataset",
    "waveform_to_spectrogram": "acoustic_ssl.data.audio",
    "sensor_audio_to_waveform": "acoustic_ssl.data.audio",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
