"""A report's files: a PDF (a cover page, then one page per section with its chart drawn by
matplotlib and a table of its numbers) and an XLSX with one sheet per table of numbers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import anywhere in the process

from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from analytics_engine.exports.integrations import Section
from analytics_engine.exports.writers import XlsxSink

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PAGE = (11.69, 8.27)  # A4 landscape, inches
TABLE_ROWS = 18
TABLE_COLUMNS = 8
MAX_LINES = 10
# Text stays text in the PDF (TrueType, not Type 3 glyphs): searchable and copyable.
_RC: dict[RcKeyType, Any] = {"pdf.fonttype": 42, "font.size": 9, "axes.titlesize": 12}
_lock = threading.Lock()  # matplotlib's font cache and rc state are process-wide


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4f}".rstrip("0").rstrip(".")
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def headline(section: Section) -> str:
    """One number for the cover: the first series' total, the funnel's overall conversion..."""
    if section.error:
        return f"failed: {section.error[:80]}"
    return section.result.headline(format_value) if section.result is not None else ""


def _draw_chart(ax: Any, section: Section) -> bool:
    """Draw the result's chart spec (insights/results.py: each kind says what its chart is)."""
    if section.result is None:
        return False
    chart = section.result.to_chart(MAX_LINES)
    if chart.type == "funnel":
        labels = chart.x[::-1]
        counts = (chart.series[0][1] if chart.series else [])[::-1]
        bars = ax.barh(labels, counts, color="#4C78A8")
        ax.bar_label(bars, labels=[format_value(c) for c in counts], padding=3)
        ax.set_xlabel(chart.y_label)
        return True
    if chart.type == "heatmap":
        width = max((len(values) for _, values in chart.series), default=0)
        # a null cell is a period the cohort has not reached yet: drawn empty (NaN), never as 0%
        grid = [
            [float("nan") if v is None else v for v in values] + [float("nan")] * (width - len(values))
            for _, values in chart.series
        ]
        top = max((v for row in grid for v in row if v == v), default=0)
        image = ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=100 if top > 1 else 1)
        ax.set_yticks(range(len(chart.series)), [label for label, _ in chart.series])
        ax.set_xlabel(chart.y_label)
        ax.figure.colorbar(image, ax=ax, fraction=0.03)
        return True
    if chart.type == "bar":
        ax.bar(chart.x, [v or 0 for v in chart.series[0][1]])
    elif chart.type == "line":
        for label, values in chart.series:
            ax.plot(chart.x, values, marker="o", markersize=2.5, label=label)
        step = max(1, len(chart.x) // 12)
        ax.set_xticks(range(0, len(chart.x), step), chart.x[::step], rotation=30, ha="right")
        ax.legend(loc="upper left", fontsize=8)
    else:
        return False
    ax.grid(alpha=0.3)
    return True


def _draw_table(ax: Any, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
    ax.axis("off")
    shown_columns = list(columns[:TABLE_COLUMNS])
    cells = [[format_value(v) for v in row[:TABLE_COLUMNS]] for row in rows[:TABLE_ROWS]]
    if not cells:
        ax.text(0, 0.5, "no rows", fontsize=10)
        return
    table = ax.table(cellText=cells, colLabels=[format_value(c) for c in shown_columns], loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.15)
    if len(rows) > TABLE_ROWS or len(columns) > TABLE_COLUMNS:
        ax.text(
            0,
            -0.02,
            f"Showing {min(len(rows), TABLE_ROWS)} of {len(rows)} rows and {len(shown_columns)} of {len(columns)} "
            "columns; every number is in the XLSX file.",
            fontsize=7,
            transform=ax.transAxes,
            va="top",
        )


def render_pdf(path: Path, title: str, subtitle: str, sections: list[Section], *, generated: datetime) -> int:
    """Writes the PDF; returns its page count."""
    pages = 0
    with _lock, rc_context(_RC), PdfPages(str(path), metadata={"Title": title, "Creator": "Analytics Engine"}) as pdf:
        cover = Figure(figsize=PAGE)
        cover.text(0.06, 0.88, title, fontsize=24, weight="bold")
        cover.text(0.06, 0.83, subtitle, fontsize=11, color="#555555")
        cover.text(0.06, 0.79, f"Generated {generated:%Y-%m-%d %H:%M %Z}", fontsize=9, color="#777777")
        y = 0.70
        for number, section in enumerate(sections, start=1):
            cover.text(0.08, y, f"{number}. {section.title}", fontsize=12)
            cover.text(0.55, y, headline(section), fontsize=12, color="#1f4e79")
            y -= 0.045
            if y < 0.06:
                break
        pdf.savefig(cover)
        pages += 1
        for section in sections:
            figure = Figure(figsize=PAGE)
            figure.suptitle(section.title, x=0.06, ha="left", fontsize=15, weight="bold")
            if section.error:
                figure.text(
                    0.06, 0.8, f"This section could not be computed: {section.error}", fontsize=11, color="#a00"
                )
            else:
                grid = figure.add_gridspec(2, 1, height_ratios=[3, 2], left=0.08, right=0.96, top=0.9, bottom=0.04)
                chart = figure.add_subplot(grid[0])
                if not _draw_chart(chart, section):
                    chart.axis("off")
                    chart.text(0.5, 0.5, "no chart for this result", ha="center")
                table = section.tables[0] if section.tables else None
                _draw_table(figure.add_subplot(grid[1]), table.rows if table else [], table.columns if table else [])
            pdf.savefig(figure)
            pages += 1
    return pages


def render_xlsx(path: Path, sections: list[Section], tmpdir: Path | None = None) -> int:
    """One sheet per table of numbers; returns the rows written."""
    tables = [table for section in sections for table in section.tables]
    if not tables:
        sink = XlsxSink(path, ["section", "error"], title="Report", tmpdir=tmpdir)
        sink.write_rows([[s.title, s.error or "no data"] for s in sections])
        sink.close()
        return sink.rows
    sink = XlsxSink(path, tables[0].columns, title=tables[0].title, tmpdir=tmpdir)
    for number, table in enumerate(tables):
        if number:
            sink.start_table(table.title, table.columns)
        sink.write_rows(table.rows)
    sink.close()
    return sink.rows
