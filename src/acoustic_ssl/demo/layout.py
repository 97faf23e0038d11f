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

Rows of the comparison (``ROWS``): ``random`` (the audio+video networks of the video run before training),
``random_acoustic`` (the acoustic+video networks before training: the untrained baseline of the acoustic
model's localisation), ``random_contrastive`` (the contrastive run's networks and heads before training:
its own untrained control), ``logmel`` (log-mel statistics, no learning), ``supervised`` (HearNet
classifier), ``selfsup_video`` (HearNet+ResNet18), ``selfsup_acoustic`` (DualCamNet+ResNet18), ``transfer``
(HearNet+ResNet18 guided by the frozen acoustic network of the same seed), ``contrastive`` (HearNet+ResNet18,
EZ-VSL-style InfoNCE) and ``contrastive_transfer`` (taught by the contrastive acoustic run). A row whose run
the preset does not train is left out; the contrastive acoustic run is a teacher, not a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from acoustic_ssl.demo.config import DemoConfig

SPLITS = ("training", "validation", "testing")


class Row(NamedTuple):
    """One evaluated row: a training run's checkpoint (``checkpoint`` None: the one its objective reports),
    or a baseline that needs no training (``run`` None, ``baseline`` its name)."""

    name: str
    run: str | None
    checkpoint: str | None = None
    baseline: str | None = None


ROWS: tuple[Row, ...] = (
    Row("random", "selfsup_video", "random"),
    Row("random_acoustic", "selfsup_acoustic", "random"),
    Row("random_contrastive", "contrastive", "random"),
    Row("logmel", None, baseline="logmel"),
    Row("supervised", "supervised"),
    Row("selfsup_video", "selfsup_video"),
    Row("selfsup_acoustic", "selfsup_acoustic"),
    Row("transfer", "transfer"),
    Row("contrastive", "contrastive"),
    Row("contrastive_transfer", "contrastive_transfer"),
)


def rows_of(config: DemoConfig) -> tuple[Row, ...]:
    """The rows a preset evaluates: those of its runs and of its baselines."""
    return tuple(
        row for row in ROWS
        if (row.run in config.runs if row.run else row.baseline in config.evaluate.baselines)
    )


def run_dir(out_dir: Path, run: str, seed: int) -> Path:
    """Folder of one training run."""
    return out_dir / "runs" / run / f"seed{seed}"


def row_checkpoint(out_dir: Path, row: Row, seed: int) -> Path:
    """What a run row evaluates: a named checkpoint, else the run directory, which stands for the checkpoint
    its objective reports (``Objective.reported``; ``checkpoint.reported_checkpoint``)."""
    folder = run_dir(out_dir, str(row.run), seed)
    return folder / "checkpoints" / row.checkpoint if row.checkpoint else folder


def eval_dir(out_dir: Path, row: Row, seed: int) -> Path:
    """Where a row's features and metrics.json go: ``<run>/evaluation/<checkpoint or "reported">`` (found
    there by ``acoustic-ssl report``), or ``baselines/<name>`` (the same for every seed: nothing is
    trained)."""
    if row.run is None:
        return out_dir / "baselines" / str(row.baseline)
    return run_dir(out_dir, row.run, seed) / "evaluation" / (row.checkpoint or "reported")
