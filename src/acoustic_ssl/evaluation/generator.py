"""``acoustic-ssl evaluate-generator``: a generator's acoustic images against the array's, on held-out
simulated recordings with ground truth.

Every ``frame_step``-th frame of the list's samples is generated with its sample's sound (as ``synthesize``
makes them) and compared with the true image of that frame:

* **per band**: the Pearson correlation over the 36×48 cells (``band_correlation``: is the spatial pattern
  right) and the root mean squared error in MFCC units, of the generated image and of the training mean
  image (the generator's statistics), the baseline that ignores the scene and that a generator must beat;
* **peak-cell distance**: cells (Euclidean) from the maximum of the energy map (``mfcc.energy_map``) to the
  cell of the nearest sounding on-screen source's centre (``PinholeCamera.pixel_to_cell``), for the generated
  image, the true one, the mean image, and a uniformly random cell (chance, exact: the mean over all cells),
  and the share within 2 cells (Chebyshev, as ``benchmarks/simulate_report.py`` scores the simulator);
* **localisation** of each frame's energy map against that frame's sounding boxes, scored as ``evaluate``
  scores maps (``evaluate.localization_metrics``: pointing accuracy, cIoU, AUC, the chance and any-object
  baselines): generated energy, true energy (the upper reference), the mean image's energy (a fixed map: a
  prior on where sources are), chance.

One outcome per frame; 95 % intervals by the video-clustered, class-stratified bootstrap of
``evaluation.statistics`` (the frames of a recording are not independent), paired where two maps are
compared on the same frames. Frames without a visible sounding source are not scored for peaks and
localisation.

Example
-------
>>> result = evaluate_generator("runs/generate", "lists/testing.txt", "raw_test")  # doctest: +SKIP
>>> correlation = result["correlation"]["generated"]["mean"]["estimate"]  # doctest: +SKIP
>>> correlation, result["localization"]["generated"]["pointing_accuracy"]  # doctest: +SKIP
(0.71, 0.43)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import FRAMES_PER_SECOND, Modality
from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.evaluate import ground_truth_rows, localization_metrics
from acoustic_ssl.evaluation.extract import as_trained, dataset_options
from acoustic_ssl.evaluation.machine import machine_info
from acoustic_ssl.evaluation.metrics_file import clean_json
from acoustic_ssl.evaluation.statistics import bootstrap_ci, paired_difference, weighted_mean
from acoustic_ssl.evaluation.synthesize import generator_of
from acoustic_ssl.imaging.geometry import GRID_COLS, GRID_ROWS
from acoustic_ssl.imaging.mfcc import energy_map
from acoustic_ssl.io_utils import progress, write_json_atomic
from acoustic_ssl.training.objectives import Generate
from acoustic_ssl.training.objectives.generate import band_correlation
from acoustic_ssl.training.trained import Trained

__all__ = ["evaluate_generator", "frame_outcomes", "peak_distances", "source_cells"]

WITHIN_CELLS = 2
MAPS = (("generated", "generated_map"), ("energy", "energy_map"), ("mean_image", "mean_image_map"))


@torch.inference_mode()
def frame_outcomes(
    objective: Generate, batches: Any, frame_step: int = 1, device: str | torch.device = "cpu"
) -> dict[str, np.ndarray]:
    """Per generated frame (``frame_step``-th of each sample): ``video_ids``, ``labels``, ``frames``
    ([N,1] 1-based frame numbers), per band [N,12] the ``correlation`` and ``squared_error`` of the
    generated image and of the mean image (``mean_image_correlation``, ``mean_image_squared_error``), and
    the energy maps ``generated_map`` / ``energy_map`` / ``mean_image_map`` [N,36,48]."""
    parts: dict[str, list[np.ndarray]] = {}
    mean_image = objective.generator.mean_image.double()
    for batch in batches:
        inputs = {m.batch_key: batch[m.batch_key].to(device) for m in Modality if m.batch_key in batch}
        out = objective.embed(inputs)
        generated = objective.images(out)[:, ::frame_step].double()  # [B,K,12,36,48]
        true = objective.target(out, inputs)[:, ::frame_step].double()
        numbers = batch["start"][:, None].to(device) * FRAMES_PER_SECOND + out["frames"][:, ::frame_step] + 1
        per_frame = {
            "video_ids": batch["video_id"][:, None].expand(numbers.shape),
            "labels": batch["label"][:, None].expand(numbers.shape),
            "frames": numbers[..., None],
            "correlation": band_correlation(generated, true),
            "squared_error": (generated - true).square().mean(dim=(-2, -1)),
            "mean_image_correlation": band_correlation(mean_image.expand_as(true), true),
            "mean_image_squared_error": (mean_image - true).square().mean(dim=(-2, -1)),
        }
        for key, value in per_frame.items():
            parts.setdefault(key, []).append(value.flatten(0, 1).cpu().numpy())
        typical = mean_image.expand_as(true)
        for key, value in (("generated_map", generated), ("energy_map", true), ("mean_image_map", typical)):
            parts.setdefault(key, []).append(energy_map(value.flatten(0, 1)[:, None]))
    if not parts:
        raise DataError("no samples to evaluate the generator on")
    return {key: np.concatenate(values) for key, values in parts.items()}


def source_cells(rows: Sequence[Any], camera: Any) -> np.ndarray:
    """Cells [k,2] (row, col; video orientation) of the centres of the sounding on-screen objects."""
    cells = []
    for r in rows:
        if r.sounding and r.on_screen:
            row, col = camera.pixel_to_cell(r.x, r.y)  # stored orientation: rotate by 180°
            cells.append((GRID_ROWS - 1 - int(row), GRID_COLS - 1 - int(col)))
    return np.asarray(cells, dtype=np.float64).reshape(-1, 2)


def peak_distances(maps: np.ndarray, cells: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per map [N,36,48]: Euclidean cell distance from its maximum to the nearest of its source ``cells``,
    and whether that source is within ``WITHIN_CELLS`` (Chebyshev); NaN without a source."""
    distance = np.full(len(maps), np.nan)
    within = np.full(len(maps), np.nan)
    for i, (heat, sources) in enumerate(zip(maps, cells, strict=True)):
        if len(sources):
            peak = np.array(np.unravel_index(int(np.argmax(heat)), heat.shape), dtype=np.float64)
            offsets = sources - peak
            distance[i] = np.sqrt(np.square(offsets).sum(axis=1)).min()
            within[i] = float(np.abs(offsets).max(axis=1).min() <= WITHIN_CELLS)
    return distance, within


def _chance(cells: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``peak_distances`` of a uniformly random cell, in expectation: the mean over every cell."""
    grid = np.stack(np.meshgrid(np.arange(GRID_ROWS), np.arange(GRID_COLS), indexing="ij"), axis=-1)
    grid = grid.reshape(-1, 1, 2).astype(np.float64)
    distance = np.full(len(cells), np.nan)
    within = np.full(len(cells), np.nan)
    for i, sources in enumerate(cells):
        if len(sources):
            offsets = grid - sources[None]
            distance[i] = np.sqrt(np.square(offsets).sum(axis=2)).min(axis=1).mean()
            within[i] = (np.abs(offsets).max(axis=2).min(axis=1) <= WITHIN_CELLS).mean()
    return distance, within


def _root_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.sqrt(weighted_mean(values, weights))


def evaluate_generator(
    checkpoint: str | Path | Trained,
    list_file: str | Path,
    raw_dir: str | Path,
    out: str | Path | None = None,
    *,
    frame_step: int = 3,
    batch_size: int = 4,
    device: str = "auto",
    num_workers: int = 0,
) -> dict[str, Any]:
    """Score a ``generate`` checkpoint on ``list_file`` (simulated records whose raw folder with
    ``ground_truth.csv`` is ``raw_dir``) as the module docstring says; written to ``out`` (JSON) if given."""
    if frame_step < 1:
        raise DataError(f"--frame-step must be at least 1, got {frame_step}")
    trained = as_trained(checkpoint)
    objective = generator_of(trained)
    length = trained.config.data.sample_length
    options = dataset_options(trained, nr_frames=FRAMES_PER_SECOND * length)
    loader = DataLoader(ACIVWDataset(list_file, mode="inference", **options), batch_size=batch_size,
                        shuffle=False, num_workers=num_workers)
    where = pick_device(device, setting="--device")
    objective.eval().to(where)
    frames = frame_outcomes(objective, progress(loader, desc="generate", total=len(loader), unit="batch"),
                            frame_step, where)
    clusters, strata = frames["video_ids"], frames["labels"]

    def interval(values: np.ndarray, statistic: Any = weighted_mean) -> dict[str, Any]:
        ci = bootstrap_ci(values, clusters, strata, statistic=statistic)
        return {"estimate": ci.estimate, "ci95": ci.as_list()}

    def difference(first: np.ndarray, second: np.ndarray) -> dict[str, object]:
        return paired_difference(first, second, clusters, strata).as_dict()

    per_sample: dict[str, Any] = {}
    scores = localization_metrics(frames, raw_dir, per_sample=per_sample, map_keys=MAPS)
    maps = {"generated": "generated", "true_energy": "energy", "mean_image": "mean_image", "chance": "chance",
            "any_object": "any_object"}
    hits, localization = {}, {}
    for name, key in maps.items():
        hits[name] = np.array(per_sample["localization"][key]["hit"], dtype=np.float64)
        kept = ("pointing_accuracy", "ciou_mean", "auc", "n")
        localization[name] = {k: v for k, v in scores[key].items() if k in kept}
        localization[name]["ci95"] = interval(hits[name])["ci95"]
    rows, camera = ground_truth_rows(frames, raw_dir)
    cells = [source_cells(r, camera) for r in rows]
    distance, within = {}, {}
    distance["generated"], within["generated"] = peak_distances(frames["generated_map"], cells)
    distance["true_energy"], within["true_energy"] = peak_distances(frames["energy_map"], cells)
    distance["mean_image"], within["mean_image"] = peak_distances(frames["mean_image_map"], cells)
    distance["chance"], within["chance"] = _chance(cells)
    bands = range(frames["correlation"].shape[1])

    def per_band(key: str, statistic: Any = weighted_mean) -> list[dict[str, Any]]:
        return [interval(frames[key][:, k], statistic) for k in bands]

    result = {
        "checkpoint": str(trained.path),
        "list": str(list_file),
        "frame_step": frame_step,
        "frames": len(clusters),
        "samples": len(loader.dataset),
        "videos": len(np.unique(clusters)),
        "frames_with_visible_source": int(np.isfinite(distance["generated"]).sum()),
        "correlation": {
            name: {"mean": interval(np.nanmean(frames[key], axis=1)), "per_band": per_band(key)}
            for name, key in (("generated", "correlation"), ("mean_image", "mean_image_correlation"))
        },
        "rmse": {
            "generated": per_band("squared_error", _root_mean),
            "mean_image": per_band("mean_image_squared_error", _root_mean),
        },
        "peak_distance_cells": {name: interval(values) for name, values in distance.items()},
        f"peak_within_{WITHIN_CELLS}_cells": {name: interval(values) for name, values in within.items()},
        "localization": localization,
        "comparisons": {
            "correlation_generated_vs_mean_image": difference(*(
                np.nanmean(frames[key], axis=1) for key in ("correlation", "mean_image_correlation"))),
            "localization_generated_vs_true_energy": difference(hits["generated"], hits["true_energy"]),
            "localization_generated_vs_mean_image": difference(hits["generated"], hits["mean_image"]),
            "localization_generated_vs_chance": difference(hits["generated"], hits["chance"]),
            # shares of peaks near the source: higher is better, as for every other verdict
            "peak_near_generated_vs_true_energy": difference(within["generated"], within["true_energy"]),
            "peak_near_generated_vs_mean_image": difference(within["generated"], within["mean_image"]),
            "peak_near_generated_vs_chance": difference(within["generated"], within["chance"]),
        },
        "machine": machine_info(),
    }
    result = clean_json(result)
    if out is not None:
        write_json_atomic(out, result)
    return result
