"""The paper's objectives: audio-guided attention with a triplet loss, and its transfer from acoustic images.

``selfsup`` (spec §5.2): the audio side's map A (HearNet: its embedding tiled over the 12×16 grid after ReLU;
DualCamNet: its frame-mean map) attends over the video map V; d_ij = ‖l2n(Σ_p A_i⊙V_j²) − l2n(Σ_p A_i)‖²
(``models.attention``), triplet loss with other samples of the same recording as positives, batch-all then
batch-hard. ``transfer`` (spec §5.3) adds a frozen acoustic DualCamNet as the audio network's target.
Both report the last epoch, as the original did (its ``model_19`` of 20 epochs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch

from acoustic_ssl.models import (
    Network,
    as_audio_map,
    attention_distance,
    audio_vector,
    l2n,
    localization_map,
    video_vector,
)
from acoustic_ssl.training import losses
from acoustic_ssl.training.distributed import gather
from acoustic_ssl.training.objectives.base import Batch, Constraint, Metrics, Objective, Outputs, Splits


class SelfSupervised(Objective):
    """Audio-guided attention triplet loss between the audio/acoustic map and the video map (spec §5.2).

    ``embed``: ``video`` (frame-mean map [B,128,12,16]) and ``audio``, the audio side's embedding (HearNet:
    the 128-d vector, tiled after gathering; DualCamNet: its frame-mean map). ``margin``: triplet margin;
    ``hard_from_epoch``: epochs trained with batch-all before batch-hard. Features: ``audio`` = l2n(Σ_p A),
    ``video`` = l2n(Σ_p A⊙V⊙V) with the sample's own audio (the original's feature scripts); its
    localisation map is Σ_c A⊙V⊙V; its test mode the triplet trainers' (``triplet`` in metrics.json).
    """

    role_sets = (frozenset({"video", "audio"}), frozenset({"video", "acoustic"}))
    reported = "final"
    constraints: ClassVar[Mapping[str, Constraint]] = {
        "margin": (lambda v: v >= 0, "must be ≥ 0"),
        "hard_from_epoch": (lambda v: v >= 0, "must be ≥ 0"),
    }

    def __init__(
        self,
        nets: Mapping[str, Network],
        teacher: Network | None = None,
        *,
        margin: float = 0.2,
        hard_from_epoch: int = 4,
    ) -> None:
        super().__init__(nets, teacher)
        self.margin, self.hard_from_epoch = margin, hard_from_epoch
        self.audio_role = "audio" if "audio" in nets else "acoustic"

    def embed(self, batch: Batch) -> Outputs:
        return {
            "video": self._outputs("video", batch)["embedding"],
            "audio": self._outputs(self.audio_role, batch)["embedding"],
        }

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        video, audio, same = self._gathered(out, batch, grad=True)
        d = attention_distance(as_audio_map(audio), video)
        loss = losses.triplet_loss(d, same, self.margin, epoch, self.hard_from_epoch)
        accuracy = losses.triplet_accuracy(d.detach(), same, self.margin)
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        # The original validated with batch-all (epoch fed 0) and 1 − fraction of violated triplets.
        video, audio, same = self._gathered(out, batch, grad=False)
        d = attention_distance(as_audio_map(audio), video)
        return {
            "loss": losses.triplet_batch_all(d, same, self.margin),
            "accuracy": losses.triplet_accuracy(d, same, self.margin),
        }

    # ------------------------------------------------------------------------------------ evaluation
    def audio_feature(self, audio: torch.Tensor) -> torch.Tensor:
        return audio_vector(as_audio_map(audio))

    def video_feature(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return video_vector(as_audio_map(audio), video)

    def localization_map(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return localization_map(as_audio_map(audio), video)

    def pair_distances(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """The attention distance of every audio query against every video map.

        A HearNet vector a is tiled after ReLU, so Σ_p A⊙V_j² = ReLU(a)⊙Σ_p V_j² and Σ_p A = P·ReLU(a): the
        per-pixel product is never formed (equal to the distance of the tiled maps).
        """
        if audio.dim() == 4:
            return attention_distance(audio, video)
        a = torch.relu(audio.float())
        energy = video.float().square().flatten(2).sum(dim=2)  # [G, C]
        u = l2n(a[:, None, :] * energy[None, :, :])
        return (u - l2n(a)[:, None, :]).square().sum(dim=2)

    def test_metrics(
        self, splits: Splits, distances: np.ndarray | None, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """The triplet trainers' test mode: batch-all triplet loss and accuracy (1 − share of violated
        triplets) over consecutive batches of the test list in its order, averaged weighted by batch size,
        as the original validated and tested."""
        if distances is None:
            return {}
        d = torch.as_tensor(np.asarray(distances), dtype=torch.float32)
        ids = torch.as_tensor(np.asarray(splits["testing"]["video_ids"], dtype=np.int64))
        accuracy = loss = 0.0
        for lo in range(0, len(ids), batch_size):
            block = slice(lo, lo + batch_size)
            sub, same = d[block, block], losses.same_video_mask(ids[block])
            weight = len(ids[block]) / len(ids)
            accuracy += weight * float(losses.triplet_accuracy(sub, same, self.margin))
            loss += weight * float(losses.triplet_batch_all(sub, same, self.margin))
        block = {"accuracy": accuracy, "loss": loss, "batch_size": float(batch_size), "margin": self.margin}
        return {"triplet": block}


class Transfer(SelfSupervised):
    """(1 − α)·L_av + α·L_aa with the frozen acoustic DualCamNet as the audio network's target (spec §5.3).

    ``embed`` adds ``acoustic``: the teacher's frame-mean map summed over the 12×16 positions [B,128] (the
    target before l2n). ``alpha``: weight of the audio–acoustic term.
    """

    role_sets = (frozenset({"video", "audio"}),)
    teacher_role = "acoustic"
    constraints: ClassVar[Mapping[str, Constraint]] = {
        **SelfSupervised.constraints,
        "alpha": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    }

    def __init__(
        self,
        nets: Mapping[str, Network],
        teacher: Network | None = None,
        *,
        margin: float = 0.2,
        hard_from_epoch: int = 4,
        alpha: float = 0.5,
    ) -> None:
        super().__init__(nets, teacher, margin=margin, hard_from_epoch=hard_from_epoch)
        self.alpha = alpha

    def embed(self, batch: Batch) -> Outputs:
        out = super().embed(batch)
        out["acoustic"] = self.teacher_vectors(batch, lambda fmap: fmap.sum(dim=(2, 3)))
        return out

    def _terms(self, out: Outputs, batch: Batch, epoch: int, grad: bool) -> tuple[torch.Tensor, Metrics]:
        video, audio, same = self._gathered(out, batch, grad)
        d_av = attention_distance(as_audio_map(audio), video)
        terms = losses.transfer_loss(
            d_av, same, audio, gather(out["acoustic"]), self.alpha, self.margin, epoch, self.hard_from_epoch
        )
        return terms.loss, {
            "loss": terms.loss.detach(),
            "loss_av": terms.audio_video,
            "loss_aa": terms.audio_acoustic,
            "accuracy": losses.triplet_accuracy(d_av.detach(), same, self.margin),
        }

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        return self._terms(out, batch, epoch, grad=True)

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        return self._terms(out, batch, epoch=0, grad=False)[1]  # batch-all for both terms, as the original
