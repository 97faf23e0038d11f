"""Feature extraction: run a checkpoint's networks on ACIVW samples (inference mode) and save one ``.npz``.

Mirrors the original ``extract_features_product.py`` / ``testing2.py`` / ``extract_features_one.py``:
2-s samples, consecutive and non-overlapping, video frames picked by linspace (``nr_frames``), the audio
side's map A (HearNet: ReLU(a) tiled over 12×16; DualCamNet: time-mean map) and the video map V (mean over
frames). The networks run through the training objective's own forward path (``Objective.embed`` of the
checkpoint's roles); the features below are derived from its outputs.

Keys of the ``.npz`` (N samples; a key is absent when its network/modality is):

=================  =======================  ================================================================
key                shape / dtype            meaning
=================  =======================  ================================================================
labels             [N] int64                class index
locations          [N] int64                location (video number within its class)
video_ids          [N] int64                ``layout.video_id(class, location)``
starts             [N] int64                first second of the sample within its video (0-based)
frames             [N, nr_frames] int64     1-based video frame numbers fed to the video network
audio              [N, 128] float32         y = l2n(Σ_p A) (self-supervised audio feature, as the original)
audio_raw          [N, 128] float32         raw embedding: HearNet fc2 (linear) / DualCamNet Σ_p mean map
video              [N, 128] float32         x = l2n(Σ_p A⊙V⊙V) with the sample's own audio
joint              [N, 128] float32         x + y (``testing2.py``)
acoustic           [N, 128] float32         l2n(Σ_p time-mean DualCamNet map) of the frozen acoustic network
features           [N, 128] float32         supervised model's 128-d feature (HearNet ReLU(fc2); ResNet18 and
                                            DualCamNet: pooled map, mean over frames)
logits             [N, C] float32           supervised model's logits (mean over frames): its test accuracy
audio_map          [N, 128, 12, 16] f32     A, only when the audio side is DualCamNet (HearNet's A is rebuilt
                                            from ``audio_raw``); only with maps (below)
video_map          [N, 128, 12, 16] f32     V (for attention retrieval); only with maps (below)
attention_map      [N, 12, 16] float32      ``localization_map(A, V)`` = Σ_c A⊙V⊙V
energy_map         [N, 36, 48] float32      ``mfcc_to_energy`` of the time-mean acoustic image (video view)
thumbnails         [N, h, w, 3] uint8       first used frame, RGB, ~150 px wide (report / overlays)
meta               [] str (JSON)            checkpoint, split, audio_kind, nr_frames, sample_length, keys
=================  =======================  ================================================================

The 128×12×16 maps take 98 kB per sample, so by default they are kept only for the ``testing`` split (the
retrieval gallery); ``maps=True/False`` overrides.

Batches follow the list's order. With BatchNorm in batch-statistics mode at evaluation (a ResNet18 with
``bn_batch_stats_at_eval``, the original's behaviour) a sample's features depend on the other samples of its
batch, so the batch size defaults to the original's 4 there (its feature scripts: 4 samples in list order),
else to 8 (``extraction_batch_size``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import VIDEO_MEAN_BGR_ORDER, Modality
from acoustic_ssl.data.stats import Normalization
from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.localization import frames_used
from acoustic_ssl.imaging.mfcc import mfcc_to_energy
from acoustic_ssl.io_utils import atomic_path, progress
from acoustic_ssl.models import (
    Network,
    as_audio_map,
    audio_map_from_vector,
    audio_vector,
    l2n,
    localization_map,
    video_vector,
)
from acoustic_ssl.training.checkpoint import build_models, read_checkpoint, spectrogram_stats
from acoustic_ssl.training.objectives import Objective, objective_for_roles

MAP_KEYS = ("audio_map", "video_map")
ORIGINAL_BATCH_SIZE = 4  # the original's feature scripts: batches of 4 samples in list order
DEFAULT_BATCH_SIZE = 8
ID_KEYS = (("label", "labels"), ("location", "locations"), ("video_id", "video_ids"), ("start", "starts"))


def objective_of(models: Mapping[str, nn.Module]) -> Objective:
    """The objective of a checkpoint's networks by role (their one forward path), in eval mode."""
    try:
        objective = objective_for_roles(models)
    except ValueError as exc:
        raise DataError(f"{exc} (expected video/audio/acoustic/model roles of a training run)") from None
    for net in objective.networks.values():
        net.eval()
    return objective


def features_from_embedding(embedded: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The features of the module table from ``Objective.embed``'s outputs of one batch."""
    out: dict[str, torch.Tensor] = {}
    audio_map = None
    if "audio" in embedded:
        audio = embedded["audio"]
        audio_map = as_audio_map(audio)
        if audio.dim() == 2:
            out["audio_raw"] = audio
        else:
            out["audio_raw"], out["audio_map"] = audio.sum(dim=(2, 3)), audio
        out["audio"] = audio_vector(audio_map)
    if "video" in embedded:
        video_map = embedded["video"]
        out["video_map"] = video_map
        if audio_map is not None:
            out["video"] = video_vector(audio_map, video_map)
            out["joint"] = out["video"] + out["audio"]
            out["attention_map"] = localization_map(audio_map, video_map)
    if "acoustic" in embedded:
        out["acoustic"] = l2n(embedded["acoustic"])
    if "features" in embedded:
        out["features"] = embedded["features"]
    if "logits" in embedded:
        out["logits"] = embedded["logits"]
    return out


def extraction_batch_size(models: Mapping[str, nn.Module], batch_size: int | None = None) -> int:
    """``batch_size`` if given, else the original's 4 when a network normalises with batch statistics at
    evaluation (its features then depend on the batch), else 8."""
    if batch_size is not None:
        return batch_size
    batch_stats = any(getattr(net, "bn_batch_stats_at_eval", False) for net in models.values())
    return ORIGINAL_BATCH_SIZE if batch_stats else DEFAULT_BATCH_SIZE


def _thumbnails(video: torch.Tensor) -> np.ndarray:
    """First frame of each sample as RGB uint8, shrunk by an integer factor to at most ~150 pixels wide."""
    mean = torch.tensor(VIDEO_MEAN_BGR_ORDER, dtype=video.dtype)[:, None, None]
    bgr = video[:, 0] + mean
    small = torch.nn.functional.avg_pool2d(bgr, max(1, round(bgr.shape[-1] / 150)))
    return small.flip(1).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


@torch.inference_mode()
def extract_batch(
    objective: Objective,
    batch: Mapping[str, torch.Tensor],
    energy_maps: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """All features of one collated batch (see the module table), as NumPy arrays.

    The networks must already be on ``device``; inputs are moved there, results come back to the CPU.
    """
    out = {name: batch[key].numpy().astype(np.int64) for key, name in ID_KEYS if key in batch}
    inputs = {m.batch_key: batch[m.batch_key].to(device) for m in Modality if m.batch_key in batch}
    for key, value in features_from_embedding(objective.embed(inputs)).items():
        out[key] = _np(value)
    if energy_maps and "acoustic" in batch:
        mean_image = batch["acoustic"].double().mean(dim=1).permute(0, 2, 3, 1).numpy()  # [B,36,48,12]
        out["energy_map"] = mfcc_to_energy(mean_image).astype(np.float32)
    if "video" in batch:
        out["thumbnails"] = _thumbnails(batch["video"].float())
    return out


def extract_from_batches(
    models: Mapping[str, nn.Module],
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    nr_frames: int = 2,
    sample_length: int = 2,
    energy_maps: bool = True,
    total: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """Run :func:`extract_batch` over batches and concatenate; adds ``frames`` from ``starts``.

    ``models``: networks by role, as a checkpoint holds them (``load_checkpoint``).
    """
    objective = objective_of(models)
    for net in objective.networks.values():
        net.to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in progress(batches, desc="extract", total=total, unit="batch"):
        for key, value in extract_batch(objective, batch, energy_maps, device).items():
            parts.setdefault(key, []).append(value)
    if not parts:
        raise DataError("no samples to extract features from")
    arrays = {key: np.concatenate(values) for key, values in parts.items()}
    if "starts" in arrays:
        arrays["frames"] = np.array(
            [frames_used(int(s), sample_length, nr_frames) for s in arrays["starts"]], dtype=np.int64
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


def audio_maps_of(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The audio-side maps A [N,128,12,16]: stored (DualCamNet) or rebuilt from the HearNet embedding."""
    if "audio_map" in arrays:
        return arrays["audio_map"]
    if "audio_raw" in arrays:
        return audio_map_from_vector(torch.as_tensor(arrays["audio_raw"])).numpy()
    raise DataError("features have no audio side (need audio_map or audio_raw)")


def _video_size(objective: Objective, data_config: Mapping[str, Any]) -> tuple[int, int] | None:
    """The run's ``data.video_size``, else the native frame size of its video network."""
    if data_config.get("video_size"):
        height, width = data_config["video_size"]
        return height, width
    sizes = [n.input_size for n in objective.networks.values() if n.modality is Modality.VIDEO]
    return next((size for size in sizes if size), None)


@dataclass(frozen=True)
class InferenceSetup:
    """A checkpoint ready to run on records: its networks and the sample settings it was trained with."""

    models: dict[str, Network]
    info: dict[str, Any]
    objective: Objective
    nr_frames: int
    dataset_options: dict[str, Any]  # ACIVWDataset's modalities, nr_frames, normalize, video_size


def inference_setup(
    checkpoint: str | Path,
    *,
    stats_dir: str | Path | None = None,
    nr_frames: int | None = None,
    energy_maps: bool = False,
) -> InferenceSetup:
    """Load ``checkpoint`` (verified) and the dataset options that feed its networks as in training.

    Spectrogram statistics default to those stored in the checkpoint (``stats_dir`` overrides), ``nr_frames``
    and the video size to the training run's config (the video size else follows the video network: 112×149
    for a ResNet18 of output stride 8, 224×298 for 16). ``energy_maps`` also loads the acoustic images.
    """
    tensors, info = read_checkpoint(checkpoint)
    models = build_models(tensors, info)
    objective = objective_of(models)
    data_config = _data_config(info)
    if nr_frames is None:
        nr_frames = int(data_config.get("nr_frames") or 2)
    modalities = set(objective.modalities) | ({Modality.ACOUSTIC} if energy_maps else set())
    stats = spectrogram_stats(tensors, info, stats_dir) if Modality.AUDIO in modalities else None
    options = {
        "modalities": modalities,
        "nr_frames": nr_frames,
        "normalize": Normalization.from_stats(*stats, source=str(checkpoint)) if stats is not None else None,
        "video_size": _video_size(objective, data_config) if Modality.VIDEO in modalities else None,
    }
    return InferenceSetup(models, info, objective, nr_frames, options)


def extract_features(
    checkpoint: str | Path,
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
    """Load ``checkpoint``, run it on every 2-s sample of ``list_file`` and save the ``.npz`` at ``out``.

    Statistics, frames and video size as :func:`inference_setup` chooses them; ``batch_size`` None:
    :func:`extraction_batch_size`.
    """
    if batch_size is not None and batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    setup = inference_setup(checkpoint, stats_dir=stats_dir, nr_frames=nr_frames, energy_maps=energy_maps)
    models, info, objective, nr_frames = setup.models, setup.info, setup.objective, setup.nr_frames
    batch_size = extraction_batch_size(models, batch_size)
    dataset = ACIVWDataset(
        list_file, mode="inference", total_length=2, sample_length=2, **setup.dataset_options
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = extract_from_batches(
        models, loader, nr_frames=nr_frames, sample_length=2, energy_maps=energy_maps, total=len(loader),
        device=pick_device(device, setting="--device"),
    )
    split = split or Path(list_file).stem
    if not (maps if maps is not None else split == "testing"):
        arrays = {k: v for k, v in arrays.items() if k not in MAP_KEYS}
    roles = {role: spec["name"] for role, spec in info["models"].items()}
    meta = {
        "checkpoint": str(checkpoint),
        "checkpoint_name": Path(str(info.get("path", checkpoint))).name,
        "list": str(list_file),
        "split": split,
        "audio_kind": roles.get(objective.audio_role) if objective.audio_role else None,
        "roles": roles,
        "run_kind": info.get("kind"),
        "nr_frames": nr_frames,
        "sample_length": 2,
        "epoch": info.get("epoch"),
        "batch_size": batch_size,
    }
    return save_features(out, arrays, meta)


def _data_config(info: Mapping[str, Any]) -> Mapping[str, Any]:
    config = info.get("config", {})
    data = config.get("data", {}) if isinstance(config, Mapping) else {}
    return data if isinstance(data, Mapping) else {}
