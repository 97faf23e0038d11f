"""``train(config) -> run_dir``: the training loop shared by every experiment kind.

A run directory holds ``config.json`` (resolved config), ``meta.json`` (code version, seed, command, torch
version, world size), ``metrics.jsonl`` (one JSON object per logged step and per epoch), ``tb/`` (TensorBoard)
and ``checkpoints/``: ``random`` (before training), ``epoch_N`` (after the N-th epoch, every
``runtime.save_every`` epochs), ``best`` (best validation result so far) and ``last`` (weights + Adam state +
RNG states + position, what ``--resume`` continues from).

Best model: the highest validation accuracy, ties broken by the lower validation loss — for supervised and
distillation runs the classification accuracy, for self-supervised and transfer runs the original's triplet
accuracy (1 − fraction of violated batch-all triplets). The original's own rule was broken (spec §7 item 18).

Reproducibility: every RNG is seeded from ``experiment.seed``; the training order of an epoch is a
``DistributedSampler`` permutation seeded by (seed, epoch) and the dataset's crops by (seed, epoch, item), so
an epoch's batches do not depend on what ran before. ``last`` records the epoch and the number of batches
already done in it, which lets ``--resume`` continue mid-epoch (after SIGINT/SIGTERM) and reproduce the
uninterrupted loss curve exactly on CPU.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from acoustic_ssl import __version__
from acoustic_ssl.errors import AcousticSSLError, ConfigError
from acoustic_ssl.io_utils import progress, write_json_atomic, write_text_atomic
from acoustic_ssl.training import distributed as ddp
from acoustic_ssl.training.checkpoint import (
    CheckpointError,
    checkpoint_paths,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
)
from acoustic_ssl.training.config import Config, config_from_dict, load_config
from acoustic_ssl.training.objectives import Objective, build_objective


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


# ------------------------------------------------------------------------------------------- run directory
def code_version() -> str:
    """``git describe`` of the source tree when it is a git checkout, else the package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None and out.returncode == 0 and out.stdout.strip():
        return f"{__version__}+git.{out.stdout.strip()}"
    return __version__


def new_run_dir(cfg: Config) -> Path:
    """``runtime.run_dir`` if set, else ``<out_dir>/<name>-<UTC time>`` (suffixed if it exists)."""
    if cfg.runtime.run_dir:
        return Path(cfg.runtime.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(cfg.runtime.out_dir) / f"{cfg.experiment.name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def find_resumable(cfg: Config) -> Path | None:
    """The newest run of this experiment (``runtime.run_dir`` or ``<out_dir>/<name>-*``) with a ``last``."""
    if cfg.runtime.run_dir:
        candidates = [Path(cfg.runtime.run_dir)]
    else:
        out = Path(cfg.runtime.out_dir)
        candidates = sorted(
            out.glob(f"{cfg.experiment.name}-*"), key=lambda p: p.stat().st_mtime, reverse=True
        )
    for run_dir in candidates:
        if checkpoint_paths(run_dir / "checkpoints" / "last")[1].is_file():
            return run_dir
    return None


class MetricsLog:
    """``metrics.jsonl`` + TensorBoard, written by rank 0 only."""

    def __init__(
        self, run_dir: Path, enabled: bool, resume_step: int | None, resume_epoch: int | None
    ) -> None:
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.writer: Any = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            self._truncate(resume_step, resume_epoch or 0)
        from torch.utils.tensorboard import SummaryWriter

        purge = resume_step + 1 if resume_step is not None else None
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=purge)

    def _truncate(self, step: int, epoch: int) -> None:
        """Drop lines logged after the checkpoint we resume from (a crash may have left some)."""
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (rec.get("event") == "step" and rec["step"] <= step) or (
                rec.get("event") == "epoch" and rec["epoch"] <= epoch
            ):
                kept.append(line)
        write_text_atomic(self.path, "".join(f"{line}\n" for line in kept))

    def log(self, record: dict[str, Any], scalars: dict[str, float], step: int) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a flag checked between steps; a second one aborts at once."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading_is_main():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        print(
            f"\n{self.signal_name} received: finishing the current step, then saving 'last' "
            "(send it again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -------------------------------------------------------------------------------------------------- trainer
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _dataset(cfg: Config, list_file: str, mode: str) -> Any:
    from acoustic_ssl.data.dataset import ACIVWDataset

    d = cfg.data
    return ACIVWDataset(
        list_file,
        mode=mode,
        total_length=d.total_length,
        sample_length=d.sample_length,
        number_of_crops=d.number_of_crops,
        modalities=cfg.modalities,
        nr_frames=d.nr_frames,
        stats_dir=d.stats_dir or None,
        video_size=tuple(d.video_size) if d.video_size else None,
        seed=cfg.experiment.seed,
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


def load_teacher(cfg: Config) -> tuple[nn.Module, dict[str, Any]]:
    """The frozen DualCamNet of transfer (map mode) or distillation (classifier), and its name + kwargs."""
    from acoustic_ssl.training.checkpoint import build_models

    path = cfg.loss.teacher_checkpoint
    tensors, info = read_checkpoint(path)
    role = "acoustic" if "acoustic" in info["models"] else "model"
    spec = info["models"].get(role)
    want_classifier = cfg.experiment.kind == "distillation"
    if spec is None or spec["name"] != "dualcamnet":
        raise CheckpointError(f"{path}: holds no DualCamNet (roles: {', '.join(info['models'])})")
    if (spec.get("kwargs", {}).get("num_classes") is not None) != want_classifier:
        need = (
            "a supervised DualCamNet classifier" if want_classifier else "a self-supervised acoustic stream"
        )
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
        self.ckpt_dir = run_dir / "checkpoints"
        if cfg.data.batch_size % info.world_size:
            raise ConfigError(
                f"data.batch_size={cfg.data.batch_size} must be divisible by the {info.world_size} processes"
            )
        self.local_batch = cfg.data.batch_size // info.world_size
        self._setup_determinism()
        seed_everything(cfg.experiment.seed)
        self.train_set = _dataset(cfg, cfg.data.train_list, "training")
        self.valid_set = _dataset(cfg, cfg.data.valid_list, "inference")
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
        self.objective, self.model = self._build_networks()
        from acoustic_ssl.models import decay_parameter_groups

        o = cfg.optim
        self.optimizer = torch.optim.Adam(
            decay_parameter_groups(self.objective.nets, o.weight_decay),
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
            self._write_run_files(resume, command)
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
        if self.info.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = not deterministic
            torch.backends.cudnn.allow_tf32 = not deterministic

    def _build_networks(self) -> tuple[Objective, nn.Module]:
        from acoustic_ssl.models import build_model

        cfg, device = self.cfg, self.info.device
        # Sorted roles: the parameter (hence Adam state) order must not depend on the order of the TOML tables
        # or of a run's config.json (written with sorted keys), or resuming would mismatch the Adam state.
        nets = {
            role: build_model(cfg.models[role].name, **cfg.models[role].kwargs) for role in sorted(cfg.models)
        }
        teacher = None
        if cfg.teacher_role:
            teacher, self.teacher_spec = load_teacher(cfg)
            teacher = teacher.to(device)
        objective = build_objective(cfg, nets, teacher).to(device)
        if cfg.runtime.channels_last and device.type == "cuda":
            objective.channels_last = True
            for role, spec in cfg.models.items():
                if spec.name == "resnet18":
                    objective.nets[role].to(memory_format=torch.channels_last)
        model: nn.Module = objective
        if self.info.distributed:
            if device.type == "cuda":
                # BatchNorm over the global batch, as one process would see it (SyncBatchNorm is CUDA-only).
                objective.nets = nn.SyncBatchNorm.convert_sync_batchnorm(objective.nets)
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
        restore_optimizer(self.optimizer, tensors, info, source=path)
        if "rng" in info:
            restore_rng(tensors, info["rng"])
        state = info["position"]
        self.pos = Position(**state)

    def _write_run_files(self, resume: bool, command: list[str]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.run_dir / "config.json", self.cfg.to_dict())
        entry = {
            "command": command,
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code_version": code_version(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "host": platform.node(),
            "device": str(self.info.device),
            "world_size": self.info.world_size,
        }
        meta_path = self.run_dir / "meta.json"
        if resume and meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta.setdefault("resumes", []).append(
                {**entry, "from_epoch": self.pos.epoch, "from_step": self.pos.step}
            )
        else:
            meta = {**entry, "seed": self.cfg.experiment.seed, "kind": self.cfg.experiment.kind}
        write_json_atomic(meta_path, meta)

    # ----------------------------------------------------------------------------------------- saving
    def save(self, name: str, *, resumable: bool = False, metrics: dict[str, float] | None = None) -> None:
        """Write checkpoint ``name`` (rank 0); ``resumable`` adds Adam state, RNG states and the position."""
        if not self.info.is_main:
            return
        specs = {role: {"name": s.name, "kwargs": s.kwargs} for role, s in self.cfg.models.items()}
        models = dict(self.objective.nets.items())
        frozen = []
        if self.cfg.teacher_role:
            specs["acoustic"] = self.teacher_spec
            models["acoustic"] = self.objective.teacher
            frozen.append("acoustic")
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
        )

    # ---------------------------------------------------------------------------------------- batches
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        non_blocking = self.info.device.type == "cuda"
        return {k: v.to(self.info.device, non_blocking=non_blocking) for k, v in batch.items()}

    def _autocast(self) -> Any:
        enabled = self.cfg.runtime.bf16 and self.info.device.type == "cuda"
        return torch.autocast(device_type=self.info.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _loader(self, dataset: Any, batch_size: int, sampler: Any, epoch: int) -> DataLoader:
        generator = torch.Generator()
        generator.manual_seed(self.cfg.experiment.seed * 1_000_003 + epoch)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            drop_last=False,
            num_workers=self.cfg.data.num_workers,
            pin_memory=self.info.device.type == "cuda",
            generator=generator,
        )

    # ------------------------------------------------------------------------------------------ epochs
    def train_epoch(self, stop: StopRequest) -> bool:
        """One (possibly resumed) epoch; returns False when a stop was requested (``last`` saved)."""
        cfg, pos, epoch = self.cfg, self.pos, self.pos.epoch
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.start = pos.batch_in_epoch * self.local_batch
        loader = self._loader(self.train_set, self.local_batch, self.sampler, epoch)
        total = math.ceil(self.sampler.num_samples / self.local_batch)
        self.model.train()
        bar = progress(
            loader, desc=f"epoch {epoch + 1}/{cfg.experiment.epochs}", total=len(loader), unit="batch"
        )
        if not self.info.is_main:
            bar = loader
        window_start, window_samples = time.perf_counter(), 0
        batches = iter(bar)
        while True:
            if self._should_stop(stop):
                return False
            try:
                batch = next(batches)
            except StopIteration:
                break
            except RuntimeError:
                if stop.signal_name:  # DataLoader workers killed by the same Ctrl-C
                    self._should_stop(stop)
                    return False
                raise
            batch = self._to_device(batch)
            with self._autocast():
                out = self.model(batch)
            loss, metrics = self.objective.loss(out, batch, epoch)
            finite = bool(torch.isfinite(loss.detach()).item())
            if not self._all_finite(finite):
                raise TrainingError(
                    f"non-finite training loss at epoch {epoch + 1}, step {pos.step + 1} (batch "
                    f"{pos.batch_in_epoch + 1}/{total}); lower optim.lr or check the data. The last good "
                    f"checkpoint is {self.ckpt_dir / 'last'}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            values = self._reduce_metrics(metrics)
            n = self.local_batch_size(batch) * self.info.world_size
            pos.step += 1
            pos.batch_in_epoch += 1
            pos.samples += n
            for k, v in values.items():
                pos.sums[k] = pos.sums.get(k, 0.0) + v * n
            window_samples += n
            if pos.step % cfg.runtime.log_every == 0 or pos.batch_in_epoch == total:
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                rate = window_samples / elapsed
                self._log_step(values, rate)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{values['loss']:.4f}", samples_s=f"{rate:.1f}")
                window_start, window_samples = time.perf_counter(), 0
        return True

    @staticmethod
    def local_batch_size(batch: dict[str, torch.Tensor]) -> int:
        return int(batch["label"].shape[0])

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

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Metrics over the validation list, averaged over batches weighted by their size (rank 0 only)."""
        batch_size = self.cfg.data.valid_batch_size or self.cfg.data.batch_size
        loader = self._loader(self.valid_set, batch_size, None, 0)
        self.objective.eval()
        sums: dict[str, float] = {}
        count = 0
        with ddp.local_only():
            for batch in progress(loader, desc="validation", total=len(loader), unit="batch"):
                batch = self._to_device(batch)
                with self._autocast():
                    out = self.objective(batch)
                n = self.local_batch_size(batch)
                for k, v in self.objective.validation_terms(out, batch).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
                count += n
        self.objective.train()
        return {k: v / count for k, v in sums.items()}

    def end_epoch(self) -> None:
        pos = self.pos
        train_metrics = {k: v / max(pos.samples, 1) for k, v in pos.sums.items()}
        valid = self.validate() if self.info.is_main else {}
        ddp.barrier(self.info)
        pos.epoch += 1
        pos.batch_in_epoch, pos.sums, pos.samples = 0, {}, 0
        improved = False
        if self.info.is_main:
            key = (valid["accuracy"], -valid["loss"])
            improved = pos.best is None or key > (pos.best["accuracy"], -pos.best["loss"])
            if improved:
                pos.best = {"epoch": pos.epoch, "accuracy": valid["accuracy"], "loss": valid["loss"]}
            record = {
                "event": "epoch",
                "epoch": pos.epoch,
                "step": pos.step,
                "best": improved,
                **{f"train/{k}": v for k, v in train_metrics.items()},
                **{f"valid/{k}": v for k, v in valid.items()},
            }
            scalars = {f"epoch/train_{k}": v for k, v in train_metrics.items()}
            scalars.update({f"epoch/valid_{k}": v for k, v in valid.items()})
            self.log.log(record, scalars, pos.step)
            metrics = {
                **{f"train/{k}": v for k, v in train_metrics.items()},
                **{f"valid/{k}": v for k, v in valid.items()},
            }
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
    """Train the experiment of ``config`` (a ``Config`` or a TOML path) and return its run directory.

    ``resume``: a run directory to continue from its ``last`` checkpoint (its ``config.json`` is used when
    ``config`` is None-like), or ``"auto"`` for the newest run of this experiment that has one (a fresh run
    if none). Under ``torchrun`` every process calls this; only rank 0 writes files.
    """
    cfg = load_config(config, overrides) if isinstance(config, (str, Path)) else config
    info = ddp.setup(cfg.runtime.device)
    try:
        run_dir: Path | None = None
        if resume == "auto":
            run_dir = find_resumable(cfg)
        elif resume is not None:
            run_dir = Path(resume)
            if not checkpoint_paths(run_dir / "checkpoints" / "last")[1].is_file():
                raise CheckpointError(f"{run_dir}: no checkpoints/last.json to resume from")
        resuming = run_dir is not None
        if run_dir is None:
            run_dir = new_run_dir(cfg)
        run_dir = Path(ddp.broadcast_object(str(run_dir.resolve()), info))
        trainer = Trainer(cfg, run_dir, info, resuming, command if command is not None else list(sys.argv))
        trainer.fit()
        ddp.barrier(info)
        return run_dir
    finally:
        ddp.teardown(info)


def load_run_config(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The resolved config of an existing run (its ``config.json``) with optional overrides."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; is {run_dir} a run directory?")
    from acoustic_ssl.training.config import apply_overrides, read_toml

    raw = apply_overrides(read_toml(path), list(overrides))
    return config_from_dict(raw, source=str(path), base=Path(run_dir))
