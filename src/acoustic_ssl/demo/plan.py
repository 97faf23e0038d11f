"""The demo's stages for a preset: which ``acoustic-ssl`` commands, in which folders, in which order.

Four groups, in order: the data (simulate → convert → lists → stats → pack, and with a separate test set
the same for its short recordings), then per seed the training runs and the extraction + evaluation of each
row of the comparison (a baseline row once: nothing is trained), then the report. Every run's training
config is loaded in full while planning, so a bad ``set`` line is an error before any stage runs (and in
``--dry-run``). Folders: ``demo.layout``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from acoustic_ssl.demo.config import DemoConfig
from acoustic_ssl.demo.layout import SPLITS, Row, eval_dir, row_checkpoint, rows_of, run_dir
from acoustic_ssl.demo.render import write_demo_report
from acoustic_ssl.demo.stages import Stage, format_command
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.io_utils import write_text_atomic


@dataclass(frozen=True)
class DataPlan:
    """The data stages, where each split's samples are read from, the raw folder holding the test videos'
    ground truth, and the stages training waits for."""

    stages: list[Stage]
    splits: dict[str, Path]
    test_raw: Path
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


def _simulate_stages(config: DemoConfig, out_dir: Path, test: bool) -> list[Stage]:
    """simulate → convert → lists for the training/validation recordings, or (``test``) for the separate
    test recordings, numbered after them at the same places."""
    sim = config.simulate
    suffix = "_test" if test else ""
    raw, records, lists = (out_dir / f"{name}{suffix}" for name in ("raw", "records", "lists"))
    videos, seconds = (sim.test_videos_per_class, sim.test_seconds) if test else (sim.videos_per_class,
                                                                                  sim.seconds)
    simulate_cmd = [
        "simulate", str(raw), "--videos-per-class", str(videos), "--seconds", str(seconds),
        "--seed", str(sim.seed), "--snr-db", str(sim.snr_db), "--frame-size", *map(str, sim.frame_size),
    ]
    if test:
        simulate_cmd += ["--first-location", str(sim.videos_per_class)]
    if sim.classes:
        simulate_cmd += ["--classes", *map(str, sim.classes)]
    for flag, value in (("--locations", sim.locations), ("--distractors", sim.distractors),
                        ("--extra-sources", sim.extra_sources), ("--workers", sim.workers)):
        if value:
            simulate_cmd += [flag, str(value)]
    if sim.matched_sizes:
        simulate_cmd.append("--matched-sizes")
    if sim.objects:
        simulate_cmd += ["--objects", sim.objects, "--split-by", sim.split_by]
        for flag, value in (("--object-depth", sim.object_depth), ("--min-objects", sim.min_objects)):
            if value:
                simulate_cmd += [flag, str(value)]
        if test and sim.split_by == "object":
            simulate_cmd.append("--test-objects")
    convert_cmd = ["convert", str(raw), str(records)]
    if config.convert.workers:
        convert_cmd += ["--workers", str(config.convert.workers)]
    fractions = ("0", "0", "1") if test else tuple(map(str, config.lists.fractions))
    lists_cmd = ("lists", str(records), str(lists), "--seed", str(sim.seed), "--fractions", *fractions)
    what = "test " if test else ""
    return [
        Stage(
            f"simulate{suffix}",
            f"simulate {videos} {what}videos x {len(sim.classes) or ('all object' if sim.objects else 10)} "
            f"classes x {seconds} s "
            f"(SNR {sim.snr_db:g} dB)",
            commands=(tuple(simulate_cmd),),
            outputs=(raw,),
            resumable=True,
        ),
        Stage(
            f"convert{suffix}",
            f"convert the raw {what}folders to TFRecords",
            commands=(tuple(convert_cmd),),
            outputs=(records,),
            deps=(f"simulate{suffix}",),
            resumable=True,
        ),
        Stage(
            f"lists{suffix}",
            "list the test recordings" if test else "split the videos into training / validation"
            + ("" if config.separate_test_set else " / testing") + " lists",
            commands=(lists_cmd,),
            outputs=(lists,),
            deps=(f"convert{suffix}",),
        ),
    ]


def _data_stages(config: DemoConfig, out_dir: Path) -> DataPlan:
    """simulate, convert, lists (each also for a separate test set), stats and (if the preset packs) pack."""
    separate = config.separate_test_set
    stages = _simulate_stages(config, out_dir, test=False)
    if separate:
        stages += _simulate_stages(config, out_dir, test=True)
    lists = {split: out_dir / "lists" / f"{split}.txt" for split in SPLITS}
    if separate:
        lists["testing"] = out_dir / "lists_test" / "testing.txt"
    test_raw = out_dir / ("raw_test" if separate else "raw")
    list_stages = ("lists", "lists_test") if separate else ("lists",)
    splits, ready = lists, list_stages
    if config.convert.pack:
        packed = out_dir / "packed"
        stages.append(
            Stage(
                "pack",
                "pack the three lists into uncompressed arrays (faster epochs)",
                commands=tuple(("pack", str(lists[s]), str(packed / s)) for s in SPLITS),
                outputs=(packed,),
                deps=list_stages,
            )
        )
        splits, ready = {split: packed / split for split in SPLITS}, ("pack",)
    stages.append(
        Stage(
            "stats",
            "spectrogram statistics of the training list",  # from its packed copy: no GZIP to inflate
            commands=(("stats", str(splits["training"]), str(out_dir / "stats")),),
            outputs=(out_dir / "stats",),
            deps=("pack",) if config.convert.pack else ("lists",),
        )
    )
    return DataPlan(stages, splits, test_raw, ("stats", *ready))


def run_overrides(config: DemoConfig, out_dir: Path, run: str, seed: int, data: DataPlan) -> list[str]:
    """The ``--set`` lines of one run: the preset's common and own lines, then the demo's data, seed, folder
    and teacher (the teacher run's directory: the checkpoint its objective reports)."""
    spec = config.runs[run]
    overrides = [
        *config.train.overrides,
        *spec.overrides,
        f"data.train_list={data.splits['training']}",
        f"data.valid_list={data.splits['validation']}",
        f"data.test_list={data.splits['testing']}",
        f"data.stats_dir={out_dir / 'stats'}",
        "runtime.save_every=0",
        f"experiment.seed={seed}",
        f"runtime.run_dir={run_dir(out_dir, run, seed)}",
    ]
    if spec.teacher:
        overrides.append(f"loss.teacher_checkpoint={run_dir(out_dir, spec.teacher, seed)}")
    return overrides


def _checked_overrides(
    config: DemoConfig, run: str, seed: int, preset: Path, overrides: list[str]
) -> list[str]:
    """Load the run's training config in full, exactly as its ``train`` command will (every key, type and
    the objective's [loss] keys), so a typo in a ``set`` line fails at ``--dry-run`` and before the first
    stage, not hours later; add ``loss.alpha`` where the objective takes it. A problem names the demo preset,
    the run and the seed."""
    from acoustic_ssl.training.config import load_config

    spec = config.runs[run]
    try:
        cfg = load_config(preset, overrides, variant=spec.variant or None)
        if "alpha" in cfg.objective.hyperparameters():
            overrides = [*overrides, f"loss.alpha={config.train.alpha}"]  # in [0, 1]: the demo checked
        if bool(spec.teacher) != bool(cfg.teacher_role):
            need = "needs a teacher run" if cfg.teacher_role else "takes no teacher"
            raise ConfigError(f"objective '{cfg.experiment.kind}' {need}")
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: train.{run} (seed {seed}): {exc}") from None
    return overrides


def _training_stages(
    config: DemoConfig, out_dir: Path, seed: int, data: DataPlan, configs: dict[str, Path]
) -> list[Stage]:
    """``train:<run>:seed<K>`` for every run, a taught run after its teacher."""
    stages = []
    for run, spec in config.runs.items():
        target = run_dir(out_dir, run, seed)
        overrides = run_overrides(config, out_dir, run, seed, data)
        overrides = _checked_overrides(config, run, seed, configs[run], overrides)
        argv = ["train", "--config", str(configs[run])]
        if spec.variant:
            argv += ["--variant", spec.variant]
        for item in overrides:
            argv += ["--set", item]
        argv += ["--resume", "auto"]
        deps = (*data.ready, *((f"train:{spec.teacher}:seed{seed}",) if spec.teacher else ()))
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


def _row_stages(config: DemoConfig, out_dir: Path, row: Row, seed: int, data: DataPlan) -> list[Stage]:
    """``extract:<row>`` (features of the three splits) and ``evaluate:<row>``, ``:seed<K>`` for run rows."""
    target = eval_dir(out_dir, row, seed)
    if row.run is None:
        source, tag, deps = ["--baseline", str(row.baseline)], row.name, data.ready
        described = f"{row.name} (no training)"
    else:
        checkpoint = row_checkpoint(out_dir, row, seed)
        source, tag = ["--checkpoint", str(checkpoint)], f"{row.name}:seed{seed}"
        deps = (f"train:{row.run}:seed{seed}",)
        checkpoint_name = row.checkpoint or "the checkpoint its objective reports"
        described = f"{row.name} (seed {seed}, {checkpoint_name})"
    extract = []
    for split in SPLITS:
        argv = ["extract", *source, "--list", str(data.splits[split]), "--split", split,
                "--out", str(target / f"features_{split}.npz")]
        if row.run is not None:
            argv += ["--batch-size", str(config.evaluate.batch_size)]
            if split == "testing":
                argv.append("--energy-maps")
        extract.append(tuple(argv))
    evaluate = ["evaluate", *source, "--out", str(target), "--knn-k", *map(str, config.evaluate.knn_k)]
    if row.run is None:
        evaluate += ["--train-list", str(data.splits["training"]), "--valid-list",
                     str(data.splits["validation"]), "--test-list", str(data.splits["testing"])]
    else:
        evaluate += ["--raw-dir", str(data.test_raw), "--overlays", str(config.evaluate.overlays)]
    if not config.evaluate.linear_probe:
        evaluate.append("--no-probe")
    return [
        Stage(f"extract:{tag}", f"features of {described}", commands=tuple(extract), outputs=(target,),
              deps=deps),
        Stage(f"evaluate:{tag}", f"kNN, retrieval and localisation of {described}",
              commands=(tuple(evaluate),), outputs=(target / "metrics.json",), deps=(f"extract:{tag}",)),
    ]


def evaluation_stage_names(config: DemoConfig) -> tuple[str, ...]:
    """``evaluate:<row>[:seed<K>]`` of every row and seed: what the report waits for."""
    return tuple(
        f"evaluate:{row.name}" + ("" if row.run is None else f":seed{seed}")
        for seed in config.seed_list
        for row in rows_of(config)
        if row.run is not None or seed == config.seed_list[0]
    )


def _report_stage(config: DemoConfig, out_dir: Path) -> Stage:
    """``report``: the per-run report of every run, then the demo's comparison (report.json/md/html)."""
    report_cmd = [
        "report",
        *(str(run_dir(out_dir, run, seed)) for seed in config.seed_list for run in config.runs),
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
        deps=evaluation_stage_names(config),
        action=lambda: write_demo_report(config, out_dir),
        action_key="report-v3",  # v3: contrastive rows, baselines, a separate test set
    )


def build_stages(config: DemoConfig, out_dir: Path) -> list[Stage]:
    """Every stage of the demo for ``config`` writing under ``out_dir`` (absolute)."""
    data = _data_stages(config, out_dir)
    configs = _copy_training_configs(config, out_dir)
    stages = list(data.stages)
    for row in rows_of(config):
        if row.run is None:
            stages += _row_stages(config, out_dir, row, config.seed_list[0], data)
    for seed in config.seed_list:
        stages += _training_stages(config, out_dir, seed, data, configs)
        for row in rows_of(config):
            if row.run is not None:
                stages += _row_stages(config, out_dir, row, seed, data)
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
