"""The demo: resumable stages, preset validation, and one end-to-end run of the ``test`` preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acoustic_ssl.demo.config import PRESETS, load_demo_config, parse_demo_config, preset_path
from acoustic_ssl.demo.stages import Stage, StageError, marker_path, read_marker, run_stages
from acoustic_ssl.errors import ConfigError


def _writer(path: Path, text: str, calls: list[str]):
    def action() -> None:
        calls.append(path.name)
        path.write_text(text)

    return action


def _chain(tmp_path: Path, calls: list[str], b_text: str = "b") -> list[Stage]:
    return [
        Stage("a", "first", outputs=(tmp_path / "a.txt",), action=_writer(tmp_path / "a.txt", "a", calls)),
        Stage("b:x", "second", outputs=(tmp_path / "b.txt",), deps=("a",),
              action=_writer(tmp_path / "b.txt", b_text, calls), action_key=b_text),
        Stage("c", "third", deps=("b:x",), action=_writer(tmp_path / "c.txt", "c", calls)),
    ]


def test_stages_write_markers_and_skip_when_done(tmp_path: Path) -> None:
    calls: list[str] = []
    lines: list[str] = []
    run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", log=lines.append)
    assert calls == ["a.txt", "b.txt", "c.txt"]
    marker = read_marker(tmp_path, "b:x")
    assert marker is not None and marker["stage"] == "b:x" and marker["seconds"] >= 0
    assert marker["deps"] == {"a": read_marker(tmp_path, "a")["run_id"]}

    calls.clear()
    run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", log=lines.append)
    assert calls == []
    assert sum("skipped" in line for line in lines) == 3


def test_changed_stage_reruns_itself_and_downstream_only(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", log=lambda _: None)
    calls.clear()
    run_stages(_chain(tmp_path, calls, b_text="B"), tmp_path, resume_command="x", log=lambda _: None)
    assert calls == ["b.txt", "c.txt"]
    assert (tmp_path / "b.txt").read_text() == "B"
    calls.clear()
    run_stages(_chain(tmp_path, calls, b_text="B"), tmp_path, resume_command="x", redo=["a"], log=lambda _: None)
    assert calls == ["a.txt", "b.txt", "c.txt"]
    with pytest.raises(Exception, match="matches no stage"):
        run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", redo=["nope*"], log=lambda _: None)


def test_failed_stage_is_named_and_resume_continues_there(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _chain(tmp_path, calls)

    def boom() -> None:
        (tmp_path / "b.txt").write_text("partial")
        raise ValueError("disk on fire")

    broken = [stages[0], Stage("b:x", "second", outputs=(tmp_path / "b.txt",), deps=("a",), action=boom,
                               action_key="b"), stages[2]]
    with pytest.raises(StageError) as info:
        run_stages(broken, tmp_path, resume_command="acoustic-ssl demo --out D", log=lambda _: None)
    message = str(info.value)
    assert "stage 'b:x' failed: disk on fire" in message
    assert "rerun `acoustic-ssl demo --out D` to resume from this stage" in message
    assert marker_path(tmp_path, "a").is_file() and not marker_path(tmp_path, "b:x").exists()

    calls.clear()
    run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", log=lambda _: None)
    assert calls == ["b.txt", "c.txt"]  # "a" stays done; the partial output was replaced
    assert (tmp_path / "b.txt").read_text() == "b"


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_are_valid(name: str) -> None:
    config = load_demo_config(preset_path(name))
    assert config.preset == name
    assert config.seeds >= 1 and config.expected_time
    assert all(run.config.is_file() for run in config.runs.values())


def test_preset_typos_are_errors(tmp_path: Path) -> None:
    text = preset_path("test").read_text()
    with pytest.raises(ConfigError, match="snr_dB: unknown key"):
        parse_demo_config(text.replace("snr_db", "snr_dB"), preset_path("test"))
    with pytest.raises(ConfigError, match="fractions"):
        parse_demo_config(text + "\n[lists]\nfractions = [0.5, 0.5, 0.5]\n", preset_path("test"))
