"""A report's files: a PDF an executive can read without the analyst in the room, and an XLSX with
one typed sheet per table of numbers.

The PDF: a cover (tenant, the real date range, one headline per section with its change against the
previous period), then each section on its own page in the chart its dashboard widget asked for (big
number, stacked bars, funnel, retention heatmap, line) with counts from zero and partial periods
dashed or hatched, and its table below, continued on further pages rather than cut or overprinted.
Every page shares one header, footer and palette. Tables are laid out here row by row (not with
matplotlib's `table`), so each row has its own place and nothing is drawn over another."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from cycler import cycler

matplotlib.use("Agg")  # no display; must precede any pyplot import anywhere in the process

from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analytics_engine.exports.integrations import Section
from analytics_engine.exports.writers import XlsxSink
from analytics_engine.insights.results import Table
from analytics_engine.reports.figures import (
    Headline,
    column_kinds,
    format_number,
    format_value,
    headline,
    headline_of,
    partial_buckets,
)

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["headline", "render_pdf", "render_xlsx"]

PAGE = (11.69, 8.27)  # A4 landscape, inches
LEFT, RIGHT = 0.06, 0.94
TABLE_COLUMNS = 8
PDF_MAX_ROWS = 500  # past this the PDF says so; every row is in the XLSX
ROW_HEIGHT = 0.026  # of the page height (8 pt text with air)
CHAR_WIDTH = 0.0058  # of the page width per character at 8 pt, generous
MAX_LINES = 10
INK, MUTED, RULE, ACCENT = "#1b1f24", "#5f6b7a", "#c9d1d9", "#1f4e79"
UP, DOWN = "#1a7f37", "#b42318"
PALETTE = ["#1f4e79", "#e07b39", "#3a9d8f", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"]
# Text stays text in the PDF (TrueType, not Type 3 glyphs): searchable and copyable.
_RC: dict[RcKeyType, Any] = {
    "pdf.fonttype": 42,
    "font.size": 9,
    "font.family": "DejaVu Sans",
    "axes.titlesize": 11,
    "axes.edgecolor": RULE,
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.prop_cycle": cycler(color=PALETTE),
}
_lock = threading.Lock()  # matplotlib's font cache and rc state are process-wide


@dataclass
class Context:
    """What every page repeats: the report's title, tenant and range."""

    title: str
    tenant: str
    period: str
    comparison: str
    generated: datetime


# --- page furniture -------------------------------------------------------------------------------------
def _page(context: Context, number: int, total: int) -> Figure:
    figure = Figure(figsize=PAGE)
    figure.text(LEFT, 0.955, context.title, fontsize=9, weight="bold", color=INK, va="center")
    figure.text(RIGHT, 0.955, f"{context.tenant} · {context.period}", fontsize=9, color=MUTED, ha="right", va="center")
    figure.add_artist(matplotlib.lines.Line2D([LEFT, RIGHT], [0.935, 0.935], color=RULE, linewidth=0.8))
    figure.text(LEFT, 0.03, f"Generated {context.generated:%Y-%m-%d %H:%M %Z}", fontsize=7, color=MUTED)
    figure.text(RIGHT, 0.03, f"page {number} of {total}", fontsize=7, color=MUTED, ha="right")
    return figure


def _cover(figure: Figure, context: Context, sections: Sequence[Section], first: int, continued: bool) -> None:
    top = 0.86
    if not continued:
        figure.text(LEFT, 0.85, context.title, fontsize=24, weight="bold", color=INK, va="top")
        figure.text(LEFT, 0.77, context.tenant, fontsize=14, color=INK, va="top")
        figure.text(LEFT, 0.725, context.period, fontsize=12, color=MUTED, va="top")
        figure.text(LEFT, 0.685, context.comparison, fontsize=8, color=MUTED, va="top")
        top = 0.6
    else:
        figure.text(LEFT, 0.89, "Headlines (continued)", fontsize=12, weight="bold", color=INK, va="top")
    y = top
    for number, section in enumerate(sections, start=first):
        figure.text(LEFT, y, f"{number}. {section.title}", fontsize=11, color=INK, va="top")
        if section.error:
            figure.text(0.42, y, f"could not be computed: {section.error[:70]}", fontsize=9, color=DOWN, va="top")
        else:
            figure_ = headline_of(section)
            figure.text(0.42, y, figure_.text, fontsize=13, weight="bold", color=ACCENT, va="top")
            if figure_.change:
                figure.text(0.62, y, figure_.change, fontsize=9, color=_trend_colour(figure_), va="top")
            if figure_.label:
                figure.text(0.42, y - 0.03, figure_.label[:110], fontsize=7.5, color=MUTED, va="top")
        y -= COVER_ROW


COVER_ROW = 0.07
COVER_ROWS_FIRST, COVER_ROWS_MORE = 8, 11


def _trend_colour(figure: Headline) -> str:
    return MUTED if figure.rising is None else UP if figure.rising else DOWN


# --- charts ---------------------------------------------------------------------------------------------
def _axis_numbers(ax: Any, kind: str) -> None:
    if kind == "ratio":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:.0f}%"))
    elif kind == "percent":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))


def _labels(section: Section, labels: Sequence[str]) -> list[str]:
    """Bucket labels as short dates (`30 Nov`, `30 Nov 14:00`); other labels as they are."""
    table = section.tables[0] if section.tables else None
    kind = column_kinds(table)[0] if table and table.columns else "text"
    if kind == "date":
        return [" ".join(format_value(label, "date").split()[:2]) for label in labels]
    return [format_value(label, kind) if kind == "timestamp" else label for label in labels]


def _draw_big_number(ax: Any, section: Section) -> None:
    ax.axis("off")
    figure = headline_of(section)
    ax.text(0.5, 0.62, figure.text, fontsize=44, weight="bold", color=ACCENT, ha="center", va="center")
    ax.text(0.5, 0.38, figure.label, fontsize=11, color=MUTED, ha="center", va="center")
    if figure.change:
        ax.text(0.5, 0.22, figure.change, fontsize=11, color=_trend_colour(figure), ha="center", va="center")


def _draw_series(ax: Any, section: Section, stacked: bool) -> None:
    assert section.result is not None
    chart = section.result.to_chart(MAX_LINES)
    labels = chart.x
    partial = partial_buckets(section.result, labels)
    shown = _labels(section, labels)
    positions = list(range(len(labels)))
    values_all = [v for _, values in chart.series for v in values if v is not None]
    if stacked:  # the axis must hold the stacks' tops
        values_all += [sum(values[i] or 0 for _, values in chart.series) for i in range(len(labels))]
    if chart.type == "bar" or stacked:
        bottoms = [0.0] * len(labels)
        for number, (label, values) in enumerate(chart.series):
            heights = [v or 0 for v in values]
            bars = ax.bar(positions, heights, bottom=bottoms if stacked else None, label=label or None, width=0.7)
            for bar, is_partial in zip(bars, partial, strict=False):
                if is_partial:
                    bar.set_hatch("///")
                    bar.set_alpha(0.45)
            if stacked:
                bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
            elif number == 0:
                break
    else:
        for label, values in chart.series:
            line = ax.plot(positions, values, linestyle="--", linewidth=1.2, alpha=0.8)[0]
            solid = [v if not p else float("nan") for v, p in zip(values, partial, strict=True)]
            ax.plot(positions, solid, color=line.get_color(), linewidth=2, marker="o", markersize=3, label=label)
            hollow = [(x, v) for x, v, p in zip(positions, values, partial, strict=True) if p and v is not None]
            if hollow:
                ax.scatter(*zip(*hollow, strict=True), s=18, facecolors="white", edgecolors=line.get_color(), zorder=3)
    step = max(1, len(labels) // 12)
    rotate = len(labels) > 8
    ax.set_xticks(positions[::step], shown[::step], rotation=30 if rotate else 0, ha="right" if rotate else "center")
    if values_all and min(values_all) >= 0:
        ax.set_ylim(bottom=0, top=max(values_all) * 1.12 or 1)
    table = section.tables[0] if section.tables else None
    kinds = column_kinds(table) if table else []
    _axis_numbers(ax, "ratio" if "ratio" in kinds[1:] else "number")
    if section.unit:
        ax.set_ylabel(section.unit)
    handles, names = ax.get_legend_handles_labels()
    rows = _draw_annotations(ax, section, len(labels))
    if rows is not None:
        if rows and values_all and min(values_all) >= 0:  # headroom: the notes' text above the data
            ax.set_ylim(bottom=0, top=(max(values_all) or 1) / (0.95 - NOTE_ROW_HEIGHT * rows))
        handles.append(Patch(facecolor=NOTE, alpha=0.25, edgecolor=NOTE, linestyle="--"))
        names.append("annotation")
    if any(partial):
        handles.append(Patch(facecolor="white", edgecolor=MUTED, hatch="///", linestyle="--"))
        names.append("partial period (dashed/hatched: not complete)")
    if len(names) > 1 or any(partial):
        _legend(ax, handles, names)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


NOTE = "#8172b3"  # annotations: a dashed line at a moment, a band over a range, and their text
NOTE_ROWS = 4  # label rows at the top of the chart; a label finding no free row shows its number only
NOTE_CHARS = 34
NOTE_INCH_PER_CHAR = 0.06  # 7 pt text, generous
NOTE_ROW_HEIGHT = 0.075  # of the chart's height


def _draw_annotations(ax: Any, section: Section, buckets: int) -> int | None:
    """The annotations a time chart's answer carries (tenant-wide, and a dashboard's own when the
    report renders a dashboard), drawn where their buckets are: a dashed line for a moment, a band
    over a range, with the note's text at the top of the chart (numbered; rows so that no text
    overlaps another). A note outside the chart's buckets is not drawn. Answers the rows of text
    used (None: nothing drawn)."""
    marks = getattr(section.result, "annotations", None) or []
    result = section.result
    if not marks or result is None or not result.series or buckets < 2:
        return None
    where = {p.bucket: i for i, p in enumerate(result.series[0].points) if p.bucket is not None}
    width_inches = CHART_BOX[2] * PAGE[0]
    per_char = NOTE_INCH_PER_CHAR * buckets / width_inches  # data units per character
    rows_end: list[float] = [-1e9] * NOTE_ROWS
    drawn, used = False, 0
    for number, mark in enumerate(marks, start=1):
        first = where.get(mark.bucket)
        last = where.get(mark.bucket_to) if mark.bucket_to is not None else None
        if first is None:
            continue
        if last is not None and last > first:
            ax.axvspan(first - 0.4, last + 0.4, color=NOTE, alpha=0.14, linewidth=0, zorder=0)
        else:
            ax.axvline(first, color=NOTE, linestyle="--", linewidth=1, zorder=0)
        drawn = True
        text = _fit(f"{number} {mark.content}", NOTE_CHARS)
        span = (len(text) + 1) * per_char
        left = max(-0.45, min(first - 0.35, buckets - 0.55 - span))  # inside the chart
        row = next((r for r in range(NOTE_ROWS) if rows_end[r] < left), None)
        if row is None:  # every row is taken there: the line or band only
            continue
        rows_end[row] = left + span
        used = max(used, row + 1)
        ax.text(
            left,
            0.97 - NOTE_ROW_HEIGHT * row,
            text,
            transform=ax.get_xaxis_transform(),
            fontsize=7,
            color=NOTE,
            ha="left",
            va="top",
            clip_on=True,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5},
        )
    return used if drawn else None


def _legend(ax: Any, handles: list[Any], names: list[str]) -> None:
    """Up to four entries in one row above the chart; more in a column to its right (the axes
    narrow to make room), so a legend never covers a bar, a line or the headline."""
    names = _distinct(names, 28 if len(names) <= 4 else 24)
    if len(names) <= 4:
        ax.legend(handles, names, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=7.5, frameon=False, ncols=4)
        return
    left, bottom, width, height = CHART_BOX
    ax.set_position((left, bottom, width - 0.2, height))
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def _draw_funnel(ax: Any, section: Section) -> None:
    from analytics_engine.insights.results import FunnelsResult

    result = section.result
    assert isinstance(result, FunnelsResult) and result.funnel
    steps = result.funnel[0].steps[::-1]
    bars = ax.barh([s.label for s in steps], [s.count for s in steps], color=PALETTE[0], height=0.6)
    texts = []
    for step in steps:
        text = f"{step.count:,} · {step.conversion_from_first * 100:.1f}% of first"
        if step.step > 1 and step.median_seconds is not None:
            text += f" · median {format_value(step.median_seconds, 'seconds')} from previous"
        texts.append(text)
    ax.bar_label(bars, labels=texts, padding=4, fontsize=8, color=INK)
    ax.set_xlim(0, max((s.count for s in steps), default=1) * 1.6 or 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
    ax.set_xlabel("people")
    ax.spines[["top", "right"]].set_visible(False)


def _draw_heatmap(ax: Any, section: Section) -> None:
    assert section.result is not None
    chart = section.result.to_chart(MAX_LINES)
    width = max((len(values) for _, values in chart.series), default=0)
    # a null cell is a period the cohort has not reached yet: drawn empty (NaN), never as 0%
    grid = [
        [float("nan") if v is None else v for v in values] + [float("nan")] * (width - len(values))
        for _, values in chart.series
    ]
    top = max((v for row in grid for v in row if v == v), default=0)
    scale = 100 if top > 1 else 1
    image = ax.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=scale)
    rows = [_labels(section, [label])[0] for label, _ in chart.series]
    ax.set_yticks(range(len(chart.series)), rows)
    ax.set_xticks(range(width), [str(i) for i in range(width)])
    ax.set_xlabel(f"{section.result.interval or 'period'}s after the first")
    if len(grid) * width <= 200:
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                if value == value:
                    colour = "white" if value > scale * 0.55 else INK
                    ax.text(
                        c,
                        r,
                        f"{value:.0f}%" if scale == 100 else f"{value:.0%}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color=colour,
                    )
    ax.figure.colorbar(image, ax=ax, fraction=0.03, format=FuncFormatter(lambda v, _: f"{v:.0f}%"))


def _draw_chart(ax: Any, section: Section) -> bool:
    """The widget's chart when it names one (dashboards), else the kind's own (`to_chart`)."""
    if section.result is None:
        return False
    chart = section.result.to_chart(MAX_LINES)
    viz = section.viz
    if viz == "big_number":
        _draw_big_number(ax, section)
    elif chart.type == "funnel" and viz in (None, "funnel", "bar"):
        _draw_funnel(ax, section)
    elif chart.type == "heatmap":
        _draw_heatmap(ax, section)
    elif chart.type in ("line", "bar"):
        _draw_series(ax, section, stacked=viz == "bar" and chart.type == "line")
    else:
        return False
    return True


# --- tables ---------------------------------------------------------------------------------------------
def _column_layout(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> tuple[list[float], list[int]]:
    """Each column's left edge and how many characters it may show, within the page's width."""
    wanted = [max([len(c), *(len(row[i]) for row in cells)]) + 2 for i, c in enumerate(columns)]
    budget = int((RIGHT - LEFT) / CHAR_WIDTH)
    while sum(wanted) > budget:
        widest = wanted.index(max(wanted))
        wanted[widest] -= 1
    edges, x = [], LEFT
    for width in wanted:
        edges.append(x)
        x += width * CHAR_WIDTH
    return edges, [w - 2 for w in wanted]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _distinct(names: Sequence[str], width: int) -> list[str]:
    """Names cut to `width` so they stay told apart: what they all begin and end with is dropped
    first (`…number 3…` for ten breakdown values that differ only there), then each is cut in the
    middle."""
    if len(names) < 2 or all(len(name) <= width for name in names):
        return [_fit_middle(name, width) for name in names]
    prefix = _common_start(names)
    # keep the prefix's last word: `…number 3…` reads better than `…3…`
    prefix = prefix[: prefix.rstrip().rfind(" ") + 1] if " " in prefix.rstrip() else ""
    suffix = _common_start([name[len(prefix) :][::-1] for name in names])[::-1]
    suffix = suffix[suffix.find(" ") :] if " " in suffix else ""  # whole words only
    cores = [name[len(prefix) : len(name) - len(suffix)] for name in names]
    if not all(core.strip() for core in cores):
        return [_fit_middle(name, width) for name in names]
    return [
        name
        if len(name) <= width
        else _fit_middle(("…" if prefix else "") + core.strip() + ("…" if suffix else ""), width)
        for name, core in zip(names, cores, strict=True)
    ]


def _common_start(texts: Sequence[str]) -> str:
    shortest = min(texts, key=len)
    for index, char in enumerate(shortest):
        if any(text[index] != char for text in texts):
            return shortest[:index]
    return shortest


def _fit_middle(text: str, width: int) -> str:
    """Cut from the middle: names that share a long beginning (breakdown values, column names)
    keep the end that tells them apart."""
    if len(text) <= width:
        return text
    head = max(1, (width - 1) // 2)
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _draw_rows(
    figure: Figure, table: Table, start: int, stop: int, top: float, note: str | None, section: Section
) -> None:
    """Rows [start, stop) of `table` from `top` down, a header first; `note` on its own line below.
    A metric's unit applies to its value columns (`21,107.16 EUR`)."""
    columns = [c.removesuffix("_seconds").replace("_", " ") for c in table.columns[:TABLE_COLUMNS]]
    kinds = column_kinds(table)[:TABLE_COLUMNS]
    shown = list(kinds)
    if section.value_format == "currency":
        shown = ["currency" if k in ("integer", "number") and i else k for i, k in enumerate(kinds)]
    cells = [
        [format_value(v, k, section.unit if k == "currency" else None) for v, k in zip(row, shown, strict=False)]
        for row in table.rows
    ]
    edges, widths = _column_layout(columns, cells)
    columns = [columns[0], *_distinct(columns[1:], min(widths[1:], default=8))] if len(columns) > 2 else columns
    numeric = [k in ("integer", "number", "ratio", "percent", "seconds") for k in kinds]
    y = top
    for i, name in enumerate(columns):
        x, ha = (edges[i] + widths[i] * CHAR_WIDTH, "right") if numeric[i] else (edges[i], "left")
        figure.text(x, y, _fit_middle(name, widths[i]), fontsize=8, weight="bold", color=INK, ha=ha, va="top")
    y -= ROW_HEIGHT
    figure.add_artist(matplotlib.lines.Line2D([LEFT, RIGHT], [y + 0.006, y + 0.006], color=RULE, linewidth=0.8))
    for number in range(start, stop):
        row = cells[number]
        if number % 2:
            figure.add_artist(
                matplotlib.patches.Rectangle(
                    (LEFT, y - ROW_HEIGHT + 0.006),
                    RIGHT - LEFT,
                    ROW_HEIGHT,
                    color="#f3f5f8",
                    zorder=0,
                    transform=figure.transFigure,
                )
            )
        for i, text in enumerate(row):
            x, ha = (edges[i] + widths[i] * CHAR_WIDTH, "right") if numeric[i] else (edges[i], "left")
            figure.text(x, y, _fit(text, widths[i]), fontsize=8, color=INK, ha=ha, va="top")
        y -= ROW_HEIGHT
    if note:
        figure.text(LEFT, y - 0.01, note, fontsize=7.5, color=MUTED, va="top", style="italic")


def _table_note(table: Table, stop: int, shown_rows: int) -> str | None:
    parts = []
    if stop < len(table.rows) and stop == shown_rows:
        parts.append(f"Showing {shown_rows:,} of {len(table.rows):,} rows")
    if len(table.columns) > TABLE_COLUMNS:
        parts.append(f"{TABLE_COLUMNS} of {len(table.columns)} columns")
    if not parts:
        return None
    return "; ".join(parts) + ". Every number is in the XLSX file."


# --- the document -----------------------------------------------------------------------------------------
Draw = Callable[[Figure], None]

# The chart's axes (left, bottom, width, height): room on the left for a funnel's step names and a
# heatmap's cohorts, below for rotated dates, above for the legend.
CHART_BOX = (LEFT + 0.1, 0.5, RIGHT - LEFT - 0.13, 0.28)
TABLE_TOP = 0.41
CHART_PAGE_ROWS = int((TABLE_TOP - 0.07) / ROW_HEIGHT) - 2  # header and note lines
TABLE_PAGE_ROWS = int((0.86 - 0.09) / ROW_HEIGHT) - 2


def _section_pages(section: Section) -> list[Draw]:
    def title(figure: Figure, suffix: str = "") -> None:
        figure.text(LEFT, 0.9, section.title + suffix, fontsize=15, weight="bold", color=INK, va="top")

    if section.error or section.result is None:

        def failed(figure: Figure) -> None:
            title(figure)
            figure.text(
                LEFT,
                0.8,
                f"This section could not be computed: {section.error or 'no data'}",
                fontsize=11,
                color=DOWN,
                va="top",
            )

        return [failed]
    table = section.tables[0] if section.tables else None
    rows = len(table.rows) if table else 0
    shown = min(rows, PDF_MAX_ROWS)
    first_stop = min(shown, CHART_PAGE_ROWS)
    figure_ = headline_of(section)

    def first(figure: Figure) -> None:
        title(figure)
        line = figure_.text + (f"  {figure_.label}" if figure_.label else "")
        figure.text(LEFT, 0.845, line, fontsize=10, color=ACCENT, va="top")
        if figure_.change:
            figure.text(RIGHT, 0.845, figure_.change, fontsize=9, color=_trend_colour(figure_), ha="right", va="top")
        ax = figure.add_axes(CHART_BOX)
        if not _draw_chart(ax, section):
            ax.axis("off")
            ax.text(0.5, 0.5, "no chart for this result", ha="center", color=MUTED)
        if table is not None and rows:
            _draw_rows(figure, table, 0, first_stop, TABLE_TOP, _table_note(table, first_stop, shown), section)
        elif table is not None:
            figure.text(LEFT, TABLE_TOP, "no rows", fontsize=9, color=MUTED, va="top")

    pages: list[Draw] = [first]
    start = first_stop
    while table is not None and start < shown:
        stop = min(shown, start + TABLE_PAGE_ROWS)

        def more(figure: Figure, start: int = start, stop: int = stop) -> None:
            assert table is not None
            title(figure, f" (continued: rows {start + 1:,}-{stop:,} of {rows:,})")
            _draw_rows(figure, table, start, stop, 0.86, _table_note(table, stop, shown), section)

        pages.append(more)
        start = stop
    return pages


def render_pdf(
    path: Path,
    title: str,
    subtitle: str,
    sections: list[Section],
    *,
    generated: datetime,
    comparison: str = "",
    tenant: str | None = None,
    period: str | None = None,
) -> int:
    """Writes the PDF; returns its page count. `tenant` and `period` head every page (`subtitle`,
    `tenant · period`, when they are not given apart)."""
    if tenant is None or period is None:
        tenant, _, period = subtitle.partition(" · ")
    context = Context(title, tenant, period or "", comparison, generated)
    draws: list[Draw] = []
    cover_rows = [sections[:COVER_ROWS_FIRST]]
    rest = sections[COVER_ROWS_FIRST:]
    while rest:
        cover_rows.append(rest[:COVER_ROWS_MORE])
        rest = rest[COVER_ROWS_MORE:]
    first = 1
    for number, chunk in enumerate(cover_rows):

        def cover(figure: Figure, chunk: list[Section] = chunk, first: int = first, more: bool = number > 0) -> None:
            _cover(figure, context, chunk, first, more)

        draws.append(cover)
        first += len(chunk)
    for section in sections:
        draws.extend(_section_pages(section))
    with _lock, rc_context(_RC), PdfPages(str(path), metadata={"Title": title, "Creator": "Analytics Engine"}) as pdf:
        for number, draw in enumerate(draws, start=1):
            figure = _page(context, number, len(draws))
            draw(figure)
            pdf.savefig(figure)
    return len(draws)


def render_xlsx(path: Path, sections: list[Section], tmpdir: Path | None = None) -> int:
    """One typed sheet per table of numbers (exports/writers.py); returns the rows written."""
    tables = [table for section in sections for table in section.tables]
    if not tables:
        sink = XlsxSink(path, ["section", "error"], title="Report", tmpdir=tmpdir)
        sink.write_rows([[s.title, s.error or "no data"] for s in sections])
        sink.close()
        return sink.rows
    sink = XlsxSink(path, tables[0].columns, column_kinds(tables[0]), title=tables[0].title, tmpdir=tmpdir, typed=True)
    for number, table in enumerate(tables):
        if number:
            sink.start_table(table.title, table.columns, column_kinds(table))
        sink.write_rows(table.rows)
    sink.close()
    return sink.rows
