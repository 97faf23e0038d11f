"""The contract of an objective: everything that differs between learning methods lives on its class.

An objective is what a training run of one ``experiment.kind`` computes, and what evaluation asks about that
run, so that nothing outside the objective fixes a method's choices:

* **roles** (``role_sets``): the trainable networks by role, a role named after a modality (``video``,
  ``audio``, ``acoustic``) played by a network reading it, ``model`` a classifier, a role of
  ``role_networks`` a network of that class (a ``generator``); ``teacher_role``: a frozen network from
  ``loss.teacher_checkpoint`` (kept outside the module tree: never in the optimizer, never in DDP, always in
  eval mode);
* **targets** (``target_modalities``): modalities a batch must hold for the loss that no network reads (the
  true acoustic images a generator regresses to); the data loaded are the networks' inputs plus these;
* **hyperparameters**: its keyword-only constructor arguments are its ``[loss]`` keys (``lambda_`` is
  ``lambda``), typed by their annotations and checked by ``constraints``; a ``[loss]`` key the objective
  does not take is a config error;
* **heads**: trainable modules of its own (projections), saved in checkpoints as ``objective/<name>``;
* **the forward path** ``embed(batch)`` (``forward`` is ``embed``, so DDP wraps it), the training ``loss``
  and the ``validation_terms``; the checkpoint selection rule ``is_improvement`` and the checkpoint that
  stands for a run (``reported``: the last epoch or the best validation one);
* **what evaluation reads**: ``features`` (the arrays feature extraction saves), the audio↔video
  ``pair_distances`` (retrieval, the mismatched-audio control), the ``localization_map``, and its test mode
  (``test_metrics``).

``embed`` returns per-sample outputs: ``audio`` (the audio side's embedding: a vector [B,D] or a map
[B,D,H,W] aligned with the video grid), ``video`` (a map [B,D,H,W]), and for classifiers ``logits`` and
``features``. ``features`` stores those raw outputs under fixed keys (``audio_raw``, ``audio_map``,
``video_map``) so that scores can be recomputed from a features file by the objective alone.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models import Network, l2n
from acoustic_ssl.training.distributed import gather, gather_many_with_grad
from acoustic_ssl.training.losses import same_video_mask

Batch = dict[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]
Metrics = dict[str, torch.Tensor]
Splits = Mapping[str, Mapping[str, np.ndarray]]
Constraint = tuple[Callable[[Any], bool], str]


def hyperparameter_key(name: str) -> str:
    """The ``[loss]`` key of a constructor argument: ``lambda_`` → ``lambda`` (a Python keyword)."""
    return name.rstrip("_")


class Objective(nn.Module):
    """Base of the registered objectives (``training.objectives.OBJECTIVES``); see the module docstring."""

    role_sets: ClassVar[tuple[frozenset[str], ...]]
    teacher_role: ClassVar[str | None] = None
    teacher_classifier: ClassVar[bool] = False  # the teacher is a supervised classifier (else an embedding)
    model_modality: ClassVar[Modality | None] = None  # what the "model" role must read (None: any)
    role_networks: ClassVar[Mapping[str, type[Network]]] = {}  # role → the network class it needs
    target_modalities: ClassVar[tuple[Modality, ...]] = ()  # loaded for the loss, read by no network
    reported: ClassVar[str] = "best"  # "best" (validation) or "final" (last epoch): what a run stands for
    constraints: ClassVar[Mapping[str, Constraint]] = {}  # [loss] key → (check, what it must be)
    audio_role: str | None = None  # the role whose embedding is compared with the video, if any

    def __init__(self, nets: Mapping[str, Network], teacher: Network | None = None) -> None:
        super().__init__()
        if (teacher is not None) != (self.teacher_role is not None):
            raise ValueError(f"{type(self).__name__} takes {'a' if self.teacher_role else 'no'} teacher")
        self.nets = nn.ModuleDict(nets)
        self.heads = nn.ModuleDict()
        self.teacher_holder: list[Network] = [teacher] if teacher is not None else []
        self.teacher_cache: dict[tuple[float, ...], torch.Tensor] = {}

    # ------------------------------------------------------------------------------------ declarations
    @classmethod
    def hyperparameters(cls) -> dict[str, tuple[str, Any, Any]]:
        """``[loss]`` key → (argument name, type, default) of the keyword-only constructor arguments."""
        hints = typing.get_type_hints(cls.__init__)
        params = inspect.signature(cls.__init__).parameters.values()
        return {
            hyperparameter_key(p.name): (p.name, hints[p.name], p.default)
            for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    @classmethod
    def check_hyperparameters(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(key, what it must be) for every ``[loss]`` value that breaks a constraint."""
        return [
            (key, message)
            for key, (check, message) in cls.constraints.items()
            if key in values and not check(values[key])
        ]

    # ------------------------------------------------------------------------------------ networks
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
    def input_modalities(self) -> tuple[Modality, ...]:
        """What the networks read, in the original's order: all a trained model needs to run."""
        read = {net.modality for net in self.networks.values()}
        return tuple(m for m in Modality if m in read)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """What a training or evaluation batch holds: the networks' inputs and the objective's targets."""
        loaded = {*self.input_modalities, *self.target_modalities}
        return tuple(m for m in Modality if m in loaded)

    @torch.no_grad()
    def teacher_vectors(self, batch: Batch, reduce: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``reduce`` of the frozen teacher's embedding map of each sample, [B, D], computed once per sample
        and run: a frozen teacher and a fixed input give the same vector every epoch, and on a CPU the
        teacher's forward pass costs more than the student's step. Each sample is computed alone, so its
        vector does not depend on the batch it first came in (a resumed run gets the same numbers). A vector
        is reused only for the same recording and start second (where the batch names them) and input (two
        sums of it); anything else is computed afresh."""
        x = batch[self.teacher.modality.batch_key]
        flat = x.flatten(1)
        identity = [batch[key].tolist() for key in ("video_id", "start") if key in batch]
        keys = zip(*identity, flat.sum(1).tolist(), flat[:, ::7].sum(1).tolist(), strict=True)
        rows = []
        for i, key in enumerate(keys):
            if key not in self.teacher_cache:
                self.teacher_cache[key] = reduce(self.teacher.per_sample(x[i : i + 1])["embedding"])[0]
            rows.append(self.teacher_cache[key])
        return torch.stack(rows)

    def _outputs(self, role: str, batch: Batch) -> Outputs:
        net: Network = self.nets[role]
        return net.per_sample(batch[net.modality.batch_key])

    # ------------------------------------------------------------------------------------ training
    @staticmethod
    def _gathered(out: Outputs, batch: Batch, grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Global-batch ``video`` and ``audio`` outputs (one differentiable collective with ``grad``) and the
        same-recording mask: what an audio-visual loss over the whole (DDP) batch needs."""
        if grad:
            video, audio = gather_many_with_grad(out["video"], out["audio"])
        else:
            video, audio = gather(out["video"]), gather(out["audio"])
        return video, audio, same_video_mask(gather(batch["video_id"]))

    def embed(self, batch: Batch) -> Outputs:
        """Per-sample outputs of the networks on the local batch (module docstring)."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> Outputs:
        return self.embed(batch)

    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        raise NotImplementedError

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        """Validation metrics of one batch; ``loss`` and ``accuracy`` are required (``is_improvement``)."""
        raise NotImplementedError

    @staticmethod
    def is_improvement(valid: Mapping[str, float], best: Mapping[str, float] | None) -> bool:
        """Whether an epoch's validation results beat the best so far: a higher accuracy, or the same one
        with a loss no higher (the original supervised trainer accepted a tie at equal loss, so the later
        epoch wins)."""
        if best is None or valid["accuracy"] > best["accuracy"]:
            return True
        return valid["accuracy"] == best["accuracy"] and valid["loss"] <= best["loss"]

    # ------------------------------------------------------------------------------------ evaluation
    def features(self, out: Outputs) -> dict[str, torch.Tensor]:
        """The arrays feature extraction saves for one batch of ``embed`` outputs.

        The raw outputs (``audio_raw`` [B,D]; ``audio_map`` too when the audio side is a map; ``video_map``;
        ``logits``, ``features``), an l2-normalised ``acoustic`` teacher embedding, and where an audio and a
        video side exist the objective's ``audio`` / ``video`` feature vectors, ``joint`` (their sum, as the
        original's ``testing2.py``) and the ``attention_map`` (``localization_map``).
        """
        feats: dict[str, torch.Tensor] = {}
        audio, video = out.get("audio"), out.get("video")
        if audio is not None:
            if audio.dim() == 2:
                feats["audio_raw"] = audio
            else:
                feats["audio_raw"], feats["audio_map"] = audio.sum(dim=(2, 3)), audio
            feats["audio"] = self.audio_feature(audio)
        if video is not None:
            feats["video_map"] = video
        if audio is not None and video is not None:
            feats["video"] = self.video_feature(audio, video)
            feats["joint"] = feats["video"] + feats["audio"]
            feats["attention_map"] = self.localization_map(audio, video)
        if "acoustic" in out:
            feats["acoustic"] = l2n(out["acoustic"])
        for key in ("features", "logits"):
            if key in out:
                feats[key] = out[key]
        return feats

    def audio_feature(self, audio: torch.Tensor) -> torch.Tensor:
        """The audio feature vector [B,D] that kNN and scene transfer evaluate, from ``embed``'s audio."""
        raise NotImplementedError(f"{type(self).__name__} has no audio side")

    @property
    def audio_network(self) -> Network:
        """The trainable network reading spectrograms (the single-microphone audio model)."""
        for net in self.nets.values():
            if net.modality is Modality.AUDIO:
                return net
        roles = ", ".join(self.nets)
        raise ValueError(f"{type(self).__name__} has no network reading {Modality.AUDIO} (roles: {roles})")

    def audio_features(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """The audio feature [B,D] of spectrograms [B,257,T] alone: the ``audio`` feature of extraction
        (``audio_feature`` of the audio network's embedding), or a classifier's ``features``. What kNN,
        scene transfer and the HEAR API evaluate, decided here once."""
        out = self.audio_network.per_sample(spectrograms)
        return self.audio_feature(out["embedding"]) if "embedding" in out else out["features"]

    def video_feature(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """The video feature vector [B,D] of paired audio and video outputs."""
        raise NotImplementedError(f"{type(self).__name__} has no audio-video pair")

    def pair_distances(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Audio↔video distances [Q,G] (lower = a better match) of every audio query against every video."""
        raise NotImplementedError(f"{type(self).__name__} has no audio-video score")

    def localization_map(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Where the audio of sample i is in the frame of sample i: [B,H,W], larger = more likely."""
        raise NotImplementedError(f"{type(self).__name__} has no localisation map")

    @property
    def has_pair(self) -> bool:
        """Whether the objective scores audio against video (retrieval, localisation)."""
        return self.audio_role is not None and "video" in self.nets

    def test_metrics(
        self, splits: Splits, distances: np.ndarray | None, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """The objective's own test mode on extracted features, by ``metrics.json`` key (none by default).

        ``distances``: ``pair_distances`` over the test split (None without a pair); ``batch_size``: the
        run's validation batch.
        """
        return {}
