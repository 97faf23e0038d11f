"""Objectives that train a classifier: supervised cross-entropy, and distillation from an acoustic teacher.

Both report the best validation checkpoint (the original supervised trainers' ``model_best``) and their test
mode is the classifier's own accuracy (``classifier`` in metrics.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models import Network
from acoustic_ssl.training import losses
from acoustic_ssl.training.objectives.base import Batch, Constraint, Metrics, Objective, Outputs, Splits


def classifier_correct(part: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per sample of a split: is the classifier's own prediction (argmax of its logits) right."""
    return part["logits"].argmax(axis=1) == part["labels"]


class Classifier(Objective):
    """Base of the classifier objectives: ``model`` role, best validation checkpoint, classifier test mode."""

    role_sets = (frozenset({"model"}),)
    reported = "best"

    def test_metrics(
        self, splits: Splits, distances: np.ndarray | None, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """The classifier's own accuracy on the test split, and on validation (``val_accuracy``)."""
        block = {}
        for split, key in (("testing", "accuracy"), ("validation", "val_accuracy")):
            part = splits.get(split, {})
            if "logits" in part:
                block[key] = float(np.mean(classifier_correct(part)))
        return {"classifier": block} if block else {}


class Supervised(Classifier):
    """Cross-entropy on logits averaged over frames (temporal pooling); accuracy = argmax match.

    ``embed``: ``logits`` [B,C] and ``features`` [B,128] of the ``model`` classifier.
    """

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


class Distillation(Classifier):
    """(1 − λ)·CE(labels) + λ·CE(teacher soft targets) for the HearNet student (spec §5.4 / §5.6).

    ``embed``: the student's ``logits`` and ``features``, the teacher's per-frame logits ``teacher`` [B,F,C]
    and its frame-mean 128-d feature ``acoustic``. ``lambda_``: weight of the soft targets; ``temperature``
    and ``teacher_average`` ("softmax" or "logits") shape them (``losses.teacher_targets``).
    """

    teacher_role = "acoustic"
    teacher_classifier = True
    model_modality = Modality.AUDIO
    constraints: ClassVar[Mapping[str, Constraint]] = {
        "lambda": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
        "temperature": (lambda v: v > 0, "must be > 0"),
        "teacher_average": (lambda v: v in ("softmax", "logits"), "expected 'softmax' or 'logits'"),
    }

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
