"""SQL of one trends series on raw events: buckets in the query's time zone, breakdown with top-N +
'$other', totals over the whole range in the same statement (GROUPING SETS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analytics_engine.insights.dates import Resolved, bucket_sql
from analytics_engine.insights.filters import OTHER, breakdown_sql, number_expr
from analytics_engine.insights.models import TrendSeries, TrendsQuery

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

_QUANTILES = {"median": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
# Unique users everywhere trends count them on raw events: exact, as the person bitmaps are
# (insights/person_bitmaps.py), so every path gives the same numbers (docs/insights.md, "Unique users").
# Counted on `person_key` (cityHash64(distinct_id), a column of events), as the raw per-person stages
# of retention and funnels group: a UInt64 set costs ~2.5x less CPU than one of strings (10M, docs/benchmarks.md).
UNIQUE_USERS = "uniqExact"


def math_sql(series: TrendSeries, unit: str = "person_key") -> str:
    """`unit`: who `unique_users` counts (`person_key`, or the hash of a group key: docs/groups.md)."""
    math = series.math
    if math == "total":
        return "toFloat64(count())"
    if math == "unique_users":
        return f"toFloat64({UNIQUE_USERS}({unit}))"
    if math == "per_user_avg":
        return f"if({UNIQUE_USERS}({unit}) = 0, 0, count() / {UNIQUE_USERS}({unit}))"
    value = number_expr(series.math_property or "")
    if math in _QUANTILES:
        return f"quantileExactInclusive({_QUANTILES[math]})({value})"
    return f"toFloat64({math}({value}))"


def series_sql(
    runner: InsightRunner[TrendsQuery],
    series: TrendSeries,
    period: Resolved,
    top_period: Resolved,
    interval: str,
) -> tuple[str, dict[str, Any]]:
    """Rows (bucket, bd Array(String), value, is_total) for one series over `period`; breakdown values
    outside the top N of `top_period` (the current period, also for compare) become ['$other']."""
    query = runner.query
    params = runner.new_params()
    where = runner.base_where(params, series.filters, start=period.start, end=period.end)
    if series.event is not None:
        where.append(f"event = {params.add(series.event, 'String')}")
    bucket = bucket_sql(interval, "timestamp", "{tz:String}")
    if query.breakdown:
        raw_bd = breakdown_sql(query.breakdown, params, runner.cohorts)
        top_where = runner.base_where(params, series.filters, start=top_period.start, end=top_period.end)
        if series.event is not None:
            top_where.append(f"event = {params.add(series.event, 'String')}")
        limit = int(query.breakdown_limit)
        top = (
            f"SELECT bd FROM (SELECT {raw_bd} AS bd, count() AS c FROM {runner.events} "
            f"WHERE {' AND '.join(top_where)} GROUP BY bd ORDER BY c DESC, bd LIMIT {limit})"
        )
        select_bd = f"if(({raw_bd} AS bd_raw) IN ({top}), bd_raw, [{params.add(OTHER, 'String')}]) AS bd"
    else:
        select_bd = "CAST([], 'Array(String)') AS bd"
    if query.cumulative and series.math == "unique_users":
        # A user counts once, in the first bucket they appear in (then the runner adds up).
        inner = (
            f"SELECT {runner.unit_id()} AS unit, {select_bd}, min({bucket}) AS first_bucket FROM {runner.events} "
            f"WHERE {' AND '.join(where)} GROUP BY unit, bd"
        )
        sql = (
            f"SELECT first_bucket AS bucket, bd, toFloat64(count()) AS value, grouping(bucket) AS is_total "
            f"FROM ({inner}) GROUP BY GROUPING SETS ((bucket, bd), (bd))"
        )
        return sql, params.values
    value = math_sql(series, runner.unit_key())
    sql = (
        f"SELECT {bucket} AS bucket, {select_bd}, {value} AS value, grouping(bucket) AS is_total "
        f"FROM {runner.events} WHERE {' AND '.join(where)} GROUP BY GROUPING SETS ((bucket, bd), (bd))"
    )
    return sql, params.values
