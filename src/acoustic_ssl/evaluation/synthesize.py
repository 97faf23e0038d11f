"""``acoustic-ssl synthesize``: copies of records whose acoustic images a trained generator made.

A ``generate`` checkpoint runs on every record of the given lists — simulated, ACIVW, or ``import-video``
records, which have no acoustic images and gain them — and each record is copied with ``audio/image``
replaced by (or set to) the generated images in the stored orientation, and flagged in its context
(``layout.KEY_SYNTHETIC``), so that the acoustic-image presets (``selfsup_acoustic_video``, a ``transfer``
teacher, ...) train on data recorded without an array.

Each video's listed seconds are cut into the generator's samples (its ``sample_length``: 2 s) as in
inference; an odd last second shares the sample that ends with it. Every frame of a sample is generated with
that sample's sound. A video with fewer consecutive listed seconds than a sample is left out (counted).

``OUT`` receives the input's ``class_K/data_NNN/Data_NNN.tfrecord`` layout, ``lists/<list name>`` (the
copies in the lists' order, ready for ``train``), ``synthesis.json`` (what made them) and, where the input's
records folder has them, ``labels.json`` (unchanged: it stays a plain label → class map that every reader
takes) and ``videos.csv`` (the rows of the copied clips, with ``acoustic_images = generated``). It is written
into a hidden staging folder and renamed at the end, so ``OUT`` appears complete or not at all; it must be a
new or empty folder, never an input's records folder.

Example
-------
>>> summary = synthesize("runs/generate", ["lists/training.txt"], "synthetic")  # doctest: +SKIP
>>> summary["records"], summary["lists"]  # doctest: +SKIP
(240, {'training': 'synthetic/lists/training.txt'})
"""

from __future__ import annotations

import csv
import glob
import io
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.labels import LABELS_FILE
from acoustic_ssl.data.layout import FRAMES_PER_SECOND, KEY_ACOUSTIC, KEY_SYNTHETIC, Modality
from acoustic_ssl.data.lists import read_list, write_list
from acoustic_ssl.data.packed import second_from_path
from acoustic_ssl.data.tfrecord import read_record, write_record
from acoustic_ssl.data.video_import import INDEX_FILE, read_index
from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.extract import as_trained, dataset_options
from acoustic_ssl.io_utils import progress, remove_stale_temporaries, staging_dir, write_json_atomic
from acoustic_ssl.training.objectives import Generate
from acoustic_ssl.training.trained import Trained

__all__ = ["SYNTHESIS_FILE", "generator_of", "sample_windows", "synthesize"]

SYNTHESIS_FILE = "synthesis.json"
SYNTHESIS_FORMAT = "acoustic-ssl-synthetic"
_RECORD = re.compile(r"^class_\d+/data_\d+/Data_\d+\.tfrecord$")


def generator_of(trained: Trained) -> Generate:
    """The ``generate`` objective of a checkpoint; another kind is a DataError naming it."""
    if not isinstance(trained.objective, Generate):
        raise DataError(f"{trained.path}: a '{trained.kind}' checkpoint; this needs a 'generate' run's")
    return trained.objective


def _relative(path: Path, list_file: Path) -> Path:
    """``class_K/data_NNN/Data_NNN.tfrecord`` of a listed record (its place under any records folder)."""
    relative = Path(*path.parts[-3:])
    if len(path.parts) < 3 or not _RECORD.match(relative.as_posix()):
        raise DataError(f"{list_file}: {path} is not a class_K/data_NNN/Data_NNN.tfrecord record")
    return relative


def sample_windows(seconds: Sequence[int], length: int) -> tuple[list[int], int]:
    """Where the samples of ``length`` seconds start (indices into ``seconds``, sorted distinct seconds of
    one video): consecutive non-overlapping samples over each run of consecutive seconds, plus one ending
    with the run when ``length`` does not divide it; and how many seconds lie in runs shorter than a sample.

    Example
    -------
    >>> sample_windows([0, 1, 2, 3, 4, 7, 8, 10], 2)
    ([0, 2, 3, 5], 1)
    """
    starts, too_short, run = [], 0, 0
    for i in range(len(seconds)):
        if i + 1 < len(seconds) and seconds[i + 1] == seconds[i] + 1:
            continue
        first, n = run, i + 1 - run  # the run ends at i
        if n < length:
            too_short += n
        else:
            starts += list(range(first, first + n - length + 1, length))
            if n % length:
                starts.append(first + n - length)
        run = i + 1
    return starts, too_short


def _plan(lists: Sequence[Path], out: Path) -> tuple[dict[Path, Path], dict[str, list[Path]], set[Path]]:
    """Every listed record's place in ``out`` (by target: its source), the lists' outputs, and the input
    records folders; an ``out`` that is not a new or empty folder, or is an input's, is a DataError."""
    sources: dict[Path, Path] = {}
    outputs: dict[str, list[Path]] = {}
    roots: set[Path] = set()
    for list_file in lists:
        if list_file.name in outputs:
            raise DataError(f"{list_file}: two lists named {list_file.name}; their copies would share a name")
        outputs[list_file.name] = []
        for path in read_list(list_file):
            relative, source = _relative(path, list_file), path.resolve()
            roots.add(source.parents[2])
            target = out / relative
            if sources.setdefault(target, source) != source:
                raise DataError(f"{list_file}: {path} and {sources[target]} would both be copied to {target}")
            outputs[list_file.name].append(target)
    if not sources:
        raise DataError(f"{', '.join(map(str, lists))}: no records listed")
    if out.resolve() in roots:
        raise DataError(f"{out}: is the records folder of the input; write the synthetic copies elsewhere")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not an empty folder")
    return sources, outputs, roots


def _windows(records: Sequence[Path], length: int) -> tuple[list[list[Path]], int]:
    """The samples (``length`` record paths each) over the listed records of all videos, and the number of
    records left out (videos or runs shorter than a sample)."""
    by_video: dict[Path, dict[int, Path]] = {}
    for path in records:
        by_video.setdefault(path.parent, {})[second_from_path(path)] = path
    windows, left_out = [], 0
    for seconds_to_path in by_video.values():
        seconds = sorted(seconds_to_path)
        starts, short = sample_windows(seconds, length)
        left_out += short
        windows += [[seconds_to_path[s] for s in seconds[start : start + length]] for start in starts]
    return windows, left_out


def _number(name: str) -> int:
    """K of ``class_K``, NNN of ``data_NNN``."""
    return int(name.split("_", 1)[1])


def _copy_index(roots: set[Path], staging: Path, written: set[tuple[int, int]]) -> None:
    """``labels.json`` and the rows of ``videos.csv`` of the copied clips, from the input records folders."""
    labels = {root / LABELS_FILE for root in roots if (root / LABELS_FILE).is_file()}
    contents = {path.read_bytes() for path in labels}
    if len(contents) > 1:
        raise DataError(f"{', '.join(map(str, sorted(labels)))}: the lists' records folders disagree")
    if labels:
        shutil.copyfile(next(iter(labels)), staging / LABELS_FILE)
    rows = [row for root in sorted(roots) for row in read_index(root)
            if (int(row["class"]), int(row["location"])) in written]
    if rows:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=[*rows[0], "acoustic_images"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "acoustic_images": "generated"} for row in rows)
        (staging / INDEX_FILE).write_text(text.getvalue(), encoding="utf-8")


@torch.inference_mode()
def synthesize(
    checkpoint: str | Path | Trained,
    lists: Sequence[str | Path],
    out: str | Path,
    *,
    batch_size: int = 4,
    device: str = "auto",
    num_workers: int = 0,
) -> dict[str, Any]:
    """Write the records of ``lists`` with generated acoustic images under ``out`` (module docstring).

    Returns a summary: ``records`` and ``videos`` written, ``left_out`` (records of runs shorter than a
    sample), ``lists`` (list name → the copy's path) and the ``checkpoint``.
    """
    trained = as_trained(checkpoint)
    objective = generator_of(trained)
    out, lists = Path(out), [Path(p) for p in lists]
    sources, outputs, roots = _plan(lists, out)
    length = trained.config.data.sample_length
    windows, left_out = _windows(sorted(set(sources.values())), length)
    if not windows:
        raise DataError(f"{', '.join(map(str, lists))}: no video has {length} consecutive listed seconds")
    options = dataset_options(trained, nr_frames=FRAMES_PER_SECOND * length, targets=False)
    dataset = ACIVWDataset([p for w in windows for p in w], mode="inference", **options)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    where = pick_device(device, setting="--device")
    objective.eval().to(where)
    target_of = {source: target for target, source in sources.items()}
    remove_stale_temporaries(out.parent, glob.escape(out.name))
    written: set[Path] = set()
    with staging_dir(out) as staging:
        done = 0
        for batch in progress(loader, desc="synthesize", total=len(loader), unit="batch"):
            inputs = {m.batch_key: batch[m.batch_key].to(where) for m in Modality if m.batch_key in batch}
            images = objective.images(objective.embed(inputs))  # [B, 12L, 12, 36, 48], video orientation
            stored = images.flip(-2, -1).movedim(-3, -1).float().cpu().numpy()  # as the sensor writes them
            for window, sample in zip(windows[done : done + len(stored)], stored, strict=True):
                for k, source in enumerate(window):
                    if source in written:  # an odd last second, already written by the sample before
                        continue
                    record = read_record(source)
                    frames = slice(k * FRAMES_PER_SECOND, (k + 1) * FRAMES_PER_SECOND)
                    record[KEY_ACOUSTIC] = np.ascontiguousarray(sample[frames])
                    record[KEY_SYNTHETIC] = 1
                    write_record(staging / target_of[source].relative_to(out), record)
                    written.add(source)
            done += len(stored)
        for name, targets in outputs.items():
            write_list(staging / "lists" / name, [t for t in targets if sources[t] in written])
        clips = {(_number(p.parent.parent.name), _number(p.parent.name)) for p in written}
        _copy_index(roots, staging, clips)
        summary = {
            "format": SYNTHESIS_FORMAT,
            "acoustic_images": "generated",
            "checkpoint": str(trained.path),
            "sources": {name: str(p) for name, p in zip(outputs, lists, strict=True)},
            "lists": {Path(name).stem: str(out / "lists" / name) for name in outputs},
            "records": len(written),
            "videos": len(clips),
            "left_out": left_out,
            "sample_length": length,
        }
        write_json_atomic(staging / SYNTHESIS_FILE, summary)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    return summary
