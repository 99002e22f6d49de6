"""The rollup planner: when a trends series can be answered from the rollups instead of raw events.

Rollups (warehouse migrations 0600, 0960) are kept by materialized views on every insert into `events`
(`metrics_daily`) and into `metrics_daily` (`metrics_monthly`):

- `metrics_daily`: one row per (tenant, event, UTC hour): the event count and a unique-users sketch of
  distinct_id. Any day, week, month or quarter of a time zone whose offset is a whole number of hours
  is a union of whole UTC hours, so daily charts in any such zone read it.
- `metrics_monthly`: the same per (tenant, event, UTC day), for long ranges. A bucket reads the UTC
  days lying wholly inside it from here, and the hours at its edges (where a local day straddles two
  UTC days) from `metrics_daily`: a year of daily points reads ~365 day rows plus edge hours.

The planner uses them when the series has no filters, no breakdown, math `total`, the interval is a
day or coarser, the range starts and ends on whole UTC hours, and the zone's offset is whole hours
throughout the range. Otherwise raw events. Both paths give the same numbers: counts are sums.

The rollups also hold a unique-users sketch per hour and day (`uniqCombinedState(14)`, migration
0960), but they no longer answer unique users: the sketch is exact only up to 512 people (measured:
every count of 1-512 ids exact in 20 x 512 trials; from 513 on a HyperLogLog estimate, typically 0.5%
off, at worst 1.8%), while the person bitmaps (insights/person_bitmaps.py) and the raw path
(`uniqExact`) count exactly. A unique-users or per-user series reads the bitmaps when they answer,
raw events otherwise (docs/insights.md, "Unique users").
"""

from __future__ import annotations

from datetime import UTC, time, timedelta
from typing import TYPE_CHECKING, Any

from analytics_engine.insights.dates import Resolved, bucket_sql
from analytics_engine.insights.models import TrendSeries, TrendsQuery
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

# Only counts: unique users are exact on every other path, and the sketches are not (see above).
ROLLUP_MATHS = {"total"}


def whole_hour_zone(period: Resolved) -> bool:
    """True when the zone's UTC offset is a whole number of hours at every moment of the range."""
    zone = period.zone
    moment = period.start - timedelta(days=1)
    end = period.end + timedelta(days=1)
    while moment <= end:
        offset = moment.astimezone(zone).utcoffset() or timedelta(0)
        if offset.total_seconds() % 3600:
            return False
        moment += timedelta(hours=12)
    return True


def _whole_hours(period: Resolved) -> bool:
    return all(m.minute == 0 and m.second == 0 and m.microsecond == 0 for m in (period.start, period.end))


def days_only(period: Resolved) -> bool:
    """True when every hour of the range lies in a UTC day wholly inside the range and one bucket: the
    zone is UTC throughout (offset 0) and the range starts and ends at UTC midnight. Then the hour
    rollup has nothing to add and is not read (a sketch per hour)."""
    zone = period.zone
    moment = period.start - timedelta(days=1)
    while moment <= period.end + timedelta(days=1):
        if moment.astimezone(zone).utcoffset():
            return False
        moment += timedelta(hours=12)
    return all(m.astimezone(UTC).time() == time(0) for m in (period.start, period.end))


def rollup_eligible(query: TrendsQuery, series: TrendSeries, period: Resolved) -> bool:
    return (
        not query.filters
        and not query.cohort_id
        and query.aggregation is None
        and not query.breakdown
        and not series.filters
        and series.math in ROLLUP_MATHS
        and query.interval != "hour"
        and _whole_hours(period)
        and whole_hour_zone(period)
    )


def _value_sql(math: str) -> str:
    if math != "total":  # `ROLLUP_MATHS` is checked first
        raise ValueError(f"the rollups do not answer math {math!r}")
    return "toFloat64(sum(events))"


def _whole_day(day_start: str, start: str, end: str, interval: str) -> str:
    """The UTC day starting at `day_start` lies inside the range and inside one local bucket."""
    return (
        f"({day_start} >= {start} AND {day_start} + 86400 <= {end} AND "
        f"{bucket_sql(interval, day_start, '{tz:String}')} = "
        f"{bucket_sql(interval, f'{day_start} + 86399', '{tz:String}')})"
    )


def rollup_sql(
    runner: InsightRunner[TrendsQuery], series: TrendSeries, period: Resolved, interval: str
) -> tuple[str, dict[str, Any]]:
    """The raw series SQL's columns (bucket, bd, value, is_total)."""
    params = runner.new_params()
    start = params.add(utc_text(period.start)[:19], "DateTime('UTC')")
    end = params.add(utc_text(period.end)[:19], "DateTime('UTC')")
    event = f" AND event = {params.add(series.event, 'String')}" if series.event is not None else ""
    tenant = "tenant_id = {tenant_id:String}"
    hour_day = "toDateTime(toDate(hour), 'UTC')"
    hours = (
        f"SELECT hour AS t, events FROM {runner.runtime.warehouse.table('metrics_daily')} "
        f"WHERE {tenant}{event} AND hour >= {start} AND hour < {end} "
        f"AND NOT {_whole_day(hour_day, start, end, interval)}"
    )
    day_start = "toDateTime(day, 'UTC')"
    days = (
        f"SELECT {day_start} AS t, events FROM {runner.runtime.warehouse.table('metrics_monthly')} "
        f"WHERE {tenant}{event} AND day >= toDate({start}) AND day < toDate({end}) "
        f"AND {_whole_day(day_start, start, end, interval)}"
    )
    bucket = bucket_sql(interval, "t", "{tz:String}")
    rows = days if days_only(period) else f"{hours} UNION ALL {days}"
    sql = (
        f"SELECT {bucket} AS bucket, CAST([], 'Array(String)') AS bd, {_value_sql(series.math)} AS value, "
        "grouping(bucket) AS is_total "
        f"FROM ({rows}) GROUP BY GROUPING SETS ((bucket, bd), (bd))"
    )
    return sql, params.values
