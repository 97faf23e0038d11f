"""HTML + Markdown report of one or more runs: curves, metric tables, t-SNE, retrieval examples, overlays.

Inputs per folder given on the command line (a run dir, or an evaluation folder directly):

* ``metrics.jsonl`` of a training run (``event`` = ``step`` / ``epoch`` records) → training curves;
* every ``metrics.json`` of ``acoustic-ssl evaluate`` found in the folder itself or in ``evaluation/*/`` →
  tables; next to it ``features_testing.npz`` (t-SNE, retrieval thumbnails), ``retrieval_examples.json`` and
  ``localization/*.png``.

``report.html`` is self-contained (inline CSS, every image a base64 ``data:`` URI, no scripts, no network);
``report.md`` holds the same tables and links the figures saved under ``images/``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.labels import class_names
from acoustic_ssl.data.layout import CLASS_NAMES
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.extract import load_features
from acoustic_ssl.evaluation.metrics_file import SECTIONS, Metrics, clean_json, read_metrics
from acoustic_ssl.evaluation.pages import (
    figure_png,
    format_score,
    gallery_html,
    html_page,
    html_table,
    markdown_table,
    paragraph_html,
    pyplot,
)
from acoustic_ssl.io_utils import write_bytes_atomic, write_json_atomic, write_text_atomic

TSNE_MAX_POINTS = 600
TSNE_ITERATIONS = 500
EXAMPLE_ROWS = 6


@dataclass
class Evaluation:
    """One ``metrics.json`` (as ``metrics_file.read_metrics`` reads it) and its folder."""

    name: str
    folder: Path
    metrics: Metrics


@dataclass
class RunData:
    """What the report knows about one folder given on the command line."""

    name: str
    folder: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from exc


def collect_run(folder: str | Path) -> RunData:
    """Training log and evaluations of a run dir (or of a single evaluation folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    run = RunData(name=folder.name, folder=folder)
    log = folder / "metrics.jsonl"
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of an interrupted run
            if rec.get("event") == "step":
                run.steps.append(rec)
            elif rec.get("event") == "epoch":
                run.epochs.append(rec)
    candidates = [folder / "metrics.json", *sorted((folder / "evaluation").glob("*/metrics.json"))]
    for path in candidates:
        if path.is_file():
            name = path.parent.name if path.parent != folder else "evaluation"
            run.evaluations.append(Evaluation(name, path.parent, read_metrics(path)))
    if not run.steps and not run.epochs and not run.evaluations:
        raise DataError(f"{folder}: no metrics.jsonl and no metrics.json (run `acoustic-ssl evaluate` first)")
    return run


# ------------------------------------------------------------------------------------------------- tables
def flatten_metrics(sections: Mapping[str, Any]) -> dict[str, float]:
    """Scalar metrics of a metrics.json's sections (``Metrics.sections``) as ``section/.../name`` → float
    (confusion matrices and texts left out)."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if k != "confusion":
                    walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif (isinstance(value, (int, float)) and not isinstance(value, bool)) or value is None:
            flat[prefix] = float("nan") if value is None else float(value)

    for section in SECTIONS:
        if section in sections:
            walk(section, sections[section])
    return flat


TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Headline", "summary", ("audio_knn_accuracy", "joint_knn_accuracy", "classifier_accuracy",
                             "retrieval_recall_at_1", "localization_accuracy")),
    ("kNN accuracy (k chosen on validation; joint = audio + video, the original's active kNN script)", "knn",
     ("accuracy", "k")),
    ("Linear probe accuracy", "linear_probe", ("accuracy", "C")),
    ("Classifier test accuracy (the supervised trainer's test mode)", "classifier", ("accuracy",)),
    ("Test-set triplet accuracy (the triplet trainers' test mode)", "triplet", ("accuracy", "loss")),
    ("Test-set contrastive accuracy (in-batch audio→video retrieval, the contrastive test mode)",
     "contrastive", ("accuracy", "loss")),
    ("Cross-modal retrieval", "retrieval",
     ("recall@1", "recall@2", "recall@5", "recall@10", "recall@30", "map")),
    ("Localisation", "localization", ("pointing_accuracy", "ciou_mean", "success@0.5", "auc", "n")),
)


def metric_table(rows: Sequence[tuple[str, dict[str, float]]], section: str, names: Sequence[str]) -> tuple[
        list[str], list[list[str]]]:
    """Header and rows of one table: one row per evaluation, columns ``<feature>/<name>`` present anywhere."""
    columns: list[str] = []
    for _, flat in rows:
        for key in flat:
            parts = key.split("/")
            if parts[0] != section or parts[-1] not in names:
                continue
            col = "/".join(parts[1:])
            if col not in columns:
                columns.append(col)
    order = {n: i for i, n in enumerate(names)}
    columns.sort(key=lambda c: ("/".join(c.split("/")[:-1]), order[c.split("/")[-1]]))
    body = []
    for label, flat in rows:
        values = [flat.get(f"{section}/{c}") for c in columns]
        if all(v is None for v in values):
            continue
        cells = (format_score(v, c.split("/")[-1]) for v, c in zip(values, columns, strict=True))
        body.append([label, *cells])
    return (["run / evaluation", *columns] if columns else []), body


def all_metrics_table(rows: Sequence[tuple[str, dict[str, float]]]) -> tuple[list[str], list[list[str]]]:
    """Every scalar metric (one row per metric, one column per evaluation), for the full comparison."""
    keys = sorted({k for _, flat in rows for k in flat})
    body = [[key, *(format_score(flat.get(key), key.split("/")[-1]) for _, flat in rows)] for key in keys]
    return (["metric", *(label for label, _ in rows)] if keys else []), body


# ------------------------------------------------------------------------------------------------ figures
def curves_figure(run: RunData) -> bytes | None:
    """Training values per logged step, then losses and other metrics (accuracy, ...) per epoch."""
    if not run.steps and not run.epochs:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))

    def draw(ax: Any, records: list[dict[str, Any]], x: str, keys: list[str], marker: str | None) -> None:
        for key in keys:
            pts = [(r[x], r[key]) for r in records if isinstance(r.get(key), (int, float)) and x in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=marker, label=key, linewidth=1)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)

    step_keys = sorted({k for r in run.steps for k in r if k.startswith("train/")})
    epoch_keys = sorted({k for r in run.epochs for k in r if k.startswith(("train/", "valid/"))})
    draw(axes[0], run.steps, "step", step_keys, None)
    draw(axes[1], run.epochs, "epoch", [k for k in epoch_keys if "loss" in k], "o")
    draw(axes[2], run.epochs, "epoch", [k for k in epoch_keys if "loss" not in k], "o")
    titles = ("per logged step", "losses per epoch", "other metrics per epoch")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
    fig.suptitle(run.name, y=1.04)
    return figure_png(fig)


def _load_test_features(folder: Path) -> dict[str, np.ndarray] | None:
    path = folder / "features_testing.npz"
    if not path.is_file():
        return None
    return load_features(path)[0]


def _class_names(folder: Path, labels: np.ndarray) -> list[str]:
    """Class names of a test features file: its records' ``labels.json`` (imported videos), else ACIVW's."""
    try:
        with np.load(folder / "features_testing.npz", allow_pickle=False) as data:
            records = json.loads(str(data["meta"])).get("list")
    except (OSError, KeyError, ValueError):
        records = None
    known = records if records and Path(records).exists() else None
    return class_names(known, int(labels.max(initial=0)) + 1)


def tsne_figure(
    arrays: Mapping[str, np.ndarray], title: str, seed: int = 0, names: Sequence[str] | None = None
) -> bytes | None:
    """t-SNE of the test embeddings (audio, video, acoustic or supervised features) coloured by class."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    names = CLASS_NAMES if names is None else names

    keys = [k for k in ("audio", "video", "acoustic", "features") if k in arrays]
    n = len(arrays.get("labels", []))
    if not keys or n < 5:
        return None
    pick = np.arange(n)
    if n > TSNE_MAX_POINTS:
        pick = np.sort(np.random.default_rng(seed).permutation(n)[:TSNE_MAX_POINTS])
    labels = arrays["labels"][pick]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], keys, strict=True):
        x = np.asarray(arrays[key][pick], dtype=np.float64)
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
        # one OpenMP thread: sklearn's threaded gradient spins badly on a shared, busy machine
        with threadpool_limits(limits=1):
            emb = TSNE(
                n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=TSNE_ITERATIONS
            ).fit_transform(x)
        for c in np.unique(labels):
            sel = labels == c
            name = names[c] if 0 <= c < len(names) else str(c)
            ax.scatter(emb[sel, 0], emb[sel, 1], s=8, color=cmap(int(c) % 10), label=name)
        ax.set_title(f"{key} embedding")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return figure_png(fig)


def retrieval_figure(arrays: Mapping[str, np.ndarray], examples: Sequence[Mapping[str, Any]], title: str) -> (
        bytes | None):
    """Query frame + top-5 retrieved frames; borders blue = same video, green = same class, red = other."""
    if "thumbnails" not in arrays or not examples:
        return None
    rows = list(examples)[:EXAMPLE_ROWS]
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 6, figsize=(12, 1.7 * len(rows) + 0.4), squeeze=False)
    thumbs, labels, vids = arrays["thumbnails"], arrays["labels"], arrays["video_ids"]
    for r, ex in enumerate(rows):
        q = int(ex["query"])
        for c, idx in enumerate([q, *[int(i) for i in ex["top"][:5]]]):
            ax = axes[r][c]
            ax.imshow(thumbs[idx])
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                color, text = "black", f"query (audio) · class {labels[q]}"
            else:
                same_video, same_class = vids[idx] == vids[q], labels[idx] == labels[q]
                color = "blue" if same_video else ("green" if same_class else "red")
                text = f"#{c} · class {labels[idx]}"
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(4)
            ax.set_title(text, fontsize=7)
    fig.suptitle(f"{title}: audio query → top-5 videos (blue same video, green same class, red other)",
                 fontsize=9)
    return figure_png(fig)


def confusion_figure(matrix: Sequence[Sequence[float]], title: str) -> bytes:
    plt = pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xlabel("retrieved class")
    ax.set_ylabel("query class")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return figure_png(fig)


# ------------------------------------------------------------------------------------------------- output
@dataclass
class Figure:
    slug: str
    caption: str
    png: bytes


def build_report(
    runs: Sequence[RunData], title: str = "acoustic-ssl report", tsne: bool = True
) -> dict[str, Any]:
    """Tables and figures of the report, grouped by section (used by the writers below and tests)."""
    rows = [
        (f"{r.name} / {ev.name}", flatten_metrics(ev.metrics.sections)) for r in runs for ev in r.evaluations
    ]
    tables = [(caption, *metric_table(rows, section, names)) for caption, section, names in TABLES]
    tables.append(("All metrics", *all_metrics_table(rows)))
    sections: dict[str, list[Figure]] = {
        name: [] for name in ("Training curves", "t-SNE of test embeddings", "Retrieval examples",
                              "Retrieval confusion (top-10)", "Localisation overlays")
    }

    def add(section: str, slug: str, caption: str, png: bytes | None) -> None:
        if png:
            sections[section].append(Figure(slug, caption, png))

    for run in runs:
        add("Training curves", f"curves_{run.name}", f"training curves · {run.name}", curves_figure(run))
        for ev in run.evaluations:
            label = f"{run.name} / {ev.name}"
            slug = f"{run.name}_{ev.name}".replace("/", "_").replace(" ", "_")
            arrays = _load_test_features(ev.folder)
            if arrays is not None and tsne:
                png = tsne_figure(arrays, label, names=_class_names(ev.folder, arrays["labels"]))
                add("t-SNE of test embeddings", f"tsne_{slug}", f"t-SNE · {label}", png)
            examples_path = ev.folder / "retrieval_examples.json"
            if arrays is not None and examples_path.is_file():
                png = retrieval_figure(arrays, _read_json(examples_path), label)
                add("Retrieval examples", f"retrieval_{slug}", f"retrieval · {label}", png)
            conf = ev.metrics.confusion(10)
            if conf:
                caption = f"audio→video confusion@10 · {label}"
                png = confusion_figure(conf, label)
                add("Retrieval confusion (top-10)", f"confusion_{slug}", caption, png)
            for png_path in sorted((ev.folder / "localization").glob("*.png"))[:16]:
                add("Localisation overlays", f"loc_{slug}_{png_path.stem}", f"{label} · {png_path.stem}",
                    png_path.read_bytes())
    return {"title": title, "tables": tables, "sections": sections, "rows": rows}


def render_html(report: Mapping[str, Any]) -> str:
    parts = [paragraph_html(
        "Metrics from acoustic-ssl evaluate; kNN follows the original protocol (k chosen on validation), "
        "retrieval ranks the whole test set, localisation uses simulated ground truth.", note=True)]
    for caption, header, body in report["tables"]:
        parts.append(f"<h2>{html.escape(caption)}</h2>{html_table(header, body)}")
    for name, figures in report["sections"].items():
        if figures:
            parts.append(f"<h2>{html.escape(name)}</h2>")
            parts.append(gallery_html([(f.caption, f.png) for f in figures]))
    return html_page(report["title"], parts)


def render_markdown(report: Mapping[str, Any], image_dir: str = "images") -> str:
    parts = [f"# {report['title']}\n"]
    for caption, header, body in report["tables"]:
        parts.append(f"## {caption}\n\n{markdown_table(header, body)}")
    for name, figures in report["sections"].items():
        if figures:
            parts.append(f"## {name}\n")
            parts.extend(f"![{f.caption}]({image_dir}/{f.slug}.png)\n" for f in figures)
    return "\n".join(parts)


def write_report(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    title: str = "acoustic-ssl report",
    tsne: bool = True,
) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` (+ ``images/``) and ``report_metrics.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    runs = [collect_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for i, run in enumerate(runs):  # distinct names for folders with the same basename
        if names.count(run.name) > 1:
            run.name = f"{run.name}-{i + 1}"
    report = build_report(runs, title, tsne)
    for figures in report["sections"].values():
        for fig in figures:
            write_bytes_atomic(out_dir / "images" / f"{fig.slug}.png", fig.png)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    write_text_atomic(html_path, render_html(report))
    write_text_atomic(md_path, render_markdown(report))
    write_json_atomic(out_dir / "report_metrics.json", clean_json(dict(report["rows"])))
    return html_path, md_path
