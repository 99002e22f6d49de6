"""What a report says in words and numbers, apart from how it is drawn: each section's headline
figure and its change against the previous period, values formatted in their unit (a ratio as a
percentage, seconds as `2 d 5 h`, money with its currency), the report's real date range, and
which buckets of a series are partial (the range starts or ends inside them)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics_engine.exports.integrations import Section
from analytics_engine.insights.results import (
    FunnelsResult,
    ImpactResult,
    PathsResult,
    RetentionResult,
    SeriesResult,
    Table,
)
from analytics_engine.insights.sql import SqlResult


# --- values -------------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """`2 d 5 h`, `3 h 12 min`, `4 min 5 s`, `12 s`: the two largest units, never raw seconds."""
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{seconds:.1f} s" if 0 < seconds < 10 and not float(seconds).is_integer() else f"{total} s"


def format_number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def format_value(value: Any, kind: str = "number", unit: str | None = None) -> str:
    """A value in its kind's unit: `12.8%` (ratio), `2 d 5 h` (seconds), `1,234`, `21,107.16 EUR`."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "date":
        return _short_date(str(value))
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return f"{moment:%d %b %H:%M}".lstrip("0")
    if not isinstance(value, int | float):
        return str(value)
    if kind == "ratio":
        return f"{value * 100:.1f}%"
    if kind == "sroi":
        return f"{value:,.2f} : 1"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind in ("seconds", "duration"):
        return format_duration(float(value))
    if kind == "currency":
        return f"{value:,.2f} {unit}" if unit else f"{value:,.2f}"
    text = f"{round(value):,}" if kind == "integer" else format_number(float(value))
    return f"{text} {unit}" if unit and unit != "%" else (f"{text}%" if unit == "%" else text)


def _short_date(text: str) -> str:
    try:
        return f"{date.fromisoformat(text[:10]):%d %b %Y}".lstrip("0")
    except ValueError:
        return text


def column_kinds(table: Table) -> list[str]:
    if len(table.kinds) == len(table.columns):
        return list(table.kinds)
    from analytics_engine.exports.writers import infer_kind

    return [infer_kind([row[i] for row in table.rows]) for i in range(len(table.columns))]


# --- headlines ----------------------------------------------------------------------------------------
@dataclass
class Headline:
    """A section's one figure, what it is, and the same figure over the previous period."""

    value: float | None
    kind: str  # a column kind, or a metric format (currency, duration)
    label: str
    unit: str | None = None
    previous: float | None = None

    @property
    def text(self) -> str:
        return format_value(self.value, self.kind, self.unit) if self.value is not None else "no data"

    @property
    def change(self) -> str:
        """`▲ 12.5% vs previous period`, `▼ 1.2 pts ...` for ratios; empty without a previous figure."""
        if self.value is None or self.previous is None:
            return ""
        if self.kind in ("ratio", "percent"):
            scale = 100 if self.kind == "ratio" else 1
            points = (self.value - self.previous) * scale
            arrow = "▲" if points > 0 else "▼" if points < 0 else "="
            return f"{arrow} {abs(points):.1f} pts vs previous period ({format_value(self.previous, self.kind)})"
        if self.previous == 0:
            return f"previous period: {format_value(self.previous, self.kind, self.unit)}"
        ratio = (self.value - self.previous) / abs(self.previous) * 100
        arrow = "▲" if ratio > 0 else "▼" if ratio < 0 else "="
        previous = format_value(self.previous, self.kind, self.unit)
        return f"{arrow} {abs(ratio):.1f}% vs previous period ({previous})"

    @property
    def rising(self) -> bool | None:
        if self.value is None or self.previous is None or self.value == self.previous:
            return None
        return self.value > self.previous


def _figure(result: SeriesResult | None) -> tuple[float | None, str, str]:
    """(value, kind, label) of a result: a funnel's overall conversion, retention in period 1, a
    single-value SQL answer, the people on paths, or the first series' total."""
    if result is None:
        return None, "number", ""
    if isinstance(result, FunnelsResult) and result.funnel:
        steps = result.funnel[0].steps
        if steps and steps[0].count:
            label = f"converted: {steps[-1].count:,} of {steps[0].count:,} from {steps[0].label} to {steps[-1].label}"
            return steps[-1].count / steps[0].count, "ratio", label
        return None, "ratio", "converted"
    if isinstance(result, RetentionResult) and result.retention:
        reached = [c for c in result.retention if len(c.values) > 1 and c.values[1] is not None]
        size = sum(c.size for c in reached)
        if size:
            back = sum(c.values[1] or 0 for c in reached)
            return back / size, "ratio", f"came back in the period after their first ({back:,} of {size:,} people)"
        return None, "ratio", "came back in the next period"
    if isinstance(result, ImpactResult) and result.totals.get("value") is not None:
        totals = result.totals
        band = f"band {totals['band']}" if totals.get("band") else ""
        if totals.get("metric") == "sroi":
            currency = totals.get("currency") or ""
            money = ""
            if totals.get("present_value") is not None and totals.get("investment") is not None:
                value_text = format_value(totals["present_value"], "currency", currency)
                money = (
                    f"social value {value_text} for {format_value(totals['investment'], 'currency', currency)} invested"
                )
            label = "; ".join(part for part in ("SROI", money, band) if part)
            return float(totals["value"]), "sroi", label
        return float(totals["value"]), "number", "; ".join(part for part in ("VIS score", band) if part)
    if isinstance(result, SqlResult) and len(result.rows) == 1 and len(result.columns) == 1:
        value = result.rows[0][0]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), "integer" if float(value).is_integer() else "number", result.columns[0].name
    if isinstance(result, PathsResult) and result.totals.get("people") is not None:
        return float(result.totals["people"]), "integer", "people on paths"
    current = [s for s in result.series if s.compare != "previous"]
    if not current:
        return None, "number", ""

    def total_of(one: Any) -> float:
        return float(one.total if one.total is not None else sum(p.value or 0 for p in one.points))

    first = current[0]
    if len(current) > 1 and all(s.breakdown_value for s in current):  # a breakdown: every value counts
        total = sum(total_of(s) for s in current)
        label = f"total of {len(current)} breakdown values"
    else:
        total = total_of(first)
        label = f"{first.label}, total" if len(first.points) > 1 else first.label
    kind = "integer" if float(total).is_integer() else "number"
    return total, kind, label


def headline_of(section: Section) -> Headline:
    value, kind, label = _figure(section.result)
    previous, _, _ = _figure(section.previous)
    unit = section.unit
    if section.value_format == "currency":
        kind = "currency"
    elif section.value_format == "duration":
        kind = "seconds"
    elif section.value_format == "percent" and kind not in ("ratio",):
        kind = "percent"
    return Headline(value, kind, label, unit, previous if section.previous is not None else None)


def headline(section: Section) -> str:
    """One line for an email or a webhook: `1,234 (signups, total) ▲ 12.5% vs previous period (1,097)`."""
    if section.error:
        return f"failed: {section.error[:80]}"
    if section.result is None:
        return ""
    figure = headline_of(section)
    parts = [figure.text + (f" ({figure.label})" if figure.label else "")]
    if figure.change:
        parts.append(figure.change)
    return " ".join(parts)


# --- ranges and partial periods -----------------------------------------------------------------------
def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report_range(sections: Sequence[Section]) -> tuple[datetime, datetime] | None:
    results = [s.result for s in sections if s.result is not None]
    if not results:
        return None
    return min(_aware(r.date_from) for r in results), max(_aware(r.date_to) for r in results)


def describe_range(start: datetime, end: datetime, timezone: str) -> str:
    """`1 Nov 2026 to 30 Nov 2026 (Europe/Oslo)`: an end at midnight is exclusive (the day before)."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    if last.time() == datetime.min.time() and last > first:
        last -= timedelta(microseconds=1)
    return f"{first:%d %b %Y} to {last:%d %b %Y}".replace(" 0", " ").lstrip("0") + f" ({timezone})"


def previous_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length just before [start, end)."""
    return start - (end - start), start


def compute_previous(sections: Sequence[Section]) -> None:
    """Fill `section.previous` by running each section again over the previous period; a section
    whose comparison fails keeps none (the report says nothing rather than something wrong)."""
    for section in sections:
        if section.result is None or section.rerun is None:
            continue
        start, end = _aware(section.result.date_from), _aware(section.result.date_to)
        before, after = previous_range(start, end)
        try:
            section.previous = section.rerun(before.isoformat(), after.isoformat())
        except Exception:
            section.previous = None


def _bucket_end(start: datetime, interval: str | None) -> datetime:
    if interval == "hour":
        return start + timedelta(hours=1)
    if interval == "week":
        return start + timedelta(days=7)
    if interval in ("month", "quarter"):
        end = start
        for _ in range(1 if interval == "month" else 3):
            end += timedelta(days=calendar.monthrange(end.year, end.month)[1])
        return end
    return start + timedelta(days=1)


def partial_buckets(result: SeriesResult, labels: Sequence[str]) -> list[bool]:
    """For each label of the chart, whether its bucket is only partly inside the result's range: the
    range starts after the bucket starts, or the bucket ends after the range ends or after the
    result was computed (today, this week: `-7d` runs to the end of today). Labels that are not
    buckets are never partial."""
    buckets = {p.label: p.bucket for s in result.series for p in s.points if p.bucket}
    zone = ZoneInfo(result.timezone) if result.timezone else UTC
    start = _aware(result.date_from)
    end = min(_aware(result.date_to), _aware(result.computed_at))
    flags = []
    for label in labels:
        bucket = buckets.get(label)
        if bucket is None or result.interval is None:
            flags.append(False)
            continue
        try:
            begin = datetime.fromisoformat(bucket)
        except ValueError:
            flags.append(False)
            continue
        begin = begin.replace(tzinfo=zone) if begin.tzinfo is None else begin
        finish = _bucket_end(begin, result.interval)
        slack = timedelta(seconds=1)
        flags.append(begin < start - slack or finish > end + slack)
    return flags
