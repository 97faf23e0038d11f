"""``train(config) -> run_dir``: the trainer shared by every experiment kind.

Checkpoints (``RUN/checkpoints``, rank 0): ``random`` (before training), ``epoch_N`` (after the N-th epoch,
every ``runtime.save_every`` epochs), ``best`` (best validation result so far) and ``last`` (weights + Adam
state + RNG states + position, what ``--resume`` continues from). The rest of the run directory:
``training.rundir``.

Best model: the highest validation accuracy, ties broken by the validation loss (with its L2 term, as the
original's), a later epoch winning at equal loss as in the original supervised trainer — for supervised and
distillation runs the classification accuracy, for self-supervised and transfer runs the original's triplet
accuracy (1 − fraction of violated batch-all triplets); the original's rule for those was broken (spec §7 item
18: its ``model_best`` was every epoch's, i.e. the last). ``runtime.best_reset_epochs = [2, 10, 20]``
reproduces the original supervised trainer, which made those epochs best whatever their score (§7 item 19).
``random`` holds the weights before the first step (after ``models.<role>.init_from``, if any).

Reproducibility: every RNG is seeded from ``experiment.seed``; the training order of an epoch is a
``DistributedSampler`` permutation seeded by (seed, epoch) and the dataset's crops by (seed, epoch, item), so
an epoch's batches do not depend on what ran before. ``last`` records the epoch and the number of batches
already done in it, which lets ``--resume`` continue mid-epoch (after SIGINT/SIGTERM) and reproduce the
uninterrupted loss curve exactly on CPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.layout import Modality
from acoustic_ssl.data.stats import Normalization, load_normalization
from acoustic_ssl.errors import AcousticSSLError, ConfigError, OutputError
from acoustic_ssl.io_utils import folder_lock, progress
from acoustic_ssl.models import (
    MODELS,
    Network,
    build_model,
    decay_parameter_groups,
    weight_decay_parameters,
)
from acoustic_ssl.training import devices
from acoustic_ssl.training import distributed as ddp
from acoustic_ssl.training.checkpoint import (
    CheckpointError,
    build_models,
    initialize_from,
    load_heads,
    read_checkpoint,
    read_position,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
)
from acoustic_ssl.training.config import Config, load_config
from acoustic_ssl.training.objectives import Batch, Objective, build_objective
from acoustic_ssl.training.rundir import (
    MetricsLog,
    check_new_run_dir,
    checkpoint_dir,
    choose_run_dir,
    write_run_files,
)
from acoustic_ssl.training.stop import StopRequest


class TrainingError(AcousticSSLError):
    """Training cannot go on (non-finite loss, empty data, ...)."""


class TrainingInterrupted(AcousticSSLError):
    """SIGINT/SIGTERM stopped the run after saving ``last``; the message says how to resume."""

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


@dataclass
class Position:
    """Where training stands: completed epochs, batches done in the current epoch, optimizer steps."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    sums: dict[str, float] = field(default_factory=dict)  # Σ metric·samples over the current epoch
    samples: int = 0
    best: dict[str, float] | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _normalization(cfg: Config) -> Normalization | None:
    """The spectrogram z-scoring of the run (stored in its checkpoints), if its networks read audio."""
    if cfg.data.stats_dir and Modality.AUDIO in cfg.modalities:
        return load_normalization(cfg.data.stats_dir)
    return None


def _dataset(
    cfg: Config,
    list_file: str,
    mode: str,
    normalization: Normalization | None,
    device_preprocessing: bool = False,
) -> ACIVWDataset:
    d, modalities = cfg.data, cfg.modalities
    return ACIVWDataset(
        list_file,
        mode=mode,
        total_length=d.total_length,
        sample_length=d.sample_length,
        number_of_crops=d.number_of_crops,
        modalities=modalities,
        nr_frames=d.nr_frames,
        normalize=normalization,
        video_size=tuple(d.video_size) if d.video_size else None,
        seed=cfg.experiment.seed,
        device_preprocessing=device_preprocessing,
        cache_bytes=d.cache_mb * 2**20,
    )


def _resolve_num_classes(cfg: Config) -> None:
    """Replace ``num_classes = "auto"`` by the training data's class count (checkpoints hold the number)."""
    for spec in cfg.models.values():
        if spec.kwargs.get("num_classes") == "auto":
            from acoustic_ssl.data.labels import num_classes_of

            spec.kwargs["num_classes"] = max(2, num_classes_of(cfg.data.train_list))


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can skip the samples of batches already done in the current epoch."""

    start = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


def load_teacher(cfg: Config) -> tuple[Network, dict[str, Any]]:
    """The frozen network of ``loss.teacher_checkpoint`` (the objective's teacher role), and its spec."""
    path = cfg.loss.teacher_checkpoint
    tensors, info = read_checkpoint(path)
    modality, want_classifier = Modality(cfg.teacher_role), cfg.objective.teacher_classifier
    role = cfg.teacher_role if cfg.teacher_role in info["models"] else "model"
    spec = info["models"].get(role)
    if spec is None or spec["name"] not in MODELS or MODELS[spec["name"]].modality is not modality:
        raise CheckpointError(f"{path}: holds no {modality} network (roles: {', '.join(info['models'])})")
    if (spec.get("kwargs", {}).get("num_classes") is not None) != want_classifier:
        kind = "a supervised {} classifier" if want_classifier else "a self-supervised {} stream"
        need = kind.format(modality)
        raise CheckpointError(f"{path}: loss.teacher_checkpoint must hold {need}")
    teacher = build_models(tensors, {**info, "models": {role: spec}})[role]
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval(), spec


class Trainer:
    """One run: builds data, networks and optimizer, then trains, validates, logs and checkpoints."""

    def __init__(
        self, cfg: Config, run_dir: Path, info: ddp.DistInfo, resume: bool, command: list[str]
    ) -> None:
        self.cfg, self.run_dir, self.info = cfg, run_dir, info
        self.ckpt_dir = checkpoint_dir(run_dir)
        if cfg.data.batch_size % info.world_size:
            raise ConfigError(
                f"data.batch_size={cfg.data.batch_size} must be divisible by the {info.world_size} processes"
            )
        self.local_batch = cfg.data.batch_size // info.world_size
        self._setup_determinism()
        seed_everything(cfg.experiment.seed)
        self.normalization = _normalization(cfg)
        self.bf16 = devices.use_bf16(info.device, cfg.runtime.bf16)
        if cfg.runtime.bf16 and info.device.type == "cuda" and not self.bf16 and info.is_main:
            print(f"runtime.bf16=true: {torch.cuda.get_device_name(info.device)} has no native bf16 "
                  "(compute capability < 8.0); training in float32", file=sys.stderr)
        on_device = devices.preprocess_on_device(cfg.data.preprocess_on, info.device)
        self.train_set = _dataset(cfg, cfg.data.train_list, "training", self.normalization, on_device)
        self.valid_set = _dataset(cfg, cfg.data.valid_list, "inference", self.normalization, on_device)
        if len(self.train_set) == 0 or len(self.valid_set) == 0:
            raise TrainingError(
                f"{cfg.data.train_list} / {cfg.data.valid_list}: no samples to train/validate on"
            )
        self.sampler = ResumableSampler(
            self.train_set,
            num_replicas=info.world_size,
            rank=info.rank,
            shuffle=True,
            seed=cfg.experiment.seed,
        )
        _resolve_num_classes(cfg)
        self.objective, self.model = self._build_networks(initialize=not resume)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(
            decay_parameter_groups(self.objective, o.weight_decay),  # the networks and the objective's heads
            lr=o.lr,
            betas=tuple(o.betas),
            eps=o.eps,
        )
        self.pos = Position()
        if resume:
            self._restore()
        self.log = MetricsLog(
            run_dir, info.is_main, self.pos.step if resume else None, self.pos.epoch if resume else None
        )
        if info.is_main:
            write_run_files(
                run_dir,
                cfg,
                device=info.device,
                world_size=info.world_size,
                command=command,
                resumed_at=(self.pos.epoch, self.pos.step) if resume else None,
            )
            if not resume:
                self.save("random")

    # ------------------------------------------------------------------------------------------ setup
    def _setup_determinism(self) -> None:
        deterministic = self.cfg.runtime.deterministic
        if deterministic and self.info.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if deterministic:  # the call itself imports torch._dynamo (seconds), so only when asked for
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = not deterministic
        # float32 as the original unless runtime.tf32 asks for TF32 matrix products / convolutions on CUDA
        torch.backends.cuda.matmul.allow_tf32 = self.cfg.runtime.tf32
        torch.backends.cudnn.allow_tf32 = self.cfg.runtime.tf32

    def _build_networks(self, initialize: bool) -> tuple[Objective, nn.Module]:
        """The objective with its networks (``initialize``: load ``models.<role>.init_from`` first)."""
        cfg, device = self.cfg, self.info.device
        # Sorted roles: the parameter (hence Adam state) order must not depend on the order of the TOML tables
        # or of a run's config.json (written with sorted keys), or resuming would mismatch the Adam state.
        nets = {
            role: build_model(cfg.models[role].name, **cfg.models[role].kwargs) for role in sorted(cfg.models)
        }
        for role, spec in cfg.models.items():
            if initialize and spec.init_from:
                initialize_from(nets[role], spec.init_from, role=role, source_role=spec.init_role,
                                with_head=spec.init_head)
        teacher = None
        if cfg.teacher_role:
            teacher, self.teacher_spec = load_teacher(cfg)
            teacher = teacher.to(device)
        objective = build_objective(cfg.experiment.kind, nets, teacher, cfg.loss.hyperparameters).to(device)
        objective.nets = devices.prepare_networks(
            objective.nets, device, channels_last=cfg.runtime.channels_last, distributed=self.info.distributed
        )
        model: nn.Module = objective
        if self.info.distributed:
            model = nn.parallel.DistributedDataParallel(
                objective, device_ids=[device.index] if device.type == "cuda" else None
            )
        return objective, model

    def _restore(self) -> None:
        path = self.ckpt_dir / "last"
        tensors, info = read_checkpoint(path)
        for role, net in self.objective.nets.items():
            prefix = f"model/{role}/"
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise CheckpointError(f"{path}: models.{role} does not match the config ({exc})") from None
        load_heads(self.objective.heads, tensors, path)
        restore_optimizer(self.optimizer, tensors, info, source=path)
        if "rng" in info:
            restore_rng(tensors, info["rng"], source=path)
        self.pos = Position(**read_position(info, path))

    # ----------------------------------------------------------------------------------------- saving
    def save(self, name: str, *, resumable: bool = False, metrics: dict[str, float] | None = None) -> None:
        """Write checkpoint ``name`` (rank 0); ``resumable`` adds Adam state, RNG states and the position."""
        if not self.info.is_main:
            return
        specs = {role: {"name": s.name, "kwargs": s.kwargs} for role, s in self.cfg.models.items()}
        models = dict(self.objective.nets.items())
        frozen = []
        if self.cfg.teacher_role:
            specs[self.cfg.teacher_role] = self.teacher_spec
            models[self.cfg.teacher_role] = self.objective.teacher
            frozen.append(self.cfg.teacher_role)
        info = {
            "kind": self.cfg.experiment.kind,
            "config": self.cfg.to_dict(),
            "epoch": self.pos.epoch,
            "step": self.pos.step,
            "metrics": metrics or {},
            "frozen_roles": frozen,
            "position": asdict(self.pos),
        }
        save_checkpoint(
            self.ckpt_dir / name,
            models=models,
            specs=specs,
            info=info,
            optimizer=self.optimizer if resumable else None,
            rng=resumable,
            spectrogram_stats=self.normalization.stats if self.normalization is not None else None,
            heads=self.objective.heads,
        )

    # ---------------------------------------------------------------------------------------- batches
    def _on_device(self, batches: Iterable[Batch], dataset: ACIVWDataset) -> devices.DeviceFeed:
        """``batches`` copied to the device ahead of use and finished there (``data.preprocess_on``)."""
        return devices.DeviceFeed(batches, self.info.device, dataset.finish)

    def _autocast(self) -> Any:
        return devices.autocast(self.info.device, self.bf16)

    def _loader(self, dataset: Any, batch_size: int, sampler: Any, epoch: int) -> DataLoader:
        generator = torch.Generator()
        generator.manual_seed(self.cfg.experiment.seed * 1_000_003 + epoch)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            drop_last=False,
            generator=generator,
            **devices.loader_options(self.info.device, self.cfg.data.num_workers),
        )

    @staticmethod
    def local_batch_size(batch: Batch) -> int:
        return int(batch["label"].shape[0])

    # ------------------------------------------------------------------------------------------ epochs
    def train_epoch(self, stop: StopRequest) -> bool:
        """One (possibly resumed) epoch; returns False when a stop was requested (``last`` saved)."""
        batches = self._on_device(self._epoch_batches(), self.train_set)
        self.model.train()
        for batch in self._until_stopped(batches, stop):
            values = self._step(batch)
            self._account(values, self.local_batch_size(batch) * self.info.world_size)
        return not self.stopped

    def _epoch_batches(self) -> Iterable[Batch]:
        """The current epoch's loader from the first batch not done yet, behind a progress bar on rank 0."""
        epoch = self.pos.epoch
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.start = self.pos.batch_in_epoch * self.local_batch
        loader = self._loader(self.train_set, self.local_batch, self.sampler, epoch)
        self.epoch_batches = math.ceil(self.sampler.num_samples / self.local_batch)
        self.bar: Any = loader
        if self.info.is_main:
            desc = f"epoch {epoch + 1}/{self.cfg.experiment.epochs}"
            self.bar = progress(loader, desc=desc, total=len(loader), unit="batch")
        self.window_start, self.window_samples = time.perf_counter(), 0
        return self.bar

    def _until_stopped(self, batches: Iterable[Batch], stop: StopRequest) -> Iterator[Batch]:
        """``batches`` until they run out or the processes agree to stop (``last`` saved, ``stopped`` set)."""
        self.stopped = False
        iterator = iter(batches)
        while not self._should_stop(stop):
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except RuntimeError:
                if not stop.signal_name:
                    raise
                self._should_stop(stop)  # DataLoader workers killed by the same Ctrl-C
                break
            yield batch
        self.stopped = True

    def _step(self, batch: Batch) -> dict[str, float]:
        """One optimizer step on a batch already on the device: autocast forward, loss, finite check,
        backward, Adam; returns the batch's metrics averaged over processes."""
        with self._autocast():
            out = self.model(batch)
        loss, metrics = self.objective.loss(out, batch, self.pos.epoch)
        if not self._all_finite(bool(torch.isfinite(loss.detach()).item())):
            pos = self.pos
            raise TrainingError(
                f"non-finite training loss at epoch {pos.epoch + 1}, step {pos.step + 1} (batch "
                f"{pos.batch_in_epoch + 1}/{self.epoch_batches}); lower optim.lr or check the data. The last "
                f"good checkpoint is {self.ckpt_dir / 'last'}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return self._reduce_metrics(metrics)

    def _account(self, values: dict[str, float], samples: int) -> None:
        """Advance the position by one step of ``samples`` (global batch), add to the epoch's sums, log."""
        pos = self.pos
        pos.step += 1
        pos.batch_in_epoch += 1
        pos.samples += samples
        for k, v in values.items():
            pos.sums[k] = pos.sums.get(k, 0.0) + v * samples
        self.window_samples += samples
        if pos.step % self.cfg.runtime.log_every == 0 or pos.batch_in_epoch == self.epoch_batches:
            rate = self.window_samples / max(time.perf_counter() - self.window_start, 1e-9)
            self._log_step(values, rate)
            if hasattr(self.bar, "set_postfix"):
                self.bar.set_postfix(loss=f"{values['loss']:.4f}", samples_s=f"{rate:.1f}")
            self.window_start, self.window_samples = time.perf_counter(), 0

    def _all_finite(self, finite: bool) -> bool:
        flag = torch.tensor([0.0 if finite else 1.0], device=self.info.device)
        return bool(ddp.all_reduce(flag, "max").item() == 0.0)

    def _should_stop(self, stop: StopRequest) -> bool:
        """Agree across processes on a pending signal; if so save ``last`` and say how to resume."""
        flag = torch.tensor([1.0 if stop.signal_name else 0.0], device=self.info.device)
        if ddp.all_reduce(flag, "max").item() == 0.0:
            return False
        self.save("last", resumable=True)
        return True

    def _reduce_metrics(self, metrics: dict[str, torch.Tensor]) -> dict[str, float]:
        names = sorted(metrics)
        stacked = torch.stack([metrics[k].detach().float().reshape(()) for k in names])
        averaged = ddp.all_reduce(stacked, "mean").tolist()
        return dict(zip(names, averaged, strict=True))

    def _log_step(self, values: dict[str, float], rate: float) -> None:
        pos = self.pos
        lr = self.optimizer.param_groups[0]["lr"]
        record = {
            "event": "step",
            "epoch": pos.epoch + 1,
            "step": pos.step,
            "lr": lr,
            "samples_per_s": rate,
            **{f"train/{k}": v for k, v in values.items()},
        }
        scalars = {f"train/{k}": v for k, v in values.items()}
        scalars.update({"train/lr": lr, "train/samples_per_s": rate})
        self.log.log(record, scalars, pos.step)

    def l2_penalty(self) -> float:
        """The original's L2 term s·Σw²/2 over its regularised parameters (what Adam's coupled decay is the
        gradient of), which its reported losses include."""
        decay = self.cfg.optim.weight_decay
        params = weight_decay_parameters(self.objective)
        squares = sum(float(p.detach().double().square().sum()) for p in params)
        return decay * squares / 2.0

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Metrics over the validation list, averaged over batches weighted by their size (rank 0 only).

        ``loss`` includes the L2 term, as the original's validation loss did (``l2`` alone, ``loss_data``
        without it).
        """
        batch_size = self.cfg.data.valid_batch_size or self.cfg.data.batch_size
        loader = self._loader(self.valid_set, batch_size, None, 0)
        self.objective.eval()
        sums: dict[str, float] = {}
        count = 0
        with ddp.local_only():
            bar = progress(loader, desc="validation", total=len(loader), unit="batch")
            for batch in self._on_device(bar, self.valid_set):
                with self._autocast():
                    out = self.objective(batch)
                n = self.local_batch_size(batch)
                for k, v in self.objective.validation_terms(out, batch).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                count += n
        self.objective.train()
        metrics = {k: v / count for k, v in sums.items()}
        metrics["l2"] = self.l2_penalty()
        metrics["loss_data"] = metrics["loss"]
        metrics["loss"] = metrics["loss_data"] + metrics["l2"]
        return metrics

    def end_epoch(self) -> None:
        pos = self.pos
        train_metrics = {k: v / max(pos.samples, 1) for k, v in pos.sums.items()}
        valid = self.validate() if self.info.is_main else {}
        ddp.barrier(self.info)
        pos.epoch += 1
        pos.batch_in_epoch, pos.sums, pos.samples = 0, {}, 0
        if not self.info.is_main:
            return
        reset = pos.epoch in self.cfg.runtime.best_reset_epochs
        improved = reset or self.objective.is_improvement(valid, pos.best)
        if improved:
            pos.best = {"epoch": pos.epoch, "accuracy": valid["accuracy"], "loss": valid["loss"]}
        metrics = {
            **{f"train/{k}": v for k, v in train_metrics.items()},
            **{f"valid/{k}": v for k, v in valid.items()},
        }
        record = {"event": "epoch", "epoch": pos.epoch, "step": pos.step, "best": improved, **metrics}
        scalars = {f"epoch/train_{k}": v for k, v in train_metrics.items()}
        scalars.update({f"epoch/valid_{k}": v for k, v in valid.items()})
        self.log.log(record, scalars, pos.step)
        every = self.cfg.runtime.save_every
        if every and pos.epoch % every == 0:
            self.save(f"epoch_{pos.epoch}", metrics=metrics)
        if improved:
            self.save("best", metrics=metrics)
        self.save("last", resumable=True, metrics=metrics)

    def fit(self) -> None:
        try:
            with StopRequest() as stop:
                while self.pos.epoch < self.cfg.experiment.epochs:
                    if not self.train_epoch(stop):
                        where = f"epoch {self.pos.epoch + 1}, step {self.pos.step}"
                        raise TrainingInterrupted(
                            f"{stop.signal_name}: stopped at {where}; saved {self.ckpt_dir / 'last'}. "
                            f"Resume with: acoustic-ssl train --resume {self.run_dir}",
                            self.run_dir,
                        )
                    self.end_epoch()
        finally:
            self.log.close()
        best = self.pos.best
        if self.info.is_main and best is not None:
            print(
                f"{self.run_dir}: best epoch {best['epoch']} (validation accuracy {best['accuracy']:.4f}, "
                f"loss {best['loss']:.4f}) -> {self.ckpt_dir / 'best'}",
                file=sys.stderr,
            )


def train(
    config: Config | str | Path,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    command: list[str] | None = None,
) -> Path:
    """Train the experiment of ``config`` and return its run directory.

    ``config``: a ``Config``, a packaged preset name (``"selfsup_audio_video"``) or a TOML file; ``overrides``
    are ``--set`` lines for the latter two. ``resume``: a run directory to continue from its ``last``
    checkpoint, or ``"auto"`` for the newest run of this experiment that has one (a fresh run if none). Under
    ``torchrun`` every process calls this; only rank 0 writes files.
    """
    cfg = load_config(config, overrides) if isinstance(config, (str, Path)) else config
    info = ddp.setup(cfg.runtime.device)
    try:
        run_dir, resuming = choose_run_dir(cfg, resume)
        run_dir = Path(ddp.broadcast_object(str(run_dir.resolve()), info))
        command = command if command is not None else list(sys.argv)
        with _holding(run_dir, info, resuming):
            trainer = Trainer(cfg, run_dir, info, resuming, command)
            trainer.fit()
            ddp.barrier(info)
        return run_dir
    finally:
        ddp.teardown(info)


@contextlib.contextmanager
def _holding(run_dir: Path, info: ddp.DistInfo, resuming: bool) -> Iterator[None]:
    """Rank 0 locks ``run_dir`` for the run (two runs into one directory would interleave their metrics and
    checkpoints) and checks that a new run overwrites nothing; every process stops with rank 0's message."""
    with contextlib.ExitStack() as stack:
        problem = None
        if info.is_main:
            try:
                stack.enter_context(folder_lock(run_dir, "train"))
                if not resuming:
                    check_new_run_dir(run_dir)
            except OutputError as exc:
                problem = str(exc)
        problem = ddp.broadcast_object(problem, info)
        if problem is not None:
            raise OutputError(problem)
        yield
