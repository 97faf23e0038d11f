"""The demo's own report: the paper's comparison table (mean ± std over seeds) as JSON, Markdown and HTML.

Inputs are the ``metrics.json`` files written by ``acoustic-ssl evaluate`` for each row and seed; nothing is
recomputed except the chance level of the localisation score (share of the frame covered by the ground-truth
boxes, i.e. the pointing accuracy of a uniformly random point). ``report.json`` keys:

* ``audio_knn_accuracy``, ``joint_knn_accuracy`` (the audio + video vector, the original's active kNN),
  ``retrieval_recall_at_{1,5,10}``: {random, supervised, selfsup_video, transfer} → mean
  (None where a row has no such score: the supervised HearNet has no video network, so no retrieval);
* ``localization_accuracy``: {audio_video, acoustic_video} → mean pointing accuracy of the attention maps;
* every one of those also as ``<key>_std`` and, per seed, under ``per_seed``;
* ``supervised_test_accuracy`` (the supervised HearNet's own classifier on the test split);
* ``acoustic_knn_accuracy`` (the acoustic-image network itself), ``localization_chance``,
  ``localization_energy_accuracy`` (raw acoustic-image energy, no learning), ``localization_ciou`` / ``_auc``,
  ``preset``, ``seeds``, ``seconds`` (all stages), ``stage_seconds``, ``dataset``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.demo.config import DemoConfig
from acoustic_ssl.demo.layout import ROWS, eval_dir
from acoustic_ssl.demo.stages import MARKER_DIR, cpu_seconds, marker_path
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.evaluate import ground_truth_masks
from acoustic_ssl.evaluation.extract import load_features
from acoustic_ssl.evaluation.pages import (
    figure_png,
    format_percent,
    gallery_html,
    html_page,
    html_table,
    image_html,
    markdown_table,
    paragraph_html,
    pyplot,
)
from acoustic_ssl.io_utils import write_json_atomic, write_text_atomic

TABLE_ROWS = ("random", "supervised", "selfsup_video", "transfer")
ROW_TITLES = {
    "random": "random init (HearNet)",
    "supervised": "supervised (HearNet classifier)",
    "selfsup_video": "self-supervised, video",
    "selfsup_acoustic": "self-supervised, acoustic images (DualCamNet)",
    "transfer": "self-supervised, acoustic-image transfer",
}
SHORT_TITLES = {
    "random": "random init",
    "supervised": "supervised",
    "selfsup_video": "self-sup. (video)",
    "transfer": "acoustic transfer",
}
LOCALIZATION_ROWS = {"audio_video": "selfsup_video", "acoustic_video": "selfsup_acoustic"}
RANKS = (1, 5, 10)


def _get(tree: Mapping[str, Any], *path: str) -> float | None:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) and math.isfinite(node) else None


def row_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The numbers of one evaluated row that the comparison uses."""
    scores: dict[str, float | None] = {"knn_accuracy": _get(metrics, "summary", "audio_knn_accuracy")}
    scores["joint_knn_accuracy"] = _get(metrics, "summary", "joint_knn_accuracy")
    scores["classifier_accuracy"] = _get(metrics, "summary", "classifier_accuracy")
    for k in RANKS:
        scores[f"recall@{k}"] = _get(metrics, "retrieval", "audio_to_video", f"recall@{k}")
    for name in ("attention", "energy"):
        scores[f"{name}_pointing"] = _get(metrics, "localization", name, "pointing_accuracy")
        scores[f"{name}_ciou"] = _get(metrics, "localization", name, "ciou_mean")
        scores[f"{name}_auc"] = _get(metrics, "localization", name, "auc")
    return scores


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and population std (as the original's aggregation) of the values that exist."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return float(np.mean(present)), float(np.std(present))


def localization_chance(test_features: Path, raw_dir: Path) -> float | None:
    """Mean share of the frame inside the ground-truth boxes over the scored test samples."""
    arrays, _ = load_features(test_features)
    masks, _, _ = ground_truth_masks(arrays, raw_dir)
    shares = [float(m.mean()) for m in masks if m is not None and m.any()]
    return float(np.mean(shares)) if shares else None


def build_report(
    config: DemoConfig,
    per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]],
    *,
    chance: float | None,
    stage_seconds: Mapping[str, float],
    stage_cpu: Mapping[str, float],
) -> dict[str, Any]:
    """report.json from each seed's metrics.json per row."""
    scores = {seed: {row: row_scores(m) for row, m in rows.items()} for seed, rows in per_seed.items()}
    seeds = sorted(scores)

    def table(rows: Sequence[str], key: str) -> tuple[dict[str, float | None], dict[str, float | None]]:
        means, stds = {}, {}
        for row in rows:
            means[row], stds[row] = mean_std([scores[s][row][key] for s in seeds])
        return means, stds

    report: dict[str, Any] = {"preset": config.preset, "description": config.demo.description, "seeds": seeds}
    report["audio_knn_accuracy"], report["audio_knn_accuracy_std"] = table(TABLE_ROWS, "knn_accuracy")
    # audio + video vector: the feature of the original's active kNN script (no video network: None)
    report["joint_knn_accuracy"], report["joint_knn_accuracy_std"] = table(TABLE_ROWS, "joint_knn_accuracy")
    (report["supervised_test_accuracy"], report["supervised_test_accuracy_std"]) = mean_std(
        [scores[s]["supervised"]["classifier_accuracy"] for s in seeds]
    )
    for k in RANKS:
        means, stds = table(TABLE_ROWS, f"recall@{k}")
        report[f"retrieval_recall_at_{k}"], report[f"retrieval_recall_at_{k}_std"] = means, stds
    (report["acoustic_knn_accuracy"], report["acoustic_knn_accuracy_std"]) = mean_std(
        [scores[s]["selfsup_acoustic"]["knn_accuracy"] for s in seeds]
    )
    for name, key in (
        ("accuracy", "attention_pointing"),
        ("ciou", "attention_ciou"),
        ("auc", "attention_auc"),
    ):
        means, stds = {}, {}
        for loc_row, row in LOCALIZATION_ROWS.items():
            means[loc_row], stds[loc_row] = mean_std([scores[s][row][key] for s in seeds])
        report[f"localization_{name}"], report[f"localization_{name}_std"] = means, stds
    report["localization_random_init_accuracy"] = mean_std(
        [scores[s]["random"]["attention_pointing"] for s in seeds]
    )[0]
    report["localization_energy_accuracy"] = mean_std(
        [scores[s]["selfsup_acoustic"]["energy_pointing"] for s in seeds]
    )[0]
    report["localization_chance"] = chance
    report["per_seed"] = {str(s): scores[s] for s in seeds}
    report["stage_seconds"] = {k: round(v, 1) for k, v in stage_seconds.items()}
    report["seconds"] = round(float(sum(stage_seconds.values())), 1)
    report["stage_cpu_seconds"] = {k: round(v, 1) for k, v in stage_cpu.items()}
    report["cpu_seconds"] = round(float(sum(stage_cpu.values())), 1)
    sim = config.simulate
    report["dataset"] = {
        "videos_per_class": sim.videos_per_class,
        "seconds_per_video": sim.seconds,
        "snr_db": sim.snr_db,
        "classes": list(sim.classes) or list(range(10)),
        "frame_size": list(sim.frame_size),
        "split_fractions": list(config.lists.fractions),
    }
    report["alpha"] = config.train.alpha
    return report


def _fmt(mean: float | None, std: float | None, seeds: int) -> str:
    return format_percent(mean, std if seeds > 1 else None)


def comparison_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paper-style table (percentages)."""
    n = len(report["seeds"])
    header = ["model", "audio kNN acc.", *(f"R@{k}" for k in RANKS), "localisation acc."]
    rows = []
    loc_of = {v: k for k, v in LOCALIZATION_ROWS.items()}
    for row in (*TABLE_ROWS[:3], "selfsup_acoustic", TABLE_ROWS[3]):
        if row == "selfsup_acoustic":
            knn = (
                _fmt(report["acoustic_knn_accuracy"], report["acoustic_knn_accuracy_std"], n) + " (acoustic)"
            )
            recalls = ["–"] * len(RANKS)
        else:
            knn = _fmt(report["audio_knn_accuracy"][row], report["audio_knn_accuracy_std"][row], n)
            recalls = [
                _fmt(report[f"retrieval_recall_at_{k}"][row], report[f"retrieval_recall_at_{k}_std"][row], n)
                for k in RANKS
            ]
        if row in loc_of:
            loc = _fmt(
                report["localization_accuracy"][loc_of[row]],
                report["localization_accuracy_std"][loc_of[row]],
                n,
            )
        elif row == "random":
            loc = _fmt(report["localization_random_init_accuracy"], None, 1)
        else:
            loc = "–"
        rows.append([ROW_TITLES[row], knn, *recalls, loc])
    return header, rows


def notes(report: Mapping[str, Any]) -> list[str]:
    """Plain-language lines under the table."""
    lines = []
    n = len(report["seeds"])
    lines.append(
        f"Percentages; {'mean ± population std over ' + str(n) + ' seeds' if n > 1 else 'one seed'} "
        f"(seeds {', '.join(map(str, report['seeds']))})."
    )
    lines.append(
        "Audio kNN: k chosen on validation, accuracy on the test videos. R@k: an audio query ranks every "
        "test video by the audio-guided attention distance; a hit when a top-k video has its class. "
        "The supervised HearNet has no video network, hence no retrieval."
    )
    chance = report.get("localization_chance")
    energy = report.get("localization_energy_accuracy")
    lines.append(
        "Localisation: pointing accuracy of the attention map (Σ_c A⊙V⊙V) upsampled to the frame, a hit "
        "when its maximum lies in a ground-truth box of an on-screen source. "
        + (f"Chance (random point) = {100 * chance:.1f}%. " if chance is not None else "")
        + (f"Raw acoustic-image energy (no learning) = {100 * energy:.1f}%." if energy is not None else "")
    )
    lines.append(
        f"Transfer α = {report['alpha']}. Total time of all stages: {report['seconds']:.0f} s wall, "
        f"{report.get('cpu_seconds', 0.0):.0f} s CPU (user + system, all processes)."
    )
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.md: the table, the notes and the stage times."""
    header, rows = comparison_rows(report)
    out = [f"# acoustic-ssl demo — preset '{report['preset']}'", "", report.get("description", ""), ""]
    out.append(markdown_table(header, rows))
    out.extend(f"- {line}" for line in notes(report))
    out += ["", "Per-run training curves, t-SNE, retrieval examples and overlays: `details/report.html`.", ""]
    out.append(markdown_table(*stage_table(report)))
    return "\n".join(out)


def stage_table(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the time per stage (wall and CPU seconds)."""
    cpu = report.get("stage_cpu_seconds", {})
    rows = [[n, f"{sec:.1f}", f"{cpu.get(n, 0.0):.1f}"] for n, sec in report["stage_seconds"].items()]
    return ["stage", "wall s", "CPU s"], rows


def bar_chart_png(report: Mapping[str, Any]) -> bytes:
    """PNG of audio kNN accuracy and R@1 per row with std error bars."""
    plt = pyplot()
    rows = list(TABLE_ROWS)
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for offset, key, label in (
        (-0.2, "audio_knn_accuracy", "audio kNN accuracy"),
        (0.2, "retrieval_recall_at_1", "retrieval R@1"),
    ):
        means = [report[key][r] if report[key][r] is not None else 0.0 for r in rows]
        stds = [report[f"{key}_std"][r] or 0.0 for r in rows]
        ax.bar(x + offset, means, width=0.4, yerr=stds, capsize=3, label=label)
    ax.set_xticks(x, [SHORT_TITLES[r] for r in rows], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"preset {report['preset']}", fontsize=9)
    fig.tight_layout()
    return figure_png(fig, dpi=100)


def render_html(report: Mapping[str, Any], overlays: Sequence[tuple[str, bytes]]) -> str:
    """report.html: self-contained (inline CSS, base64 images)."""
    body = [
        paragraph_html(report.get("description", "")),
        html_table(*comparison_rows(report)),
        *(paragraph_html(line) for line in notes(report)),
        image_html(bar_chart_png(report), "audio kNN accuracy and R@1 per model"),
        "<h2>Localisation examples</h2>",
        gallery_html(overlays),
        "<p>Per-run training curves, t-SNE, retrieval examples: <a href='details/report.html'>details/"
        "report.html</a>. Numbers: report.json. Commands: commands.sh.</p>",
        f"<h2>Time per stage</h2>{html_table(*stage_table(report))}",
    ]
    return html_page(f"acoustic-ssl demo — preset '{report['preset']}'", body)


def _overlays(eval_dirs: Mapping[str, Path], per_kind: int = 3) -> list[tuple[str, bytes]]:
    """A few overlay PNGs written by ``evaluate`` (attention of both models, acoustic energy)."""
    picks = [
        ("selfsup_video", "attention", "audio+video attention"),
        ("selfsup_acoustic", "attention", "acoustic+video attention"),
        ("selfsup_acoustic", "energy", "acoustic-image energy"),
    ]
    out = []
    for row, prefix, caption in picks:
        folder = eval_dirs[row] / "localization"
        for path in sorted(folder.glob(f"{prefix}_*.png"))[:per_kind]:
            out.append((f"{caption} — {path.stem}", path.read_bytes()))
    return out


def write_demo_report(config: DemoConfig, out_dir: Path) -> dict[str, Any]:
    """Collect every seed's metrics and write DIR/report.{json,md,html}."""
    start_cpu = cpu_seconds()
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in config.seed_list:
        per_seed[seed] = {}
        for row, _, _ in ROWS:
            path = eval_dir(config, out_dir, row, seed) / "metrics.json"
            try:
                per_seed[seed][row] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot read metrics ({exc})") from exc
    first = config.seed_list[0]
    chance = localization_chance(
        eval_dir(config, out_dir, "selfsup_acoustic", first) / "features_testing.npz", out_dir / "raw"
    )
    markers = [json.loads(p.read_text(encoding="utf-8")) for p in (out_dir / MARKER_DIR).glob("*.done")]
    markers = sorted((m for m in markers if m.get("stage") != "report"), key=lambda m: m.get("finished", ""))
    stage_seconds = {m["stage"]: float(m.get("seconds", 0.0)) for m in markers}
    stage_cpu = {m["stage"]: float(m.get("cpu_seconds", 0.0)) for m in markers}
    started = marker_path(out_dir, "report").with_suffix(".started")
    report_start = started.stat().st_mtime if started.exists() else time.time()
    stage_seconds["report"] = time.time() - report_start
    stage_cpu["report"] = cpu_seconds() - start_cpu
    report = build_report(config, per_seed, chance=chance, stage_seconds=stage_seconds, stage_cpu=stage_cpu)
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    overlays = _overlays({row: eval_dir(config, out_dir, row, first) for row, _, _ in ROWS})
    write_text_atomic(out_dir / "report.html", render_html(report, overlays))
    return report
