"""Where the demo puts things, and the rows of its comparison: shared by the stage plan and the report.

Layout of the output folder ``DIR``::

    raw/                simulated raw ACIVW folders + ground truth          (simulate)
    records/            one GZIP TFRecord per second                        (convert)
    lists/              training / validation / testing.txt                 (lists)
    stats/              spectrogram mean / std of the training list         (stats)
    packed/<split>/     uncompressed copies of the three lists              (pack, faster epochs)
    configs/<run>.toml  the training preset of each run, copied             (plan)
    runs/<run>/seed<K>/ training runs (config, metrics, tb, checkpoints)    (train:<run>:seed<K>)
    runs/<run>/seed<K>/evaluation/<checkpoint>/
                        features_<split>.npz, metrics.json, overlays        (extract:<row>, evaluate:<row>)
    details/            the per-run report of ``acoustic-ssl report``       (report)
    report.{html,md,json}, commands.sh, stages/*.done

Rows of the comparison: ``random`` (the audio+video networks of the video run before training),
``random_acoustic`` (the acoustic+video networks before training: the untrained baseline of the acoustic
model's localisation), ``supervised``
(HearNet classifier), ``selfsup_video`` (HearNet+ResNet18), ``selfsup_acoustic`` (DualCamNet+ResNet18) and
``transfer`` (HearNet+ResNet18 guided by the frozen acoustic network of the same seed).
"""

from __future__ import annotations

from pathlib import Path

from acoustic_ssl.demo.config import DemoConfig

SPLITS = ("training", "validation", "testing")
# Evaluated rows: (row, training run, checkpoint name or None for the run's configured one).
ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("random", "selfsup_video", "random"),
    ("random_acoustic", "selfsup_acoustic", "random"),
    ("supervised", "supervised", None),
    ("selfsup_video", "selfsup_video", None),
    ("selfsup_acoustic", "selfsup_acoustic", None),
    ("transfer", "transfer", None),
)


def run_dir(out_dir: Path, run: str, seed: int) -> Path:
    """Folder of one training run."""
    return out_dir / "runs" / run / f"seed{seed}"


def run_checkpoint(config: DemoConfig, out_dir: Path, run: str, seed: int) -> Path:
    """The checkpoint a run is evaluated (and, for the acoustic run, used as a teacher) with."""
    return run_dir(out_dir, run, seed) / "checkpoints" / config.runs[run].checkpoint


def row_checkpoint(config: DemoConfig, out_dir: Path, row: str, seed: int) -> Path:
    """Checkpoint stem evaluated for a row of the comparison."""
    _, run, name = next(r for r in ROWS if r[0] == row)
    if name is None:
        return run_checkpoint(config, out_dir, run, seed)
    return run_dir(out_dir, run, seed) / "checkpoints" / name


def eval_dir(config: DemoConfig, out_dir: Path, row: str, seed: int) -> Path:
    """Where ``evaluate`` puts a row's features and metrics.json: its default, ``<run>/evaluation/<ckpt>``."""
    checkpoint = row_checkpoint(config, out_dir, row, seed)
    return checkpoint.parent.parent / "evaluation" / checkpoint.name
