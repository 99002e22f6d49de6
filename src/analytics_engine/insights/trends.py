"""Trends: one or more series (event + filters + math) over time buckets in a time zone, with
breakdowns (top N + '$other'), compare to the previous period, formulas and cumulative mode."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from analytics_engine.annotations.marks import place
from analytics_engine.annotations.schemas import AnnotationPublic
from analytics_engine.errors import InvalidInput
from analytics_engine.insights import person_bitmaps
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.dates import Resolved, bucket_key, bucket_label, buckets
from analytics_engine.insights.filters import NONE_LABEL, OTHER
from analytics_engine.insights.formula import evaluate, letter, parse_formula
from analytics_engine.insights.models import PROPERTY_MATHS, TrendSeries, TrendsQuery
from analytics_engine.insights.preaggregations import SERVED_BY as PREAGGREGATION
from analytics_engine.insights.preaggregations import Window, fresh_as_of
from analytics_engine.insights.property_rollups import SERVED_BY as PROPERTY_ROLLUP
from analytics_engine.insights.property_rollups import property_plan, property_rollup_sql
from analytics_engine.insights.results import InsightResponse, Point, Series, TrendsResult
from analytics_engine.insights.rollups import rollup_eligible, rollup_sql
from analytics_engine.insights.trends_builder import series_sql

_CUMULATIVE_MATHS = {"total", "unique_users", "sum"}


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def breakdown_label(values: tuple[str, ...]) -> str:
    return " / ".join("Other" if v == OTHER else (v if v != "" else NONE_LABEL) for v in values)


def series_label(series: TrendSeries) -> str:
    if series.label:
        return series.label
    name = series.event or "All events"
    if series.math == "total":
        return name
    if series.math_property:
        return f"{name} ({series.math} of {series.math_property})"
    return f"{name} ({series.math.replace('_', ' ')})"


def _path_of(statement_name: str) -> str:
    """What a statement reads (`A:current:rollup`): rollup, property_rollup, person_hours or raw (no
    suffix)."""
    parts = statement_name.split(":")
    return parts[2] if len(parts) > 2 else "raw"


class TrendsRunner(InsightRunner[TrendsQuery]):
    kind = "trends"
    result_class = TrendsResult
    allow_rollups = True  # tests and the benchmark switch it off to compare with raw events

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        query = self.query
        if query.cumulative and any(s.math not in _CUMULATIVE_MATHS for s in query.series):
            raise InvalidInput("cumulative mode works with math total, unique_users or sum", code="invalid_query")
        try:
            self.buckets = buckets(self.range, query.interval)
            self.previous = self.range.previous(query.interval, len(self.buckets)) if query.compare else None
            self.previous_buckets = buckets(self.previous, query.interval) if self.previous else []
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_query") from None
        self._notes: list[AnnotationPublic] | None = None
        # Columns the property rollup covers (`resolve_materialized`; none: never served from it).
        self.property_rollup_columns: frozenset[str] = frozenset()

    def resolve_materialized(self) -> None:
        super().resolve_materialized()
        self.property_rollup_columns = self.runtime.materialized.rollup.covered()

    def nested_filters(self) -> list[list[Any]]:
        return [s.filters for s in self.query.series]

    def notes(self) -> list[AnnotationPublic]:
        """The tenant-wide annotations overlapping the range (read once per run, from metadata)."""
        if self._notes is None:
            self._notes = self.runtime.annotations.in_range(self.tenant.tenant_id, self.range.start, self.range.end)
        return self._notes

    def limit_context(self) -> dict[str, Any]:
        # An annotation added, changed or removed changes the answer: part of the cache key.
        return {"annotations": [[note.id, note.updated_at.isoformat()] for note in self.notes()]}

    def periods(self) -> list[tuple[str, Resolved]]:
        out = [("current", self.range)]
        if self.previous is not None:
            out.append(("previous", self.previous))
        return out

    def plan(self, series: TrendSeries, period: Resolved) -> str:
        """`person_hours` (unique users, exact), `rollup`, `property_rollup` (a filter or breakdown on
        one materialized property) or `raw`. Unique users are counted exactly on every path: the
        rollups' sketches never answer them (docs/insights.md, "Unique users")."""
        if not self.allow_rollups:
            return "raw"
        if self._bitmapped(series, period):
            return person_bitmaps.TABLE
        if rollup_eligible(self.query, series, period):
            return "rollup"
        if self._property_plan(series, period) is not None:
            return PROPERTY_ROLLUP
        return "raw"

    def _bitmapped(self, series: TrendSeries, period: Resolved) -> bool:
        """Unique users of an event (or any event) from the person bitmaps, when they answer exactly."""
        if series.math != "unique_users" or self.query.breakdown:
            return False
        window = Window(period.start, period.end, self.query.interval, self.tz)
        return person_bitmaps.trend_applies(self, [*self.query.all_filters(), *series.filters], [window])

    def _property_plan(self, series: TrendSeries, period: Resolved) -> Any:
        materialized = self.cohorts.materialized
        return property_plan(self.query, series, (period, self.range), materialized, self.property_rollup_columns)

    def to_sql(self) -> list[SQL]:
        statements = []
        for index, series in enumerate(self.query.series):
            for which, period in self.periods():
                name = f"{letter(index)}:{which}"
                path = self.plan(series, period)
                if path == person_bitmaps.TABLE:
                    filters = [*self.query.all_filters(), *series.filters]
                    text, params = person_bitmaps.unique_users_sql(self, series.event, filters, period)
                elif path == "rollup":
                    text, params = rollup_sql(self, series, period, self.query.interval)
                elif path == PROPERTY_ROLLUP:
                    plan = self._property_plan(series, period)
                    text, params = property_rollup_sql(self, series, plan, period, self.range, self.query.interval)
                else:
                    text, params = series_sql(self, series, period, self.range, self.query.interval)
                # Raw statements keep their plain names (`A:current`): snapshots and logs know them.
                statements.append(SQL(name if path == "raw" else f"{name}:{path}", text, params))
        return statements

    def calculate(self, executor: Executor) -> InsightResponse:
        query = self.query
        statements = self.to_sql()
        paths = {_path_of(s.name) for s in statements}
        # A query mixing pre-aggregations says the more specific one; any raw statement makes it `raw`.
        if "raw" in paths:
            self.served_by = "raw"
        elif PROPERTY_ROLLUP in paths:
            self.served_by = PROPERTY_ROLLUP
        elif person_bitmaps.TABLE in paths:
            self.served_by = PREAGGREGATION
        else:
            self.served_by = "rollup"
        self.served_from = person_bitmaps.TABLE if self.served_by != "raw" and person_bitmaps.TABLE in paths else None
        out: list[Series] = []
        by_letter: dict[tuple[str, str], dict[tuple[str, ...], Series]] = defaultdict(dict)
        # The rollups are written by the same insert as events (materialized views): every event
        # committed before the statements run is counted, so a rollup answer is fresh as of then.
        started = fresh_as_of()
        for statement, result in zip(statements, executor.run_all(statements), strict=True):
            index_letter, which = statement.name.split(":")[:2]
            series = query.series[ord(index_letter) - ord("A")]
            rows = result.rows
            period_buckets = self.buckets if which == "current" else self.previous_buckets
            for item in self._map(series, rows, period_buckets, which):
                out.append(item)
                by_letter[(which, index_letter)][tuple(item.breakdown_value or ())] = item
        if query.formula:
            out = self._formula(by_letter)
        out.sort(key=lambda s: (s.compare == "previous", OTHER in (s.breakdown_value or ())))
        totals = {s.label: s.total for s in out}
        marks = place(self.notes(), self.range.start, self.range.end, query.interval, self.tz)
        fresh = started if self.served_by != "raw" else None
        return self.response(
            interval=query.interval,
            series=out,
            totals=totals,
            approximate=False,  # unique users are exact on every path (docs/insights.md, "Unique users")
            annotations=marks,
            fresh_as_of=fresh,
        )

    def _map(
        self, series: TrendSeries, rows: list[tuple[Any, ...]], period_buckets: list[date | datetime], which: str
    ) -> list[Series]:
        zone = self.range.zone
        property_math = series.math in PROPERTY_MATHS
        values: dict[tuple[str, ...], dict[Any, float | None]] = defaultdict(dict)
        totals: dict[tuple[str, ...], float | None] = {}
        for bucket, bd, value, is_total in rows:
            key = tuple(bd)
            if is_total:
                totals[key] = _clean(value)
            else:
                values[key][bucket_key(bucket)] = _clean(value)
        if not values and not self.query.breakdown:
            values[()] = {}
        result = []
        base_label = series_label(series)
        if self.query.aggregation is not None and not series.label:  # counted by group (docs/groups.md)
            group = self.query.aggregation.group
            base_label = base_label.replace("unique users", f"unique {group}").replace("per user", f"per {group}")
        for key in sorted(values, key=lambda k: (-(totals.get(k) or 0), k)):
            points = []
            running = 0.0
            for bucket in period_buckets:
                value = values[key].get(bucket)
                if value is None and not property_math:
                    value = 0.0
                if self.query.cumulative:
                    running += value or 0.0
                    value = running
                points.append(Point(label=bucket_label(bucket, zone), bucket=bucket_label(bucket, zone), value=value))
            total = totals.get(key)
            if total is None and not property_math:
                total = 0.0
            label = base_label if not key else f"{base_label} - {breakdown_label(key)}"
            if which == "previous":
                label += " (previous)"
            result.append(
                Series(
                    label=label,
                    points=points,
                    total=total,
                    breakdown_value=list(key) if self.query.breakdown else None,
                    compare=which if self.query.compare else None,
                    meta={"event": series.event, "math": series.math, "math_property": series.math_property},
                )
            )
        return result

    def _formula(self, by_letter: dict[tuple[str, str], dict[tuple[str, ...], Series]]) -> list[Series]:
        tree = parse_formula(self.query.formula or "", len(self.query.series))
        out = []
        for which, _ in self.periods():
            keys = sorted({k for (w, _), group in by_letter.items() if w == which for k in group})
            for key in keys:
                parts = {lt: group.get(key) for (w, lt), group in by_letter.items() if w == which}
                template = next(s for s in parts.values() if s is not None)
                points = []
                for i, point in enumerate(template.points):
                    env = {lt: (s.points[i].value if s is not None else 0.0) for lt, s in parts.items()}
                    points.append(Point(label=point.label, bucket=point.bucket, value=evaluate(tree, env)))
                total = evaluate(tree, {lt: (s.total if s is not None else 0.0) for lt, s in parts.items()})
                label = self.query.formula or ""
                if key:
                    label += f" - {breakdown_label(key)}"
                if which == "previous":
                    label += " (previous)"
                out.append(
                    Series(
                        label=label,
                        points=points,
                        total=total,
                        breakdown_value=list(key) if key else None,
                        compare=which if self.query.compare else None,
                        meta={"formula": self.query.formula},
                    )
                )
        return out
