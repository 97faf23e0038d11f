"""The ``demo`` subcommand: pick a preset, plan the stages, run them (resumable), say where the report is."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from acoustic_ssl import presets
from acoustic_ssl.demo.config import PRESETS, DemoConfig, load_demo_config, parse_demo_config, preset_path
from acoustic_ssl.errors import ConfigError

SETTINGS_FILE = "demo_settings.json"

DESCRIPTION = """\
Run the whole pipeline on simulated data: simulate -> convert -> lists -> stats -> pack -> train (supervised
HearNet; the paper's triplet objective on video+audio and on video+acoustic images, and its transfer from the
acoustic-image network; the contrastive objective on the same pairs and its transfer) -> extract (also the
random-init networks and a log-mel baseline that needs no learning) -> evaluate (kNN, retrieval, localisation)
-> report (DIR/report.html, .md, .json; paired comparisons with 95 % intervals).

Every stage calls the ordinary commands (listed in DIR/commands.sh, to run them one by one) and leaves a
marker DIR/stages/<stage>.done; rerunning the same command resumes after the last finished stage. Presets
ship with the package in {folder} (test: ~1 min; tiny: 13-14 min on 2 CPU cores;
small: tiny's data, 3 training seeds; tiny_short: tiny in the earlier 2-s regime; paper: full size, GPU;
objects: real pictures and sounds of Tux Paint's stamps, apt-get install tuxpaint-stamps-default, ~23 min on 2
busy CPU cores); copy one, edit it and pass it with --config.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``acoustic-ssl demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on simulated data (resumable stages, HTML report)",
        description=DESCRIPTION.format(folder=presets.folder("demo")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo_out"),
        metavar="DIR",
        help="output folder; rerun with the same DIR to resume (default: demo_out)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--preset",
        choices=PRESETS,
        help="packaged preset (default: the one DIR was started with, else tiny)",
    )
    source.add_argument("--config", type=Path, metavar="FILE", help="an edited copy of a preset file")
    parser.add_argument("--seed", type=int, metavar="K", help="first training seed (default: the preset's)")
    parser.add_argument(
        "--seeds", type=int, metavar="N", help="number of training seeds (default: the preset's)"
    )
    parser.add_argument(
        "--redo",
        action="append",
        default=[],
        metavar="STAGE",
        help="run this stage again even if done (glob, e.g. 'train:transfer*'); later stages "
        "that depend on it run again too; repeatable",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the stages, whether each is done, and their commands; run nothing (every training "
        "config is validated, as at the start of a run)",
    )
    parser.set_defaults(func=handle_demo)


def _choose_config(args: argparse.Namespace) -> DemoConfig:
    """The preset to use: explicit flag, else the one saved in DIR by an earlier run, else tiny."""
    saved_file = args.out / SETTINGS_FILE
    if args.config is not None:
        config = load_demo_config(args.config)
    elif args.preset is not None:
        config = load_demo_config(preset_path(args.preset))
    elif saved_file.is_file():
        try:
            saved = json.loads(saved_file.read_text(encoding="utf-8"))
            config = parse_demo_config(saved["config_text"], Path(saved["config_source"]))
            config = config.with_seeds(saved["seed"], saved["seeds"])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"{saved_file}: unreadable saved demo settings ({exc}); pass --preset or --config"
            ) from exc
    else:
        config = load_demo_config(preset_path("tiny"))
    return config.with_seeds(args.seed, args.seeds)


def handle_demo(args: argparse.Namespace) -> int:
    """Plan and run the demo stages; print the report location and the headline numbers."""
    from acoustic_ssl.demo.plan import build_stages, write_commands_script
    from acoustic_ssl.demo.stages import format_command, read_marker, run_command, run_stages
    from acoustic_ssl.io_utils import write_json_atomic

    # Idle OpenMP threads sleep instead of spinning: on cores shared with other work, spinning threads steal
    # the time slices their partners need (2-20x slower steps measured on 2 busy cores). Before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out_dir: Path = args.out.expanduser().resolve()
    config = _choose_config(args)
    objects = config.simulate.objects
    if objects and not Path(objects).exists():  # before any stage: the preset reads an installed package
        raise ConfigError(
            f"{config.source}: simulate.objects: {objects} not found (the objects preset reads Tux Paint's "
            "stamps: apt-get install tuxpaint-stamps-default)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stages = build_stages(config, out_dir)
    commands_file = write_commands_script(stages, out_dir, config)
    resume = shlex.join(["acoustic-ssl", "demo", "--out", str(args.out)])
    if args.dry_run:
        for stage in stages:
            state = "done" if read_marker(out_dir, stage.name) else "to do"
            print(f"{stage.name} [{state}]: {stage.description}")
            for argv in stage.commands:
                print(f"    {format_command(argv)}")
        print(f"commands: {commands_file}")
        return 0
    write_json_atomic(
        out_dir / SETTINGS_FILE,
        {
            "config_source": str(config.source),
            "config_text": config.text,
            "seed": config.demo.seed,
            "seeds": config.demo.seeds,
        },
    )
    print(
        f"demo preset '{config.preset}' ({config.demo.expected_time or 'time not stated'}), "
        f"seeds {config.seed_list}, output {out_dir}"
    )
    run_stages(
        stages,
        out_dir,
        resume_command=resume,
        redo=args.redo,
        runner=lambda argv: run_command(argv, args.build_parser),
    )
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    timings = json.loads((out_dir / "timings.json").read_text(encoding="utf-8"))
    print(_headline(report, timings))
    print(f"one-by-one commands: {commands_file}")
    print(f"report: {out_dir / 'report.html'} (also report.md, report.json)")
    return 0


HEADLINE_COMPARISONS = (
    "selfsup_vs_random",
    "transfer_vs_video",
    "localization_audio_video_vs_random_init",
    "localization_acoustic_video_vs_random_init",
)


def _headline(report: dict, timings: dict) -> str:
    """A few lines with the main numbers of report.json and the verdicts of the paper's comparisons."""
    knn = report.get("audio_knn_accuracy", {})
    loc = report.get("localization_accuracy", {})
    parts = [f"audio kNN accuracy: {', '.join(f'{k} {v:.3f}' for k, v in knn.items() if v is not None)}"]
    parts.append(
        f"localisation accuracy: {', '.join(f'{k} {v:.3f}' for k, v in loc.items() if v is not None)}"
    )
    for name in HEADLINE_COMPARISONS:
        found = (report.get("comparisons") or {}).get(name)
        if found:
            low, high = found["ci95"]
            parts.append(f"{name}: {found['difference']:+.3f} [{low:+.3f}, {high:+.3f}] {found['verdict']}")
    parts.append(f"total time of the stages: {timings.get('seconds', 0.0):.0f} s")
    return "\n".join(parts)
