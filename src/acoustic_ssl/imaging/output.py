"""Where acoustic images go: ACIVW ``Data_%d.mat`` files, or one HDF5 / NPZ stack with its parameters.

* **Folder** (``OUT_DIR``): ``Data_%d.mat`` (MATLAB v5, variable ``MFCC``, single 36 × 48 × 12, as the
  dataset; so only for the ACIVW grid), optionally ``full/Power_%d.npy`` (bins per pixel), and
  ``imaging.json`` (the :meth:`~acoustic_ssl.imaging.setup.ImagingSetup.to_dict` parameters, plus the input
  and the frame numbers).
* **Stack** (``OUT.h5`` / ``OUT.hdf5`` / ``OUT.npz``): ``images`` float32 (frames × rows × cols × features),
  features the 12 MFCC or the beamformed power of every kept bin; ``frame_numbers`` (1-based),
  ``frame_times_s`` (centre of each frame), ``frequencies_hz`` (of the bins) and ``parameters`` (the same JSON
  as ``imaging.json``; an HDF5 attribute, a string array in the NPZ). Written frame batch by frame batch, so
  memory stays bounded however long the recording.

Every file is written under a temporary name and renamed when complete; a folder is filled under a temporary
name and then put in the place of an older result as a whole, so no file of a longer old result survives.
Before anything is written, the output is checked: it must not be an input (or a folder holding one), and an
existing output must be a previous result of ``beamform`` unless ``overwrite`` is given. The temporaries of
a killed run are removed by the next.
"""

from __future__ import annotations

import contextlib
import glob
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acoustic_ssl.data.layout import ACOUSTIC_SHAPE
from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.setup import ImagingSetup
from acoustic_ssl.imaging.sources import Recording, check_recording, frame_batches, frame_numbers
from acoustic_ssl.io_utils import (
    TEMPORARY_SUFFIX,
    atomic_path,
    progress,
    remove_stale_temporaries,
    replace_folder,
    staging_dir,
    write_json_atomic,
)

if TYPE_CHECKING:
    import torch

STACK_SUFFIXES = (".h5", ".hdf5", ".npz")
PARAMETERS_FILE = "imaging.json"
FEATURES = ("mfcc", "power")
FULL_DIR = "full"
_TEMPORARY = rf"\..*{re.escape(TEMPORARY_SUFFIX)}"  # left by a killed write
_FOLDER_FILES = re.compile(rf"^(Data_\d+\.mat|{re.escape(PARAMETERS_FILE)}|{_TEMPORARY})$")
_FULL_FILES = re.compile(rf"^(Power_\d+\.npy|{_TEMPORARY})$")


def is_stack(path: Path) -> bool:
    return Path(path).suffix.lower() in STACK_SUFFIXES


def feature_size(setup: ImagingSetup, features: str) -> int:
    return 12 if features == "mfcc" else setup.num_bins


def parameters(setup: ImagingSetup, source: Path, numbers: list[int], features: str) -> dict[str, Any]:
    """The JSON stored beside the images."""
    return {
        **setup.to_dict(),
        "input": str(source),
        "features": features,
        "frames": len(numbers),
        "first_frame_number": numbers[0] if numbers else None,
    }


def write_folder(
    out_dir: Path,
    images: Iterable[tuple[np.ndarray, np.ndarray | None]],
    numbers: list[int],
    meta: dict[str, Any],
    full_dtype: str | None = None,
) -> None:
    """``Data_%d.mat`` per (mfcc, power-or-None) item, numbered by ``numbers``; then ``imaging.json``."""
    from acoustic_ssl.data.raw_writer import write_mfcc_mat

    out_dir = Path(out_dir)
    for number, (image, power) in zip(numbers, images, strict=True):
        write_mfcc_mat(out_dir / f"Data_{number}.mat", image)
        if power is not None:
            with atomic_path(out_dir / FULL_DIR / f"Power_{number}.npy") as tmp, open(tmp, "wb") as handle:
                np.save(handle, power.astype(full_dtype))
    write_json_atomic(out_dir / PARAMETERS_FILE, meta)


def check_folder_grid(setup: ImagingSetup) -> None:
    if (setup.rows, setup.cols) != ACOUSTIC_SHAPE[:2]:
        raise DataError(
            f"Data_%d.mat files hold {ACOUSTIC_SHAPE[0]}x{ACOUSTIC_SHAPE[1]}x12 images (the ACIVW "
            f"layout); write a {setup.rows}x{setup.cols} grid to an .h5 or .npz stack instead"
        )


def write_stack(
    path: Path,
    batches: Iterable[np.ndarray],
    setup: ImagingSetup,
    numbers: list[int],
    features: str,
    meta: dict[str, Any],
) -> None:
    """Stream image batches (B, rows, cols, features) into one HDF5 or NPZ file (module docstring)."""
    path = Path(path)
    shape = (len(numbers), setup.rows, setup.cols, feature_size(setup, features))
    extras = {
        "frame_numbers": np.asarray(numbers, dtype=np.int64),
        "frame_times_s": setup.frame_times_s(len(numbers)),
        "frequencies_hz": np.asarray(setup.frequencies_hz, dtype=np.float64),
    }
    text = json.dumps(meta, indent=2, sort_keys=True)
    writer = _write_hdf5 if path.suffix.lower() in (".h5", ".hdf5") else _write_npz
    with atomic_path(path) as tmp:
        writer(tmp, batches, shape, extras, text)


def _write_hdf5(
    tmp: Path, batches: Iterable[np.ndarray], shape: tuple[int, ...], extras: dict[str, np.ndarray], text: str
) -> None:
    import h5py

    # The temporary is already flock()ed by atomic_path (marking it live); HDF5 would lock it a second time.
    with h5py.File(tmp, "w", locking=False) as handle:
        images = handle.create_dataset("images", shape=shape, dtype="float32", chunks=(1, *shape[1:]))
        _fill(images.__setitem__, batches, shape[0])
        for name, values in extras.items():
            handle.create_dataset(name, data=values)
        handle.attrs["parameters"] = text


def _write_npz(
    tmp: Path, batches: Iterable[np.ndarray], shape: tuple[int, ...], extras: dict[str, np.ndarray], text: str
) -> None:
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            header = {
                "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_1_0(member, header)

            def put(_: slice, batch: np.ndarray) -> None:
                member.write(np.ascontiguousarray(batch, dtype="<f4").tobytes())

            _fill(put, batches, shape[0])
        for name, values in {**extras, "parameters": np.array(text)}.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, values, allow_pickle=False)


def _fill(put: Any, batches: Iterable[np.ndarray], count: int) -> None:
    first = 0
    for batch in batches:
        put(slice(first, first + len(batch)), batch)
        first += len(batch)
    if first != count:
        raise DataError(f"expected {count} acoustic images, got {first}")


@contextlib.contextmanager
def open_stack(path: Path) -> Iterator[tuple[Any, dict[str, Any], np.ndarray]]:
    """``(images, parameters, frame_numbers)`` of a stack; HDF5 images are read lazily, NPZ ones at once."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            handle: Any = np.load(path, allow_pickle=False)
            images, text, numbers = handle["images"], str(handle["parameters"]), handle["frame_numbers"]
        else:
            import h5py

            handle = h5py.File(path, "r")
            images, text, numbers = handle["images"], handle.attrs["parameters"], handle["frame_numbers"][()]
        meta = json.loads(text)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"{path}: not an acoustic-image stack written by acoustic-ssl beamform ({exc})"
        ) from exc
    try:
        yield images, meta, np.asarray(numbers)
    finally:
        handle.close()


def _not_a_previous_result(out: Path) -> str | None:
    """None when ``out`` holds only what ``beamform`` writes there (an earlier result); else what it holds."""
    if is_stack(out):
        if out.is_dir():
            return "a folder"
        try:
            with open_stack(out):
                return None
        except DataError:
            return "not an acoustic-image stack"
    if not out.is_dir():
        return "a file, not a folder"
    entries = sorted(out.iterdir())
    if not entries:
        return None
    for entry in entries:
        if entry.name == FULL_DIR and entry.is_dir():
            foreign = next((p.name for p in sorted(entry.iterdir()) if not _FULL_FILES.match(p.name)), None)
            if foreign is not None:
                return f"{FULL_DIR}/{foreign}"
        elif not _FOLDER_FILES.match(entry.name):
            return f"holds {entry.name}"
    try:
        meta = json.loads((out / PARAMETERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no readable {PARAMETERS_FILE}"
    return None if isinstance(meta, dict) and "features" in meta else f"{PARAMETERS_FILE} is not beamform's"


def check_output(out: Path, inputs: Iterable[Path], overwrite: bool = False) -> None:
    """Refuse, before anything is written, an ``out`` that is one of ``inputs`` or a folder holding one
    (writing it would destroy the input: always), and an existing ``out`` that is not an earlier result of
    ``beamform`` (someone's data) unless ``overwrite``."""
    out = Path(out)
    target = out.resolve()
    for source in inputs:
        resolved = Path(source).resolve()
        if target == resolved or target in resolved.parents:
            what = "is" if target == resolved else "is a folder holding"
            raise DataError(f"{out}: the output {what} the input {source}; write the images elsewhere")
    if not out.exists():
        return
    problem = _not_a_previous_result(out)
    if problem is None:
        return
    if problem in ("a folder", "a file, not a folder"):
        kind = "a stack file" if is_stack(out) else "a folder of Data_%d.mat"
        raise DataError(f"{out}: exists and is {problem}, but the output is {kind}; choose another OUT")
    if not overwrite:
        raise DataError(
            f"{out}: exists and is not a result of acoustic-ssl beamform ({problem}); choose another OUT, "
            "or pass --overwrite to replace it"
        )


def beamform_recording(
    recording: Recording,
    setup: ImagingSetup,
    out: Path,
    features: str = "mfcc",
    full_dtype: str | None = None,
    frame_batch: int | None = None,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
) -> int:
    """Beamform every frame of ``recording`` into ``out`` (a folder, or an ``.h5``/``.npz`` stack), streaming
    ``frame_batch`` frames at a time (default: the device's, see ``Beamformer``) with a progress bar, on
    ``device``; returns the number of images. ``out`` is checked against the recording and ``inputs`` (the
    geometry and camera files) and against foreign contents first (``check_output``)."""
    from acoustic_ssl.imaging.beamform import Beamformer

    out = Path(out)
    count = check_recording(recording, setup)
    numbers = frame_numbers(recording, setup, count)
    if not is_stack(out):
        check_folder_grid(setup)
    check_output(out, [recording.path, *inputs], overwrite)
    remove_stale_temporaries(out.parent, glob.escape(out.name))
    beamformer = Beamformer(setup, frame_batch=frame_batch, device=device)
    frame_batch = beamformer.frame_batch
    meta = parameters(setup, recording.path, numbers, features)
    bar = progress(None, desc="beamform", total=count, unit="frame")
    batches = frame_batches(recording, setup, frame_batch)
    try:
        if is_stack(out):

            def stack_batches() -> Iterator[np.ndarray]:
                for batch in batches:
                    yield beamformer.images(batch) if features == "mfcc" else beamformer.power(batch)
                    bar.update(len(batch))

            write_stack(out, stack_batches(), setup, numbers, features, meta)
        else:

            def frames() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
                for batch in batches:
                    if full_dtype is None:
                        yield from ((image, None) for image in beamformer.images(batch))
                    else:
                        power = beamformer.power(batch)
                        yield from zip(beamformer.power_to_mfcc(power), power, strict=True)
                    bar.update(len(batch))

            with staging_dir(out) as staging:
                write_folder(staging, frames(), numbers, meta, full_dtype)
                replace_folder(staging, out)
    finally:
        bar.close()
    return count
