"""The chart-ready answer every kind returns: series of labelled points, totals, the time zone used,
which path served it (rollup, preaggregation or raw) and how fresh a pre-aggregated answer is,
whether it came from the cache, and the SQL timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics_engine.annotations.schemas import AnnotationMark
from analytics_engine.insights.histogram import TimeBin

# Part of every cache key: bump when an answer's shape or meaning changes, so cached answers of the
# old shape are never served (2: retention cells in the future are null, totals carry reached/returned;
# 3: funnels carry time-to-convert histograms).
RESULT_VERSION = 3


class Point(BaseModel):
    label: str
    value: float | None
    bucket: str | None = Field(None, description="Bucket start (local date, or ISO time for hours).")


class Series(BaseModel):
    label: str
    points: list[Point]
    total: float | None = None
    breakdown_value: list[str] | None = None
    compare: Literal["current", "previous"] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class FunnelStepResult(BaseModel):
    step: int
    label: str
    event: str
    count: int
    conversion_from_previous: float
    conversion_from_first: float
    dropped: int = Field(description="Reached the previous step but not this one.")
    median_seconds: float | None = Field(None, description="Median time from the previous step.")
    average_seconds: float | None = None
    time_to_convert: list[TimeBin] | None = Field(
        None,
        description="People reaching this step by their time from the previous step, in fixed bins cut at "
        "the conversion window (docs/insights.md, Time to convert); null for step 1 and unordered funnels.",
    )


class FunnelBreakdownResult(BaseModel):
    breakdown_value: list[str] | None
    steps: list[FunnelStepResult]
    time_to_convert: list[TimeBin] | None = Field(
        None,
        description="People converting (reaching the last step) by their time from step 1 to the last step; "
        "null for unordered funnels.",
    )


class RetentionCohort(BaseModel):
    label: str
    date: str
    size: int
    values: list[int | None] = Field(description="People per period; null for a period not yet reached (future).")
    percentages: list[float | None]
    breakdown_value: list[str] | None = None


class Timing(BaseModel):
    sql_ms: float = Field(0.0, description="Warehouse time of all statements, summed (they may run in parallel).")
    queries: int = 0
    total_ms: float = Field(0.0, description="Wall time of the computation.")


class InsightResponse(BaseModel):
    kind: str
    timezone: str
    date_from: datetime
    date_to: datetime
    interval: str | None = None
    served_by: Literal["rollup", "property_rollup", "preaggregation", "raw"] = "raw"
    served_from: str | None = Field(
        None,
        description="With served_by `preaggregation`: the table that answered, `person_hours` (exact per-hour "
        "person bitmaps) or `person_weeks`; null otherwise.",
    )
    fresh_as_of: datetime | None = Field(
        None,
        description="Answers from a pre-aggregation or the rollups: every event committed before this moment "
        "is counted (both are written by the same insert as events). Null for raw answers (always current).",
    )
    cached: bool = False
    computed_at: datetime
    approximate: bool = Field(
        False,
        description="A unique-user figure is a sketch estimate. Always false: unique users are counted "
        "exactly on every path (the person bitmaps or raw events; docs/insights.md).",
    )
    timing: Timing = Field(default_factory=Timing)
    materialized_properties: list[str] = Field(
        default_factory=list,
        description="Properties whose filters or breakdowns read a materialized column instead of the JSON "
        "properties (docs/materialized-properties.md); empty when none did.",
    )
    read_cold: bool = Field(
        False,
        description="The range reached the cold tier: rows of the tenant's cold Parquet files were read with "
        "the hot ones (docs/lifecycle.md); such answers come from raw rows, never rollups.",
    )
    series: list[Series] = Field(default_factory=list)
    totals: dict[str, Any] = Field(default_factory=dict)
    funnel: list[FunnelBreakdownResult] | None = None
    retention: list[RetentionCohort] | None = None


class PathNode(BaseModel):
    id: str = Field(description="`{step}_{name}`: unique per column, as a Sankey wants it.")
    step: int
    name: str = Field(description="Cleaned event name, or `$other` for the names folded at this step.")
    people: int
    dropped: int = Field(description="People whose path ends here.")


class PathLink(BaseModel):
    source: str
    target: str
    people: int
    average_seconds: float | None = Field(None, description="Mean time from the source step to the target step.")
    median_seconds: float | None = None


class PathPeoplePage(BaseModel):
    people: list[str]
    step: int
    name: str
    next_name: str | None
    limit: int
    offset: int
    has_more: bool


class RetentionPeoplePage(BaseModel):
    people: list[str]
    cohort: date = Field(description="The cohort's first day (its row's `date`).")
    period: int = Field(description="0: everyone in the cohort; n: those who came back in period n.")
    breakdown_value: list[str] | None = None
    limit: int
    offset: int
    has_more: bool


class PeoplePage(BaseModel):
    people: list[str]
    step: int
    status: Literal["converted", "dropped"]
    limit: int
    offset: int
    has_more: bool


# --- typed results: a table and a chart spec per kind ----------------------------------------------
# Every consumer (dashboards, exports, reports, metrics; next alerts, SQL, AI) asks the result for its
# table and chart instead of reading dict keys to guess what it is. The JSON is `model_dump` unchanged.
# What a column holds, so typed files (Parquet, XLSX) and reports keep numbers as numbers, times as
# times, and show each in its unit: `text`, `integer` (a count), `number`, `ratio` (0..1, shown as a
# percentage), `percent` (0..100), `seconds` (a duration), `date` and `timestamp` (ISO text in the
# rows, typed by the writers).
ColumnKind = Literal["text", "integer", "number", "ratio", "percent", "seconds", "date", "timestamp"]


@dataclass
class Table:
    """A small result table: column names and rows of plain values (numbers, text, None), with the
    kind of each column when the result knows it (empty: the writers infer it from the values)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    kinds: list[ColumnKind] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class ChartSpec:
    """What to draw: `line` (x labels, one line per series), `bar` (one bar per label),
    `funnel` (horizontal bars per step) or `heatmap` (rows x columns of percentages); `empty` if none."""

    type: Literal["line", "bar", "funnel", "heatmap", "empty"]
    x: list[str] = field(default_factory=list)
    series: list[tuple[str, list[float | None]]] = field(default_factory=list)
    y_label: str = ""


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _value_kind(values: list[Any]) -> ColumnKind:
    present = [v for v in values if v is not None]
    if not present:
        return "number"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "integer" if all(float(v).is_integer() for v in present) else "number"
    return "text"


def _label_kind(points: list[Point]) -> ColumnKind:
    """`date` or `timestamp` when every point is a bucket whose label is its ISO start; else `text`."""
    if not points or any(p.bucket is None or p.bucket != p.label for p in points):
        return "text"
    return "date" if all(len(p.label) == 10 for p in points) else "timestamp"


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in out:
            number += 1
            candidate = f"{name} #{number}"
        out.append(candidate)
    return out


class SeriesResult(InsightResponse):
    """A kind answering with series of labelled points (trends, engagement, impact, and the default)."""

    def to_tables(self, title: str) -> list[Table]:
        if not self.series:
            return [self.totals_table(title)]
        labels: list[str] = []
        seen: set[str] = set()
        for one in self.series:
            for point in one.points:
                if point.label not in seen:
                    seen.add(point.label)
                    labels.append(point.label)
        names = _unique([s.label + (" (previous)" if s.compare == "previous" else "") for s in self.series])
        values = [{p.label: _number(p.value) for p in s.points} for s in self.series]
        rows = [[label, *[v.get(label) for v in values]] for label in labels]
        label_kind = _label_kind([p for s in self.series if s.compare != "previous" for p in s.points])
        kinds: list[ColumnKind] = [label_kind, *[_value_kind([row[i + 1] for row in rows]) for i in range(len(names))]]
        return [Table(title, ["label", *names], rows, kinds)]

    def totals_table(self, title: str) -> Table:
        rows = [[k, _number(v)] for k, v in self.totals.items()]
        return Table(title, ["name", "value"], rows, ["text", _value_kind([row[1] for row in rows])])

    def to_chart(self, max_lines: int = 8) -> ChartSpec:
        series = self.series[:max_lines]
        if not series:
            return ChartSpec("empty")
        labels = [p.label for p in series[0].points]
        if len(labels) <= 1:
            return ChartSpec(
                "bar", [s.label for s in series], [("", [s.points[0].value if s.points else None for s in series])]
            )
        return ChartSpec("line", labels, [(s.label, [p.value for p in s.points]) for s in series])


class TrendsResult(SeriesResult):
    annotations: list[AnnotationMark] = Field(
        default_factory=list,
        description="The tenant-wide annotations overlapping the range, each with the bucket it falls in "
        "(docs/annotations.md); a dashboard render adds the dashboard's own.",
    )
    pass


class EngagementResult(SeriesResult):
    pass


class ImpactResult(SeriesResult):
    """SROI or VIS over a period (one point) or per month; `totals` holds value, band, formula."""


class FunnelsResult(SeriesResult):
    def to_tables(self, title: str) -> list[Table]:
        if not self.funnel:
            return super().to_tables(title)
        rows = [
            [
                ", ".join(group.breakdown_value or []) or "all",
                step.step,
                step.label,
                step.count,
                round(step.conversion_from_first, 4),
                round(step.conversion_from_previous, 4),
                step.median_seconds,
            ]
            for group in self.funnel
            for step in group.steps
        ]
        columns = ["breakdown", "step", "label", "count", "conversion_from_first", "conversion_from_previous"]
        kinds: list[ColumnKind] = ["text", "integer", "text", "integer", "ratio", "ratio", "seconds"]
        return [Table(title, [*columns, "median_seconds"], rows, kinds)]

    def to_chart(self, max_lines: int = 8) -> ChartSpec:
        if not self.funnel:
            return super().to_chart(max_lines)
        steps = self.funnel[0].steps
        return ChartSpec("funnel", [s.label for s in steps], [("people", [float(s.count) for s in steps])], "people")


class PathsResult(SeriesResult):
    """Paths as a Sankey: `nodes` (per step, most people first, `$other` last) and `links` between
    consecutive steps (most people first)."""

    nodes: list[PathNode] = Field(default_factory=list)
    links: list[PathLink] = Field(default_factory=list)

    def to_tables(self, title: str) -> list[Table]:
        names = {n.id: n for n in self.nodes}
        rows = [
            [
                names[link.source].step,
                names[link.source].name,
                names[link.target].name,
                link.people,
                link.median_seconds,
            ]
            for link in self.links
            if link.source in names and link.target in names
        ]
        return [Table(title, ["step", "from", "to", "people", "median_seconds"], rows)]

    def to_chart(self, max_lines: int = 8) -> ChartSpec:
        if not self.links:
            return ChartSpec("empty")
        names = {n.id: f"{n.step}. {n.name}" for n in self.nodes}
        top = self.links[: max(max_lines, 10)]
        labels = [f"{names.get(link.source, link.source)} -> {names.get(link.target, link.target)}" for link in top]
        return ChartSpec("bar", labels, [("people", [float(link.people) for link in top])], "people")


class RetentionResult(SeriesResult):
    def to_tables(self, title: str) -> list[Table]:
        if not self.retention:
            return super().to_tables(title)
        periods = max((len(c.values) for c in self.retention), default=0)
        columns = ["cohort", "date", "size"] + [f"period {i}" for i in range(periods)]
        rows = [[c.label, c.date, c.size, *c.values, *([None] * (periods - len(c.values)))] for c in self.retention]
        count: ColumnKind = "integer"
        kinds: list[ColumnKind] = ["text", "date", "integer", *([count] * periods)]
        return [Table(title, columns, rows, kinds)]

    def to_chart(self, max_lines: int = 8) -> ChartSpec:
        if not self.retention:
            return super().to_chart(max_lines)
        width = max(len(c.percentages) for c in self.retention)
        return ChartSpec(
            "heatmap",
            [str(i) for i in range(width)],
            [(c.label, [*c.percentages, *([None] * (width - len(c.percentages)))]) for c in self.retention],
            "period",
        )
