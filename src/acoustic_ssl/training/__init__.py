"""Training: presets and typed configs, the objectives of each experiment kind, the trainer, checkpoints, DDP.

Entry points (imported on first use, so importing the package stays light):

* ``load_config(name_or_file, overrides, variant=...)`` → a validated ``Config`` (``training.config``);
* ``train(config, resume=...)`` → the run directory (``training.run``); ``load_run_config(run_dir)``;
* ``load_checkpoint(path)`` → networks by role + info (``training.checkpoint``);
* ``load_trained(path)`` → a checkpoint read once: its typed config, its objective rebuilt by kind, its
  spectrogram normalisation (``training.trained``), what evaluation passes around;
* ``build_objective`` / ``OBJECTIVES`` / ``register_objective`` (``training.objectives``).

Example:

>>> from acoustic_ssl.training import load_config
>>> cfg = load_config("transfer", ["loss.alpha=0.3"])
>>> cfg.experiment.kind, cfg.loss.alpha, cfg.teacher_role
('transfer', 0.3, 'acoustic')
"""

from __future__ import annotations

from acoustic_ssl.lazy import lazy_exports

_EXPORTS = {
    "Config": "acoustic_ssl.training.config",
    "load_config": "acoustic_ssl.training.config",
    "train": "acoustic_ssl.training.run",
    "TrainingInterrupted": "acoustic_ssl.training.run",
    "load_run_config": "acoustic_ssl.training.rundir",
    "load_checkpoint": "acoustic_ssl.training.checkpoint",
    "load_trained": "acoustic_ssl.training.trained",
    "Trained": "acoustic_ssl.training.trained",
    "OBJECTIVES": "acoustic_ssl.training.objectives",
    "Objective": "acoustic_ssl.training.objectives",
    "build_objective": "acoustic_ssl.training.objectives",
    "register_objective": "acoustic_ssl.training.objectives",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
