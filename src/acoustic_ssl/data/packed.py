"""Packed records: an uncompressed, memory-mappable copy of the records of a list, for fast training input.

GZIP inflation dominates TFRecord reading; a packed folder stores the same arrays in one ``.npy`` per
modality (``acoustic.npy`` [N,12,36,48,12] float32, ``audio.npy`` [N,12,1024] int32, ``video.npy``
[N,12,H,W,3] uint8), rows in list order, plus ``index.json`` with each row's source path, class, location and
second. ``ACIVWDataset`` accepts such a folder wherever it accepts a list file.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.layout import (
    KEY_ACOUSTIC,
    KEY_AUDIO,
    KEY_CLASS,
    KEY_LOCATION,
    KEY_VIDEO,
    Modality,
)
from acoustic_ssl.data.tfrecord import read_record
from acoustic_ssl.errors import DataError, OutputError
from acoustic_ssl.io_utils import progress, remove_stale_temporaries, replace_folder, staging_dir

__all__ = ["INDEX_FILE", "PackedRecords", "RecordFiles", "is_packed_dir", "pack_records", "second_from_path"]

INDEX_FILE = "index.json"
PACKED_FORMAT = "acoustic-ssl-packed"
_FILES = {KEY_ACOUSTIC: "acoustic.npy", KEY_AUDIO: "audio.npy", KEY_VIDEO: "video.npy"}
_MODALITY_OF = {m.record_key: m for m in Modality}
_SECOND_RE = re.compile(r"Data_(\d+)\.tfrecord$")


def second_from_path(path: str | os.PathLike[str]) -> int:
    """0-based second of a record from its name ``Data_NNN.tfrecord`` (1-based on disk)."""
    match = _SECOND_RE.search(str(path))
    if not match or int(match.group(1)) < 1:
        raise DataError(f"{path}: record name must be Data_NNN.tfrecord (NNN = 1-based second)")
    return int(match.group(1)) - 1


def is_packed_dir(path: str | os.PathLike[str]) -> bool:
    """True for a folder written by ``pack_records``."""
    return (Path(path) / INDEX_FILE).is_file()


class RecordFiles:
    """Records read from TFRecord files on demand (no handle is kept, so DataLoader workers are safe)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self, index: int) -> str:
        return str(self.paths[index])

    def read(self, index: int, keys: tuple[str, ...]) -> dict[str, Any]:
        """Record ``index``: class, location, 0-based second and the arrays of ``keys``."""
        path = self.paths[index]
        record = read_record(path, keys=keys)
        missing = [k for k in keys if k not in record]
        if missing:
            raise DataError(f"{path}: record lacks feature list(s) {missing} needed by the chosen modalities")
        record["second"] = second_from_path(path)
        return record


class PackedRecords:
    """Rows of a packed folder, memory-mapped lazily once per process."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.index = json.loads((self.directory / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.directory / INDEX_FILE}: cannot read packed index ({exc})") from exc
        if self.index.get("format") != PACKED_FORMAT:
            raise DataError(f"{self.directory / INDEX_FILE}: not an {PACKED_FORMAT} index")
        self.paths = [Path(p) for p in self.index["paths"]]
        self._arrays: dict[str, np.ndarray] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.paths)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"], state["_pid"] = {}, -1  # never ship open maps to worker processes
        return state

    def describe(self, index: int) -> str:
        return f"{self.directory} row {index} ({self.paths[index]})"

    def _array(self, key: str) -> np.ndarray:
        if self._pid != os.getpid():
            self._arrays, self._pid = {}, os.getpid()
        if key not in self._arrays:
            if key not in self.index["modalities"]:
                raise DataError(
                    f"{self.directory}: packed folder has no {key!r} (packed: "
                    f"{sorted(self.index['modalities'])})"
                )
            self._arrays[key] = np.load(self.directory / _FILES[key], mmap_mode="r")
        return self._arrays[key]

    def read(self, index: int, keys: tuple[str, ...]) -> dict[str, Any]:
        """Row ``index``: class, location, 0-based second and the arrays of ``keys``."""
        record: dict[str, Any] = {
            KEY_CLASS: int(self.index["classes"][index]),
            KEY_LOCATION: int(self.index["locations"][index]),
            "second": int(self.index["seconds"][index]),
        }
        for key in keys:
            record[key] = self._array(key)[index]
        return record


def _modalities(keys: list[str]) -> str:
    return " + ".join(_MODALITY_OF[k].value for k in keys) or "no modality"


def _preallocate(path: Path) -> None:
    """Reserve the disk blocks of a memory-mapped file now: a full disk is then an OSError here instead of a
    SIGBUS when a page of the map is first written."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate
            raise
    finally:
        os.close(fd)


def _pack_error(out: Path, exc: OSError, hint: str = "") -> OutputError:
    return OutputError(f"{out}: cannot write packed folder ({exc.strerror or exc}{hint})")


def _records_in_order(paths: list[Path], first: dict[str, Any], chunk: int = 32) -> Iterator[dict[str, Any]]:
    """The records of ``paths`` in order (``first`` already read), read ``chunk`` at a time by a few threads:
    GZIP inflation releases the GIL, so two threads read twice as fast on two cores."""
    yield first
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for start in range(1, len(paths), chunk):
            yield from pool.map(read_record, paths[start : start + chunk])


def pack_records(paths: list[Path], out_dir: str | os.PathLike[str]) -> Path:
    """Copy the records of ``paths`` (list order) into a new packed folder ``out_dir``, atomically.

    The staging folder of a pack that was killed is removed by the next pack to the same ``out_dir``.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: output folder exists and is not empty")
    if not paths:
        raise DataError("no records to pack")
    first = read_record(paths[0])
    keys = [k for k in _FILES if k in first]
    if not keys:
        raise DataError(f"{paths[0]}: record holds no acoustic images, audio or video to pack")
    remove_stale_temporaries(out.parent, glob.escape(out.name))
    with staging_dir(out) as staging:
        try:
            maps = {}
            for k in keys:
                maps[k] = np.lib.format.open_memmap(
                    staging / _FILES[k], mode="w+", dtype=first[k].dtype, shape=(len(paths), *first[k].shape)
                )
                _preallocate(staging / _FILES[k])
        except OSError as exc:
            needed = sum(len(paths) * first[k].nbytes for k in keys) / 1e9
            raise _pack_error(out, exc, f"; it needs {needed:.2f} GB") from exc
        classes, locations, seconds = [], [], []
        records = _records_in_order(paths, first)
        in_order = zip(progress(paths, desc="pack", unit="record"), records, strict=True)
        for row, (path, record) in enumerate(in_order):
            carried = [k for k in _FILES if k in record]
            if carried != keys:  # a packed row must hold every modality: no silently dropped arrays
                raise DataError(
                    f"{path}: record carries {_modalities(carried)} but the first record of the list "
                    f"({paths[0]}) carries {_modalities(keys)}; pack lists whose records all hold the same "
                    "modalities"
                )
            for key, array in maps.items():
                if record[key].shape != array.shape[1:]:
                    raise DataError(
                        f"{path}: {key!r} is {record[key].shape}, the first record has {array.shape[1:]}"
                    )
                array[row] = record[key]
            classes.append(record[KEY_CLASS])
            locations.append(record[KEY_LOCATION])
            seconds.append(second_from_path(path))
        for array in maps.values():
            array.flush()
        del maps
        index = {
            "format": PACKED_FORMAT,
            "version": 1,
            "count": len(paths),
            "modalities": keys,
            "paths": [str(p) for p in paths],
            "classes": classes,
            "locations": locations,
            "seconds": seconds,
        }
        try:
            (staging / INDEX_FILE).write_text(json.dumps(index) + "\n", encoding="utf-8")
        except OSError as exc:
            raise _pack_error(out, exc) from exc
        replace_folder(staging, out)
    return out
