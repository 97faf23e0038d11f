"""The demo's stages for a preset: which ``acoustic-ssl`` commands, in which folders, in which order.

Layout of the output folder ``DIR``::

    raw/                simulated raw ACIVW folders + ground truth          (simulate)
    records/            one GZIP TFRecord per second                        (convert)
    lists/              training / validation / testing.txt                 (lists)
    stats/              spectrogram mean / std of the training list         (stats)
    packed/<split>/     uncompressed copies of the three lists              (pack, faster epochs)
    runs/<run>/seed<K>/ training runs (config, metrics, tb, checkpoints)    (train:<run>:seed<K>)
    runs/<run>/seed<K>/evaluation/<checkpoint>/
                        features_<split>.npz, metrics.json, overlays        (extract:<row>, evaluate:<row>)
    details/            the per-run report of ``acoustic-ssl report``       (report)
    report.{html,md,json}, commands.sh, stages/*.done

Rows of the comparison: ``random`` (the audio+video networks of the video run before training), ``supervised``
(HearNet classifier), ``selfsup_video`` (HearNet+ResNet18), ``selfsup_acoustic`` (DualCamNet+ResNet18) and
``transfer`` (HearNet+ResNet18 guided by the frozen acoustic network of the same seed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from acoustic_ssl.demo.config import RUNS, DemoConfig
from acoustic_ssl.demo.stages import Stage, format_command
from acoustic_ssl.io_utils import write_text_atomic

SPLITS = ("training", "validation", "testing")
# Evaluated rows: (row, training run, checkpoint name or None for the run's configured one).
ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("random", "selfsup_video", "random"),
    ("supervised", "supervised", None),
    ("selfsup_video", "selfsup_video", None),
    ("selfsup_acoustic", "selfsup_acoustic", None),
    ("transfer", "transfer", None),
)


def run_dir(out_dir: Path, run: str, seed: int) -> Path:
    """Folder of one training run."""
    return out_dir / "runs" / run / f"seed{seed}"


def row_checkpoint(config: DemoConfig, out_dir: Path, row: str, seed: int) -> Path:
    """Checkpoint stem evaluated for a row of the comparison."""
    _, run, name = next(r for r in ROWS if r[0] == row)
    return run_dir(out_dir, run, seed) / "checkpoints" / (name or config.runs[run].checkpoint)


def eval_dir(config: DemoConfig, out_dir: Path, row: str, seed: int) -> Path:
    """Where ``evaluate`` puts a row's features and metrics.json: its default, ``<run>/evaluation/<ckpt>``."""
    checkpoint = row_checkpoint(config, out_dir, row, seed)
    return checkpoint.parent.parent / "evaluation" / checkpoint.name


def _copy_training_configs(config: DemoConfig, out_dir: Path) -> dict[str, Path]:
    """Copy each run's base training config into DIR/configs so the run folder is self-contained."""
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


def build_stages(config: DemoConfig, out_dir: Path) -> list[Stage]:
    """Every stage of the demo for ``config`` writing under ``out_dir`` (absolute)."""
    from acoustic_ssl.demo.summary import write_demo_report

    raw, records, lists, stats = (out_dir / name for name in ("raw", "records", "lists", "stats"))
    packed = out_dir / "packed"
    sim = config.simulate
    simulate_cmd = [
        "simulate",
        str(raw),
        "--videos-per-class",
        str(sim.videos_per_class),
        "--seconds",
        str(sim.seconds),
        "--seed",
        str(sim.seed),
        "--snr-db",
        str(sim.snr_db),
        "--frame-size",
        str(sim.frame_size[0]),
        str(sim.frame_size[1]),
    ]
    if sim.classes:
        simulate_cmd += ["--classes", *map(str, sim.classes)]
    if sim.workers:
        simulate_cmd += ["--workers", str(sim.workers)]
    convert_cmd = ["convert", str(raw), str(records)]
    if config.convert_workers:
        convert_cmd += ["--workers", str(config.convert_workers)]
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
            commands=(
                (
                    "lists",
                    str(records),
                    str(lists),
                    "--seed",
                    str(sim.seed),
                    "--fractions",
                    *map(str, config.list_fractions),
                ),
            ),
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
    data_stage = "stats"
    split_source = {split: lists / f"{split}.txt" for split in SPLITS}
    if config.pack:
        stages.append(
            Stage(
                "pack",
                "pack the three lists into uncompressed arrays (faster epochs)",
                commands=tuple(("pack", str(split_source[s]), str(packed / s)) for s in SPLITS),
                outputs=(packed,),
                deps=("lists",),
            )
        )
        split_source = {split: packed / split for split in SPLITS}
        data_stage = "pack"

    configs = _copy_training_configs(config, out_dir)
    data_overrides = [
        f"data.train_list={split_source['training']}",
        f"data.valid_list={split_source['validation']}",
        f"data.test_list={split_source['testing']}",
        f"data.stats_dir={stats}",
        "runtime.save_every=0",
    ]
    for seed in config.seed_list:
        for run in RUNS:
            spec = config.runs[run]
            target = run_dir(out_dir, run, seed)
            overrides = [
                *config.train_common,
                *spec.overrides,
                *data_overrides,
                f"experiment.seed={seed}",
                f"runtime.run_dir={target}",
            ]
            deps = ("stats", data_stage) if data_stage != "stats" else ("stats",)
            if run == "transfer":
                teacher = (
                    run_dir(out_dir, "selfsup_acoustic", seed)
                    / "checkpoints"
                    / config.runs["selfsup_acoustic"].checkpoint
                )
                overrides += [f"loss.alpha={config.alpha}", f"loss.teacher_checkpoint={teacher}"]
                deps = (*deps, f"train:selfsup_acoustic:seed{seed}")
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

        for row, run, _ in ROWS:
            checkpoint = row_checkpoint(config, out_dir, row, seed)
            target = eval_dir(config, out_dir, row, seed)
            extract = []
            for split in SPLITS:
                argv = [
                    "extract",
                    "--checkpoint",
                    str(checkpoint),
                    "--list",
                    str(split_source[split]),
                    "--split",
                    split,
                    "--out",
                    str(target / f"features_{split}.npz"),
                    "--batch-size",
                    str(config.evaluate.batch_size),
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
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(target),
                "--raw-dir",
                str(raw),
                "--knn-k",
                *map(str, config.evaluate.knn_k),
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

    evaluations = [f"evaluate:{row}:seed{seed}" for seed in config.seed_list for row, _, _ in ROWS]
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
    stages.append(
        Stage(
            "report",
            "report.html / report.md / report.json",
            commands=(tuple(report_cmd),),
            outputs=(out_dir / "details",),
            deps=tuple(evaluations),
            action=lambda: write_demo_report(config, out_dir),
            action_key="report-v1",
        )
    )
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
