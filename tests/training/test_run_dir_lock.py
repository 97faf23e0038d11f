"""A run directory belongs to one run: a second ``train`` into it stops at once naming the holder, and a new
run never overwrites a finished run or foreign files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.io_utils import folder_lock


def train_argv(tiny_data: dict[str, Path], run_dir: Path) -> list[str]:
    """A one-epoch CPU run of the tiny supervised preset into ``run_dir``."""
    sets = [
        f"data.train_list={tiny_data['train']}", f"data.valid_list={tiny_data['valid']}",
        "data.sample_length=1", "data.total_length=1", "data.batch_size=6", "data.num_workers=0",
        "experiment.epochs=1", "models.model.width=8", "runtime.device=cpu", f"runtime.run_dir={run_dir}",
    ]
    return ["train", "--config", "supervised_resnet18", "--variant", "tiny",
            *[arg for item in sets for arg in ("--set", item)]]


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert line.startswith("acoustic-ssl train: error: ")
    return line


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_directory_in_use_is_refused_naming_its_holder(
    tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    with folder_lock(run_dir, "train"):
        assert main(train_argv(tiny_data, run_dir)) == 2
        assert error_line(capsys).endswith(
            f"{run_dir}: in use by acoustic-ssl train (pid {os.getpid()} on {socket.gethostname()}); wait "
            "for it to finish or choose another output"
        )
        assert [p.name for p in run_dir.iterdir()] == [".acoustic-ssl.lock"]  # nothing else written


def test_a_new_run_never_overwrites_a_finished_run_or_foreign_files(
    tiny_data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert main(train_argv(tiny_data, run_dir)) == 0
    capsys.readouterr()
    last = (run_dir / "checkpoints" / "last.safetensors").read_bytes()
    assert main(train_argv(tiny_data, run_dir)) == 2
    assert error_line(capsys).endswith(
        f"{run_dir}: holds a run with checkpoints/last; continue it with --resume {run_dir}, or choose "
        "another runtime.run_dir"
    )
    assert (run_dir / "checkpoints" / "last.safetensors").read_bytes() == last
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(train_argv(tiny_data, mine)) == 2
    assert error_line(capsys).endswith(
        f"{mine}: holds thesis.tex, which is not part of a run directory; choose another runtime.run_dir"
    )
    # a run killed before its first epoch ended is started afresh, its log replaced rather than appended to
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.json").write_text("{}")
    (killed / "metrics.jsonl").write_text('{"event": "step", "step": 1, "stale": true}\n')
    assert main(train_argv(tiny_data, killed)) == 0
    records = metrics(killed)
    assert not any(r.get("stale") for r in records)
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1]


def test_two_trainings_into_one_run_directory_never_interleave(
    tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    """Two processes started together, three times: one trains, the other stops at once naming it; the run
    directory holds one run's log."""
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1"}
    for trial in range(3):
        run_dir = tmp_path / f"run{trial}"
        command = [sys.executable, "-m", "acoustic_ssl", *train_argv(tiny_data, run_dir)]
        procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        results = sorted((proc.communicate(timeout=300), proc.returncode) for proc in procs)
        codes = sorted(code for _, code in results)
        assert codes == [0, 2], results
        (stderr,) = [err for (_, err), code in results if code == 2]
        holder = f"acoustic-ssl train: error: {run_dir}: in use by acoustic-ssl train (pid "
        assert stderr.strip().startswith(holder), stderr
        records = metrics(run_dir)
        steps = [r["step"] for r in records if r["event"] == "step"]
        assert steps == sorted(set(steps)) and [r["epoch"] for r in records if r["event"] == "epoch"] == [1]
