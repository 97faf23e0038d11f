"""Building blocks of the HTML and Markdown reports, shared by ``acoustic-ssl report`` and the demo's report.

One style sheet, self-contained pages (inline CSS, every image a base64 ``data:`` URI, no scripts, no
network), tables in both formats, matplotlib figures as PNG bytes and the number formats of the tables.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:4px}
figure{display:inline-block;margin:4px;vertical-align:top}figcaption{font-size:0.8em;color:#444}
.gallery img{max-width:360px}.note{color:#666;font-size:0.9em}
"""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (tight bounding box); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


def image_html(png: bytes, alt: str) -> str:
    """An ``<img>`` holding ``png`` as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def figure_html(png: bytes, caption: str) -> str:
    """An image with its caption."""
    return f"<figure>{image_html(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def gallery_html(figures: Sequence[tuple[str, bytes]]) -> str:
    """(caption, PNG) figures side by side."""
    return '<div class="gallery">' + "".join(figure_html(png, caption) for caption, png in figures) + "</div>"


def html_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A table (cells escaped), or a "no data" note when empty."""
    if not header or not body:
        return '<p class="note">no data</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table, or "_no data_" when empty."""
    if not header or not body:
        return "_no data_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def html_page(title: str, body: Sequence[str]) -> str:
    """A self-contained page: the style sheet, ``<h1>title</h1>`` and the body parts (already HTML)."""
    escaped = html.escape(title)
    head = f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escaped}</title>'
    top = f"{head}<style>{STYLE}</style></head><body><h1>{escaped}</h1>"
    return "\n".join([top, *body, "</body></html>"])


def paragraph_html(text: str, note: bool = False) -> str:
    """``<p>`` with escaped text (``note``: the small grey style)."""
    return f'<p{" class=note" if note else ""}>{html.escape(text)}</p>'


def format_score(value: float | None, name: str = "") -> str:
    """Three decimals for scores; k and n as integers, C in general format; missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name in ("k", "n"):
        return f"{value:.0f}"
    return f"{value:g}" if name == "C" else f"{value:.3f}"


def format_percent(mean: float | None, std: float | None = None) -> str:
    """A fraction as a percentage with one decimal ("mean ± std" with a spread); missing as "n/a"."""
    if mean is None:
        return "n/a"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"
