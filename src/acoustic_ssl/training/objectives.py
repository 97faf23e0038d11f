"""What each experiment kind computes from a batch: per-sample outputs, the training loss, validation terms.

``Objective.embed(batch)`` is the one forward path: training computes its loss from it (``forward`` is
``embed``, so DDP wraps it) and feature extraction (``evaluation.extract``) derives its features from it, so
the two cannot pool or pick outputs differently. Networks pool over a sample's frames themselves
(``Network.per_sample``): ResNet18 maps/logits over the video frames, DualCamNet maps/logits over its 12·L
acoustic frames (spec §5.1–5.4).

An objective holds the *trainable* networks by role (the module DDP wraps and Adam updates) and, for
transfer and distillation, a frozen teacher kept outside the module tree (never in the optimizer, never in
DDP, always in eval mode). ``loss`` all-gathers what a triplet loss needs across processes (see
``distributed``).

Each class declares what the config validation and ``build_objective`` need: its ``role_sets``, its
``teacher_role``, and its hyperparameters as keyword arguments (named like the ``[loss]`` keys). A role named
after a modality (``video``, ``audio``, ``acoustic``) is played by a network reading that modality; ``model``
is a classifier.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models import Network, as_audio_map, attention_distance
from acoustic_ssl.training import losses
from acoustic_ssl.training.distributed import gather, gather_many_with_grad

Batch = dict[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]
Metrics = dict[str, torch.Tensor]


class Objective(nn.Module):
    """Base: the networks by role, the one forward path and the declarations the config checks."""

    role_sets: ClassVar[tuple[frozenset[str], ...]]
    teacher_role: ClassVar[str | None] = None  # frozen network from loss.teacher_checkpoint
    teacher_classifier: ClassVar[bool] = False
    model_modality: ClassVar[Modality | None] = None  # what the "model" role must read (None: any)
    audio_role: str | None = None  # the role whose embedding is compared with the video, if any

    def __init__(self, nets: Mapping[str, Network], teacher: Network | None = None) -> None:
        super().__init__()
        if (teacher is not None) != (self.teacher_role is not None):
            raise ValueError(f"{type(self).__name__} takes {'a' if self.teacher_role else 'no'} teacher")
        self.nets = nn.ModuleDict(nets)
        self.teacher_holder: list[Network] = [teacher] if teacher is not None else []

    @property
    def teacher(self) -> Network:
        return self.teacher_holder[0]

    @property
    def networks(self) -> dict[str, Network]:
        """Every network by role, the frozen teacher included."""
        nets: dict[str, Network] = dict(self.nets.items())
        if self.teacher_role is not None:
            nets[self.teacher_role] = self.teacher
        return nets

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """What the networks read, in the original's order."""
        read = {net.modality for net in self.networks.values()}
        return tuple(m for m in Modality if m in read)

    @classmethod
    def hyperparameters(cls) -> tuple[str, ...]:
        """Names of the keyword-only constructor arguments (the ``[loss]`` keys this objective uses)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def _outputs(self, role: str, batch: Batch) -> Outputs:
        net: Network = self.nets[role]
        return net.per_sample(batch[net.modality.batch_key])

    def embed(self, batch: Batch) -> Outputs:
        """Per-sample outputs of the networks on the local batch (keys depend on the objective)."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> Outputs:
        return self.embed(batch)

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        raise NotImplementedError

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        raise NotImplementedError


class Supervised(Objective):
    """Cross-entropy on logits averaged over frames (temporal pooling); accuracy = argmax match.

    ``embed``: ``logits`` [B,C] and ``features`` [B,128] of the ``model`` classifier.
    """

    role_sets = (frozenset({"model"}),)

    def embed(self, batch: Batch) -> Outputs:
        out = self._outputs("model", batch)
        return {"logits": out["logits"], "features": out["features"]}

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        loss = F.cross_entropy(out["logits"], batch["label"])
        accuracy = (out["logits"].argmax(1) == batch["label"]).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": accuracy}

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        _, metrics = self.loss(out, batch, epoch=0)
        return metrics


class SelfSupervised(Objective):
    """Audio-guided attention triplet loss between the audio/acoustic map and the video map (spec §5.2).

    ``embed``: ``video`` (frame-mean map [B,128,12,16]) and ``audio``, the audio side's embedding (HearNet:
    the 128-d vector, tiled after gathering; DualCamNet: its frame-mean map). ``margin``: triplet margin;
    ``hard_from_epoch``: epochs trained with batch-all before batch-hard.
    """

    role_sets = (frozenset({"video", "audio"}), frozenset({"video", "acoustic"}))

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

    def _gathered(
        self, out: Outputs, batch: Batch, grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Global-batch video and audio outputs (one differentiable collective) and the same-video mask."""
        if grad:
            video, audio = gather_many_with_grad(out["video"], out["audio"])
        else:
            video, audio = gather(out["video"]), gather(out["audio"])
        return video, audio, losses.same_video_mask(gather(batch["video_id"]))

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


class Transfer(SelfSupervised):
    """(1 − α)·L_av + α·L_aa with the frozen acoustic DualCamNet as the audio network's target (spec §5.3).

    ``embed`` adds ``acoustic``: the teacher's frame-mean map summed over the 12×16 positions [B,128] (the
    target before l2n). ``alpha``: weight of the audio–acoustic term.
    """

    role_sets = (frozenset({"video", "audio"}),)
    teacher_role = "acoustic"

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
        with torch.no_grad():
            target = self.teacher.per_sample(batch[self.teacher.modality.batch_key])["embedding"]
            out["acoustic"] = target.sum(dim=(2, 3))
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


class Distillation(Objective):
    """(1 − λ)·CE(labels) + λ·CE(teacher soft targets) for the HearNet student (spec §5.4 / §5.6).

    ``embed``: the student's ``logits`` and ``features``, the teacher's per-frame logits ``teacher`` [B,F,C]
    and its frame-mean 128-d feature ``acoustic``. ``lambda_``: weight of the soft targets; ``temperature``
    and ``teacher_average`` ("softmax" or "logits") shape them (``losses.teacher_targets``).
    """

    role_sets = (frozenset({"model"}),)
    teacher_role = "acoustic"
    teacher_classifier = True
    model_modality = Modality.AUDIO

    def __init__(
        self,
        nets: Mapping[str, Network],
        teacher: Network | None = None,
        *,
        lambda_: float = 0.5,
        temperature: float = 1.0,
        teacher_average: str = "softmax",
    ) -> None:
        super().__init__(nets, teacher)
        self.lambda_, self.temperature, self.teacher_average = lambda_, temperature, teacher_average

    def embed(self, batch: Batch) -> Outputs:
        out = self._outputs("model", batch)
        with torch.no_grad():
            frames = self.teacher.per_frame(batch[self.teacher.modality.batch_key])
        return {
            "logits": out["logits"],
            "features": out["features"],
            "teacher": frames["logits"],
            "acoustic": frames["features"].mean(dim=1),
        }

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        logits, labels = out["logits"], batch["label"]
        loss = losses.distillation_loss(
            logits, labels, out["teacher"], self.lambda_, self.temperature, self.teacher_average
        )
        metrics = {
            "loss": loss.detach(),
            "cross_entropy": F.cross_entropy(logits.detach(), labels),
            "accuracy": (logits.argmax(1) == labels).float().mean(),
            "teacher_accuracy": (out["teacher"].mean(1).argmax(1) == labels).float().mean(),
        }
        return loss, metrics

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        _, metrics = self.loss(out, batch, epoch=0)
        return metrics


OBJECTIVES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "selfsup": SelfSupervised,
    "transfer": Transfer,
    "distillation": Distillation,
}


def build_objective(
    kind: str, nets: Mapping[str, Network], teacher: Network | None = None, **hyperparameters: Any
) -> Objective:
    """The ``Objective`` of ``kind`` with the ``hyperparameters`` it takes (other ``[loss]`` keys left)."""
    cls = OBJECTIVES[kind]
    taken = {k: v for k, v in hyperparameters.items() if k in cls.hyperparameters()}
    return cls(nets, teacher, **taken)


def objective_for_roles(networks: Mapping[str, Network]) -> Objective:
    """The objective whose roles (trainable + teacher) are exactly those of ``networks`` (a checkpoint's)."""
    roles = set(networks)
    for cls in OBJECTIVES.values():
        teacher = {cls.teacher_role} if cls.teacher_role else set()
        if teacher <= roles and frozenset(roles - teacher) in cls.role_sets:
            trainable = {role: networks[role] for role in sorted(roles - teacher)}
            return cls(trainable, networks[cls.teacher_role] if cls.teacher_role else None)
    raise ValueError(f"no experiment kind has the model roles {sorted(roles)}")
