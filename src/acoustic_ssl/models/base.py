"""The contract every network of the registry meets, so trainers and extraction need no per-model code.

A network declares the ``modality`` it reads (the batch key follows from it), its
``weight_decay_parameters`` (the original's L2 set) and ``outputs(x)`` for one item per row — one frame of
video or acoustic images, or one spectrogram — in one pass:

* embedding mode (``num_classes`` None): ``{"embedding": ...}``, a map [N,128,12,16] aligned with the video
  grid, or a vector [N,128] that the attention tiles over the grid after ReLU;
* classifier mode: ``{"logits": [N,C], "features": [N,128]}`` (the 128-d feature kNN evaluates).

``per_frame`` / ``per_sample`` apply it to a batch of samples: frame modalities [B,F,...] are run frame by
frame and (``per_sample``) averaged over the F frames, as the original trainers pooled time; results are
float32.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from acoustic_ssl.data.layout import Modality


class Network(nn.Module):
    """Base of the registered networks (``models.registry.MODELS``)."""

    modality: ClassVar[Modality]
    min_seconds: ClassVar[int] = 1  # shortest training sample (data.sample_length) the network accepts
    # state-dict prefixes of the classifier head: fresh when fine-tuning from a checkpoint (models.init_from)
    head_prefixes: ClassVar[tuple[str, ...]] = ()
    num_classes: int | None = None

    def weight_decay_parameters(self) -> list[nn.Parameter]:
        """Parameters the original regularised with L2 (none unless a network says otherwise)."""
        return []

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(height, width) of the frames the network expects natively, if it has one."""
        return None

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs for one item per row: ``embedding``, or ``logits`` and ``features`` (module docstring)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.outputs(x)
        return out["embedding"] if self.num_classes is None else out["logits"]

    def per_frame(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs per frame [B,F,...] of a batch of this modality's samples (F = 1 without frames)."""
        if not self.modality.has_frames:
            return {key: value.float()[:, None] for key, value in self.outputs(x).items()}
        b, f = x.shape[:2]
        out = self.outputs(x.flatten(0, 1))
        return {key: value.reshape(b, f, *value.shape[1:]).float() for key, value in out.items()}

    def per_sample(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs per sample: the mean over the sample's frames of ``per_frame``."""
        if not self.modality.has_frames:
            return {key: value.float() for key, value in self.outputs(x).items()}
        return {key: value.mean(dim=1) for key, value in self.per_frame(x).items()}
