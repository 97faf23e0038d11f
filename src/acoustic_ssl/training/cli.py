"""``acoustic-ssl train``: run a preset, override keys, resume, or scale out under torchrun."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from acoustic_ssl import presets

TRAIN_EPILOG = """\
presets shipped with the package (--config NAME; or --config FILE.toml for your own copy):
{names}
  their files: {folder}

examples:
  acoustic-ssl train --config selfsup_audio_video --variant tiny \\
      --set data.train_list=data/lists/training.txt --set data.valid_list=data/lists/validation.txt
  acoustic-ssl train --config transfer --set loss.alpha=0.3 \\
      --set loss.teacher_checkpoint=runs/acoustic-.../checkpoints/epoch_15
  acoustic-ssl train --resume runs/selfsup_audio_video-20260101-120000     # continue an interrupted run
  acoustic-ssl train --config selfsup_audio_video --resume auto  # newest run of it, or a new one
  torchrun --nproc_per_node 4 -m acoustic_ssl train --config selfsup_audio_video ...

A preset holds only what differs from the defaults (the original's hyperparameters); its header says what
it reproduces and which keys to set. --variant NAME applies one of its [variants] (tiny: CPU-sized), then
--set: dotted keys and TOML literals (strings need no quotes): loss.alpha=0.3, data.video_size=[112,149],
runtime.device=cpu. Every key is validated.
Run directory: config.json, meta.json, metrics.jsonl, tb/ (tensorboard --logdir RUN/tb) and
checkpoints/{{random,epoch_N,best,last}}.safetensors + .json. SIGINT/SIGTERM save 'last' and exit; resume
with --resume RUN_DIR. A run locks its directory: a second train into it stops at once, naming the holder; a
new run refuses a directory holding a finished run (resume it) or files that are not part of a run.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a model from a preset (supervised, self-supervised, contrastive, transfer, distillation)",
        description=(
            "Train one experiment. The kind (supervised | selfsup | transfer | distillation | contrastive | "
            "contrastive_transfer: its objective, which also decides the [loss] keys), models, data, "
            "optimizer and loss come from the config; the run directory receives the resolved config, "
            "metrics, TensorBoard logs and checkpoints. Under torchrun each process takes 1/N of the batch."
        ),
        epilog=TRAIN_EPILOG.format(
            names=textwrap.fill(
                ", ".join(presets.names("train")), 108, initial_indent="  ", subsequent_indent="  "
            ),
            folder=presets.folder("train"),
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", metavar="NAME|FILE", help="packaged preset or TOML file (optional with --resume RUN_DIR)"
    )
    parser.add_argument("--variant", metavar="NAME", help="apply the preset's [variants] NAME (e.g. tiny)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set loss.alpha=0.3 (repeatable; after --variant)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR|auto",
        help="continue RUN_DIR from checkpoints/last, or 'auto': the newest run of this config (else start)",
    )
    parser.add_argument("--out", type=Path, help="parent folder of new run directories (runtime.out_dir)")
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``acoustic-ssl train``: exit 0 when done, 130 after a SIGINT/SIGTERM checkpoint."""
    from acoustic_ssl.errors import ConfigError
    from acoustic_ssl.training.config import load_config
    from acoustic_ssl.training.run import TrainingInterrupted, train
    from acoustic_ssl.training.rundir import load_run_config

    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"runtime.out_dir={json.dumps(str(args.out))}")
    if args.resume and args.resume != "auto" and args.config is None:
        if args.variant:
            raise ConfigError("train: --variant needs --config (a resumed run keeps its resolved config)")
        cfg = load_run_config(args.resume, overrides)
    elif args.config is not None:
        cfg = load_config(args.config, overrides, variant=args.variant)
    else:
        raise ConfigError("train: give --config NAME|FILE (or --resume RUN_DIR to continue a run)")
    try:
        run_dir = train(cfg, resume=args.resume, command=["acoustic-ssl", *sys.argv[1:]])
    except TrainingInterrupted as exc:
        print(f"acoustic-ssl train: {exc}", file=sys.stderr)
        return 130
    print(run_dir)
    return 0
