"""What a rule watches, as a series of points in time. One registry of source kinds (`SOURCE_KINDS`):

- `insight`: any kind of the typed insight registry (`insights/registry.py`: trends, funnels,
  retention, engagement, impact), its value chosen by the selector (series, funnel step, retention
  period);
- `metric`: a registry metric (`metrics/`), i.e. its current definition's insight query, read the
  same way;
- `sla`: an SLA signal (`alerts/sla.py`);
- `sql`: a restricted SQL query (`query/`): checked by the SQL guard when the rule is saved (422 with
  the guard's reason), run through the tenant scope as background work, its rows read as a series
  (`time_column` + `column`) or as one value (`column` of the first row).

A kind `prepare`s a source (validation: 422 for an unknown metric or an invalid query; the `key`
under which rules share one fetch; the series' interval), `fetch`es one answer for a group of rules
and `extract`s each rule's series from it. A new kind registers here and adds its model to
`schemas.Source`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from analytics_engine.alerts.schemas import InsightSource, MetricSource, SlaSource, SqlSource, ValueSelector
from analytics_engine.alerts.sla import STEP, bucket_start, sla_series
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.insights.dates import add_months, step_back
from analytics_engine.insights.sql import is_number
from analytics_engine.query.errors import SqlNotAllowed, SqlSyntaxError
from analytics_engine.query.service import SqlResult, check_sql, run_restricted_sql

if TYPE_CHECKING:
    from analytics_engine.alerts.conditions import Point
    from analytics_engine.runtime import Runtime

UNITS = {"hour": "h", "day": "d", "week": "w", "month": "m", "quarter": "q"}
SERIES_KINDS = ("trends", "engagement", "impact")


@dataclass(frozen=True)
class Window:
    """What to fetch: `points` buckets back from now, or an explicit [start, end) (simulate) with
    `points` more buckets of history before start."""

    points: int
    start: datetime | None = None
    end: datetime | None = None
    refresh: bool = False  # compute afresh, not from the result cache (benchmarks)


@dataclass
class Prepared:
    """A source ready to fetch: rules with equal `key` share one fetch."""

    type: str
    key: str
    interval: str | None
    query: dict[str, Any] = field(default_factory=dict)
    source: Any = None


class SourceKind(Protocol):
    def prepare(self, runtime: Runtime, tenant_id: str, source: Any) -> Prepared: ...

    def fetch(self, runtime: Runtime, tenant: Any, prepared: Prepared, window: Window) -> Any: ...

    def extract(self, answer: Any, source: Any, now: datetime) -> list[Point]: ...


def _key(tenant_id: str, query: dict[str, Any]) -> str:
    shared = {k: v for k, v in query.items() if k != "date_range"}
    return tenant_id + ":" + orjson.dumps(shared, option=orjson.OPT_SORT_KEYS).decode()


def interval_of(query: dict[str, Any]) -> str | None:
    kind = query.get("kind")
    if kind == "retention":
        return str(query.get("period") or "week")
    if kind == "impact":
        return query.get("interval")
    if kind == "engagement":
        return str(query.get("interval") or "day")
    value = query.get("interval")
    return str(value) if value else None


def check_selector(query: dict[str, Any], selector: ValueSelector) -> None:
    kind = query.get("kind")
    if kind == "retention" and selector.period is None:
        raise InvalidInput("a retention source needs 'period' (the retention period N watched)")
    if kind == "retention" and selector.period is not None and selector.period >= int(query.get("periods") or 8):
        raise InvalidInput(f"period {selector.period} is beyond the query's {query.get('periods') or 8} periods")
    if kind == "funnels":
        steps = len(query.get("steps") or [])
        if selector.step is not None and selector.step > steps:
            raise InvalidInput(f"step {selector.step} is beyond the funnel's {steps} steps")
        if selector.step is not None and query.get("interval"):
            raise InvalidInput("a funnel with an interval gives the conversion to its last step only; drop 'step'")
    if kind != "retention" and selector.period is not None:
        raise InvalidInput("'period' applies to retention sources only")
    if kind != "funnels" and selector.step is not None:
        raise InvalidInput("'step' applies to funnel sources only")


def _moment(bucket: str | None, tz: str) -> datetime | None:
    if not bucket:
        return None
    try:
        parsed = datetime.fromisoformat(bucket)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def _value(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def series_points(result: Any, selector: ValueSelector, now: datetime) -> list[Point]:
    """A typed insight result -> the selected series of points in time."""
    kind = result.kind
    if kind == "retention":
        cohorts = result.retention or []
        period = selector.period or 0
        points = []
        for cohort in cohorts:
            if cohort.breakdown_value:
                continue
            moment = _moment(cohort.date, result.timezone)
            value = cohort.percentages[period] if period < len(cohort.percentages) else None
            if moment is not None and value is not None:
                points.append((moment, _value(value)))
        return points
    if kind == "funnels" and not result.interval:
        groups = result.funnel or []
        if not groups or not groups[0].steps:
            return []
        steps = groups[0].steps
        step = steps[(selector.step or len(steps)) - 1]
        return [(result.date_to, step.conversion_from_first * 100.0)]
    if kind == "sql" and not result.series:
        return sql_values(result, selector)
    if kind == "funnels":
        chosen = [s for s in result.series if s.meta.get("trend")]
    else:
        chosen = [s for s in result.series if s.compare != "previous"]
    if selector.series >= len(chosen):
        if not chosen:
            return []
        raise InvalidInput(f"series {selector.series} does not exist; the answer has {len(chosen)} series")
    points = []
    for point in chosen[selector.series].points:
        moment = _moment(point.bucket, result.timezone)
        if moment is not None:
            points.append((moment, _value(point.value)))
    if points and not selector.include_current and result.interval and result.date_to > now:
        points = points[:-1]  # the current bucket is not complete yet
    return points


def sql_values(result: Any, selector: ValueSelector) -> list[Point]:
    """A saved SQL answer without a time or text column: its numeric columns of the first row, the
    selector's `series` choosing the column."""
    numbers = [i for i, column in enumerate(result.columns) if is_number(column)]
    if not result.rows or not numbers:
        return []
    if selector.series >= len(numbers):
        raise InvalidInput(f"series {selector.series} does not exist; the answer has {len(numbers)} numeric columns")
    return [(result.date_to, _number(result.rows[0][numbers[selector.series]]))]


class InsightKindSource:
    """`insight` and `metric` sources: an insight query through the typed registry."""

    def query_of(self, runtime: Runtime, tenant_id: str, source: Any) -> dict[str, Any]:
        return dict(source.query)

    def prepare(self, runtime: Runtime, tenant_id: str, source: Any) -> Prepared:
        query = registry.validate_query(self.query_of(runtime, tenant_id, source))
        check_selector(query, source)
        return Prepared(source.type, _key(tenant_id, query), interval_of(query), query, source)

    def fetch(self, runtime: Runtime, tenant: Any, prepared: Prepared, window: Window) -> Any:
        query = prepared.query
        interval = prepared.interval
        kind = query["kind"]
        if kind == "impact":
            start = window.start or datetime.now(UTC)
            start = step_back(start, "month", window.points if interval else 0, ZoneInfo("UTC"))
            if interval is None and window.start is None:
                date_range = dict(query.get("date_range") or {})
            else:
                date_range = {"date_from": start.date().isoformat()}
                if window.end is not None:
                    date_range["date_to"] = window.end.date().isoformat()
            query = {**query, "date_range": date_range}
        elif interval is not None or window.start is not None:
            tz = query.get("timezone") or getattr(tenant, "timezone", "UTC") or "UTC"
            unit = interval or "day"
            if window.start is None:
                date_from = f"-{min(window.points, 9999)}{UNITS[unit]}"
                date_to = None
            else:
                date_from = step_back(window.start, unit, window.points, ZoneInfo(tz)).isoformat()
                date_to = window.end.isoformat() if window.end else None
            query = registry.with_overrides(query, Overrides(date_from=date_from, date_to=date_to))
        return registry.run(RunContext(runtime, tenant, refresh=window.refresh), registry.parse_query(query))

    def extract(self, answer: Any, source: Any, now: datetime) -> list[Point]:
        return series_points(answer, source, now)


class MetricKindSource(InsightKindSource):
    def query_of(self, runtime: Runtime, tenant_id: str, source: Any) -> dict[str, Any]:
        try:
            _, _, definition = runtime.metrics.definition(tenant_id, source.metric_id)
        except NotFound:
            raise InvalidInput(f"unknown metric {source.metric_id!r}") from None
        return dict(definition["query"])


class SlaKindSource:
    def prepare(self, runtime: Runtime, tenant_id: str, source: Any) -> Prepared:
        key = f"{tenant_id}:sla:{source.signal}:{source.interval}:{','.join(sorted(source.job_kinds))}"
        return Prepared("sla", key, source.interval, {}, source)

    def fetch(self, runtime: Runtime, tenant: Any, prepared: Prepared, window: Window) -> Any:
        source: SlaSource = prepared.source
        step = STEP[source.interval]
        if window.start is None:
            end = bucket_start(datetime.now(UTC), source.interval) + step
            start = end - step * (window.points + 1)
        else:
            start = window.start - step * window.points
            current_end = bucket_start(datetime.now(UTC), source.interval) + step
            end = min(window.end, current_end) if window.end else current_end
        return end, sla_series(runtime, tenant, source, start, end)

    def extract(self, answer: Any, source: Any, now: datetime) -> list[Point]:
        end, points = answer
        if points and not source.include_current and end > now:
            return list(points[:-1])
        return list(points)


def _bucket_end(moment: datetime, interval: str) -> datetime:
    if interval == "month":
        following = add_months(moment.date(), 1)
        return datetime.combine(following, datetime.min.time(), moment.tzinfo)
    return moment + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[interval]


def _sql_moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return _value(float(value))
    except (TypeError, ValueError):
        raise InvalidInput(f"the column's value {str(value)[:40]!r} is not a number") from None


class SqlKindSource:
    """`sql` sources: a restricted SQL query, run as background work of the tenant."""

    def prepare(self, runtime: Runtime, tenant_id: str, source: Any) -> Prepared:
        try:
            check_sql(runtime, tenant_id, source.sql)
        except (SqlNotAllowed, SqlSyntaxError) as exc:
            raise InvalidInput(exc.message, code=exc.code, details={"sql": exc.details}) from None
        interval = (source.interval or "day") if source.time_column else None
        digest = hashlib.sha256(source.sql.encode()).hexdigest()
        return Prepared("sql", f"{tenant_id}:sql:{digest}", interval, {}, source)

    def fetch(self, runtime: Runtime, tenant: Any, prepared: Prepared, window: Window) -> Any:
        return run_restricted_sql(runtime, tenant, prepared.source.sql, background=True)

    def extract(self, answer: Any, source: Any, now: datetime) -> list[Point]:
        result: SqlResult = answer
        names = [column.name for column in result.columns]
        for wanted in (source.column, source.time_column):
            if wanted is not None and wanted not in names:
                raise InvalidInput(f"the SQL's result has no column {wanted!r} (it has {', '.join(names)})")
        index = names.index(source.column)
        if source.time_column is None:
            return [(now, _number(result.rows[0][index]))] if result.rows else []
        at = names.index(source.time_column)
        points: list[Point] = []
        for row in result.rows:
            moment = _sql_moment(row[at])
            if moment is None:
                raise InvalidInput(f"the time column's value {str(row[at])[:40]!r} is not a date or time")
            points.append((moment, _number(row[index])))
        points.sort(key=lambda point: point[0])
        interval = source.interval or "day"
        if points and not source.include_current and _bucket_end(points[-1][0], interval) > now:
            points = points[:-1]  # the current bucket is not complete yet
        return points


SOURCE_KINDS: dict[str, SourceKind] = {
    "insight": InsightKindSource(),
    "metric": MetricKindSource(),
    "sla": SlaKindSource(),
    "sql": SqlKindSource(),
}


def prepare(runtime: Runtime, tenant_id: str, source: InsightSource | MetricSource | SlaSource | SqlSource) -> Prepared:
    try:
        kind = SOURCE_KINDS[source.type]
    except KeyError:
        raise InvalidInput(f"unknown source type {source.type!r}") from None
    return kind.prepare(runtime, tenant_id, source)


def kind_of(prepared: Prepared) -> SourceKind:
    return SOURCE_KINDS[prepared.type]
