"""The pre-aggregation planner: when retention and engagement read `person_weeks` instead of `events`.

`person_weeks` (warehouse migration 0620, fed by a materialized view on every insert into `events`)
holds one row per tenant, event, UTC week (Monday) and person (`person_key`): the UTC hours of the
week in which the person did the event (a 168-bit mask: `h0` hours 0-63, `h1` 64-127, `h2`
128-167), the first event time and the count. Rows with `event = ''` cover every event.

Why it answers exactly: when every local bucket boundary (local midnight, or the first moment of a
day whose midnight a daylight-saving change skips) and both ends of the window fall on whole UTC
hours, each UTC hour lies wholly inside one local day, week or month, and wholly inside or outside
the window. The buckets a person was active in during a window are then exactly the buckets of
the starts of their active hours in it (`bitPositionsToArray` of a row's masks gives the hours; a
person-week has a handful). The check runs in Python over the window's local buckets. First-time
cohorts use the stored first event time itself (exact to the millisecond). Duplicates and late
events change nothing: masks are ORed, first times are minima.

A query qualifies (`Planner.applies`) when pre-aggregations are enabled (`ANALYTICS_PREAGGREGATIONS`),
it has no breakdown, every filter is a cohort filter (a property filter needs the events' properties),
and the zone's bucket boundaries and the window's ends are whole UTC hours over every window read
(Europe/Berlin and America/Sao_Paulo qualify, DST included; Asia/Kolkata and a range ending at 10:30
read raw). Cohort conditions select `distinct_id`; the pre-aggregation holds `person_key =
cityHash64(distinct_id)`, so the condition is rewritten to hashes (the raw per-person stages already
group by that hash, docs/insights.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from analytics_engine.insights.base import TENANT_PREDICATE
from analytics_engine.insights.dates import add_months, bucket_sql, local_bucket
from analytics_engine.insights.filters import CohortConditions, CohortFilter, Params
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

PERSON_WEEKS = "person_weeks"
# The rows of `person_weeks` that cover every event (event names are never empty).
ANY_EVENT = ""
SERVED_BY = "preaggregation"
_MEMBERS = ("distinct_id IN (SELECT distinct_id FROM ", "distinct_id NOT IN (SELECT distinct_id FROM ")


@dataclass(frozen=True)
class Window:
    """Events in `[start, end)` (UTC), put into local buckets of `interval` in zone `tz`."""

    start: datetime
    end: datetime
    interval: str
    tz: str


def _whole_hour(moment: datetime) -> bool:
    return moment.minute == 0 and moment.second == 0 and moment.microsecond == 0


def _next_key(key: date, interval: str) -> date:
    if interval == "day":
        return key + timedelta(days=1)
    if interval == "week":
        return key + timedelta(days=7)
    return add_months(key, 1)


def _local_start(key: date, zone: ZoneInfo) -> datetime:
    """The UTC moment local day `key` starts (where a change skips midnight: its first moment)."""
    return datetime(key.year, key.month, key.day, tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=1024)
def hour_aligned(window: Window) -> bool:
    """True when both ends of `window` and every local bucket boundary in it are whole UTC hours, so
    each UTC hour lies wholly inside one bucket and wholly inside or outside the window."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if not (_whole_hour(start) and _whole_hour(end)):
        return False
    zone = ZoneInfo(window.tz)
    key = local_bucket(start, window.interval, zone)
    assert isinstance(key, date)
    while True:
        moment = _local_start(key, zone)
        if not _whole_hour(moment):
            return False
        if moment >= end:
            return True
        key = _next_key(key, window.interval)


def cohorts_on_people(cohorts: CohortConditions, filters: list[Any]) -> bool:
    """Every filter is a cohort filter whose resolved condition this module can put on `person_key`."""
    for item in filters:
        if not isinstance(item, CohortFilter):
            return False
        sql, _ = cohorts.resolved.get((item.cohort_id, item.operator == "not_in"), ("", {}))
        if not sql.startswith(_MEMBERS):
            return False
    return True


def person_condition(cohorts: CohortConditions, item: CohortFilter, params: Params) -> str:
    """The cohort condition on `person_key` (the hash of the members' distinct ids)."""
    sql = cohorts.condition(item.cohort_id, item.operator == "not_in", params)
    if not sql[1:].startswith(_MEMBERS):  # `cohorts_on_people` is checked first
        raise ValueError(f"cohort {item.cohort_id}: condition not on distinct_id")
    return sql.replace("distinct_id", "person_key", 1).replace(
        "SELECT distinct_id FROM", "SELECT cityHash64(distinct_id) FROM", 1
    )


class Planner:
    """Builds a runner's per-person relations from `person_weeks`; `applies` says whether it may."""

    def __init__(self, runner: InsightRunner[Any], params: Params) -> None:
        self.runner = runner
        self.params = params
        self.table = runner.runtime.warehouse.table(PERSON_WEEKS)

    @staticmethod
    def enabled(runner: InsightRunner[Any]) -> bool:
        # a runtime without settings (SQL snapshots build SQL on a bare facade) takes the default
        return bool(getattr(getattr(runner.runtime, "settings", None), "preaggregations", True))

    @classmethod
    def applies(cls, runner: InsightRunner[Any], filters: list[Any], windows: list[Window], breakdown: bool) -> bool:
        return (
            cls.enabled(runner)
            and not breakdown
            and cohorts_on_people(runner.cohorts, filters)
            and all(hour_aligned(window) for window in windows)
        )

    def _where(self, event: str | None, filters: list[Any]) -> list[str]:
        where = [TENANT_PREDICATE, f"event = {self.params.add(ANY_EVENT if event is None else event, 'String')}"]
        where += [person_condition(self.runner.cohorts, item, self.params) for item in filters]
        return where

    def buckets(self, event: str | None, filters: list[Any], window: Window) -> str:
        """`(person, buckets)`: per row of the window's weeks, the local buckets (Array(Date)) in which
        the person did `event` (None: any event) inside the window: the buckets of the row's active
        hours (`bitPositionsToArray` of the mask) that start inside it."""
        if not hour_aligned(window):  # `applies` is checked first
            raise ValueError("window not on whole UTC hours")
        params = self.params
        start = params.add(utc_text(window.start)[:19], "DateTime('UTC')")
        end = params.add(utc_text(window.end)[:19], "DateTime('UTC')")
        where = self._where(event, filters)
        # weeks meeting the window: from the UTC Monday of its start to the one holding its last moment
        # (a week starting on end's day is read too; `t < end` drops its hours)
        where += [f"week >= toMonday({start})", f"week <= toDate({end})"]
        hours = ", ".join(
            f"arrayMap(h -> base + (h + {64 * word}) * 3600, bitPositionsToArray(h{word}))" for word in range(3)
        )
        inside = f"arrayFilter(t -> t >= {start} AND t < {end}, arrayConcat({hours}))"
        bucket = bucket_sql(window.interval, "t", "{tz:String}")
        return (
            f"SELECT person, arrayDistinct(arrayMap(t -> {bucket}, {inside})) AS buckets "
            f"FROM (SELECT person_key AS person, h0, h1, h2, toDateTime(week, 'UTC') AS base FROM {self.table} "
            f"WHERE {' AND '.join(where)})"
        )

    def first_times(self, event: str | None, filters: list[Any], end: datetime) -> str:
        """`(person, first_ts)`: the first time each person did `event` before `end` (people whose
        first time is at or after `end` are left out)."""
        params = self.params
        before = params.add(utc_text(end), "DateTime64(3)")
        where = self._where(event, filters)
        # every week starting on or before end's UTC day: all events before end, and maybe a few after
        where.append(f"week <= toDate({before})")
        return (
            f"SELECT person_key AS person, min(first_ts) AS first_ts FROM {self.table} "
            f"WHERE {' AND '.join(where)} GROUP BY person HAVING first_ts < {before}"
        )


def fresh_as_of() -> datetime:
    """How fresh a pre-aggregated answer is: `person_weeks` is written by the same insert as `events`
    (a materialized view), so every event committed before the statement ran is in it."""
    return datetime.now(UTC)
