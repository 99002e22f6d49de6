"""The property rollup planner: when a trends series is answered from `metrics_by_property` (warehouse
migration 1820, kept by materialized/rollup.py) instead of raw events.

`metrics_by_property` holds, per tenant, materialized string column, event, UTC hour, `is_set` and
value (`ifNull(column, '')`), the event count and a `uniqCombinedState(14)` of distinct_id: the rows
of `metrics_daily` cut by the value of one property; `metrics_by_property_days` the same per UTC day
(read for the UTC days lying wholly inside one bucket, the hours at the edges from the hour table, as
`metrics_monthly` and `metrics_daily` are read). A series is served from it when:

- everything the plain rollups ask (insights/rollups.py): no cohort, no group aggregation, math
  `total` (unique users are exact on the raw path and the rollup's sketches are not; docs/insights.md,
  "Unique users"), interval a day or coarser,
  the range (and the current range the breakdown's top values come from) on whole UTC hours, and the
  zone's offset whole hours throughout;
- and at most ONE property filter in all (query-wide and the series' own), on a property with a
  ready materialized **string** column, with an operator whose answer depends on the value alone:
  `eq` / `neq` with a string or boolean value (a number compares the number column), `in`, `is_set`,
  `is_not_set` (`contains` and `regex` are not served: they would be exact too, but are not asked
  of dashboards often enough to be worth the reasoning);
- and/or a breakdown by exactly one property, the same one as the filter when there is a filter;
- and the column is covered: its rows for the events stored before it joined the view were computed
  (`metrics_by_property_columns`, the backfill job writes it).

Anything else (two filters, a filter and a breakdown on different properties, a number column, a
half-hour zone...) reads raw events, with the same answer. Both paths give the same numbers: counts
are sums of the same rows; the top N of a breakdown ranks the same counts with the same tie order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analytics_engine.insights.dates import Resolved, bucket_sql
from analytics_engine.insights.filters import (
    OTHER,
    MaterializedColumns,
    PropertyBreakdown,
    PropertyFilter,
    value_text,
)
from analytics_engine.insights.models import TrendSeries, TrendsQuery
from analytics_engine.insights.rollups import (
    ROLLUP_MATHS,
    _value_sql,
    _whole_day,
    _whole_hours,
    days_only,
    whole_hour_zone,
)
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

SERVED_BY = "property_rollup"
TABLE = "metrics_by_property"
DAYS = "metrics_by_property_days"  # the same per UTC day (migration 1821), for the days inside a bucket
OPERATORS = {"eq", "neq", "in", "is_set", "is_not_set"}


@dataclass(frozen=True)
class PropertyPlan:
    """What a series reads from the property rollup: the column, its filter (None: every value) and
    whether the values are broken down."""

    path: str
    column: str
    filter: PropertyFilter | None
    breakdown: bool


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def property_plan(
    query: TrendsQuery,
    series: TrendSeries,
    periods: tuple[Resolved, ...],
    materialized: MaterializedColumns,
    covered: frozenset[str],
) -> PropertyPlan | None:
    """The plan when the property rollup answers this series exactly over `periods` (the series'
    period and the one its breakdown's top values come from), else None."""
    if (
        query.cohort_id
        or query.aggregation is not None
        or series.math not in ROLLUP_MATHS
        or query.interval == "hour"
        or not all(_whole_hours(p) and whole_hour_zone(p) for p in periods)
    ):
        return None
    filters = [*query.filters, *series.filters]
    if len(filters) > 1 or len(query.breakdown) > 1:
        return None
    found: PropertyFilter | None = None
    if filters:
        item = filters[0]
        if not isinstance(item, PropertyFilter) or item.operator not in OPERATORS:
            return None
        if item.operator in {"eq", "neq"} and _number(item.value):
            return None
        found = item
    breakdown = query.breakdown[0] if query.breakdown else None
    if breakdown is not None and not isinstance(breakdown, PropertyBreakdown):
        return None
    paths = {p for p in (found.key if found else None, breakdown.property if breakdown else None) if p is not None}
    if len(paths) != 1:  # nothing to serve (the plain rollups' case), or two properties
        return None
    path = paths.pop()
    column = materialized.columns.get((path, "string"))
    if column is None or column not in covered:
        return None
    materialized.column(path, "string")  # the answer names the property it read pre-aggregated
    return PropertyPlan(path, column, found, breakdown is not None)


def _condition(item: PropertyFilter | None, params: Any) -> str:
    """The filter over rollup rows (value = ifNull(column, ''), is_set = column IS NOT NULL): the
    conditions `insights/filters.py` puts on the column, row by row."""
    if item is None:
        return ""
    op, value = item.operator, item.value
    if op == "is_set":
        return " AND is_set = 1"
    if op == "is_not_set":
        return " AND is_set = 0"
    if op == "in":
        texts = sorted({value_text(v) for v in value})
        return f" AND is_set = 1 AND value IN {params.add(texts, 'Array(String)')}"
    equal = f"(is_set = 1 AND value = {params.add(value_text(value), 'String')})"
    return f" AND NOT {equal}" if op == "neq" else f" AND {equal}"


def property_rollup_sql(
    runner: InsightRunner[TrendsQuery],
    series: TrendSeries,
    plan: PropertyPlan,
    period: Resolved,
    top_period: Resolved,
    interval: str,
) -> tuple[str, dict[str, Any]]:
    """The raw series SQL's columns (bucket, bd, value, is_total)."""
    params = runner.new_params()
    warehouse = runner.runtime.warehouse
    column = params.add(plan.column, "String")
    event = f" AND event = {params.add(series.event, 'String')}" if series.event is not None else ""
    condition = _condition(plan.filter, params)
    key = f"tenant_id = {{tenant_id:String}} AND property = {column}{event}{condition}"

    def rows_of(p: Resolved) -> str:
        """(t, v, events) of the range: the UTC days lying wholly inside it and inside one
        bucket from the day table, the other hours from the hour table (as insights/rollups.py)."""
        start = params.add(utc_text(p.start)[:19], "DateTime('UTC')")
        end = params.add(utc_text(p.end)[:19], "DateTime('UTC')")
        hour_day = "toDateTime(toDate(hour), 'UTC')"
        hours = (
            f"SELECT hour AS t, value AS v, events FROM {warehouse.table(TABLE)} WHERE {key} "
            f"AND hour >= {start} AND hour < {end} AND NOT {_whole_day(hour_day, start, end, interval)}"
        )
        day_start = "toDateTime(day, 'UTC')"
        days = (
            f"SELECT {day_start} AS t, value AS v, events FROM {warehouse.table(DAYS)} WHERE {key} "
            f"AND day >= toDate({start}) AND day < toDate({end}) AND {_whole_day(day_start, start, end, interval)}"
        )
        return days if days_only(p) else f"{hours} UNION ALL {days}"

    if plan.breakdown:
        top = (
            f"SELECT bd FROM (SELECT [v] AS bd, sum(events) AS c FROM ({rows_of(top_period)}) "
            f"GROUP BY bd ORDER BY c DESC, bd LIMIT {int(runner.query.breakdown_limit)})"
        )
        select_bd = f"if(([v] AS bd_raw) IN ({top}), bd_raw, [{params.add(OTHER, 'String')}]) AS bd"
    else:
        select_bd = "CAST([], 'Array(String)') AS bd"
    bucket = bucket_sql(interval, "t", "{tz:String}")
    sql = (
        f"SELECT {bucket} AS bucket, {select_bd}, {_value_sql(series.math)} AS value, "
        "grouping(bucket) AS is_total "
        f"FROM ({rows_of(period)}) GROUP BY GROUPING SETS ((bucket, bd), (bd))"
    )
    return sql, params.values
