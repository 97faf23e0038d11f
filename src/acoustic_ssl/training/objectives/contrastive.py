"""Audio-visual contrastive learning (EZ-VSL, Mo & Morgado, ECCV 2022), and its transfer from acoustic images.

``contrastive``: the audio embedding is compared with every cell of the video map. Both sides pass through
a projection of the objective's own (EZ-VSL: a 1×1 convolution on the video map, a linear layer on the audio
vector; ``projection_dim`` 0 leaves them out) and are l2-normalised per cell; the audio↔video score is the
maximum over the 12×16 cells of the cosine (multiple-instance: the sound is somewhere in the frame). The
loss is the symmetric InfoNCE of the scores divided by ``temperature`` (EZ-VSL: 0.03), with every pair of
the same recording in the gathered batch a positive (``losses.info_nce``; with one sample per recording this
is EZ-VSL's cross-entropy exactly). The localisation map is the cosine map of a sample's own audio and
video. An acoustic DualCamNet map as the audio side is first averaged over its cells (its global sound).

Why it learns where the triplet loss does not: the triplet's "attention" with a HearNet vector is channel
gating with no spatial term, and its distance collapses the audio embedding; the InfoNCE scores every
negative of the batch at once, and the max over cells makes the objective locate the sound to match it.

Features for kNN: ``audio`` = l2n of the network's embedding (before the projection, as self-supervised
representations are read), ``video`` = l2n of the cell-mean video map; its test mode (``contrastive`` in
metrics.json) is the InfoNCE loss and in-batch retrieval accuracy over consecutive test batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.imaging.mfcc import mfcc_to_log_mel
from acoustic_ssl.models import Network, l2n
from acoustic_ssl.models.attention import GRID
from acoustic_ssl.training import losses
from acoustic_ssl.training.distributed import gather
from acoustic_ssl.training.objectives.base import Batch, Constraint, Metrics, Objective, Outputs, Splits

EMBEDDING_DIM = 128


def _linear(dim_in: int, dim_out: int) -> nn.Linear:
    layer = nn.Linear(dim_in, dim_out)
    nn.init.trunc_normal_(layer.weight, std=0.01)  # EZ-VSL's initialisation of its projections
    nn.init.zeros_(layer.bias)
    return layer


def _conv1x1(dim_in: int, dim_out: int) -> nn.Conv2d:
    layer = nn.Conv2d(dim_in, dim_out, 1)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(layer.bias)
    return layer


def audio_vector(audio: torch.Tensor) -> torch.Tensor:
    """The audio side as one vector per sample: a HearNet embedding as it is, a map averaged over cells."""
    return audio.float() if audio.dim() == 2 else audio.float().mean(dim=(2, 3))


class Contrastive(Objective):
    """Symmetric multi-positive InfoNCE on the max-over-cells cosine of audio and video (module docstring)."""

    role_sets = (frozenset({"video", "audio"}), frozenset({"video", "acoustic"}))
    reported = "final"
    constraints: ClassVar[Mapping[str, Constraint]] = {
        "temperature": (lambda v: v > 0, "must be > 0"),
        "projection_dim": (lambda v: v >= 0, "must be ≥ 0 (0: no projection)"),
    }

    def __init__(
        self,
        nets: Mapping[str, Network],
        teacher: Network | None = None,
        *,
        temperature: float = 0.03,
        projection_dim: int = EMBEDDING_DIM,
    ) -> None:
        super().__init__(nets, teacher)
        self.temperature = temperature
        self.audio_role = "audio" if "audio" in nets else "acoustic"
        if projection_dim:
            self.heads["video"] = _conv1x1(EMBEDDING_DIM, projection_dim)
            self.heads["audio"] = _linear(EMBEDDING_DIM, projection_dim)

    def embed(self, batch: Batch) -> Outputs:
        return {
            "video": self._outputs("video", batch)["embedding"],
            "audio": self._outputs(self.audio_role, batch)["embedding"],
        }

    def project(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit audio vectors [B,D] and unit-per-cell video maps [G,D,H,W] in the shared space."""
        a, v = audio_vector(audio), video.float()
        if "audio" in self.heads:
            a, v = self.heads["audio"](a), self.heads["video"](v)
        return l2n(a), l2n(v, dim=1)

    def similarity(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """s_ij = max over cells p of cos(audio_i, video_j[p]) [Q,G]."""
        a, v = self.project(audio, video)
        return torch.einsum("id,jdp->ijp", a, v.flatten(2)).amax(dim=2)

    def _av_terms(
        self, video: torch.Tensor, audio: torch.Tensor, same: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(InfoNCE loss, in-batch retrieval accuracy) of the gathered audio-video pairs."""
        s = self.similarity(audio, video)
        loss = losses.symmetric_info_nce(s, same, self.temperature)
        return loss, losses.retrieval_accuracy(s.detach(), same)

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        loss, accuracy = self._av_terms(*self._gathered(out, batch, grad=True))
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        loss, accuracy = self._av_terms(*self._gathered(out, batch, grad=False))
        return {"loss": loss, "accuracy": accuracy}

    # ------------------------------------------------------------------------------------ evaluation
    def audio_feature(self, audio: torch.Tensor) -> torch.Tensor:
        return l2n(audio_vector(audio))

    def video_feature(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return l2n(video.float().mean(dim=(2, 3)))

    def pair_distances(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return -self.similarity(audio, video)

    def localization_map(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """The cosine of each cell of a sample's video map with its own audio [B,H,W]."""
        a, v = self.project(audio, video)
        return torch.einsum("bd,bdhw->bhw", a, v)

    def test_metrics(
        self, splits: Splits, distances: np.ndarray | None, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """InfoNCE loss and in-batch audio→video retrieval accuracy over consecutive test batches (the
        validation terms on the test list, in its order), averaged weighted by batch size."""
        if distances is None:
            return {}
        s = -torch.as_tensor(np.asarray(distances), dtype=torch.float32)
        ids = torch.as_tensor(np.asarray(splits["testing"]["video_ids"], dtype=np.int64))
        loss = accuracy = 0.0
        for lo in range(0, len(ids), batch_size):
            block = slice(lo, lo + batch_size)
            sub, same = s[block, block], losses.same_video_mask(ids[block])
            weight = len(ids[block]) / len(ids)
            loss += weight * float(losses.symmetric_info_nce(sub, same, self.temperature))
            accuracy += weight * float(losses.retrieval_accuracy(sub, same))
        return {"contrastive": {"accuracy": accuracy, "loss": loss, "batch_size": float(batch_size)}}


def acoustic_energy_target(acoustic: torch.Tensor, grid: tuple[int, int] = GRID) -> torch.Tensor:
    """Where the array hears the sound: a distribution over the video map's cells [B,H·W].

    The acoustic images [B,F,12,36,48] (MFCC, video orientation) are averaged over frames, turned into log
    energy per pixel (``mfcc_to_log_mel``, log-sum-exp over the mel bands), average-pooled to the map's grid
    in the energy domain, z-scored over the cells of each sample and passed through a softmax: a few cells
    carry the mass where the beamformer's power stands out, whatever the recording's loudness.
    """
    with torch.no_grad():
        mfcc = acoustic.float().mean(dim=1).permute(0, 2, 3, 1)  # [B,36,48,12]
        log_energy = torch.logsumexp(mfcc_to_log_mel(mfcc), dim=-1)  # [B,36,48]
        peak = log_energy.amax(dim=(1, 2), keepdim=True)
        pooled = F.adaptive_avg_pool2d((log_energy - peak).exp()[:, None], grid)[:, 0]
        log_pooled = pooled.clamp_min(1e-30).log().flatten(1)
        spread = log_pooled.std(dim=1, keepdim=True).clamp_min(1e-6)
        z = (log_pooled - log_pooled.mean(dim=1, keepdim=True)) / spread
        return z.softmax(dim=1)


class ContrastiveTransfer(Contrastive):
    """The paper's transfer carried to the contrastive objective: the array teaches the single microphone.

    L = (1 − α)·L_av + α·L_aa + ``where_weight``·L_where, with a frozen acoustic DualCamNet (a
    ``contrastive`` acoustic+video run) as the teacher:

    * L_av: the ``contrastive`` audio↔video InfoNCE;
    * L_aa: *what* the array heard — symmetric InfoNCE between the audio embedding (through a linear head of
      its own) and the teacher's acoustic embedding (l2n of its cell-mean map), same-recording positives, as
      the triplet transfer's audio↔acoustic term (a contrastive distillation: negatives keep the student from
      collapsing onto the teacher's mean);
    * L_where: *where* it heard it, which the triplet transfer never used — the cross-entropy between the
      acoustic image's energy over the map's cells (``acoustic_energy_target``) and the softmax over cells of
      the sample's own audio-visual cosine map divided by the temperature. The array then shapes the
      localisation map itself, and only at training time: at test time the audio network needs no array.
    """

    role_sets = (frozenset({"video", "audio"}),)
    teacher_role = "acoustic"
    constraints: ClassVar[Mapping[str, Constraint]] = {
        **Contrastive.constraints,
        "alpha": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
        "where_weight": (lambda v: v >= 0, "must be ≥ 0"),
    }

    def __init__(
        self,
        nets: Mapping[str, Network],
        teacher: Network | None = None,
        *,
        temperature: float = 0.03,
        projection_dim: int = EMBEDDING_DIM,
        alpha: float = 0.5,
        where_weight: float = 0.5,
    ) -> None:
        super().__init__(nets, teacher, temperature=temperature, projection_dim=projection_dim)
        self.alpha, self.where_weight = alpha, where_weight
        self.heads["teacher"] = _linear(EMBEDDING_DIM, EMBEDDING_DIM)

    def embed(self, batch: Batch) -> Outputs:
        out = super().embed(batch)
        out["acoustic"] = self.teacher_vectors(batch, lambda fmap: fmap.mean(dim=(2, 3)))
        if self.where_weight:
            out["energy"] = acoustic_energy_target(batch[self.teacher.modality.batch_key])
        return out

    def _terms(self, out: Outputs, batch: Batch, grad: bool) -> tuple[torch.Tensor, Metrics]:
        video, audio, same = self._gathered(out, batch, grad)
        l_av, accuracy = self._av_terms(video, audio, same)
        student = l2n(self.heads["teacher"](audio_vector(audio)))
        s_aa = student @ l2n(gather(out["acoustic"])).T
        l_aa = losses.symmetric_info_nce(s_aa, same, self.temperature)
        loss = (1.0 - self.alpha) * l_av + self.alpha * l_aa
        metrics = {"loss_av": l_av.detach(), "loss_aa": l_aa.detach(), "accuracy": accuracy}
        if self.where_weight:
            maps = self.localization_map(out["audio"], out["video"]).flatten(1) / self.temperature
            l_where = -(out["energy"] * maps.log_softmax(dim=1)).sum(dim=1).mean()
            loss = loss + self.where_weight * l_where
            metrics["loss_where"] = l_where.detach()
        metrics["loss"] = loss.detach()
        return loss, metrics

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        return self._terms(out, batch, grad=True)

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        return self._terms(out, batch, grad=False)[1]
