"""The demo's stages for a preset: which ``acoustic-ssl`` commands, in which folders, in which order.

Four groups, in order: the data (simulate → convert → lists → stats → pack), then per seed the four training
runs and the extraction + evaluation of each row of the comparison, then the report. Folders:
``demo.layout``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from acoustic_ssl.demo.config import RUNS, DemoConfig
from acoustic_ssl.demo.layout import ROWS, SPLITS, eval_dir, row_checkpoint, run_checkpoint, run_dir
from acoustic_ssl.demo.render import write_demo_report
from acoustic_ssl.demo.stages import Stage, format_command
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.io_utils import write_text_atomic


@dataclass(frozen=True)
class DataPlan:
    """The data stages, where each split's samples are read from, and the stages training waits for."""

    stages: list[Stage]
    splits: dict[str, Path]
    ready: tuple[str, ...]


def _copy_training_configs(config: DemoConfig, out_dir: Path) -> dict[str, Path]:
    """Copy each run's training preset into DIR/configs so the run folder is self-contained."""
    copies = {}
    for run, spec in config.runs.items():
        target = out_dir / "configs" / f"{run}.toml"
        text = spec.config.read_text(encoding="utf-8")
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            write_text_atomic(target, text)
        copies[run] = target
    return copies


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _data_stages(config: DemoConfig, out_dir: Path) -> DataPlan:
    """simulate, convert, lists, stats and (if the preset packs) pack."""
    raw, records, lists, stats = (out_dir / name for name in ("raw", "records", "lists", "stats"))
    sim = config.simulate
    simulate_cmd = [
        "simulate", str(raw), "--videos-per-class", str(sim.videos_per_class), "--seconds", str(sim.seconds),
        "--seed", str(sim.seed), "--snr-db", str(sim.snr_db), "--frame-size", *map(str, sim.frame_size),
    ]
    if sim.classes:
        simulate_cmd += ["--classes", *map(str, sim.classes)]
    for flag, value in (("--locations", sim.locations), ("--distractors", sim.distractors),
                        ("--extra-sources", sim.extra_sources), ("--workers", sim.workers)):
        if value:
            simulate_cmd += [flag, str(value)]
    convert_cmd = ["convert", str(raw), str(records)]
    if config.convert.workers:
        convert_cmd += ["--workers", str(config.convert.workers)]
    lists_cmd = ("lists", str(records), str(lists), "--seed", str(sim.seed), "--fractions",
                 *map(str, config.lists.fractions))
    stages = [
        Stage(
            "simulate",
            f"simulate {sim.videos_per_class} videos x {len(sim.classes) or 10} classes x "
            f"{sim.seconds} s (SNR {sim.snr_db:g} dB)",
            commands=(tuple(simulate_cmd),),
            outputs=(raw,),
            resumable=True,
        ),
        Stage(
            "convert",
            "convert raw folders to TFRecords",
            commands=(tuple(convert_cmd),),
            outputs=(records,),
            deps=("simulate",),
            resumable=True,
        ),
        Stage(
            "lists",
            "split the videos into training / validation / testing lists",
            commands=(lists_cmd,),
            outputs=(lists,),
            deps=("convert",),
        ),
        Stage(
            "stats",
            "spectrogram statistics of the training list",
            commands=(("stats", str(lists / "training.txt"), str(stats)),),
            outputs=(stats,),
            deps=("lists",),
        ),
    ]
    splits = {split: lists / f"{split}.txt" for split in SPLITS}
    if not config.convert.pack:
        return DataPlan(stages, splits, ("stats",))
    packed = out_dir / "packed"
    stages.append(
        Stage(
            "pack",
            "pack the three lists into uncompressed arrays (faster epochs)",
            commands=tuple(("pack", str(splits[s]), str(packed / s)) for s in SPLITS),
            outputs=(packed,),
            deps=("lists",),
        )
    )
    return DataPlan(stages, {split: packed / split for split in SPLITS}, ("stats", "pack"))


def _check_training_config(
    config: DemoConfig, run: str, seed: int, preset: Path, overrides: list[str]
) -> None:
    """Validate a train stage's config exactly as its ``train`` command will (unknown keys, values), so a
    typo in a ``[train.*] set`` line fails at ``--dry-run`` and at the start, not hours later after the
    data stages."""
    from acoustic_ssl.training.config import load_config

    try:
        load_config(preset, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: train.{run} (seed {seed}): {exc}") from None


def _training_stages(
    config: DemoConfig, out_dir: Path, seed: int, data: DataPlan, configs: dict[str, Path]
) -> list[Stage]:
    """``train:<run>:seed<K>`` for the four runs (transfer after, and taught by, the acoustic run)."""
    data_overrides = [
        f"data.train_list={data.splits['training']}",
        f"data.valid_list={data.splits['validation']}",
        f"data.test_list={data.splits['testing']}",
        f"data.stats_dir={out_dir / 'stats'}",
        "runtime.save_every=0",
    ]
    stages = []
    for run in RUNS:
        target = run_dir(out_dir, run, seed)
        overrides = [
            *config.train.overrides,
            *config.runs[run].overrides,
            *data_overrides,
            f"experiment.seed={seed}",
            f"runtime.run_dir={target}",
        ]
        deps = data.ready
        if run == "transfer":
            teacher = run_checkpoint(config, out_dir, "selfsup_acoustic", seed)
            overrides += [f"loss.alpha={config.train.alpha}", f"loss.teacher_checkpoint={teacher}"]
            deps = (*deps, f"train:selfsup_acoustic:seed{seed}")
        _check_training_config(config, run, seed, configs[run], overrides)
        argv = ["train", "--config", str(configs[run])]
        for item in overrides:
            argv += ["--set", item]
        argv += ["--resume", "auto"]
        stages.append(
            Stage(
                f"train:{run}:seed{seed}",
                f"train {run} (seed {seed})",
                commands=(tuple(argv),),
                outputs=(target,),
                deps=deps,
                action_key=_digest(configs[run]),
                resumable=True,
            )
        )
    return stages


def _evaluation_stages(config: DemoConfig, out_dir: Path, seed: int, splits: dict[str, Path]) -> list[Stage]:
    """``extract:<row>:seed<K>`` (features of the three splits) and ``evaluate:<row>:seed<K>`` per row."""
    stages = []
    for row, run, _ in ROWS:
        checkpoint = row_checkpoint(config, out_dir, row, seed)
        target = eval_dir(config, out_dir, row, seed)
        extract = []
        for split in SPLITS:
            argv = [
                "extract", "--checkpoint", str(checkpoint), "--list", str(splits[split]), "--split", split,
                "--out", str(target / f"features_{split}.npz"),
                "--batch-size", str(config.evaluate.batch_size),
            ]
            if split == "testing":
                argv.append("--energy-maps")
            extract.append(tuple(argv))
        stages.append(
            Stage(
                f"extract:{row}:seed{seed}",
                f"features of {row} (seed {seed}, checkpoint {checkpoint.name})",
                commands=tuple(extract),
                outputs=(target,),
                deps=(f"train:{run}:seed{seed}",),
            )
        )
        evaluate = [
            "evaluate", "--checkpoint", str(checkpoint), "--out", str(target),
            "--raw-dir", str(out_dir / "raw"), "--knn-k", *map(str, config.evaluate.knn_k),
        ]
        if not config.evaluate.linear_probe:
            evaluate.append("--no-probe")
        stages.append(
            Stage(
                f"evaluate:{row}:seed{seed}",
                f"kNN, retrieval and localisation of {row} (seed {seed})",
                commands=(tuple(evaluate),),
                outputs=(target / "metrics.json",),
                deps=(f"extract:{row}:seed{seed}",),
            )
        )
    return stages


def _report_stage(config: DemoConfig, out_dir: Path) -> Stage:
    """``report``: the per-run report of every run, then the demo's comparison (report.json/md/html)."""
    report_cmd = [
        "report",
        *(str(run_dir(out_dir, run, seed)) for seed in config.seed_list for run in RUNS),
        "--out",
        str(out_dir / "details"),
        "--title",
        f"acoustic-ssl demo ({config.preset}): runs",
    ]
    if not config.evaluate.tsne:
        report_cmd.append("--no-tsne")
    return Stage(
        "report",
        "report.html / report.md / report.json",
        commands=(tuple(report_cmd),),
        outputs=(out_dir / "details",),
        deps=tuple(f"evaluate:{row}:seed{seed}" for seed in config.seed_list for row, _, _ in ROWS),
        action=lambda: write_demo_report(config, out_dir),
        action_key="report-v2",  # v2: intervals, comparisons, timings.json,
    )


def build_stages(config: DemoConfig, out_dir: Path) -> list[Stage]:
    """Every stage of the demo for ``config`` writing under ``out_dir`` (absolute)."""
    data = _data_stages(config, out_dir)
    configs = _copy_training_configs(config, out_dir)
    stages = list(data.stages)
    for seed in config.seed_list:
        stages += _training_stages(config, out_dir, seed, data, configs)
        stages += _evaluation_stages(config, out_dir, seed, data.splits)
    stages.append(_report_stage(config, out_dir))
    return stages


def write_commands_script(stages: list[Stage], out_dir: Path, config: DemoConfig) -> Path:
    """``DIR/commands.sh``: the demo's commands one by one (paths relative to DIR), runnable alone."""
    prefix = f"{out_dir}/"

    def relative(argv: tuple[str, ...]) -> str:
        return format_command([arg.replace(prefix, "") for arg in argv])

    lines = [
        "#!/usr/bin/env bash",
        f"# The commands of `acoustic-ssl demo` (preset '{config.preset}', {config.source}), stage by stage.",
        "# Paths are relative to this folder. The demo runs the same commands in-process, writes",
        "# stages/<stage>.done after each stage and skips finished stages when run again.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "",
    ]
    for stage in stages:
        lines.append(f"# --- {stage.name}: {stage.description}")
        lines.extend(relative(argv) for argv in stage.commands)
        if stage.action is not None:
            lines.append("# then the demo gathers the metrics into report.json, report.md, report.html;")
            lines.append("# `acoustic-ssl demo --out .` does just that once the stages above are done")
        lines.append("")
    path = out_dir / "commands.sh"
    write_text_atomic(path, "\n".join(lines))
    path.chmod(0o755)
    return path
