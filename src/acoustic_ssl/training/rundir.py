"""The run directory: its name, finding one to resume, its config/meta files, its metrics log.

A run directory holds ``config.json`` (resolved config), ``meta.json`` (code version, seed, command, torch
version, world size, one entry per resume), ``metrics.jsonl`` (one JSON object per logged step and per epoch),
``tb/`` (TensorBoard) and ``checkpoints/`` (see ``training.run``). Only rank 0 writes any of it, and it holds
the directory's lock (``io_utils.folder_lock``) for the whole run, so a second run into it stops at once.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter

from acoustic_ssl import __version__
from acoustic_ssl.errors import ConfigError, OutputError
from acoustic_ssl.io_utils import LOCK_FILE, write_json_atomic, write_text_atomic
from acoustic_ssl.training.checkpoint import CheckpointError, checkpoint_paths
from acoustic_ssl.training.config import Config, apply_overrides, config_from_dict, read_toml, stored_config


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


def checkpoint_dir(run_dir: Path) -> Path:
    """``RUN/checkpoints``."""
    return run_dir / "checkpoints"


def has_last(run_dir: Path) -> bool:
    """Whether the run has a ``last`` checkpoint to resume from."""
    return checkpoint_paths(checkpoint_dir(run_dir) / "last")[1].is_file()


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
    return next((run_dir for run_dir in candidates if has_last(run_dir)), None)


def choose_run_dir(cfg: Config, resume: str | Path | None) -> tuple[Path, bool]:
    """(run directory, whether it resumes): ``resume`` is None, ``"auto"`` or a run directory."""
    if resume == "auto":
        found = find_resumable(cfg)
        return (found, True) if found is not None else (new_run_dir(cfg), False)
    if resume is not None:
        run_dir = Path(resume)
        if not has_last(run_dir):
            raise CheckpointError(f"{run_dir}: no checkpoints/last.json to resume from")
        return run_dir, True
    return new_run_dir(cfg), False


# what a run writes, what `evaluate` puts beside it by default, and the lock
RUN_ENTRIES = frozenset(
    {"config.json", "meta.json", "metrics.jsonl", "tb", "checkpoints", "evaluation", LOCK_FILE}
)


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse to start a new run where it would overwrite something: a run that has a ``last`` checkpoint
    (continue it with ``--resume``), or a folder holding anything a run does not write. A run killed before
    its first ``last`` (or an empty folder) is started afresh."""
    if has_last(run_dir):
        raise OutputError(
            f"{run_dir}: holds a run with checkpoints/last; continue it with --resume {run_dir}, or choose "
            "another runtime.run_dir"
        )
    if run_dir.is_dir():
        foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_ENTRIES)
        if foreign:
            raise OutputError(
                f"{run_dir}: holds {foreign[0]}, which is not part of a run directory; choose another "
                "runtime.run_dir"
            )


def write_run_files(
    run_dir: Path,
    cfg: Config,
    *,
    device: torch.device,
    world_size: int,
    command: list[str],
    resumed_at: tuple[int, int] | None,
) -> None:
    """``config.json`` and ``meta.json``; a resume (from (epoch, step)) appends to the meta's ``resumes``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "config.json", cfg.to_dict())
    entry = {
        "command": command,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "device": str(device),
        "world_size": world_size,
    }
    meta_path = run_dir / "meta.json"
    if resumed_at is not None and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        epoch, step = resumed_at
        meta.setdefault("resumes", []).append({**entry, "from_epoch": epoch, "from_step": step})
    else:
        meta = {**entry, "seed": cfg.experiment.seed, "kind": cfg.experiment.kind}
    write_json_atomic(meta_path, meta)


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
        elif self.path.exists():  # a new run in the folder of one killed before its first epoch ended
            write_text_atomic(self.path, "")
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
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as exc:  # a full disk: name the file (write(2) errors carry no file name)
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from exc
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def load_run_config(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The resolved config of an existing run (its ``config.json``) with optional overrides."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; is {run_dir} a run directory?")
    raw = apply_overrides(stored_config(read_toml(path)), list(overrides))
    return config_from_dict(raw, source=str(path), base=Path(run_dir))
