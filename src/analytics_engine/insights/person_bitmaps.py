"""The person bitmaps' planner: retention and DAU/WAU/MAU from `person_hours`.

`person_hours` (warehouse migration 1800, fed by a materialized view on every insert into `events`)
holds per tenant, event (and '' for any event) and UTC hour a roaring bitmap of the dense ids of the
people active in it (personids/). Under the rules `person_weeks` already uses
(`preaggregations.hour_aligned`: both ends of every window on whole UTC hours, the zone's offset
whole hours throughout), every UTC hour lies wholly inside one local day, week or month, so the
local bucket of an hour row is `bucket_sql(period, hour)` and:

- recurring retention: cohort k = the people with a start event in bucket k of the range;
- first-time retention: cohort k = the people with a start event in bucket k of the range less
  everyone with one before (the history before the range and buckets 0..k-1): exactly the people
  whose first start event falls in bucket k (a late event moves a person by the same rule as the raw
  `min(timestamp)`); cell (k, p) = |cohort k AND returns of bucket k + p|;
- DAU/WAU/MAU per local day: the cardinality of the day's OR, and of the ORs over the 7 and 30 days
  ending that day (days without activity included).

OR is idempotent: duplicates and replayed batches change nothing. Cohort filters become an AND with
the bitmap of the ids of the people the cohort condition selects (`person_ids`).

Used when `ANALYTICS_PERSON_BITMAPS` (default true) and pre-aggregations are on, with the embedded
warehouse only (ids are allocated per process); `person_weeks` or raw events answer otherwise.
Breakdowns, property filters and group aggregations are not served from here.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from analytics_engine.insights.base import SQL, TENANT_PREDICATE
from analytics_engine.insights.dates import Resolved, bucket_sql, period_start
from analytics_engine.insights.filters import CohortFilter, Params
from analytics_engine.insights.preaggregations import ANY_EVENT, Window, cohorts_on_people, hour_aligned
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner
    from analytics_engine.insights.engagement import EngagementRunner
    from analytics_engine.insights.retention import RetentionRunner

TABLE = "person_hours"
EMPTY = "bitmapBuild(CAST([], 'Array(UInt32)'))"


def enabled(runner: InsightRunner[Any]) -> bool:
    settings = runner.runtime.settings
    return (
        bool(getattr(settings, "person_bitmaps", False))  # runtimes built by hand (SQL snapshots) lack it
        and bool(settings.preaggregations)
        # ids are allocated per process (personids/allocator.py): only chDB guarantees one process
        and runner.runtime.warehouse.embedded
        and not runner.reads_cold  # the bitmaps describe the hot tier only
        and getattr(runner.query, "aggregation", None) is None  # ids are people, not groups
    )


def applies(runner: InsightRunner[Any], filters: list[Any], windows: list[Window], breakdown: bool) -> bool:
    return (
        enabled(runner)
        and not breakdown
        and cohorts_on_people(runner.cohorts, filters)
        and all(hour_aligned(window) for window in windows)
    )


class Bitmaps:
    """SQL pieces over `person_hours` for one statement's parameters."""

    def __init__(self, runner: InsightRunner[Any], params: Params) -> None:
        self.runner = runner
        self.params = params
        self.table = runner.runtime.warehouse.table(TABLE)
        self.ids = runner.runtime.warehouse.table("person_ids")

    def moment(self, value: Any) -> str:
        return f"toDateTime({self.params.add(utc_text(value)[:19], 'String')}, 'UTC')"

    def hours(self, event: str | None, start: Any, end: Any) -> str:
        """The conditions of the rows of `event` (None: any event) with hours in [start, end)."""
        where = [TENANT_PREDICATE, f"event = {self.params.add(ANY_EVENT if event is None else event, 'String')}"]
        if start is not None:
            where.append(f"hour >= {self.moment(start)}")
        where.append(f"hour < {self.moment(end)}")
        return " AND ".join(where)

    def mask(self, filters: list[Any]) -> str | None:
        """SQL: the bitmap of the ids of the people every cohort filter selects (None: no filter)."""
        conditions = [
            self.runner.cohorts.condition(item.cohort_id, item.operator == "not_in", self.params)
            for item in filters
            if isinstance(item, CohortFilter)
        ]
        if not conditions:
            return None
        return (
            f"(SELECT groupBitmapState(person_id) FROM {self.ids} WHERE {TENANT_PREDICATE} AND distinct_id != '' "
            f"AND {' AND '.join(conditions)})"
        )


def _masked(state: str, mask: str | None) -> str:
    return state if mask is None else f"bitmapAnd({state}, {mask})"


def retention_sql(runner: RetentionRunner) -> SQL:
    """Retention: rows (cohort, bd = [], size, [returned in period 1 .. periods-1])."""
    query = runner.query
    params = runner.new_params()
    bits = Bitmaps(runner, params)
    base = list(query.all_filters())
    start_mask = bits.mask([*base, *query.start_event.filters])
    return_mask = bits.mask([*base, *query.return_event.filters])
    bucket = bucket_sql(query.period, "hour", "{tz:String}")
    cohorts: list[date] = [b for b in runner.cohort_buckets if isinstance(b, date)]
    returns = sorted({period_start(c, query.period, p) for c in cohorts for p in range(1, query.periods)})
    index = [[returns.index(period_start(c, query.period, p)) + 1 for p in range(1, query.periods)] for c in cohorts]
    start, end, cutoff = runner.range.start, runner.range.end, runner.return_cutoff()
    starts = (
        f"SELECT groupArray(b) AS sb, groupArray(st) AS ss FROM (SELECT {bucket} AS b, "
        f"groupBitmapMergeState(people) AS st FROM {bits.table} "
        f"WHERE {bits.hours(query.start_event.event, start, end)} GROUP BY b)"
    )
    history = (
        f"SELECT groupBitmapMergeState(people) AS h FROM {bits.table} "
        f"WHERE {bits.hours(query.start_event.event, None, start)}"
    )
    back = (
        f"SELECT groupArray(b) AS rb, groupArray(st) AS rs FROM (SELECT {bucket} AS b, "
        f"groupBitmapMergeState(people) AS st FROM {bits.table} "
        f"WHERE {bits.hours(query.return_event.event, start, cutoff)} GROUP BY b)"
    )
    cohort_dates = params.add(cohorts, "Array(Date)")
    return_dates = params.add(returns, "Array(Date)")
    cells_at = params.add(index, "Array(Array(UInt32))")
    pick = "if(has({keys}, d), {states}[indexOf({keys}, d)], " + EMPTY + ")"
    per_start = _masked(pick.format(keys="sb", states="ss"), start_mask)
    per_return = _masked(pick.format(keys="rb", states="rs"), return_mask)
    # s[k]: starts of cohort bucket k; c[k]: the cohort (first-time: those whose first start falls
    # there, i.e. not in the history nor an earlier bucket; recurring: all of them); r[j]: returns.
    cohorts_of = (
        "arrayMap(k -> bitmapAndnot(s[k], arrayFold((acc, x) -> bitmapOr(acc, x), arraySlice(s, 1, k - 1), h)), "
        "range(1, length(s) + 1))"
        if query.start_type == "first_time"
        else "s"
    )
    sql = (
        "SELECT t.1 AS cohort, CAST([], 'Array(String)') AS bd, t.2 AS size, t.3 AS returned FROM ("
        f"SELECT arrayJoin(arrayMap(k -> ({cohort_dates}[k], bitmapCardinality(c[k]), "
        f"arrayMap(j -> bitmapAndCardinality(c[k], r[j]), {cells_at}[k])), range(1, length(c) + 1))) AS t "
        f"FROM (SELECT {cohorts_of} AS c, r FROM ("
        f"SELECT arrayMap(d -> {per_start}, {cohort_dates}) AS s, {_masked('hist.h', start_mask)} AS h, "
        f"arrayMap(d -> {per_return}, {return_dates}) AS r "
        f"FROM ({starts}) AS st CROSS JOIN ({history}) AS hist CROSS JOIN ({back}) AS rt)))"
    )
    return SQL("retention:person_hours", sql, params.values)


def active_users_sql(runner: EngagementRunner) -> SQL:
    """DAU/WAU/MAU: rows (day, dau, wau, mau) for every local day of the range."""
    query = runner.query
    params = runner.new_params()
    bits = Bitmaps(runner, params)
    mask = bits.mask([*query.all_filters(), *query.event_filters])
    window = runner._active_window()
    first_day, last_day = runner.buckets[0], runner.buckets[-1]
    assert isinstance(first_day, date) and isinstance(last_day, date)
    # every local day of the window: a day without activity still has a WAU and a MAU
    from_day = window.start.astimezone(runner.range.zone).date()
    days = [from_day + timedelta(days=i) for i in range((last_day - from_day).days + 1)]
    day = bucket_sql("day", "hour", "{tz:String}")
    states = (
        f"SELECT d, {_masked('groupBitmapMergeState(st)', mask)} AS st FROM ("
        f"SELECT {day} AS d, people AS st FROM {bits.table} WHERE {bits.hours(query.event, window.start, window.end)} "
        f"UNION ALL SELECT arrayJoin({params.add(days, 'Array(Date)')}) AS d, {EMPTY} AS st) GROUP BY d"
    )
    sql = (
        "SELECT d, dau, wau, mau FROM (SELECT d, bitmapCardinality(st) AS dau, "
        "groupBitmapMerge(st) OVER (ORDER BY toUInt32(d) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS wau, "
        "groupBitmapMerge(st) OVER (ORDER BY toUInt32(d) RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS mau "
        f"FROM ({states})) WHERE d >= {params.add(first_day, 'Date')} AND d <= {params.add(last_day, 'Date')}"
    )
    return SQL("active_users:person_hours", sql, params.values)


def trend_applies(runner: InsightRunner[Any], filters: list[Any], windows: list[Window]) -> bool:
    """A unique-users trend series is answered exactly from the bitmaps: `applies` (no breakdown,
    only cohort filters, every window on whole UTC hours in a whole-hour zone)."""
    return applies(runner, filters, windows, breakdown=False)


def unique_users_sql(
    runner: InsightRunner[Any], event: str | None, filters: list[Any], period: Resolved
) -> tuple[str, dict[str, Any]]:
    """A unique-users trend series as the raw series SQL's rows (bucket, bd, value, is_total).

    Each UTC hour of [start, end) lies wholly in one local bucket (`trend_applies`), so a bucket's
    people are the OR of its hours' bitmaps and the total the OR of all of them; cohort filters are
    an AND with the cohort's bitmap. Cumulative: the people first seen in each bucket, as the raw
    path gives them (the runner adds them up): the running OR's cardinality less the previous one's."""
    interval, cumulative = runner.query.interval, runner.query.cumulative
    start, end = period.start, period.end
    params = runner.new_params()
    bits = Bitmaps(runner, params)
    mask = bits.mask(filters)
    bucket = bucket_sql(interval, "hour", "{tz:String}")
    per_bucket = (
        f"SELECT {bucket} AS b, {_masked('groupBitmapMergeState(people)', mask)} AS st FROM {bits.table} "
        f"WHERE {bits.hours(event, start, end)} GROUP BY b"
    )
    bd = "CAST([], 'Array(String)') AS bd"
    if not cumulative:
        sql = (
            f"SELECT b AS bucket, {bd}, toFloat64(groupBitmapMerge(st)) AS value, grouping(bucket) AS is_total "
            f"FROM ({per_bucket}) GROUP BY GROUPING SETS ((bucket, bd), (bd))"
        )
        return sql, params.values
    running = (
        "SELECT b, toUInt64(groupBitmapMerge(st) OVER (ORDER BY b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) "
        f"AS upto FROM ({per_bucket})"
    )
    sql = (
        f"SELECT b AS bucket, {bd}, toFloat64(upto - lagInFrame(upto, 1, toUInt64(0)) "
        f"OVER (ORDER BY b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)) AS value, toUInt8(0) AS is_total "
        f"FROM ({running}) "
        f"UNION ALL SELECT max(b) AS bucket, {bd}, toFloat64(groupBitmapMerge(st)) AS value, toUInt8(1) AS is_total "
        f"FROM ({per_bucket})"
    )
    return sql, params.values
