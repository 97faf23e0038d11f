"""A checkpoint loaded once into a typed handle, which extraction, evaluation, boxes, scenes and HEAR share.

``load_trained(path)`` reads and verifies the checkpoint (``checkpoint.read_checkpoint``) exactly once and
returns a :class:`Trained`: the run's typed ``Config``, the objective rebuilt by the stored ``kind`` with its
networks (the frozen teacher included) and its own heads, in eval mode on the CPU, and the spectrogram
normalisation the audio network was trained with. Callers pass the handle on rather than the path (as
dino's ``eval_knn`` loads the model once and passes it), so one evaluation reads one checkpoint once.

Example:

>>> trained = load_trained("runs/selfsup/seed0")  # doctest: +SKIP
>>> trained.kind, trained.objective.reported, trained.config.data.sample_length  # doctest: +SKIP
('selfsup', 'final', 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acoustic_ssl.data.stats import Normalization
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.models import Network
from acoustic_ssl.training.checkpoint import (
    CheckpointError,
    build_models,
    load_heads,
    read_checkpoint,
    spectrogram_stats,
)
from acoustic_ssl.training.config import Config, config_from_dict, stored_config
from acoustic_ssl.training.objectives import Objective, build_objective


@dataclass(frozen=True)
class Trained:
    """One checkpoint, loaded and verified: its run config, its objective and its input normalisation."""

    path: Path  # the checkpoint stem (``run/checkpoints/best``)
    info: dict[str, Any]  # the checkpoint's JSON (epoch, metrics, model specs, ...)
    config: Config
    objective: Objective
    normalization: Normalization | None  # None: the run's networks read no spectrograms

    @property
    def kind(self) -> str:
        return self.config.experiment.kind

    @property
    def name(self) -> str:
        """The checkpoint's name (``best``, ``epoch_12``, ``random``, ...)."""
        return self.path.name

    @property
    def epoch(self) -> int | None:
        return self.info.get("epoch")

    @property
    def networks(self) -> dict[str, Network]:
        return self.objective.networks

    @property
    def roles(self) -> dict[str, str]:
        """Role → network name."""
        return {role: spec["name"] for role, spec in self.info["models"].items()}


def load_trained(path: str | Path, *, stats_dir: str | Path | None = None) -> Trained:
    """Read ``path`` (a checkpoint stem, either file, or a run directory: ``checkpoint.reported_checkpoint``)
    once, verify it, and rebuild its objective. ``stats_dir`` overrides the stored spectrogram statistics."""
    tensors, info = read_checkpoint(path)
    source = f"{info['path']}.json"
    try:
        config = config_from_dict(stored_config(dict(info.get("config") or {})), source=source)
    except ConfigError as exc:
        raise CheckpointError(f"its run config does not load: {exc}") from None
    networks = build_models(tensors, info)
    teacher_role = config.objective.teacher_role
    trainable = {role: net for role, net in networks.items() if role != teacher_role}
    teacher = networks.get(teacher_role) if teacher_role else None
    try:
        objective = build_objective(config.experiment.kind, trainable, teacher, config.loss.hyperparameters)
    except ValueError as exc:
        kind = config.experiment.kind
        raise CheckpointError(f"{source}: cannot rebuild its '{kind}' objective ({exc})") from None
    load_heads(objective.heads, tensors, source)
    objective.eval()
    stats = spectrogram_stats(tensors, info, stats_dir)
    normalization = Normalization.from_stats(*stats, source=str(path)) if stats is not None else None
    return Trained(Path(info["path"]), info, config, objective, normalization)
