"""The demo: resumable stages, preset validation, and one end-to-end run of the ``test`` preset."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from acoustic_ssl import presets
from acoustic_ssl.cli import main
from acoustic_ssl.demo.config import PRESETS, load_demo_config, parse_demo_config, preset_path
from acoustic_ssl.demo.stages import (
    STARTED_CPU_KEY,
    Stage,
    StageError,
    cpu_seconds,
    marker_path,
    read_marker,
    run_stages,
)
from acoustic_ssl.errors import ConfigError


def _writer(path: Path, text: str, calls: list[str]):
    def action() -> None:
        calls.append(path.name)
        path.write_text(text)

    return action


def _chain(tmp_path: Path, calls: list[str], b_text: str = "b") -> list[Stage]:
    return [
        Stage("a", "first", outputs=(tmp_path / "a.txt",), action=_writer(tmp_path / "a.txt", "a", calls)),
        Stage(
            "b:x",
            "second",
            outputs=(tmp_path / "b.txt",),
            deps=("a",),
            action=_writer(tmp_path / "b.txt", b_text, calls),
            action_key=b_text,
        ),
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
    run_stages(
        _chain(tmp_path, calls, b_text="B"), tmp_path, resume_command="x", redo=["a"], log=lambda _: None
    )
    assert calls == ["a.txt", "b.txt", "c.txt"]
    with pytest.raises(Exception, match="matches no stage"):
        run_stages(_chain(tmp_path, calls), tmp_path, resume_command="x", redo=["nope*"], log=lambda _: None)


def test_failed_stage_is_named_and_resume_continues_there(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _chain(tmp_path, calls)

    def boom() -> None:
        (tmp_path / "b.txt").write_text("partial")
        raise ValueError("disk on fire")

    broken = [
        stages[0],
        Stage("b:x", "second", outputs=(tmp_path / "b.txt",), deps=("a",), action=boom, action_key="b"),
        stages[2],
    ]
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


def test_an_interrupted_resumable_stage_continues_and_its_action_counts_from_the_stage_start(
    tmp_path: Path,
) -> None:
    """The same attempt again continues (its partial output kept); other commands start afresh (the output
    cleared). The action can count the stage's CPU from the start marker, its commands' CPU included: the
    demo report's timings.json times its report command that way."""
    partial = tmp_path / "partial.txt"
    seen: list[tuple[str | None, float]] = []

    def interrupted() -> None:
        partial.write_text("half")
        raise KeyboardInterrupt

    def finish() -> None:
        begun = read_marker(tmp_path, "s", ".started")
        assert begun is not None
        kept = partial.read_text() if partial.exists() else None
        seen.append((kept, cpu_seconds() - begun[STARTED_CPU_KEY]))

    def burn(argv) -> None:  # the stage's command: 0.3 s of CPU
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass

    def run(action, command: str = "cmd", log=lambda _: None, redo: tuple[str, ...] = ()) -> None:
        stage = Stage(
            "s", "resumable", commands=((command,),), outputs=(partial,), action=action, resumable=True
        )
        run_stages([stage], tmp_path, resume_command="x", log=log, runner=burn, redo=redo)

    with pytest.raises(KeyboardInterrupt):
        run(interrupted)
    lines: list[str] = []
    run(finish, log=lines.append)
    assert "    continuing the interrupted attempt" in lines
    assert seen[0][0] == "half" and seen[0][1] >= 0.29
    with pytest.raises(KeyboardInterrupt):
        run(interrupted, redo=("s",))
    run(finish, command="other")
    assert seen[1][0] is None


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_are_valid(name: str) -> None:
    config = load_demo_config(preset_path(name))
    assert config.preset == name
    assert config.demo.seeds >= 1 and config.demo.expected_time
    assert all(run.config.is_file() for run in config.runs.values())
    assert sorted(presets.names("demo")) == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_training_runs_are_valid_training_configs(name: str, tmp_path: Path) -> None:
    """Each train stage's --config/--set combination passes the training config validation."""
    from acoustic_ssl.cli import build_parser
    from acoustic_ssl.demo.plan import build_stages
    from acoustic_ssl.training.config import load_config

    config = load_demo_config(preset_path(name))
    train_stages = [s for s in build_stages(config, tmp_path) if s.name.startswith("train:")]
    assert len(train_stages) == len(config.runs) * config.demo.seeds
    parser = build_parser()
    for stage in train_stages:
        args = parser.parse_args(list(stage.commands[0]))
        cfg = load_config(args.config, args.overrides, variant=args.variant)
        assert cfg.runtime.run_dir.startswith(str(tmp_path / "runs"))
        assert cfg.data.train_list and cfg.data.stats_dir == str(tmp_path / "stats")
        run = Path(cfg.runtime.run_dir).parent.name
        teacher = config.runs[run].teacher
        if teacher:  # taught by the teacher run's directory (the checkpoint its objective reports)
            run_dir = Path(cfg.runtime.run_dir)
            assert cfg.loss.teacher_checkpoint == str(run_dir.parent.parent / teacher / run_dir.name)
            assert cfg.loss.alpha == config.train.alpha
    assert (tmp_path / "configs" / "transfer.toml").is_file()


def test_preset_typos_are_errors(tmp_path: Path) -> None:
    from acoustic_ssl.demo.plan import build_stages

    path = preset_path("test")
    text = path.read_text()
    with pytest.raises(ConfigError, match=r"test.toml: unknown key 'convert.pak'"):
        parse_demo_config(text.replace("[convert]\nworkers = 2", "[convert]\npak = true"), path)
    with pytest.raises(ConfigError, match=r"test.toml: unknown key 'simulate.snr_dB'"):
        parse_demo_config(text.replace("snr_db", "snr_dB"), path)
    with pytest.raises(ConfigError, match=r"test.toml: simulate.snr_db: missing"):
        parse_demo_config(text.replace("snr_db = 10.0", ""), path)
    with pytest.raises(ConfigError, match=r"lists.fractions: expected training and validation shares"):
        parse_demo_config(text.replace("fractions = [0.5, 0.5, 0.0]", "fractions = [0.5, 0.4, 0.1]"), path)
    with pytest.raises(ConfigError, match="videos_per_class: need at least 2 videos per class"):
        parse_demo_config(text.replace("videos_per_class = 2", "videos_per_class = 1"), path)
    with pytest.raises(ConfigError, match=r"train.transfer.config: no packaged train preset named 'nope'"):
        parse_demo_config(text.replace('config = "transfer"', 'config = "nope"'), path)
    with pytest.raises(ConfigError, match=r"train.transfer.config: .*nope.toml: config file not found"):
        parse_demo_config(text.replace('config = "transfer"', 'config = "nope.toml"'), path)
    with pytest.raises(ConfigError, match=r"train.set: --set 'experiment.epochs': expected KEY=VALUE"):
        parse_demo_config(text.replace('"experiment.epochs=1"', '"experiment.epochs"'), path)
    with pytest.raises(ConfigError, match=r"unknown key 'train.contrast' \(alpha, set, or a run: supervised"):
        parse_demo_config(text.replace("[train.contrastive]", "[train.contrast]"), path)
    with pytest.raises(ConfigError, match=r"train.transfer.teacher: must name a run trained before it"):
        parse_demo_config(text.replace('teacher = "selfsup_acoustic"', 'teacher = "contrastive"'), path)
    # a key no training config knows fails when the stages are planned (before any runs, and in --dry-run)
    bad = parse_demo_config(text.replace('config = "contrastive_audio_video"\nvariant = "tiny"',
                                         'config = "contrastive_audio_video"\nvariant = "tiny"\n'
                                         'set = ["loss.margin=0.3"]'), path)
    with pytest.raises(ConfigError, match=r"train.contrastive \(seed 0\): .*unknown key 'loss.margin'"):
        build_stages(bad, tmp_path)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_unknown_key_in_a_train_set_line_fails_before_any_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    text = preset_path("test").read_text()
    assert '"experiment.epochs=1"' in text
    edited = tmp_path / "mine.toml"
    edited.write_text(text.replace('"experiment.epochs=1"', '"experiment.epochss=1"'))
    out = tmp_path / "demo"
    dry = ["--dry-run"] if dry_run else []
    assert main(["demo", "--config", str(edited), "--out", str(out), *dry]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"acoustic-ssl demo: error: {edited}: train.supervised (seed 0): {out}/configs/"
                           "supervised.toml [variant tiny] + --set: unknown key 'experiment.epochss' (known:")
    assert not (out / "raw").exists() and not (out / "stages").exists()


def test_demo_test_preset_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every stage runs, every artifact exists, report.json has the documented keys, a second run from scratch
    writes the same report.json, a re-run skips it all."""
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "test", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed

    report = json.loads((out / "report.json").read_text())
    assert report["preset"] == "test" and report["seeds"] == [0]
    composition = json.loads((out / "raw" / "simulation.json").read_text())["composition"]
    assert (composition["locations"], composition["distractors"]) == (2, 1)  # the preset's scenes
    test_set = json.loads((out / "raw_test" / "simulation.json").read_text())
    assert (test_set["first_location"], test_set["seconds"], test_set["composition"]) == (2, 2, composition)
    assert (report["dataset"]["locations"], report["dataset"]["distractors"]) == (2, 1)
    timings = json.loads((out / "timings.json").read_text())
    assert timings["seconds"] > 0
    # the report's CPU counts from its stage's start, its `acoustic-ssl report` command (t-SNE, figures)
    # included: nearly all the stage's CPU, which its marker measures from start to end
    report_stage = read_marker(out, "report")
    assert report_stage is not None
    assert timings["stage_cpu_seconds"]["report"] >= 0.8 * report_stage["cpu_seconds"] - 0.1
    _check_report_relations(out, report)

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # bar chart + localisation overlays
    assert "audio kNN acc." in page and "localisation" in page
    assert "| model | audio kNN acc." in (out / "report.md").read_text()
    assert (out / "details" / "report.html").is_file()
    commands = (out / "commands.sh").read_text()
    for command in ("simulate", "convert", "lists", "stats", "pack", "train", "extract", "evaluate"):
        assert f"acoustic-ssl {command} " in commands
    assert str(out) not in commands  # paths relative to DIR

    stage_names = [p.name.removesuffix(".done") for p in (out / "stages").glob("*.done")]
    assert {
        "simulate",
        "simulate_test",
        "convert",
        "convert_test",
        "lists",
        "lists_test",
        "stats",
        "train:transfer:seed0",
        "train:contrastive_transfer:seed0",
        "evaluate:random:seed0",
        "evaluate:random_contrastive:seed0",
        "report",
    } <= set(stage_names)
    assert not list((out / "stages").glob("*.started"))
    markers = {name: read_marker(out, name) for name in stage_names}
    assert all(m["seconds"] >= 0 and m["run_id"] for m in markers.values())

    again = tmp_path / "again"  # the same seed on the same machine: the same report, byte for byte
    assert main(["demo", "--preset", "test", "--out", str(again)]) == 0
    assert (again / "report.json").read_bytes() == (out / "report.json").read_bytes()
    capsys.readouterr()

    started = time.monotonic()
    assert main(["demo", "--out", str(out)]) == 0  # same preset remembered, nothing to do
    assert time.monotonic() - started < 10
    assert capsys.readouterr().out.count("skipped") == len(stage_names)
    assert {name: read_marker(out, name)["run_id"] for name in stage_names} == {
        name: m["run_id"] for name, m in markers.items()
    }


def _check_report_relations(out: Path, report: dict) -> None:
    """What must hold whatever the (meaningless) numbers of the test preset: each row's figures are those of
    the checkpoint it names, the random rows are untrained, each teacher is its teacher run's model, recall
    grows with k up to 1 (a gallery of two clips per class), the chance level is the boxes' share."""
    import numpy as np
    import torch

    from acoustic_ssl.demo.layout import eval_dir, rows_of
    from acoustic_ssl.evaluation.evaluate import ground_truth_masks
    from acoustic_ssl.evaluation.extract import load_features
    from acoustic_ssl.training.checkpoint import load_checkpoint

    config = load_demo_config(preset_path("test"))
    rows = {}
    for row in rows_of(config):
        folder = eval_dir(out, row, 0)
        metrics = json.loads((folder / "metrics.json").read_text())
        if row.run is not None:
            reported = "best" if row.name == "supervised" else "last"  # what the objective reports
            assert metrics["checkpoint_name"] == (row.checkpoint or reported)
            assert metrics["epoch"] == (0 if row.name.startswith("random") else 1)  # random rows: untrained
        test, _ = load_features(folder / "features_testing.npz")
        assert sorted(test["labels"]) == [0, 0, 1, 1, 2, 2]  # 2 test clips per class
        rows[row.name] = metrics, test
    assert set(rows) >= {"random", "random_acoustic", "random_contrastive", "supervised", "selfsup_video",
                         "selfsup_acoustic", "transfer", "contrastive", "contrastive_transfer"}
    for row in ("random", "supervised", "selfsup_video", "transfer", "contrastive", "contrastive_transfer"):
        metrics, test = rows[row]
        accuracy = report["audio_knn_accuracy"][row]
        assert accuracy == metrics["summary"]["audio_knn_accuracy"]
        assert accuracy == report["per_seed"]["0"][row]["knn_accuracy"]
        assert round(6 * accuracy) == pytest.approx(6 * accuracy)  # a share of the 6 test clips
        recalls = [report[f"retrieval_recall_at_{k}"][row] for k in (1, 5, 10)]
        if row == "supervised":
            assert recalls == [None] * 3  # no video network to retrieve with
            continue
        a2v = metrics["retrieval"]["audio_to_video"]
        assert recalls == [a2v["recall@1"], a2v["recall@5"], a2v["recall@10"]]
        assert recalls[0] <= recalls[1] == recalls[2] == 1.0
    for key, row in (("audio_video", "selfsup_video"), ("acoustic_video", "selfsup_acoustic"),
                     ("contrastive", "contrastive"), ("contrastive_transfer", "contrastive_transfer")):
        attention = rows[row][0]["localization"]["attention"]
        assert report["localization_accuracy"][key] == attention["pointing_accuracy"]
    energy = rows["selfsup_acoustic"][0]["localization"]["energy"]["pointing_accuracy"]
    assert report["localization_energy_accuracy"] == energy
    untrained_rows = (("", "random"), ("_acoustic", "random_acoustic"),
                      ("_contrastive", "random_contrastive"))
    for key, row in untrained_rows:
        attention = rows[row][0]["localization"]["attention"]["pointing_accuracy"]  # each model's own maps
        assert report[f"localization_random_init{key}_accuracy"] == attention
    untrained, trained = (Path(rows[r][0]["checkpoint"]) for r in ("random_acoustic", "selfsup_acoustic"))
    assert untrained.parent == trained.parent and untrained.name == "random"
    assert report["acoustic_knn_accuracy"] == rows["selfsup_acoustic"][0]["summary"]["audio_knn_accuracy"]
    masks, _, _ = ground_truth_masks(rows["selfsup_acoustic"][1], out / "raw_test")  # test recordings' GT
    shares = [m.mean() for m in masks if m is not None and m.any()]
    assert report["localization_chance"] == pytest.approx(float(np.mean(shares)))
    assert 0.0 < report["localization_chance"] < 1.0

    taught = (("transfer", "selfsup_acoustic"), ("contrastive_transfer", "contrastive_acoustic"))
    for student, teacher_run in taught:
        checkpoints = out / "runs" / student / "seed0" / "checkpoints"
        teacher = load_checkpoint(checkpoints / "last")[0]["acoustic"]
        teacher_checkpoint = out / "runs" / teacher_run / "seed0" / "checkpoints" / "last"
        acoustic = load_checkpoint(teacher_checkpoint)[0]["acoustic"]
        for name, value in acoustic.state_dict().items():
            assert torch.equal(teacher.state_dict()[name], value), (student, name)


def test_the_objects_preset_simulates_unseen_objects_for_the_test_set(tmp_path: Path) -> None:
    from acoustic_ssl.demo.plan import build_stages

    config = load_demo_config(preset_path("objects"))
    stages = [s for s in build_stages(config, tmp_path) if s.name.startswith("simulate")]
    commands = {s.name: s.commands[0] for s in stages}
    assert sorted(commands) == ["simulate", "simulate_test"]
    for name, argv in commands.items():
        flags = " ".join(argv)
        assert "--objects /usr/share/tuxpaint/stamps --split-by object --object-depth 2 --min-objects 4" in (
            flags
        )
        assert ("--test-objects" in argv) == (name == "simulate_test")
    path, text = config.source, config.text
    with pytest.raises(ConfigError, match=r"simulate.split_by: 'object' needs a test set simulated apart"):
        parse_demo_config(text.replace("test_videos_per_class = 20", "test_videos_per_class = 0"), path)
    with pytest.raises(ConfigError, match=r"simulate.objects: object_depth, min_objects and split_by"):
        parse_demo_config(text.replace('objects = "/usr/share/tuxpaint/stamps"', 'objects = ""'), path)
