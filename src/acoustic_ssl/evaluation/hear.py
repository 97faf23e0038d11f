"""The HEAR benchmark API (https://hearbenchmark.com/hear-api.html) around a trained HearNet.

``load_model(model_file_path="")`` returns a module with ``sample_rate`` (22 050), ``scene_embedding_size``
and ``timestamp_embedding_size`` (128). Empty path: a randomly initialised HearNet (fixed seed, so it is the
same network every time) — the random baseline. Otherwise a checkpoint (stem, file or run dir) with a
network reading spectrograms (a HearNet in its ``audio`` or ``model`` role).

Front end, the same as in training: every window is 2 s (44 100 samples, what HearNet was trained on), peak
normalised to ±256 like the ACIVW loader, turned into the data layer's magnitude spectrogram and z-scored
with the spectrogram statistics stored in the checkpoint (``stats_dir=`` given to ``load_model`` overrides
them; a checkpoint written before they were stored uses its run config's ``data.stats_dir`` and fails with a
clear message when that folder is gone; a run trained without statistics, and the random baseline without
``stats_dir``, use the spectrogram as is). Embeddings: the objective's audio feature
(``Objective.audio_features``: the same vector kNN evaluates — the paper's l2n(ReLU(embedding)) for the
triplet family, l2n(embedding) for the contrastive one, a classifier's ``features``).

The official validator (``hear-validator acoustic_ssl.evaluation.hear --model PATH``) calls
``load_model(PATH)``; see the README for how to install and run it.

* ``get_timestamp_embeddings``: windows centred on t = 0, 50, 100, … ms up to the end of the sound
  (``1 + floor(duration / 50 ms)`` timestamps); audio is zero-padded by 1 s at both ends so every window is
  full, and short sounds work.
* ``get_scene_embeddings``: the mean of the embeddings of windows centred every 500 ms (same padding).

Audio holding a NaN or infinite sample raises ``ValueError`` naming the sounds, rather than returning NaN
embeddings that would silently poison a task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from acoustic_ssl.data.layout import AUDIO_SAMPLE_RATE
from acoustic_ssl.errors import DataError

if TYPE_CHECKING:
    from acoustic_ssl.data.stats import Normalization
    from acoustic_ssl.training.objectives import Objective

WINDOW_SECONDS = 2.0
TIMESTAMP_HOP_MS = 50.0
SCENE_HOP_MS = 500.0
EMBEDDING_SIZE = 128
WINDOW_BATCH = 64


class HearModel(nn.Module):
    """A trained objective's audio feature plus its spectrogram normalisation, with the HEAR attributes."""

    sample_rate = AUDIO_SAMPLE_RATE
    scene_embedding_size = EMBEDDING_SIZE
    timestamp_embedding_size = EMBEDDING_SIZE

    def __init__(self, objective: Objective, normalization: Normalization | None = None) -> None:
        super().__init__()
        self.objective = objective.eval()
        self.normalization = normalization

    @torch.inference_mode()
    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings [B, 128] of 2-s waveforms [B, 44 100] (``Objective.audio_features``)."""
        from acoustic_ssl.data.audio import PEAK_SCALE, waveform_to_spectrogram

        peak = windows.abs().amax(dim=1, keepdim=True)
        scaled = torch.where(peak > 0, windows * (PEAK_SCALE / peak.clamp_min(1e-30)), windows)
        spec = waveform_to_spectrogram(scaled.cpu())
        if self.normalization is not None:
            spec = self.normalization(spec)
        return self.objective.audio_features(spec)


def load_model(model_file_path: str = "", stats_dir: str | None = None) -> HearModel:
    """HEAR ``load_model``: a checkpoint's audio network, or a seeded random-init HearNet for an empty path.

    ``model_file_path``: a checkpoint stem (``run/checkpoints/best``), either of its two files, or a run
    directory (``checkpoint.reported_checkpoint``: a self-supervised run's last epoch, a supervised run's
    best). ``stats_dir`` overrides the spectrogram statistics stored in it. The random baseline is featured
    as the paper's self-supervised HearNet (``SelfSupervised.audio_feature``).
    """
    from acoustic_ssl.data.stats import load_normalization

    if not model_file_path:
        from acoustic_ssl.models import HearNet
        from acoustic_ssl.training.objectives import SelfSupervised

        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = HearNet()
        normalization = load_normalization(stats_dir) if stats_dir is not None else None
        return HearModel(SelfSupervised({"audio": net}), normalization)
    from acoustic_ssl.training.trained import load_trained

    trained = load_trained(model_file_path, stats_dir=stats_dir)
    try:
        trained.objective.audio_network  # noqa: B018 - says which checkpoints have none
    except ValueError as exc:
        raise DataError(f"{model_file_path}: {exc}") from None
    return HearModel(trained.objective, trained.normalization)


def _check_audio(audio: torch.Tensor) -> torch.Tensor:
    """``audio`` as float [n_sounds, n_samples]; a NaN or infinite sample is a ValueError naming the sound
    (peak normalisation would turn its every embedding into NaN, and the task would be scored on them)."""
    audio = torch.as_tensor(audio)
    if audio.dim() != 2:
        raise ValueError(f"audio must be [n_sounds, n_samples], got shape {tuple(audio.shape)}")
    bad = ~torch.isfinite(audio)
    if bad.any():
        sounds = torch.nonzero(bad.any(dim=1)).flatten().tolist()
        sample = int(torch.nonzero(bad[sounds[0]])[0])
        listed = ", ".join(map(str, sounds[:5])) + (", ..." if len(sounds) > 5 else "")
        raise ValueError(
            f"audio holds NaN or infinite samples in {len(sounds)} of {len(audio)} sounds (sounds {listed}; "
            f"first: sound {sounds[0]}, sample {sample} = {audio[sounds[0], sample].item()})"
        )
    return audio.float()


def _windowed_embeddings(
    audio: torch.Tensor, model: HearModel, hop_ms: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings [n_sounds, n_windows, 128] of 2-s windows centred every ``hop_ms``, and the centres (ms)."""
    audio = _check_audio(audio)
    n_sounds, n_samples = audio.shape
    sr = model.sample_rate
    half = int(WINDOW_SECONDS * sr) // 2
    n_windows = 1 + int(np.floor(n_samples / sr * 1000.0 / hop_ms + 1e-9))
    centres_ms = torch.arange(n_windows, dtype=torch.float64) * hop_ms
    starts = torch.round(centres_ms / 1000.0 * sr).long()  # window start in the padded signal
    padded = torch.nn.functional.pad(audio, (half, half))
    offsets = torch.arange(2 * half)
    out = torch.empty(n_sounds, n_windows, EMBEDDING_SIZE)
    for s in range(n_sounds):
        for lo in range(0, n_windows, WINDOW_BATCH):
            idx = starts[lo : lo + WINDOW_BATCH, None] + offsets[None, :]
            out[s, lo : lo + WINDOW_BATCH] = model.embed_windows(padded[s][idx]).cpu()
    return out, centres_ms.float().expand(n_sounds, n_windows).clone()


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """HEAR: embeddings [n_sounds, n_timestamps, 128] and window centres [n_sounds, n_timestamps] in ms."""
    return _windowed_embeddings(audio, model, TIMESTAMP_HOP_MS)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """HEAR: one embedding [n_sounds, 128] per sound (mean over windows centred every 500 ms)."""
    embeddings, _ = _windowed_embeddings(audio, model, SCENE_HOP_MS)
    return embeddings.mean(dim=1)
