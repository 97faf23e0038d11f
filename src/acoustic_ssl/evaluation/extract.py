"""Feature extraction: run a checkpoint's networks on ACIVW samples (inference mode) and save one ``.npz``.

Mirrors the original ``extract_features_product.py`` / ``testing2.py`` / ``extract_features_one.py``:
samples of the run's ``sample_length`` (2 s), consecutive and non-overlapping, video frames picked as in
training (``data.dataset.sample_frame_numbers``). The networks run through the objective's own forward
path (``Objective.embed``) and the objective says which features come out (``Objective.features``): the
self-supervised triplet family's audio map A (HearNet: ReLU(a) tiled over 12×16; DualCamNet: time-mean map)
and video map V (mean over frames), the contrastive family's projected cosines, a classifier's logits.

Keys of the ``.npz`` (N samples; a key is absent when its network/modality is):

=================  =======================  ================================================================
key                shape / dtype            meaning
=================  =======================  ================================================================
labels             [N] int64                class index
locations          [N] int64                location (video number within its class)
video_ids          [N] int64                ``layout.video_id(class, location)``
starts             [N] int64                first second of the sample within its video (0-based)
frames             [N, nr_frames] int64     1-based video frame numbers fed to the video network
audio              [N, 128] float32         the objective's audio feature (triplet: y = l2n(Σ_p A), as the
                                            original; contrastive: l2n of the embedding)
audio_raw          [N, 128] float32         raw embedding: HearNet fc2 (linear) / DualCamNet Σ_p mean map
video              [N, 128] float32         the objective's video feature (triplet: x = l2n(Σ_p A⊙V⊙V) with
                                            the sample's own audio; contrastive: l2n of the cell-mean map)
joint              [N, 128] float32         x + y (``testing2.py``)
acoustic           [N, 128] float32         l2n(Σ_p time-mean DualCamNet map) of the frozen acoustic network
features           [N, 128] float32         supervised model's 128-d feature (HearNet ReLU(fc2); ResNet18 and
                                            DualCamNet: pooled map, mean over frames)
logits             [N, C] float32           supervised model's logits (mean over frames): its test accuracy
audio_map          [N, 128, 12, 16] f32     A, only when the audio side is a map (DualCamNet); only with maps
video_map          [N, 128, 12, 16] f32     V (for retrieval); only with maps (below)
attention_map      [N, 12, 16] float32      the objective's ``localization_map`` (triplet: Σ_c A⊙V⊙V;
                                            contrastive: the cosine map)
energy_map         [N, 36, 48] float32      ``mfcc.energy_map``: energy of the time-mean acoustic image
generated_map      [N, 36, 48] float32      the same of the generated images (``generate`` runs)
thumbnails         [N, h, w, 3] uint8       first used frame, RGB, ~150 px wide (report / overlays)
meta               [] str (JSON)            checkpoint, split, run_kind, audio_kind, nr_frames, sample_length,
                                            keys (a baseline's file: baseline, run_kind "baseline", list,
                                            split; ``evaluation.baselines``)
=================  =======================  ================================================================

The 128×12×16 maps take 98 kB per sample, so by default they are kept only for the ``testing`` split (the
retrieval gallery); ``maps=True/False`` overrides. ``audio_raw`` / ``audio_map`` and ``video_map`` are the
``embed`` outputs themselves, so the objective recomputes its scores from a features file
(:func:`score_inputs`, ``Objective.pair_distances``).

Batches follow the list's order. With BatchNorm in batch-statistics mode at evaluation (a ResNet18 with
``bn_batch_stats_at_eval``, the original's behaviour) a sample's features depend on the other samples of its
batch, so the batch size defaults to the original's 4 there (its feature scripts: 4 samples in list order),
else to 8 (``extraction_batch_size``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from acoustic_ssl.data.dataset import ACIVWDataset, sample_frame_numbers
from acoustic_ssl.data.layout import VIDEO_MEAN_BGR_ORDER, Modality
from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.mfcc import energy_map
from acoustic_ssl.io_utils import atomic_path, progress
from acoustic_ssl.models import Network
from acoustic_ssl.training.objectives import Objective
from acoustic_ssl.training.trained import Trained, load_trained

MAP_KEYS = ("audio_map", "video_map")
ORIGINAL_BATCH_SIZE = 4  # the original's feature scripts: batches of 4 samples in list order
DEFAULT_BATCH_SIZE = 8
ID_KEYS = (("label", "labels"), ("location", "locations"), ("video_id", "video_ids"), ("start", "starts"))


def as_trained(checkpoint: str | Path | Trained, stats_dir: str | Path | None = None) -> Trained:
    """A loaded checkpoint as it is, or the one at a path loaded now (once)."""
    return checkpoint if isinstance(checkpoint, Trained) else load_trained(checkpoint, stats_dir=stats_dir)


def extraction_batch_size(networks: Mapping[str, Network], batch_size: int | None = None) -> int:
    """``batch_size`` if given, else the original's 4 when a network normalises with batch statistics at
    evaluation (its features then depend on the batch), else 8."""
    if batch_size is not None:
        return batch_size
    batch_stats = any(getattr(net, "bn_batch_stats_at_eval", False) for net in networks.values())
    return ORIGINAL_BATCH_SIZE if batch_stats else DEFAULT_BATCH_SIZE


def _thumbnails(video: torch.Tensor) -> np.ndarray:
    """First frame of each sample as RGB uint8, shrunk by an integer factor to at most ~150 pixels wide."""
    mean = torch.tensor(VIDEO_MEAN_BGR_ORDER, dtype=video.dtype)[:, None, None]
    bgr = video[:, 0] + mean
    small = torch.nn.functional.avg_pool2d(bgr, max(1, round(bgr.shape[-1] / 150)))
    return small.flip(1).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


def batch_ids(batch: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The identity arrays of a collated batch (``labels``, ``locations``, ``video_ids``, ``starts``), so
    every features file names its samples alike."""
    return {name: batch[key].numpy().astype(np.int64) for key, name in ID_KEYS if key in batch}


@torch.inference_mode()
def extract_batch(
    objective: Objective,
    batch: Mapping[str, torch.Tensor],
    energy_maps: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """All features of one collated batch (see the module table), as NumPy arrays.

    The objective must already be on ``device``; inputs are moved there, results come back to the CPU.
    """
    out = batch_ids(batch)
    inputs = {m.batch_key: batch[m.batch_key].to(device) for m in Modality if m.batch_key in batch}
    for key, value in objective.features(objective.embed(inputs)).items():
        out[key] = _np(value)
    if energy_maps and "acoustic" in batch:
        out["energy_map"] = energy_map(batch["acoustic"])
    if "video" in batch:
        out["thumbnails"] = _thumbnails(batch["video"].float())
    return out


def extract_from_batches(
    objective: Objective,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    nr_frames: int = 2,
    sample_length: int = 2,
    energy_maps: bool = True,
    total: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """Run :func:`extract_batch` over batches and concatenate; adds ``frames`` from ``starts``."""
    objective.eval().to(device)
    for net in objective.networks.values():  # the frozen teacher lives outside the module tree
        net.eval().to(device)
    return collect_batches(
        batches, lambda batch: extract_batch(objective, batch, energy_maps, device),
        nr_frames=nr_frames, sample_length=sample_length, total=total,
    )


def collect_batches(
    batches: Iterable[Mapping[str, torch.Tensor]],
    per_batch: Callable[[Mapping[str, torch.Tensor]], Mapping[str, np.ndarray]],
    *,
    nr_frames: int = 2,
    sample_length: int = 2,
    total: int | None = None,
) -> dict[str, np.ndarray]:
    """``per_batch`` over batches, concatenated, plus ``frames`` from ``starts``: the one loop behind a
    checkpoint's features and a baseline's (``evaluation.baselines``), so both files hold the same keys."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in progress(batches, desc="extract", total=total, unit="batch"):
        for key, value in per_batch(batch).items():
            parts.setdefault(key, []).append(value)
    if not parts:
        raise DataError("no samples to extract features from")
    arrays = {key: np.concatenate(values) for key, values in parts.items()}
    if "starts" in arrays:
        arrays["frames"] = np.array(
            [sample_frame_numbers(int(s), sample_length, nr_frames) for s in arrays["starts"]], dtype=np.int64
        ).reshape(len(arrays["starts"]), -1)
    return arrays


def save_features(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write arrays + a JSON ``meta`` entry to ``path`` (.npz, atomically)."""
    path = Path(path)
    meta = {**meta, "keys": sorted(arrays)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    return path


def load_features(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and meta of a features ``.npz`` (DataError for a damaged file or one without ``labels``)."""
    import zipfile
    import zlib

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key != "meta"}
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: features file not found") from exc
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # truncated, empty or bit-flipped: zip's CRC or numpy's header check fails
        raise DataError(f"{path}: damaged features file ({type(exc).__name__}: {exc})") from exc
    if "labels" not in arrays:
        raise DataError(f"{path}: not a features file of `acoustic-ssl extract` (no 'labels' array)")
    return arrays, meta


def score_inputs(arrays: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ``embed`` outputs an objective scores with, from a features file: the audio side (its map where
    it is one, else its vector) and the video maps; None without both (maps are kept for testing only)."""
    audio = arrays.get("audio_map", arrays.get("audio_raw"))
    if audio is None or "video_map" not in arrays:
        return None
    return torch.as_tensor(audio), torch.as_tensor(arrays["video_map"])


def _video_size(trained: Trained) -> tuple[int, int] | None:
    """The run's ``data.video_size``, else the native frame size of its video network."""
    if trained.config.data.video_size:
        height, width = trained.config.data.video_size
        return height, width
    sizes = [n.input_size for n in trained.networks.values() if n.modality is Modality.VIDEO]
    return next((size for size in sizes if size), None)


def dataset_options(
    trained: Trained, *, energy_maps: bool = False, nr_frames: int | None = None, targets: bool = True
) -> dict[str, Any]:
    """``ACIVWDataset`` keyword arguments that feed a checkpoint's networks as in training: its modalities
    (plus the acoustic images with ``energy_maps``; without ``targets`` only what its networks read, not what
    its loss compares with: a generator on data without an array), frames per sample, sample length,
    normalisation and video size (the run's, else its video network's native one: 112×149 at output stride
    8, 224×298 at 16).
    """
    data = trained.config.data
    objective = trained.objective
    read = objective.modalities if targets else objective.input_modalities
    modalities = set(read) | ({Modality.ACOUSTIC} if energy_maps else set())
    return {
        "modalities": modalities,
        "nr_frames": nr_frames or data.nr_frames,
        "total_length": data.sample_length,
        "sample_length": data.sample_length,
        "normalize": trained.normalization if Modality.AUDIO in modalities else None,
        "video_size": _video_size(trained) if Modality.VIDEO in modalities else None,
    }


def extract_features(
    checkpoint: str | Path | Trained,
    list_file: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    stats_dir: str | Path | None = None,
    batch_size: int | None = None,
    nr_frames: int | None = None,
    energy_maps: bool = False,
    num_workers: int = 0,
    device: str = "auto",
    maps: bool | None = None,
) -> Path:
    """Run a checkpoint (a path, loaded here, or a loaded ``Trained``) on every sample of ``list_file`` and
    save the ``.npz`` at ``out``.

    Inputs as :func:`dataset_options` chooses them; ``batch_size`` None: :func:`extraction_batch_size`.
    """
    if batch_size is not None and batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    trained = as_trained(checkpoint, stats_dir)
    options = dataset_options(trained, energy_maps=energy_maps, nr_frames=nr_frames)
    batch_size = extraction_batch_size(trained.networks, batch_size)
    dataset = ACIVWDataset(list_file, mode="inference", **options)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = extract_from_batches(
        trained.objective, loader, nr_frames=options["nr_frames"], sample_length=options["sample_length"],
        energy_maps=energy_maps, total=len(loader), device=pick_device(device, setting="--device"),
    )
    split = split or Path(list_file).stem
    if not (maps if maps is not None else split == "testing"):
        arrays = {k: v for k, v in arrays.items() if k not in MAP_KEYS}
    audio_role = trained.objective.audio_role
    meta = {
        "checkpoint": str(trained.path),
        "checkpoint_name": trained.name,
        "list": str(list_file),
        "split": split,
        "audio_kind": trained.roles.get(audio_role) if audio_role else None,
        "roles": trained.roles,
        "run_kind": trained.kind,
        "nr_frames": options["nr_frames"],
        "sample_length": options["sample_length"],
        "epoch": trained.epoch,
        "batch_size": batch_size,
    }
    return save_features(out, arrays, meta)
