"""The objectives by ``experiment.kind``: one registry, and the one way to build an objective.

Adding a method is one ``Objective`` subclass (``objectives.base`` says what it declares) registered with
``register_objective`` — from inside the package (an entry below) or from the caller's own code: configs,
the trainer, checkpoints, feature extraction, evaluation and the demo find everything else on the class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acoustic_ssl.models import Network
from acoustic_ssl.training.objectives.base import Batch, Metrics, Objective, Outputs, hyperparameter_key
from acoustic_ssl.training.objectives.classification import Distillation, Supervised, classifier_correct
from acoustic_ssl.training.objectives.contrastive import Contrastive, ContrastiveTransfer
from acoustic_ssl.training.objectives.generate import Generate
from acoustic_ssl.training.objectives.triplet import SelfSupervised, Transfer

OBJECTIVES: dict[str, type[Objective]] = {
    "supervised": Supervised,
    "selfsup": SelfSupervised,
    "transfer": Transfer,
    "distillation": Distillation,
    "contrastive": Contrastive,
    "contrastive_transfer": ContrastiveTransfer,
    "generate": Generate,
}


def register_objective(kind: str, cls: type[Objective]) -> None:
    """Make ``cls`` trainable as ``experiment.kind = kind`` and rebuildable from its checkpoints."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise TypeError(f"{cls!r} is not an Objective subclass")
    OBJECTIVES[kind] = cls


def objective_class(kind: str) -> type[Objective]:
    """The registered objective of ``kind``; an unknown kind is a ValueError naming the known ones."""
    try:
        return OBJECTIVES[kind]
    except KeyError:
        raise ValueError(f"unknown experiment kind {kind!r}; choose one of {', '.join(OBJECTIVES)}") from None


def build_objective(
    kind: str,
    nets: Mapping[str, Network],
    teacher: Network | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> Objective:
    """The objective of ``kind`` with its ``[loss]`` hyperparameters (by TOML key; a key it does not take is
    a ValueError: configs check them first and name the file)."""
    cls = objective_class(kind)
    taken = cls.hyperparameters()
    values = dict(hyperparameters or {})
    unknown = sorted(set(values) - set(taken))
    if unknown:
        takes = ", ".join(taken) or "none"
        raise ValueError(f"objective '{kind}' takes no loss.{unknown[0]} (it takes: {takes})")
    return cls(nets, teacher, **{taken[key][0]: value for key, value in values.items()})


__all__ = [
    "OBJECTIVES",
    "Batch",
    "Contrastive",
    "ContrastiveTransfer",
    "Distillation",
    "Generate",
    "Metrics",
    "Objective",
    "Outputs",
    "SelfSupervised",
    "Supervised",
    "Transfer",
    "build_objective",
    "classifier_correct",
    "hyperparameter_key",
    "objective_class",
    "register_objective",
]
