"""What each experiment kind computes from a batch: network outputs, the training loss, validation terms.

An ``Objective`` holds the *trainable* networks (the module DDP wraps and Adam updates) and, for transfer and
distillation, a frozen teacher kept outside the module tree (never in the optimizer, never in DDP, always in
eval mode). ``forward`` runs the networks on the local batch; ``loss`` turns the outputs into the loss, after
all-gathering what a triplet loss needs across processes (see ``distributed``).

Temporal pooling follows the original trainers (spec §5.1–5.4): ResNet18 maps/logits are averaged over the
sample's video frames, DualCamNet maps/per-frame logits over its 12·L acoustic frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.models import attention_distance, audio_map_from_vector, l2n
from acoustic_ssl.training import losses
from acoustic_ssl.training.config import Config
from acoustic_ssl.training.distributed import gather, gather_many_with_grad

Batch = dict[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]


def per_sample(net: nn.Module, frames: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """Run ``net`` on every frame of [B,F,...] inputs and average its outputs over the F frames."""
    b, f = frames.shape[:2]
    flat = frames.flatten(0, 1)
    if channels_last and flat.dim() == 4:
        flat = flat.contiguous(memory_format=torch.channels_last)
    out = net(flat)
    return out.reshape(b, f, *out.shape[1:]).float().mean(dim=1)


def per_frame(net: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """Run ``net`` on every frame of [B,F,...] inputs → [B,F,...] (the distillation teacher's logits)."""
    b, f = frames.shape[:2]
    out = net(frames.flatten(0, 1))
    return out.reshape(b, f, *out.shape[1:]).float()


class Objective(nn.Module):
    """Base: the trainable networks by role and the shared helpers."""

    def __init__(self, cfg: Config, nets: dict[str, nn.Module], teacher: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.nets = nn.ModuleDict(nets)
        self.teacher_holder: list[nn.Module] = [teacher] if teacher is not None else []
        self.channels_last = False

    @property
    def teacher(self) -> nn.Module:
        return self.teacher_holder[0]

    def run(self, role: str, batch: Batch) -> torch.Tensor:
        """Output of network ``role`` on its input, pooled over frames where the input has frames."""
        spec = self.cfg.models[role]
        x = batch[spec.input_key]
        if spec.input_key == "spectrogram":
            return self.nets[role](x).float()
        return per_sample(self.nets[role], x, self.channels_last and spec.name == "resnet18")

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def validation_terms(self, out: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class Supervised(Objective):
    """Cross-entropy on logits averaged over frames (temporal pooling); accuracy = argmax match."""

    def forward(self, batch: Batch) -> Outputs:
        return {"logits": self.run("model", batch)}

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = F.cross_entropy(out["logits"], batch["label"])
        accuracy = (out["logits"].argmax(1) == batch["label"]).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def validation_terms(self, out: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        _, metrics = self.loss(out, batch, epoch=0)
        return metrics


class SelfSupervised(Objective):
    """Audio-guided attention triplet loss between the audio/acoustic map and the video map (spec §5.2)."""

    stream: str

    def __init__(self, cfg: Config, nets: dict[str, nn.Module], teacher: nn.Module | None = None) -> None:
        super().__init__(cfg, nets, teacher)
        self.stream = "acoustic" if "acoustic" in cfg.models else "audio"

    def forward(self, batch: Batch) -> Outputs:
        # HearNet: the 128-d vector travels (tiled after gathering); DualCamNet: its frame-averaged map.
        return {"video": self.run("video", batch), "audio": self.run(self.stream, batch)}

    def _gathered(
        self, out: Outputs, batch: Batch, grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Global-batch video and audio outputs (one differentiable collective) and the same-video mask."""
        if grad:
            video, audio = gather_many_with_grad(out["video"], out["audio"])
        else:
            video, audio = gather(out["video"]), gather(out["audio"])
        return video, audio, losses.same_video_mask(gather(batch["video_id"]))

    @staticmethod
    def _attention(video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        audio_map = audio_map_from_vector(audio) if audio.dim() == 2 else audio
        return attention_distance(audio_map, video)

    def _distance(self, out: Outputs, batch: Batch, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        video, audio, same = self._gathered(out, batch, grad)
        return self._attention(video, audio), same

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d, same = self._distance(out, batch, grad=True)
        lc = self.cfg.loss
        loss = losses.triplet_loss(d, same, lc.margin, epoch, lc.hard_from_epoch)
        return loss, {"loss": loss.detach(), "accuracy": losses.triplet_accuracy(d.detach(), same, lc.margin)}

    def validation_terms(self, out: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        # The original validated with batch-all (epoch fed 0) and 1 − fraction of violated triplets.
        d, same = self._distance(out, batch, grad=False)
        margin = self.cfg.loss.margin
        return {
            "loss": losses.triplet_batch_all(d, same, margin),
            "accuracy": losses.triplet_accuracy(d, same, margin),
        }


class Transfer(SelfSupervised):
    """(1 − α)·L_av + α·L_aa with the frozen acoustic DualCamNet as the audio network's target (spec §5.3)."""

    def forward(self, batch: Batch) -> Outputs:
        out = super().forward(batch)
        with torch.no_grad():
            # Σ over the 12×16 positions of the frame-averaged map: the transfer target before l2n.
            out["acoustic"] = per_sample(self.teacher, batch["acoustic"]).sum(dim=(2, 3))
        return out

    def _terms(self, out: Outputs, batch: Batch, epoch: int, grad: bool) -> dict[str, torch.Tensor]:
        video, audio, same = self._gathered(out, batch, grad)
        d_av = self._attention(video, audio)
        d_aa = losses.pairwise_sq_distance(l2n(audio), l2n(gather(out["acoustic"])))
        lc = self.cfg.loss
        l_av = losses.triplet_loss(d_av, same, lc.margin, epoch, lc.hard_from_epoch)
        l_aa = losses.triplet_loss(d_aa, same, lc.margin, epoch, lc.hard_from_epoch)
        return {
            "loss": (1.0 - lc.alpha) * l_av + lc.alpha * l_aa,
            "loss_av": l_av.detach(),
            "loss_aa": l_aa.detach(),
            "accuracy": losses.triplet_accuracy(d_av.detach(), same, lc.margin),
        }

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = self._terms(out, batch, epoch, grad=True)
        loss = terms["loss"]
        terms["loss"] = loss.detach()
        return loss, terms

    def validation_terms(self, out: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        return self._terms(out, batch, epoch=0, grad=False)  # batch-all for both terms, as the original


class Distillation(Objective):
    """(1 − λ)·CE(labels) + λ·CE(teacher soft targets) for the HearNet student (spec §5.4 / §5.6)."""

    def forward(self, batch: Batch) -> Outputs:
        out = {"logits": self.run("model", batch)}
        with torch.no_grad():
            out["teacher"] = per_frame(self.teacher, batch["acoustic"])
        return out

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lc = self.cfg.loss
        logits, labels = out["logits"], batch["label"]
        loss = losses.distillation_loss(
            logits, labels, out["teacher"], lc.lambda_, lc.temperature, lc.teacher_average
        )
        metrics = {
            "loss": loss.detach(),
            "cross_entropy": F.cross_entropy(logits.detach(), labels),
            "accuracy": (logits.argmax(1) == labels).float().mean(),
            "teacher_accuracy": (out["teacher"].mean(1).argmax(1) == labels).float().mean(),
        }
        return loss, metrics

    def validation_terms(self, out: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        _, metrics = self.loss(out, batch, epoch=0)
        return metrics


OBJECTIVES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "selfsup": SelfSupervised,
    "transfer": Transfer,
    "distillation": Distillation,
}


def build_objective(cfg: Config, nets: dict[str, nn.Module], teacher: nn.Module | None) -> Objective:
    """The ``Objective`` of ``cfg.experiment.kind``."""
    return OBJECTIVES[cfg.experiment.kind](cfg, nets, teacher)
