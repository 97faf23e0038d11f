"""Feature extraction: run a checkpoint's networks on ACIVW samples (inference mode) and save one ``.npz``.

Mirrors the original ``extract_features_product.py`` / ``testing2.py`` / ``extract_features_one.py``:
2-s samples, consecutive and non-overlapping, video frames picked by linspace (``nr_frames``), the audio
side's map A (HearNet: ReLU(a) tiled over 12×16; DualCamNet: time-mean map) and the video map V (mean over
frames).

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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from acoustic_ssl.data.layout import VIDEO_MEAN_BGR_ORDER
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import atomic_path, progress

MAP_KEYS = ("audio_map", "video_map")


def _kind(model: nn.Module | None) -> str | None:
    from acoustic_ssl.models import DualCamNet, HearNet, ResNet18

    for cls, name in ((HearNet, "hearnet"), (DualCamNet, "dualcamnet"), (ResNet18, "resnet18")):
        if isinstance(model, cls):
            return name
    return None if model is None else type(model).__name__.lower()


def _is_classifier(model: nn.Module) -> bool:
    return getattr(model, "num_classes", None) is not None


class Roles:
    """Which network plays which part, from the checkpoint's roles.

    ``audio_side`` is the network compared with the video (role ``audio``; else ``acoustic`` when a run pairs
    acoustic images with video); ``acoustic`` is a *separate* acoustic network (the transfer teacher);
    ``model`` a supervised classifier.
    """

    def __init__(self, models: Mapping[str, nn.Module]) -> None:
        unknown = set(models) - {"video", "audio", "acoustic", "model"}
        if unknown:
            raise DataError(f"unknown model roles {sorted(unknown)} (expected video/audio/acoustic/model)")
        self.video = models.get("video")
        self.audio_side = models.get("audio", models.get("acoustic") if "video" in models else None)
        self.acoustic = models.get("acoustic") if models.get("acoustic") is not self.audio_side else None
        self.model = models.get("model")
        for m in (self.video, self.audio_side, self.acoustic, self.model):
            if m is not None:
                m.eval()

    def networks(self) -> list[nn.Module]:
        return [m for m in (self.video, self.audio_side, self.acoustic, self.model) if m is not None]

    def modalities(self, energy_maps: bool) -> tuple[int, ...]:
        """Dataset modalities (0 acoustic, 1 audio, 2 video) these networks need."""
        kinds = {_kind(m) for m in self.networks()}
        mods = set()
        if "dualcamnet" in kinds or energy_maps:
            mods.add(0)
        if "hearnet" in kinds:
            mods.add(1)
        if "resnet18" in kinds:
            mods.add(2)
        return tuple(sorted(mods))

    def video_size(self) -> tuple[int, int]:
        nets = [m for m in (self.video, self.model) if _kind(m) == "resnet18"]
        return (112, 149) if nets and getattr(nets[0], "output_stride", 16) == 8 else (224, 298)


def _acoustic_maps(net: nn.Module, acoustic: torch.Tensor) -> torch.Tensor:
    """Time-mean map [B,128,12,16] of acoustic images [B,F,12,36,48]."""
    b, f = acoustic.shape[:2]
    maps = net.feature_map(acoustic.reshape(b * f, *acoustic.shape[2:]))
    return maps.reshape(b, f, *maps.shape[1:]).mean(dim=1)


def _video_maps(net: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """Frame-mean map [B,128,12,16] of frames [B,F,3,H,W]."""
    b, f = video.shape[:2]
    maps = net.feature_map(video.reshape(b * f, *video.shape[2:]))
    return maps.reshape(b, f, *maps.shape[1:]).mean(dim=1)


def _thumbnails(video: torch.Tensor) -> np.ndarray:
    """First frame of each sample as RGB uint8, shrunk by an integer factor to at most ~150 pixels wide."""
    mean = torch.tensor(VIDEO_MEAN_BGR_ORDER, dtype=video.dtype)[:, None, None]
    bgr = video[:, 0] + mean
    small = torch.nn.functional.avg_pool2d(bgr, max(1, round(bgr.shape[-1] / 150)))
    return small.flip(1).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _supervised_features(net: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    kind = _kind(net)
    if kind == "hearnet":
        return net.features(batch["spectrogram"])
    if kind == "resnet18":
        return _video_maps(net, batch["video"]).mean(dim=(2, 3))
    if kind == "dualcamnet":
        return _acoustic_maps(net, batch["acoustic"]).sum(dim=(2, 3))
    raise DataError(f"no feature rule for a supervised {kind}")


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


@torch.inference_mode()
def extract_batch(
    roles: Roles,
    batch: Mapping[str, torch.Tensor],
    energy_maps: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """All features of one collated batch (see the module table), as NumPy arrays.

    The networks must already be on ``device``; inputs are moved there, results come back to the CPU.
    """
    from acoustic_ssl.models.attention import (
        audio_map_from_vector,
        audio_vector,
        l2n,
        localization_map,
        video_vector,
    )

    out: dict[str, np.ndarray] = {}
    names = (("label", "labels"), ("location", "locations"), ("video_id", "video_ids"), ("start", "starts"))
    for key, name in names:
        if key in batch:
            out[name] = batch[key].numpy().astype(np.int64)
    inputs = {k: batch[k].to(device) for k in ("spectrogram", "acoustic", "video") if k in batch}
    audio_map = video_map = None
    side_kind = _kind(roles.audio_side)
    if side_kind == "hearnet":
        raw = roles.audio_side(inputs["spectrogram"])
        audio_map = audio_map_from_vector(raw)
        out["audio_raw"] = _np(raw)
    elif side_kind == "dualcamnet":
        audio_map = _acoustic_maps(roles.audio_side, inputs["acoustic"])
        out["audio_raw"] = _np(audio_map.sum(dim=(2, 3)))
        out["audio_map"] = _np(audio_map)
    if audio_map is not None:
        out["audio"] = _np(audio_vector(audio_map))
    if roles.video is not None:
        video_map = _video_maps(roles.video, inputs["video"])
        out["video_map"] = _np(video_map)
        if audio_map is not None:
            out["video"] = _np(video_vector(audio_map, video_map))
            out["joint"] = out["video"] + out["audio"]
            out["attention_map"] = _np(localization_map(audio_map, video_map))
    if roles.acoustic is not None:
        acoustic_map = _acoustic_maps(roles.acoustic, inputs["acoustic"]).float()
        out["acoustic"] = _np(l2n(acoustic_map.sum(dim=(2, 3))))
    if roles.model is not None:
        out["features"] = _np(_supervised_features(roles.model, inputs))
    if energy_maps and "acoustic" in batch:
        from acoustic_ssl.imaging.mfcc import mfcc_to_energy

        mean_image = batch["acoustic"].double().mean(dim=1).permute(0, 2, 3, 1).numpy()  # [B,36,48,12]
        out["energy_map"] = mfcc_to_energy(mean_image).astype(np.float32)
    if "video" in batch:
        out["thumbnails"] = _thumbnails(batch["video"].float())
    return out


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → the GPU when one is visible, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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
    """Run :func:`extract_batch` over batches and concatenate; adds ``frames`` from ``starts``."""
    from acoustic_ssl.evaluation.localization import frames_used

    for model in models.values():
        model.to(device)
    roles = Roles(models)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in progress(batches, desc="extract", total=total, unit="batch"):
        for key, value in extract_batch(roles, batch, energy_maps, device).items():
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
        from acoustic_ssl.models.attention import audio_map_from_vector

        return audio_map_from_vector(torch.as_tensor(arrays["audio_raw"])).numpy()
    raise DataError("features have no audio side (need audio_map or audio_raw)")


def extract_features(
    checkpoint: str | Path,
    list_file: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    stats_dir: str | Path | None = None,
    batch_size: int = 8,
    nr_frames: int | None = None,
    energy_maps: bool = False,
    num_workers: int = 0,
    device: str = "auto",
    maps: bool | None = None,
) -> Path:
    """Load ``checkpoint``, run it on every 2-s sample of ``list_file`` and save the ``.npz`` at ``out``.

    Spectrogram statistics default to those stored in the checkpoint (``stats_dir`` overrides), ``nr_frames``
    and the video size to the training run's config (the video size else follows the ResNet's output stride:
    112×149 for stride 8, 224×298 for 16).
    """
    from torch.utils.data import DataLoader

    from acoustic_ssl.data.dataset import ACIVWDataset
    from acoustic_ssl.training.checkpoint import build_models, read_checkpoint, spectrogram_stats

    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    tensors, info = read_checkpoint(checkpoint)
    models = build_models(tensors, info)
    roles = Roles(models)
    data_config = _data_config(info)
    if nr_frames is None:
        nr_frames = int(data_config.get("nr_frames") or 2)
    video_size = tuple(data_config.get("video_size") or ()) or roles.video_size()
    modalities = roles.modalities(energy_maps)
    dataset = ACIVWDataset(
        list_file,
        mode="inference",
        total_length=2,
        sample_length=2,
        modalities=modalities,
        nr_frames=nr_frames,
        spectrogram_stats=spectrogram_stats(tensors, info, stats_dir) if 1 in modalities else None,
        video_size=video_size if 2 in modalities else None,
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = extract_from_batches(
        models, loader, nr_frames=nr_frames, sample_length=2, energy_maps=energy_maps, total=len(loader),
        device=resolve_device(device),
    )
    split = split or Path(list_file).stem
    if not (maps if maps is not None else split == "testing"):
        arrays = {k: v for k, v in arrays.items() if k not in MAP_KEYS}
    meta = {
        "checkpoint": str(checkpoint),
        "checkpoint_name": Path(str(info.get("path", checkpoint))).name,
        "list": str(list_file),
        "split": split,
        "audio_kind": _kind(roles.audio_side),
        "roles": {role: _kind(m) for role, m in models.items()},
        "run_kind": info.get("kind"),
        "nr_frames": nr_frames,
        "sample_length": 2,
        "epoch": info.get("epoch"),
    }
    return save_features(out, arrays, meta)


def _data_config(info: Mapping[str, Any]) -> Mapping[str, Any]:
    config = info.get("config", {})
    data = config.get("data", {}) if isinstance(config, Mapping) else {}
    return data if isinstance(data, Mapping) else {}
