"""Every metric of one checkpoint: extract features per split, then kNN/linear probe, retrieval, localisation.

``evaluate_checkpoint`` writes into its output folder:

* ``features_<split>.npz`` for training / validation / testing (see ``extract`` for the keys);
* ``metrics.json`` (written by ``metrics_file.write_metrics``, read by ``metrics_file.read_metrics``):
  ``knn`` and ``linear_probe`` per feature key, the objective's test mode
  (``Objective.test_metrics``: ``classifier``, a supervised checkpoint's own test accuracy; ``triplet``, the
  triplet trainers' test-set triplet accuracy; ``contrastive``, the InfoNCE loss and in-batch retrieval
  accuracy), ``retrieval`` (audio→video and video→audio by the objective's ``pair_distances``, plus
  confusion matrices at 1/5/10), ``localization`` (its ``attention`` map, a generator's ``generated`` map and
  the acoustic ``energy`` map) and
  ``summary`` with the headline numbers (``audio_knn_accuracy``, ``retrieval_recall_at_1``,
  ``localization_accuracy``), and ``per_sample``: the outcome of every test sample (``video_ids``,
  ``labels``; ``knn_correct`` per feature key, ``classifier_correct``, audio→video ``retrieval_hit@k``,
  localisation ``hit`` / ``ciou`` per map and the ``any_object`` and ``largest_object`` baselines, null
  where a sample is not scored), from which :mod:`acoustic_ssl.evaluation.statistics` draws its
  confidence intervals; NaN is written as null;
* ``retrieval_examples.json``: top-10 gallery indices of a few audio queries (every 5th from index 9, as the
  original ``crossmodal.py``) for the report;
* ``localization/*.png``: overlays of a sample of test frames.

``evaluate_baseline`` does the same for a baseline that needs no learning (``evaluation.baselines``): its
features of the three lists, the kNN / probe metrics and per-sample outcomes, ``run_kind: "baseline"``.

The functions below also work on already-loaded feature dicts, for callers that assemble their own reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.knn import knn_predict, knn_protocol, linear_probe
from acoustic_ssl.evaluation.metrics_file import Summary, clean_json, write_metrics
from acoustic_ssl.evaluation.protocol import KNN_KS, OVERLAYS_PER_MAP, REPORTED_RANKS
from acoustic_ssl.io_utils import write_json_atomic

if TYPE_CHECKING:
    from acoustic_ssl.training.objectives import Objective
    from acoustic_ssl.training.trained import Trained

SPLITS = ("training", "validation", "testing")
LIST_FLAGS = {"training": "--train-list", "validation": "--valid-list", "testing": "--test-list"}
FEATURE_KEYS = ("audio", "video", "joint", "acoustic", "features", "audio_raw")
# (name, features key) of the heat maps that localisation scores: the objective's attention, a generator's
# images' energy, the true images' energy
HEAT_MAPS = (("attention", "attention_map"), ("generated", "generated_map"), ("energy", "energy_map"))


def classification_metrics(
    splits: Mapping[str, Mapping[str, np.ndarray]],
    keys: Sequence[str] = FEATURE_KEYS,
    ks: Sequence[int] = KNN_KS,
    probe: bool = False,
) -> dict[str, dict[str, dict[str, float]]]:
    """kNN (and optionally the linear probe) for every feature key present in all three splits."""
    train, val, test = (splits[s] for s in SPLITS)
    result: dict[str, dict[str, dict[str, float]]] = {"knn": {}, "linear_probe": {}}
    for key in keys:
        if not all(key in part for part in (train, val, test)):
            continue
        args = (train[key], train["labels"], val[key], val["labels"], test[key], test["labels"])
        result["knn"][key] = knn_protocol(*args, ks=ks)
        predicted = knn_predict(train[key], train["labels"], test[key], int(result["knn"][key]["k"]))
        result.setdefault("knn_correct", {})[key] = (predicted == test["labels"]).astype(int).tolist()
        if probe:
            result["linear_probe"][key] = linear_probe(*args)
    return result


def retrieval_distances(
    test: Mapping[str, np.ndarray], objective: Objective, chunk: int = 64
) -> np.ndarray | None:
    """The objective's audio↔video distances [audio, video] over the test split (``pair_distances`` in
    chunks of queries to bound memory), or None without an audio-video pair."""
    import torch

    from acoustic_ssl.evaluation.extract import score_inputs

    inputs = score_inputs(test)
    if inputs is None or not objective.has_pair:
        return None
    audio, video = inputs
    with torch.inference_mode():
        parts = [objective.pair_distances(audio[lo : lo + chunk], video)
                 for lo in range(0, len(audio), chunk)]
    return torch.cat(parts).double().numpy()


def retrieval_hits(distances: np.ndarray, labels: np.ndarray) -> dict[str, list[int]]:
    """Per audio query: whether a same-class video is among the top k (``REPORTED_RANKS``), as recall@k
    counts it (``retrieval.hits_at_ranks``)."""
    from acoustic_ssl.evaluation.retrieval import hits_at_ranks, rank_gallery

    hits = hits_at_ranks(rank_gallery(distances), labels, labels, REPORTED_RANKS)
    return {f"retrieval_hit@{k}": hit.astype(int).tolist() for k, hit in hits.items()}


def retrieval_block(distances: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Audio→video and video→audio metrics and confusions (the whole test set as gallery)."""
    from acoustic_ssl.evaluation.retrieval import retrieval_confusions, retrieval_metrics

    block: dict[str, Any] = {}
    for name, d in (("audio_to_video", distances), ("video_to_audio", distances.T)):
        block[name] = retrieval_metrics(d, labels, labels)
        block[name]["confusion"] = {
            str(k): m.tolist() for k, m in retrieval_confusions(d, labels, labels, num_classes).items()
        }
    return block


def retrieval_examples(distances: np.ndarray, start: int = 9, step: int = 5, count: int = 6) -> list[dict]:
    """Top-10 gallery indices of a few audio queries (the original figure used every 5th query from 9)."""
    from acoustic_ssl.evaluation.retrieval import rank_gallery

    n = len(distances)
    queries = list(range(min(start, n - 1), n, step))[:count] if n else []
    order = rank_gallery(distances[queries]) if queries else np.zeros((0, 0), int)
    return [{"query": int(q), "top": order[i, :10].tolist()} for i, q in enumerate(queries)]


# ---------------------------------------------------------------------------------------------- localisation
def ground_truth_rows(test: Mapping[str, np.ndarray], raw_dir: str | Path) -> tuple[list[list], Any]:
    """Per test sample: the ground-truth rows of the frames its video network saw, and the camera.

    Ground truth comes from ``<raw_dir>/class_K/data_NNN/ground_truth.csv`` and ``<raw_dir>/camera.json``; the
    frames are those in the features' ``frames`` key.
    """
    from acoustic_ssl.data.layout import GROUND_TRUTH_FILE, split_video_id, video_dir_name
    from acoustic_ssl.evaluation.localization import read_ground_truth
    from acoustic_ssl.imaging.geometry import PinholeCamera

    raw_dir = Path(raw_dir)
    camera = PinholeCamera.load(raw_dir / "camera.json")
    cache: dict[int, dict] = {}
    per_sample = []
    for vid, frames in zip(test["video_ids"], test["frames"], strict=True):
        vid = int(vid)
        if vid not in cache:
            path = raw_dir / video_dir_name(*split_video_id(vid)) / GROUND_TRUTH_FILE
            if not path.is_file():
                raise DataError(f"{path}: ground truth not found (localisation needs simulated data)")
            cache[vid] = read_ground_truth(path)
        per_sample.append([r for f in frames for r in cache[vid].get(int(f), [])])
    return per_sample, camera


def ground_truth_masks(
    test: Mapping[str, np.ndarray],
    raw_dir: str | Path,
    object_size_m: Mapping[int, float] | None = None,
) -> tuple[list[np.ndarray | None], list[np.ndarray], tuple[int, int]]:
    """Per test sample: mask of the sounding objects' boxes (None when none is visible), those boxes, and
    the frame size (H, W) of the reference camera (see :func:`ground_truth_rows`)."""
    rows, camera = ground_truth_rows(test, raw_dir)
    return _sounding_masks(rows, camera, object_size_m)


def _object_sizes(object_size_m: Mapping[int, float] | None) -> Mapping[int, float]:
    """Sizes for ground truth without box columns (the simulator's objects by default)."""
    if object_size_m is None:
        from acoustic_ssl.simulate.objects import OBJECT_SIZE_M

        return OBJECT_SIZE_M
    return object_size_m


def _sounding_masks(
    rows: Sequence[Sequence[Any]], camera: Any, object_size_m: Mapping[int, float] | None
) -> tuple[list[np.ndarray | None], list[np.ndarray], tuple[int, int]]:
    from acoustic_ssl.evaluation.localization import boxes_to_mask, gt_boxes

    object_size_m = _object_sizes(object_size_m)
    size = (camera.height, camera.width)
    masks: list[np.ndarray | None] = []
    all_boxes: list[np.ndarray] = []
    for sample_rows in rows:
        boxes = gt_boxes([r for r in sample_rows if r.sounding], camera.focal_px, object_size_m)
        all_boxes.append(boxes)
        masks.append(boxes_to_mask(boxes, size) if len(boxes) else None)
    return masks, all_boxes, size


def mismatched_partners(labels: np.ndarray) -> np.ndarray:
    """For each sample, another sample of a different class (the first one at least n/2 places later,
    cyclically): a fixed, deterministic pairing for the mismatched-audio control."""
    labels = np.asarray(labels)
    n = len(labels)
    partners = np.arange(n)
    for i in range(n):
        for step in range(n // 2, n // 2 + n):
            j = (i + step) % n
            if labels[j] != labels[i]:
                partners[i] = j
                break
    return partners


def mismatched_attention(test: Mapping[str, np.ndarray], objective: Objective) -> np.ndarray | None:
    """The objective's localisation maps of every test video with the audio of a sample of another class.

    A map that localises because of the sound moves (or fades) when the sound is swapped; one that scores the
    same with the wrong audio is a saliency map, whatever its pointing accuracy. None without audio-side and
    video maps.
    """
    import torch

    from acoustic_ssl.evaluation.extract import score_inputs

    inputs = score_inputs(test)
    if inputs is None or not objective.has_pair:
        return None
    audio, video = inputs
    partners = torch.as_tensor(mismatched_partners(test["labels"]))
    with torch.inference_mode():
        return objective.localization_map(audio[partners], video).numpy()


def localization_metrics(
    test: Mapping[str, np.ndarray],
    raw_dir: str | Path,
    objective: Objective | None = None,
    overlay_dir: str | Path | None = None,
    method: str = "mean",
    object_size_m: Mapping[int, float] | None = None,
    overlays: int = OVERLAYS_PER_MAP,
    mask_at: str = "frame",
    per_sample: dict[str, Any] | None = None,
    map_keys: Sequence[tuple[str, str]] = HEAT_MAPS,
) -> dict[str, dict[str, float]]:
    """Scores of the ``attention``, ``generated`` (a generator's images) and ``energy`` (the true images) maps
    present in the features (see ``localization``), the ``chance`` level (a uniformly random point: the share
    of the frame in the sounding boxes), the ``any_object`` baseline (pointing at a random visible object,
    sound ignored) with the mean number of visible objects per scored sample, and the ``largest_object``
    baseline (pointing at the largest visible box: the size prior, sound ignored).
    ``object_pointing_accuracy`` of a map: how often its maximum falls on any visible object, sounding or not
    (low = the map points at the background). ``attention_mismatched``: the attention of each video with the
    audio of a clip of another class (:func:`mismatched_attention`), the control that tells audio-visual
    localisation from saliency (needs the ``objective``).

    ``overlays`` PNGs per map (evenly spread over the scored samples) go to ``overlay_dir``; ``mask_at``:
    where the map is binarised (``localization.score_samples``); per-sample outcomes go into ``per_sample``
    when given; ``map_keys``: (name, features key) of the maps to score.
    """
    from acoustic_ssl.evaluation.localization import (
        any_object_pointing,
        boxes_to_mask,
        gt_boxes,
        largest_object_pointing,
        save_overlay,
        score_samples,
        summarise_scores,
        visible_objects,
    )

    maps = {name: test[key] for name, key in map_keys if key in test}
    if not maps:
        return {}
    mismatched = mismatched_attention(test, objective) if objective is not None else None
    if mismatched is not None:
        maps["attention_mismatched"] = mismatched
    rows, camera = ground_truth_rows(test, raw_dir)
    sizes = _object_sizes(object_size_m)
    masks, boxes, size = _sounding_masks(rows, camera, sizes)
    result: dict[str, dict[str, float]] = {}
    outcomes: dict[str, dict[str, list]] = {}
    # every visible object, sounding or not: does a map point at *an* object, or at the background?
    objects = [
        boxes_to_mask(gt_boxes(r, camera.focal_px, sizes), size) if m is not None else None
        for r, m in zip(rows, masks, strict=True)
    ]
    for name, heat in maps.items():
        hits, cious = score_samples(heat, masks, method=method, mask_at=mask_at)
        on_object, object_cious = score_samples(heat, objects, method=method, mask_at=mask_at)
        result[name] = summarise_scores(hits, cious)
        on_any = summarise_scores(on_object, object_cious)
        result[name]["object_pointing_accuracy"] = on_any["pointing_accuracy"]
        outcomes[name] = {
            "hit": [None if h is None else int(h) for h in hits],
            "ciou": cious,
            "on_object": [None if h is None else int(h) for h in on_object],
        }
    baseline = [any_object_pointing(r, m) for r, m in zip(rows, masks, strict=True)]
    scored = [i for i, m in enumerate(masks) if m is not None]
    counts = [visible_objects(rows[i]) for i in scored]
    result["any_object"] = {
        "pointing_accuracy": float(np.mean([baseline[i] for i in scored])) if scored else float("nan"),
        "visible_objects_mean": float(np.mean(counts)) if counts else float("nan"),
        "inverse_visible_objects_mean": float(np.mean([1.0 / c for c in counts])) if counts else float("nan"),
        "n": float(len(scored)),
    }
    outcomes["any_object"] = {"hit": baseline}
    largest = [
        largest_object_pointing(r, m, camera.focal_px, sizes) for r, m in zip(rows, masks, strict=True)
    ]
    largest_hits = [int(h) for h in largest if h is not None]
    result["largest_object"] = {
        "pointing_accuracy": float(np.mean(largest_hits)) if largest_hits else float("nan"),
        "n": float(len(largest_hits)),
    }
    outcomes["largest_object"] = {"hit": [None if h is None else int(h) for h in largest]}
    # a uniformly random point: its expected hit is the share of the frame inside the sounding boxes
    shares = [float(m.mean()) if m is not None and m.any() else None for m in masks]
    scored_shares = [v for v in shares if v is not None]
    result["chance"] = {
        "pointing_accuracy": float(np.mean(scored_shares)) if scored_shares else float("nan"),
        "n": float(len(scored_shares)),
    }
    outcomes["chance"] = {"hit": shares}
    if per_sample is not None:
        per_sample["localization"] = outcomes
    if overlay_dir is not None and "thumbnails" in test and scored and overlays > 0:
        picks = [scored[int(j)] for j in np.linspace(0, len(scored) - 1, min(overlays, len(scored)))]
        for name in (n for n, _ in map_keys if n in maps):
            heat = maps[name]
            for i in picks:
                save_overlay(
                    Path(overlay_dir) / f"{name}_{i:05d}.png", test["thumbnails"][i], heat[i], boxes[i],
                    title=f"{name} · sample {i} · class {int(test['labels'][i])}", frame_size=size,
                )
    return result


def summary(metrics: Mapping[str, Any]) -> Summary:
    """Headline numbers: audio kNN accuracy, audio→video R@1, pointing accuracy (attention, else the
    generated images' energy, else the true images').

    ``audio_knn_accuracy`` uses the audio feature alone, as the original's per-modality features
    (``extract_features_product.py``, its commented kNN runs); ``joint_knn_accuracy`` the audio + video vector
    of ``testing2.py`` that its active ``compute_knn_accuracy.sh`` scored. ``classifier_accuracy``,
    ``triplet_test_accuracy`` and ``contrastive_test_accuracy``: the objectives' test modes.
    """
    knn = metrics.get("knn", {})
    audio_key = next((k for k in ("audio", "features", "acoustic") if k in knn), None)
    retrieval = metrics.get("retrieval", {}).get("audio_to_video", {})
    loc = metrics.get("localization", {})
    loc_key = next((k for k in ("attention", "generated", "energy") if k in loc), None)
    return Summary(
        audio_knn_accuracy=knn[audio_key]["accuracy"] if audio_key else None,
        audio_knn_feature=audio_key,
        joint_knn_accuracy=knn["joint"]["accuracy"] if "joint" in knn else None,
        classifier_accuracy=metrics.get("classifier", {}).get("accuracy"),
        triplet_test_accuracy=metrics.get("triplet", {}).get("accuracy"),
        contrastive_test_accuracy=metrics.get("contrastive", {}).get("accuracy"),
        retrieval_recall_at_1=retrieval.get("recall@1"),
        localization_accuracy=loc[loc_key]["pointing_accuracy"] if loc_key else None,
        localization_map=loc_key,
    )


def compute_metrics(
    splits: Mapping[str, Mapping[str, np.ndarray]],
    *,
    objective: Objective | None = None,
    raw_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    ks: Sequence[int] = KNN_KS,
    probe: bool = True,
    num_classes: int | None = None,
    overlays: int = OVERLAYS_PER_MAP,
    test_batch_size: int | None = None,
    localization_mask: str = "frame",
) -> dict[str, Any]:
    """All metrics from loaded features (``splits`` keyed training/validation/testing).

    ``objective``: the checkpoint's, which scores audio against video (retrieval, the mismatched-audio
    control) and runs its test mode on batches of ``test_batch_size`` (the run's validation batch); without
    it only the feature metrics and the stored maps are scored.
    """
    from acoustic_ssl.training.objectives import classifier_correct

    test = splits["testing"]
    metrics: dict[str, Any] = classification_metrics(splits, ks=ks, probe=probe)
    per_sample: dict[str, Any] = {
        "video_ids": test["video_ids"].tolist() if "video_ids" in test else None,
        "labels": test["labels"].tolist(),
        "knn_correct": metrics.pop("knn_correct", {}),
    }
    if "logits" in test:
        per_sample["classifier_correct"] = classifier_correct(test).astype(int).tolist()
    n_classes = num_classes or int(max(int(s["labels"].max()) for s in splits.values())) + 1
    distances = retrieval_distances(test, objective) if objective is not None else None
    if distances is not None:
        metrics["retrieval"] = retrieval_block(distances, test["labels"], n_classes)
        per_sample.update(retrieval_hits(distances, test["labels"]))
        if out_dir is not None:
            write_json_atomic(Path(out_dir) / "retrieval_examples.json", retrieval_examples(distances))
    if objective is not None and test_batch_size:
        metrics.update(objective.test_metrics(splits, distances, test_batch_size))
    if raw_dir is not None:
        overlay_dir = Path(out_dir) / "localization" if out_dir is not None else None
        metrics["localization"] = localization_metrics(
            test, raw_dir, objective, overlay_dir, overlays=overlays, mask_at=localization_mask,
            per_sample=per_sample,
        )
    metrics["summary"] = dataclasses.asdict(summary(metrics))
    metrics["per_sample"] = per_sample
    return clean_json(metrics)


def split_features(
    out_dir: str | Path,
    lists: Mapping[str, str | Path | None],
    extract: Callable[[str, str | Path, Path], object],
    *,
    reuse: bool = True,
    no_list: Callable[[str, str], str],
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
    """Arrays and meta of ``out_dir/features_<split>.npz`` for the three splits: the file as it is (with
    ``reuse``), else ``extract(split, lists[split], path)`` writes it first. A split to extract without a
    list is the one-line error ``no_list(split, its flag)``. Shared by checkpoints and baselines, so both
    name, reuse and refuse their features files alike."""
    from acoustic_ssl.evaluation.extract import load_features

    out_dir = Path(out_dir)
    splits, meta = {}, {}
    for split in SPLITS:
        path = out_dir / f"features_{split}.npz"
        if not (reuse and path.is_file()):
            list_file = lists.get(split)
            if not list_file:
                raise DataError(no_list(split, LIST_FLAGS[split]))
            extract(split, list_file, path)
        splits[split], meta[split] = load_features(path)
    return splits, meta


def evaluate_checkpoint(
    checkpoint: str | Path | Trained,
    out_dir: str | Path,
    *,
    lists: Mapping[str, str | Path] | None = None,
    raw_dir: str | Path | None = None,
    stats_dir: str | Path | None = None,
    batch_size: int | None = None,
    ks: Sequence[int] = KNN_KS,
    probe: bool = True,
    reuse: bool = True,
    energy_maps: bool | None = None,
    overlays: int = OVERLAYS_PER_MAP,
    device: str = "auto",
    num_workers: int = 0,
    localization_mask: str = "frame",
) -> dict[str, Any]:
    """Extract features of the three splits (lists default to the run config's), score and write metrics.json.

    The checkpoint is loaded once (or passed loaded) and its objective does the scoring. With ``reuse`` an
    existing ``features_<split>.npz`` in ``out_dir`` is loaded instead of re-extracted. ``energy_maps``
    (default: when ``raw_dir`` is given) loads the acoustic images of the test split for the energy
    localisation map.
    """
    from acoustic_ssl.evaluation.extract import as_trained, extract_features

    out_dir = Path(out_dir)
    trained = as_trained(checkpoint, stats_dir)
    data = trained.config.data
    defaults = {"training": data.train_list, "validation": data.valid_list, "testing": data.test_list}
    energy = raw_dir is not None if energy_maps is None else energy_maps

    def extract(split: str, list_file: str | Path, path: Path) -> None:
        extract_features(trained, list_file, path, split=split, batch_size=batch_size, device=device,
                         energy_maps=energy and split == "testing", num_workers=num_workers)

    splits, meta = split_features(
        out_dir, {**defaults, **{k: v for k, v in (lists or {}).items() if v}}, extract, reuse=reuse,
        no_list=lambda split, flag: f"{trained.path}: its run config names no {split} list; pass {flag}",
    )
    metrics = compute_metrics(
        splits, objective=trained.objective, raw_dir=raw_dir, out_dir=out_dir, ks=ks, probe=probe,
        overlays=overlays, test_batch_size=data.valid_batch_size or data.batch_size,
        localization_mask=localization_mask,
    )
    metrics["checkpoint"] = str(trained.path)
    metrics["checkpoint_name"] = meta["testing"].get("checkpoint_name")
    metrics["run_kind"] = trained.kind
    metrics["epoch"] = trained.epoch
    metrics["roles"] = meta["testing"].get("roles")
    write_metrics(out_dir, metrics)
    return metrics


def evaluate_baseline(
    name: str,
    out_dir: str | Path,
    *,
    lists: Mapping[str, str | Path | None],
    ks: Sequence[int] = KNN_KS,
    probe: bool = True,
    reuse: bool = True,
    batch_size: int | None = None,
    num_workers: int = 0,
) -> dict[str, Any]:
    """A baseline that needs no learning (``evaluation.baselines``) scored as a checkpoint is: its features
    of the three lists (``training`` / ``validation`` / ``testing``, all required: it has no run config to
    take them from), the same kNN protocol and per-sample outcomes (``compute_metrics`` without an
    objective), ``metrics.json`` in ``out_dir`` with ``run_kind: "baseline"`` and ``baseline: name``.

    Reused features must be this baseline's (a folder of checkpoint features is refused, not mixed in).
    """
    from acoustic_ssl.evaluation.baselines import baseline_function, extract_baseline

    baseline_function(name)  # an unknown name fails before anything is read

    def extract(split: str, list_file: str | Path, path: Path) -> None:
        extract_baseline(name, list_file, path, split=split, batch_size=batch_size, num_workers=num_workers)

    out_dir = Path(out_dir)
    splits, meta = split_features(
        out_dir, lists, extract, reuse=reuse,
        no_list=lambda split, flag: f"--baseline {name} has no run config to take the {split} list from; "
        f"pass {flag}",
    )
    for split, info in meta.items():
        if info.get("baseline") != name:
            source = info.get("checkpoint") or info.get("baseline") or "another source"
            raise DataError(
                f"{out_dir / f'features_{split}.npz'}: features of {source}, not of baseline {name!r}; "
                "pass --fresh or another --out"
            )
    metrics = compute_metrics(splits, ks=ks, probe=probe)
    metrics["run_kind"] = "baseline"
    metrics["baseline"] = name
    metrics["lists"] = {split: info.get("list") for split, info in meta.items()}
    write_metrics(out_dir, metrics)
    return metrics
