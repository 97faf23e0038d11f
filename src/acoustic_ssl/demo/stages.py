"""Resumable stages: each is a list of ``acoustic-ssl`` command lines (plus an optional in-process step).

A stage that succeeds writes ``DIR/stages/<name>.done`` (JSON, atomically) with its duration, a fingerprint
of its commands and the run ids of the stages it depends on. A later run skips a stage whose marker matches
both; an edited preset (other commands) or a re-done dependency re-runs it and everything downstream.
Before running, a stage removes its own declared outputs so a half-finished earlier attempt never leaks into
the new one -- unless the stage is ``resumable`` and the interrupted attempt (``<name>.started``) did exactly
the same work: then its commands pick up where they stopped (simulated videos, converted records,
``train --resume auto``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shlex
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from acoustic_ssl.errors import AcousticSSLError
from acoustic_ssl.io_utils import write_json_atomic

MARKER_DIR = "stages"
STARTED_CPU_KEY = "process_cpu_seconds"


class StageError(AcousticSSLError):
    """A stage failed; the message names it and says how to resume."""


@dataclass(frozen=True)
class Stage:
    """One resumable step of the demo."""

    name: str
    description: str
    commands: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[Path, ...] = ()
    deps: tuple[str, ...] = ()
    action: Callable[[], None] | None = field(default=None, compare=False)
    action_key: str = ""  # what the action depends on beyond its commands (goes into the fingerprint)
    resumable: bool = False  # commands continue a partial attempt (simulate, convert, train --resume auto)

    def fingerprint(self, root: Path) -> str:
        """Hash of what the stage would do, with paths relative to ``root`` (a moved DIR stays resumable)."""
        prefix = f"{root}/"
        commands = [[arg.replace(prefix, "") for arg in argv] for argv in self.commands]
        payload = json.dumps({"commands": commands, "action": self.action_key}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def marker_path(out_dir: Path, name: str) -> Path:
    """``DIR/stages/<name>.done``."""
    return out_dir / MARKER_DIR / f"{name}.done"


def read_marker(out_dir: Path, name: str, suffix: str = ".done") -> dict[str, Any] | None:
    """The marker of a finished (or, with ``.started``, begun) stage, or None when missing or unreadable."""
    try:
        return json.loads(marker_path(out_dir, name).with_suffix(suffix).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def format_command(argv: Sequence[str]) -> str:
    """A shell-quoted ``acoustic-ssl ...`` line."""
    return shlex.join(["acoustic-ssl", *argv])


def run_command(argv: Sequence[str], build_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """Run one ``acoustic-ssl`` subcommand in this process, exactly as the shell command would.

    ``build_parser``: the top-level CLI's (handed to handlers as ``args.build_parser``).
    """
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        raise AcousticSSLError(f"bad arguments for `{format_command(argv)}` (see the usage above)") from exc
    if not getattr(args, "func", None):
        raise AcousticSSLError(f"`{format_command(argv)}` is not a command")
    code = int(args.func(args) or 0)
    if code != 0:
        raise AcousticSSLError(f"`{format_command(argv)}` exited with status {code}")


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its reaped children (wall time hides a busy machine)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _is_current(stage: Stage, marker: dict[str, Any] | None, run_ids: dict[str, str], root: Path) -> bool:
    if not marker or marker.get("fingerprint") != stage.fingerprint(root):
        return False
    recorded = marker.get("deps", {})
    return all(recorded.get(dep) == run_ids.get(dep) for dep in stage.deps)


def _clear_outputs(stage: Stage) -> None:
    for path in stage.outputs:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def run_stages(
    stages: Sequence[Stage],
    out_dir: Path,
    *,
    resume_command: str,
    redo: Sequence[str] = (),
    log: Callable[[str], None] = print,
    runner: Callable[[Sequence[str]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run (or skip) every stage in order; return the markers. ``redo`` patterns force stages to run again.

    ``runner`` runs one command line (``run_command`` with the CLI's parser); stages with commands need it.
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError("stage names must be unique")
    if runner is None and any(s.commands for s in stages):
        raise ValueError("stages with commands need a runner")
    for pattern in redo:
        if not any(fnmatchcase(n, pattern) for n in names):
            raise AcousticSSLError(f"--redo {pattern!r} matches no stage; stages are: {', '.join(names)}")
    run_ids: dict[str, str] = {}
    markers: dict[str, dict[str, Any]] = {}
    total = len(stages)
    for index, stage in enumerate(stages, start=1):
        missing = [d for d in stage.deps if d not in run_ids]
        if missing:
            raise ValueError(f"stage {stage.name} depends on {missing}, which do not run before it")
        head = f"[{index}/{total}] {stage.name}"
        marker = read_marker(out_dir, stage.name)
        forced = any(fnmatchcase(stage.name, p) for p in redo)
        if not forced and _is_current(stage, marker, run_ids, out_dir):
            assert marker is not None
            log(f"{head}: done already ({marker.get('seconds', 0):.1f} s), skipped")
            run_ids[stage.name], markers[stage.name] = marker["run_id"], marker
            continue
        log(f"{head}: {stage.description}")
        done_file = marker_path(out_dir, stage.name)
        started_file = done_file.with_suffix(".started")
        done_file.unlink(missing_ok=True)
        attempt = {
            "fingerprint": stage.fingerprint(out_dir),
            "deps": {dep: run_ids[dep] for dep in stage.deps},
        }
        begun = read_marker(out_dir, stage.name, ".started") or {}
        same_attempt = {key: begun.get(key) for key in attempt} == attempt
        resume_partial = stage.resumable and not forced and same_attempt
        start, start_cpu = time.monotonic(), cpu_seconds()
        try:
            if resume_partial:
                log("    continuing the interrupted attempt")
            else:
                _clear_outputs(stage)
            # the process's CPU seconds now: an action that reports the stage's own time (the demo report's
            # timings.json) counts from here, its commands included
            write_json_atomic(started_file, {**attempt, STARTED_CPU_KEY: start_cpu})
            for argv in stage.commands:
                log(f"    $ {format_command(argv)}")
                runner(argv)
            if stage.action is not None:
                stage.action()
        except KeyboardInterrupt:
            log(f"stage '{stage.name}' interrupted. Rerun `{resume_command}` to resume from this stage.")
            raise
        except Exception as exc:
            if not isinstance(exc, AcousticSSLError):
                traceback.print_exc(file=sys.stderr)
            raise StageError(
                f"stage '{stage.name}' failed: {exc}. Fix it and rerun `{resume_command}` "
                "to resume from this stage."
            ) from exc
        seconds = time.monotonic() - start
        marker = {
            "stage": stage.name,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu_seconds() - start_cpu, 3),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": attempt["fingerprint"],
            "run_id": uuid.uuid4().hex,
            "deps": attempt["deps"],
            "commands": [format_command(argv) for argv in stage.commands],
        }
        write_json_atomic(done_file, marker)
        started_file.unlink(missing_ok=True)
        run_ids[stage.name], markers[stage.name] = marker["run_id"], marker
        log(f"{head}: finished in {seconds:.1f} s")
    return markers
