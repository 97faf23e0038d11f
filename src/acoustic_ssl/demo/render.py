"""The demo's report files: every row's metrics.json gathered into report.json
(:mod:`acoustic_ssl.demo.summary`), and report.md and report.html rendered from it: the comparison table
with 95% intervals, the paired comparisons with their verdicts, the baselines, a chart, localisation
overlays and the stage times."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.labels import read_labels
from acoustic_ssl.demo.config import DemoConfig
from acoustic_ssl.demo.layout import eval_dir, rows_of
from acoustic_ssl.demo.stages import STARTED_CPU_KEY, cpu_seconds, marker_path, read_marker
from acoustic_ssl.demo.summary import LOCALIZATION_ROWS, TABLE_ROWS, build_report, stage_timings
from acoustic_ssl.evaluation.metrics_file import METRICS_FILE, read_metrics
from acoustic_ssl.evaluation.pages import (
    figure_png,
    gallery_html,
    html_page,
    html_table,
    image_html,
    markdown_table,
    paragraph_html,
    pyplot,
)
from acoustic_ssl.evaluation.protocol import REPORTED_RANKS
from acoustic_ssl.io_utils import write_json_atomic, write_text_atomic

ROW_TITLES = {
    "random": "random init (HearNet)",
    "logmel": "log-mel mean + std (no learning)",
    "supervised": "supervised (HearNet classifier)",
    "selfsup_video": "self-supervised triplet, video",
    "selfsup_acoustic": "self-supervised triplet, acoustic images (DualCamNet)",
    "transfer": "triplet, acoustic-image transfer",
    "contrastive": "contrastive (EZ-VSL InfoNCE), video",
    "contrastive_transfer": "contrastive, acoustic-image transfer",
}
SHORT_TITLES = {
    "random": "random init",
    "logmel": "log-mel",
    "supervised": "supervised",
    "selfsup_video": "triplet",
    "transfer": "triplet transfer",
    "contrastive": "contrastive",
    "contrastive_transfer": "contr. transfer",
}
LOCALIZATION_TITLES = {
    "audio_video": "triplet audio+video",
    "acoustic_video": "triplet acoustic+video",
    "contrastive": "contrastive audio+video",
    "contrastive_transfer": "contrastive transfer",
}
COMPARISON_TITLES = {
    "selfsup_vs_random": "audio kNN: triplet (video) − random init",
    "transfer_vs_video": "audio kNN: triplet acoustic transfer − triplet (video)",
    "transfer_vs_random": "audio kNN: triplet acoustic transfer − random init",
    "contrastive_vs_random": "audio kNN: contrastive − its random init",
    "contrastive_vs_selfsup_video": "audio kNN: contrastive − triplet (video)",
    "contrastive_transfer_vs_contrastive": "audio kNN: contrastive acoustic transfer − contrastive",
    "contrastive_vs_logmel": "audio kNN: contrastive − log-mel statistics (no learning)",
    "supervised_vs_logmel": "audio kNN: supervised − log-mel statistics (no learning)",
    "localization_audio_video_vs_random_init": "localisation: triplet audio+video − its random init",
    "localization_acoustic_video_vs_random_init": "localisation: triplet acoustic+video − its random init",
    "localization_contrastive_vs_random_init": "localisation: contrastive − its random init",
    "localization_contrastive_transfer_vs_contrastive": "localisation: contrastive transfer − contrastive",
    "localization_acoustic_video_vs_energy": "localisation: triplet acoustic+video − raw acoustic energy",
    "localization_audio_video_vs_mismatched_audio": "localisation: triplet audio+video, own − other audio",
    "localization_acoustic_video_vs_mismatched_audio": "localisation: triplet acoustic+video, own − other",
    "localization_contrastive_vs_mismatched_audio": "localisation: contrastive, own audio − another class's",
    "localization_audio_video_vs_any_object": "localisation: triplet audio+video − any-object baseline",
    "localization_acoustic_video_vs_any_object": "localisation: triplet acoustic+video − any-object baseline",
    "localization_contrastive_vs_any_object": "localisation: contrastive − any-object baseline",
    "localization_contrastive_vs_largest_object": "localisation: contrastive − largest-object baseline",
}


def format_interval(value: float | None, ci: Sequence[float] | None) -> str:
    """A fraction as a percentage with its 95% interval, e.g. "58.3 [52.1, 64.0]"; missing as "n/a"."""
    if value is None:
        return "n/a"
    if ci is None or any(v is None for v in ci):
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _cell(report: Mapping[str, Any], key: str, column: str | None = None) -> str:
    value, ci = report.get(key), report.get(f"{key}_ci95")
    if column is not None:
        value = (value or {}).get(column)
        ci = (ci or {}).get(column)
    return format_interval(value, ci)


def comparison_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table (percentages with 95% intervals), the rows the preset evaluated."""
    header = ["model", "audio kNN acc.", *(f"R@{k}" for k in REPORTED_RANKS), "localisation acc."]
    loc_of = {v: k for k, v in LOCALIZATION_ROWS.items()}
    rows = []
    for row in (*TABLE_ROWS[:4], "selfsup_acoustic", *TABLE_ROWS[4:]):
        if row == "selfsup_acoustic":
            knn = _cell(report, "acoustic_knn_accuracy") + " (acoustic)"
            recalls = ["–"] * len(REPORTED_RANKS)
        else:
            knn = _cell(report, "audio_knn_accuracy", row)
            recalls = [_cell(report, f"retrieval_recall_at_{k}", row) for k in REPORTED_RANKS]
        if row in loc_of:
            loc = _cell(report, "localization_accuracy", loc_of[row])
        elif row == "random":
            loc = _cell(report, "localization_random_init_accuracy")
        else:
            loc = "–"
        if knn.startswith("n/a") and loc in ("–", "n/a"):
            continue  # a row the preset did not evaluate
        rows.append([ROW_TITLES[row], knn, *recalls, loc])
    return header, rows


def baseline_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Localisation scores that need no learning or no audio, beside which the learned maps are read."""
    rows = [
        ["chance (a random point)", _cell(report, "localization_chance")],
        ["any visible object (saliency, sound ignored)", _cell(report, "localization_any_object_accuracy")],
        ["largest visible object (a size prior)", _cell(report, "localization_largest_object_accuracy")],
        ["raw acoustic-image energy", _cell(report, "localization_energy_accuracy")],
        ["triplet audio+video attention, random init", _cell(report, "localization_random_init_accuracy")],
        ["triplet acoustic+video attention, random init",
         _cell(report, "localization_random_init_acoustic_accuracy")],
        ["contrastive cosine map, random init",
         _cell(report, "localization_random_init_contrastive_accuracy")],
    ]
    for column, title in LOCALIZATION_TITLES.items():
        mismatched = _cell(report, "localization_mismatched_accuracy", column)
        rows.append([f"{title}, audio of another class", mismatched])
    return ["localisation baseline", "pointing acc."], [r for r in rows if r[1] != "n/a"]


def difference_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The paired comparisons: difference in points, its 95% interval and the verdict."""
    rows = []
    for name, title in COMPARISON_TITLES.items():
        found = (report.get("comparisons") or {}).get(name)
        if found is None:
            continue
        low, high = found["ci95"]
        rows.append([title, f"{100 * found['difference']:+.1f}", f"[{100 * low:+.1f}, {100 * high:+.1f}]",
                     found["verdict"]])
    return ["comparison (paired, same test clips)", "difference", "95% interval", "verdict"], rows


def notes(report: Mapping[str, Any], timings: Mapping[str, Any]) -> list[str]:
    """Plain-language lines under the tables."""
    n = len(report["seeds"])
    seeds = ", ".join(map(str, report["seeds"]))
    clips = report.get("test_samples")
    videos = report.get("test_videos")
    lines = [
        f"Percentages: mean over {n} seed{'s' if n > 1 else ''} ({seeds}) with its 95% interval [low, high]: "
        "a bootstrap over the test videos, drawn within each class"
        + (", and over the seeds" if n > 1 else "")
        + (f"; {clips} test clips from {videos} videos." if clips else "."),
        "Comparisons are paired (the same draws for both sides): 'gain' / 'loss' when the interval "
        "excludes 0, else 'no detectable difference'.",
        "Audio kNN: k chosen on validation, accuracy on the test videos. R@k: an audio query ranks every "
        "test video by its model's own audio-video score (the triplet's attention distance, the contrastive "
        "max-over-cells cosine); a hit when a top-k video has its class. The supervised HearNet and the "
        "log-mel statistics have no video side, hence no retrieval. A learned embedding that does not beat "
        "the log-mel statistics has learned nothing a fixed front end does not give.",
        "Localisation: pointing accuracy of each model's map (triplet: Σ_c A⊙V⊙V; contrastive: the cosine "
        "map) upsampled to the frame, a hit when its maximum lies in the box of a sounding object; silent "
        "distractors on screen make the any-object and largest-object baselines fall toward "
        "1 / (objects on screen).",
        f"Transfer α = {report['alpha']}. Time of all stages: {timings.get('seconds', 0.0):.0f} s wall, "
        f"{timings.get('cpu_seconds', 0.0):.0f} s CPU (user + system, all processes); machine: "
        f"{(report.get('machine') or {}).get('cpu_model', 'unknown')}.",
    ]
    return lines


def stage_table(timings: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the time per stage (wall and CPU seconds)."""
    cpu = timings.get("stage_cpu_seconds", {})
    wall = timings.get("stage_seconds", {})
    rows = [[name, f"{sec:.1f}", f"{cpu.get(name, 0.0):.1f}"] for name, sec in wall.items()]
    return ["stage", "wall s", "CPU s"], rows


def render_markdown(report: Mapping[str, Any], timings: Mapping[str, Any]) -> str:
    """report.md: the tables, the notes and the stage times."""
    out = [f"# acoustic-ssl demo — preset '{report['preset']}'", "", report.get("description", ""), ""]
    out += [markdown_table(*comparison_rows(report)), markdown_table(*difference_rows(report))]
    out.append(markdown_table(*baseline_rows(report)))
    out.extend(f"- {line}" for line in notes(report, timings))
    out += ["", "Per-run training curves, t-SNE, retrieval examples and overlays: `details/report.html`.", ""]
    out.append(markdown_table(*stage_table(timings)))
    return "\n".join(out)


def bar_chart_png(report: Mapping[str, Any]) -> bytes:
    """PNG of audio kNN accuracy and R@1 per row with their 95% intervals as error bars."""
    plt = pyplot()
    rows = list(TABLE_ROWS)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    rows = [r for r in rows if report["audio_knn_accuracy"].get(r) is not None]
    x = np.arange(len(rows))
    for offset, key, label in (
        (-0.2, "audio_knn_accuracy", "audio kNN accuracy"),
        (0.2, "retrieval_recall_at_1", "retrieval R@1"),
    ):
        means = np.array([report[key].get(r) if report[key].get(r) is not None else np.nan for r in rows])
        cis = report.get(f"{key}_ci95") or {}
        bounds = np.array([cis.get(r) or [m, m] for r, m in zip(rows, means, strict=True)], dtype=float)
        errors = np.nan_to_num(np.abs(bounds.T - means))
        ax.bar(x + offset, np.nan_to_num(means), width=0.4, yerr=errors, capsize=3, label=label)
    ax.set_xticks(x, [SHORT_TITLES[r] for r in rows], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(f"preset {report['preset']} (bars: 95% intervals)", fontsize=9)
    fig.tight_layout()
    return figure_png(fig, dpi=100)


def render_html(
    report: Mapping[str, Any], timings: Mapping[str, Any], pictures: Sequence[tuple[str, bytes]]
) -> str:
    """report.html: self-contained (inline CSS, base64 images)."""
    body = [
        paragraph_html(report.get("description", "")),
        html_table(*comparison_rows(report)),
        "<h2>Paired comparisons</h2>",
        html_table(*difference_rows(report)),
        "<h2>Localisation baselines</h2>",
        html_table(*baseline_rows(report)),
        *(paragraph_html(line) for line in notes(report, timings)),
        image_html(bar_chart_png(report), "audio kNN accuracy and R@1 per model"),
        "<h2>Localisation examples</h2>",
        gallery_html(pictures),
        "<p>Per-run training curves, t-SNE, retrieval examples: <a href='details/report.html'>details/"
        "report.html</a>. Numbers: report.json (timings: timings.json). Commands: commands.sh.</p>",
        f"<h2>Time per stage</h2>{html_table(*stage_table(timings))}",
    ]
    return html_page(f"acoustic-ssl demo — preset '{report['preset']}'", body)


def overlays(eval_dirs: Mapping[str, Path], per_kind: int = 3) -> list[tuple[str, bytes]]:
    """A few overlay PNGs written by ``evaluate`` (each model's map, the acoustic energy)."""
    picks = [
        ("selfsup_video", "attention", "triplet audio+video attention"),
        ("selfsup_acoustic", "attention", "triplet acoustic+video attention"),
        ("contrastive", "attention", "contrastive cosine map"),
        ("contrastive_transfer", "attention", "contrastive transfer cosine map"),
        ("selfsup_acoustic", "energy", "acoustic-image energy"),
    ]
    out = []
    for row, prefix, caption in picks:
        if row not in eval_dirs:
            continue
        for path in sorted((eval_dirs[row] / "localization").glob(f"{prefix}_*.png"))[:per_kind]:
            out.append((f"{caption} — {path.stem}", path.read_bytes()))
    return out


def write_demo_report(config: DemoConfig, out_dir: Path) -> dict[str, Any]:
    """Collect every seed's metrics and write DIR/report.{json,md,html} and DIR/timings.json."""
    begun = read_marker(out_dir, "report", ".started") or {}
    start_cpu = float(begun.get(STARTED_CPU_KEY, cpu_seconds()))  # the stage's start: its command included
    per_seed = {
        seed: {row.name: read_metrics(eval_dir(out_dir, row, seed) / METRICS_FILE) for row in rows_of(config)}
        for seed in config.seed_list
    }
    report = build_report(config, per_seed, read_labels(out_dir / "records"))
    started = marker_path(out_dir, "report").with_suffix(".started")
    timings = stage_timings(out_dir, started.stat().st_mtime if started.exists() else time.time(), start_cpu)
    write_json_atomic(out_dir / "report.json", report)
    write_json_atomic(out_dir / "timings.json", timings)
    write_text_atomic(out_dir / "report.md", render_markdown(report, timings))
    first = config.seed_list[0]
    pictures = overlays({row.name: eval_dir(out_dir, row, first) for row in rows_of(config)})
    write_text_atomic(out_dir / "report.html", render_html(report, timings, pictures))
    return report
