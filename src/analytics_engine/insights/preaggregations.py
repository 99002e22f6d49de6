"""The pre-aggregation planner: when retention and engagement read `person_days` instead of `events`.

`person_days` (warehouse migration 0620, fed by a materialized view on every insert into `events`)
holds one row per tenant, event, UTC day and person (`person_key`): the first and last event time of
that day and the count; rows with `event = ''` cover every event of the person that day.

Why a UTC day answers local questions exactly: the local days (and so weeks and months, whose
boundaries are local midnights) a person was active on during one UTC day are exactly the local
days of that day's first and last events, as long as the UTC day touches at most two local days.
It touches three only when a whole local day lies strictly inside it (a day shorter than 24 hours
whose both ends fall inside one UTC day); `day_grain_exact` checks every local day of the window in
Python and the runner reads raw events if one does. Half-hour zones (Asia/Kolkata) qualify;
DST zones (Europe/Berlin, America/Sao_Paulo) too.

Where a window does not start or end at UTC midnight, the partial UTC days at its edges are read
from `events` (single events as spans of one moment), so every event of the window is counted from
exactly one source and the answer equals the raw one. Duplicates and late events change nothing:
the answers use sets of buckets and minimum times only, which a duplicate row cannot move.

A query qualifies when (`plan`): pre-aggregations are enabled (`ANALYTICS_PREAGGREGATIONS`), it has
no breakdown, every filter is a cohort filter (a property filter needs the events' properties), and
the zone passes `day_grain_exact` over the windows read. Cohort conditions select `distinct_id`;
the pre-aggregation holds `person_key = cityHash64(distinct_id)`, so the condition is rewritten to
hashes (the raw per-person stages already group by that hash, docs/insights.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from analytics_engine.insights.base import TENANT_PREDICATE
from analytics_engine.insights.filters import CohortConditions, CohortFilter, Params, filters_sql
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

PERSON_DAYS = "person_days"
# The rows of `person_days` that cover every event (event names are never empty).
ANY_EVENT = ""
SERVED_BY = "preaggregation"
_MEMBERS = ("(distinct_id IN (SELECT distinct_id FROM ", "(distinct_id NOT IN (SELECT distinct_id FROM ")


@lru_cache(maxsize=4096)
def _local_day_inside_utc_day(tz: str, first: date, last: date) -> bool:
    zone = ZoneInfo(tz)
    day = first
    start = _local_midnight(day, zone)
    while day <= last:
        following = day + timedelta(days=1)
        end = _local_midnight(following, zone)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if start > midnight and end < midnight + timedelta(days=1):
            return True
        day, start = following, end
    return False


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment local `day` starts (where a change skips midnight: the first moment of the day)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def day_grain_exact(tz: str, start: datetime, end: datetime) -> bool:
    """True when every UTC day between `start` and `end` touches at most two local days of `tz`."""
    zone = ZoneInfo(tz)
    first = (start.astimezone(zone) - timedelta(days=2)).date()
    last = (end.astimezone(zone) + timedelta(days=2)).date()
    return not _local_day_inside_utc_day(tz, first, last)


def cohort_only(filters: list[Any]) -> bool:
    return all(isinstance(item, CohortFilter) for item in filters)


def person_condition(cohorts: CohortConditions, item: CohortFilter, params: Params) -> str | None:
    """The cohort condition on `person_key` (the hash of the members' distinct ids); None when the
    resolved condition does not have the shape this rewrite knows (then the runner reads raw)."""
    sql = cohorts.condition(item.cohort_id, item.operator == "not_in", params)
    if not sql.startswith(_MEMBERS):
        return None
    return sql.replace("distinct_id", "person_key", 1).replace(
        "SELECT distinct_id FROM", "SELECT cityHash64(distinct_id) FROM", 1
    )


def _utc_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _utc_ceil(moment: datetime) -> datetime:
    floor = _utc_floor(moment)
    return floor if floor == moment.astimezone(UTC) else floor + timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """`[start, end)` split into whole UTC days `[inner_start, inner_end)` (read from the
    pre-aggregation) and the partial days at its edges (read from events)."""

    start: datetime
    end: datetime

    @property
    def inner(self) -> tuple[datetime, datetime] | None:
        inner_start, inner_end = _utc_ceil(self.start), _utc_floor(self.end)
        return (inner_start, inner_end) if inner_start < inner_end else None

    @property
    def edges(self) -> list[tuple[datetime, datetime]]:
        inner = self.inner
        if inner is None:
            return [(self.start, self.end)] if self.start < self.end else []
        return [(a, b) for a, b in ((self.start, inner[0]), (inner[1], self.end)) if a < b]


class Planner:
    """Builds, for one runner, the relation `(person, first_ts, last_ts)` of a kind of event over a
    window: one row per person and UTC day inside it (the day's first and last event), plus one row
    per event in the partial days at its edges. `applies` says whether the runner may use it."""

    def __init__(self, runner: InsightRunner[Any], params: Params) -> None:
        self.runner = runner
        self.params = params
        self.table = runner.runtime.warehouse.table(PERSON_DAYS)

    @staticmethod
    def enabled(runner: InsightRunner[Any]) -> bool:
        return bool(getattr(runner.runtime.settings, "preaggregations", True))

    @classmethod
    def applies(cls, runner: InsightRunner[Any], filters: list[Any], windows: list[Window], breakdown: bool) -> bool:
        if not cls.enabled(runner) or breakdown or not cohort_only(filters):
            return False
        for item in filters:
            sql, _ = runner.cohorts.resolved.get((item.cohort_id, item.operator == "not_in"), ("", {}))
            if not sql.startswith(_MEMBERS[0][1:]) and not sql.startswith(_MEMBERS[1][1:]):
                return False
        return all(day_grain_exact(runner.tz, w.start, w.end) for w in windows)

    def spans(self, event: str | None, filters: list[Any], window: Window) -> str:
        params = self.params
        parts: list[str] = []
        inner = window.inner
        if inner is not None:
            name = params.add(ANY_EVENT if event is None else event, "String")
            where = [
                TENANT_PREDICATE,
                f"event = {name}",
                f"day >= {params.add(inner[0].date(), 'Date')}",
                f"day < {params.add(inner[1].date(), 'Date')}",
            ]
            for item in filters:
                condition = person_condition(self.runner.cohorts, item, params)
                if condition is None:  # `applies` checked every condition's shape
                    raise ValueError(f"cohort {item.cohort_id}: condition not on distinct_id")
                where.append(condition)
            parts.append(
                f"SELECT person_key AS person, first_ts, last_ts FROM {self.table} WHERE {' AND '.join(where)}"
            )
        for start, end in window.edges:
            where = [
                TENANT_PREDICATE,
                f"timestamp >= {params.add(utc_text(start), 'DateTime64(3)')}",
                f"timestamp < {params.add(utc_text(end), 'DateTime64(3)')}",
            ]
            if event is not None:
                where.append(f"event = {params.add(event, 'String')}")
            where += filters_sql(filters, params, self.runner.cohorts)
            parts.append(
                f"SELECT person_key AS person, timestamp AS first_ts, timestamp AS last_ts "
                f"FROM {self.runner.events} WHERE {' AND '.join(where)}"
            )
        if not parts:  # an empty window
            return "SELECT toUInt64(0) AS person, now64(3) AS first_ts, now64(3) AS last_ts WHERE 0"
        return " UNION ALL ".join(parts)


def fresh_as_of() -> datetime:
    """How fresh a pre-aggregated answer is: `person_days` is written by the same insert as `events`
    (a materialized view), so every event committed before the statement ran is in it."""
    return datetime.now(UTC)
