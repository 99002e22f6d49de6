"""The pre-aggregation planner: when retention and engagement read `person_weeks` instead of `events`.

`person_weeks` (warehouse migration 0620, fed by a materialized view on every insert into `events`)
holds one row per tenant, event, UTC week (Monday) and person (`person_key`): the UTC hours of the
week in which the person did the event (a 168-bit mask: `h0` hours 0-63, `h1` 64-127, `h2`
128-167), the first event time and the count. Rows with `event = ''` cover every event.

Why it answers exactly: when the zone's UTC offset is whole hours and changes only on whole UTC
hours (at most once a week), and both ends of the window are whole UTC hours, each UTC hour lies
wholly inside one local day (hence week, month) and wholly inside or outside the window. Hour h of
UTC week w lies in local day w + floor((h + offset) / 24). Per UTC week the planner computes in
Python (`week_slots`), for each local bucket meeting the week inside the window, the mask of those
hours; a `person_weeks` row is in the bucket when its hours meet the mask. Per person the buckets
are ORed into 64-bit words (bit i: the window's i-th bucket), which costs far less than collecting
arrays of dates. First-time cohorts use the stored first event time itself (exact to the
millisecond). Duplicates and late events change nothing: masks are ORed, first times are minima.

A query qualifies (`Planner.applies`) when pre-aggregations are enabled (`ANALYTICS_PREAGGREGATIONS`),
it has no breakdown, every filter is a cohort filter (a property filter needs the events' properties),
and the zone's bucket boundaries and the window's ends are whole UTC hours over every window read
(Europe/Berlin and America/Sao_Paulo qualify, DST included; Asia/Kolkata, Australia/Lord_Howe's
half-hour DST and a range ending at 10:30 read raw). Cohort conditions select `distinct_id`; the
pre-aggregation holds `person_key = cityHash64(distinct_id)`, so the condition is rewritten to
hashes (the raw per-person stages already group by that hash, docs/insights.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from analytics_engine.insights.base import TENANT_PREDICATE
from analytics_engine.insights.dates import local_bucket
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


@dataclass(frozen=True)
class WeekOffsets:
    """Per UTC week meeting a window: the zone's UTC offset in hours at the week's start (`before`),
    the hour of the week at which it changes (`change`, 168 when it does not) and the offset from
    then on (`after`). A zone changes its offset at most once a week."""

    weeks: list[date]
    before: list[int]
    change: list[int]
    after: list[int]


def _offset_hours(moment: datetime, zone: ZoneInfo) -> float:
    offset = moment.astimezone(zone).utcoffset()
    return (offset.total_seconds() if offset else 0.0) / 3600


@lru_cache(maxsize=1024)
def week_offsets(window: Window) -> WeekOffsets | None:
    """The offsets of every UTC week meeting `window`, or None when the pre-aggregation cannot answer
    exactly: an end of the window off a whole UTC hour, an offset that is not whole hours, a change
    not on a whole UTC hour, or two changes in one week."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if not (_whole_hour(start) and _whole_hour(end)):
        return None
    zone = ZoneInfo(window.tz)
    found = WeekOffsets([], [], [], [])
    week = datetime.combine(start.date() - timedelta(days=start.weekday()), datetime.min.time(), UTC)
    while week < end:
        hourly = [_offset_hours(week + timedelta(hours=h), zone) for h in range(168)]
        changes = [h for h in range(1, 168) if hourly[h] != hourly[h - 1]]
        last_moment = week + timedelta(days=7) - timedelta(microseconds=1)
        if any(o != int(o) for o in hourly) or len(changes) > 1 or _offset_hours(last_moment, zone) != hourly[-1]:
            return None
        for h in changes:  # the change must fall on the hour: constant through the hour before it
            if _offset_hours(week + timedelta(hours=h) - timedelta(microseconds=1), zone) != hourly[h - 1]:
                return None
        found.weeks.append(week.date())
        found.before.append(int(hourly[0]))
        found.change.append(changes[0] if changes else 168)
        found.after.append(int(hourly[-1]))
        week += timedelta(days=7)
    return found


def hour_aligned(window: Window) -> bool:
    """True when the pre-aggregation answers `window` exactly (`week_offsets` is not None)."""
    return week_offsets(window) is not None and window.start < window.end


_SLOT_TYPES = ("Array(Date)", "Array(UInt16)", "Array(UInt64)", "Array(UInt64)", "Array(UInt64)")
_WORD = (1 << 64) - 1


@lru_cache(maxsize=1024)
def week_slots(window: Window) -> list[tuple[date, int, int, int, int]] | None:
    """(UTC week, bucket number, hour mask words h0, h1, h2) for every local bucket meeting a UTC week
    inside `window`; None when `week_offsets` says the pre-aggregation cannot answer exactly. Hour h of
    week w starts at w + h hours UTC and lies in the local day w + floor((h + offset) / 24)."""
    offsets = week_offsets(window)
    if offsets is None:
        return None
    zone = ZoneInfo(window.tz)
    first = local_bucket(window.start, window.interval, zone)
    assert isinstance(first, date)
    start, end = window.start.timestamp(), window.end.timestamp()
    slots: list[tuple[date, int, int, int, int]] = []
    for week, before, change, after in zip(offsets.weeks, offsets.before, offsets.change, offsets.after, strict=True):
        week_start = datetime.combine(week, datetime.min.time(), UTC).timestamp()
        masks: dict[int, int] = {}
        for hour in range(168):
            if not start <= week_start + hour * 3600 < end:
                continue
            day = week + timedelta(days=(hour + (after if hour >= change else before)) // 24)
            number = _bucket_number(day, first, window.interval)
            masks[number] = masks.get(number, 0) | (1 << hour)
        for number, mask in sorted(masks.items()):
            slots.append((week, number, mask & _WORD, (mask >> 64) & _WORD, mask >> 128))
    return slots or None


def _bucket_number(day: date, first: date, interval: str) -> int:
    """The number of the local bucket holding local `day`, counted from the bucket `first`."""
    if interval == "day":
        return (day - first).days
    if interval == "week":
        return (day - timedelta(days=day.weekday()) - first).days // 7
    return (day.year - first.year) * 12 + day.month - first.month


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


@dataclass
class BucketBits:
    """The buckets of a window numbered from its first (`first`, a Date parameter); `words` 64-bit
    words cover all `count` buckets. `sql` selects `person, w0, w1, ...` once built by
    `Planner.bucket_bits`."""

    interval: str
    first: str
    count: int
    sql: str = ""

    @classmethod
    def of(cls, window: Window, params: Params) -> BucketBits:
        zone = ZoneInfo(window.tz)
        first = local_bucket(window.start, window.interval, zone)
        last = local_bucket(window.end - timedelta(microseconds=1), window.interval, zone)
        assert isinstance(first, date) and isinstance(last, date)
        return cls(window.interval, params.add(first, "Date"), _bucket_number(last, first, window.interval) + 1)

    @property
    def words(self) -> int:
        return (self.count + 63) // 64

    def index(self, bucket: str) -> str:
        """SQL: the number of the bucket starting on date `bucket`."""
        if self.interval == "day":
            return f"toInt32(dateDiff('day', {self.first}, {bucket}))"
        if self.interval == "week":
            return f"toInt32(intDiv(dateDiff('day', {self.first}, {bucket}), 7))"
        return f"toInt32(dateDiff('month', {self.first}, {bucket}))"

    def has(self, number: str) -> str:
        """SQL: whether the person's words (columns w0, w1, ...) hold bucket number `number`."""
        words = ", ".join(f"w{w}" for w in range(self.words))
        return f"bitTest([{words}][intDiv({number}, 64) + 1], {number} % 64)"

    def key(self, number: str) -> str:
        """SQL: the date of bucket `number`."""
        add = {"day": "addDays", "week": "addWeeks", "month": "addMonths"}[self.interval]
        return f"{add}({self.first}, toInt32({number}))"

    def numbers(self) -> str:
        """SQL: the person's bucket numbers, ascending (from the words w0, w1, ...)."""
        parts = ", ".join(f"arrayMap(i -> toInt32(i) + {64 * w}, bitPositionsToArray(w{w}))" for w in range(self.words))
        return f"arrayConcat({parts})"

    def dates(self) -> str:
        """SQL: the person's buckets as sorted dates."""
        return f"arrayMap(n -> {self.key('n')}, {self.numbers()})"


class Planner:
    """Builds a runner's per-person relations from `person_weeks`; `applies` says whether it may."""

    def __init__(self, runner: InsightRunner[Any], params: Params) -> None:
        self.runner = runner
        self.params = params
        self.table = runner.runtime.warehouse.table(PERSON_WEEKS)

    @staticmethod
    def enabled(runner: InsightRunner[Any]) -> bool:
        # Pre-aggregations describe the hot tier: a range reaching cold data reads raw rows.
        return bool(runner.runtime.settings.preaggregations) and not runner.reads_cold

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

    def bucket_bits(self, event: str | None, filters: list[Any], window: Window) -> BucketBits:
        """Per person, the buckets of `window` in which they did `event` (None: any event), as bits:
        bit i of word i // 64 is the window's i-th bucket. Each row of `person_weeks` is joined with
        its week's slots (`week_slots`: per local bucket meeting the week inside the window, the mask
        of those hours) and is in a bucket when its hours meet the slot's mask; ORing 64-bit words per
        person then costs a fraction of collecting dates (`groupUniqArray` states)."""
        layout = BucketBits.of(window, self.params)
        slots = week_slots(window)
        if slots is None:  # `applies` is checked first
            raise ValueError("window not on whole UTC hours")
        params = self.params
        columns = [params.add([slot[n] for slot in slots], kind) for n, kind in enumerate(_SLOT_TYPES)]
        where = self._where(event, filters)
        where += [f"week >= {params.add(slots[0][0], 'Date')}", f"week <= {params.add(slots[-1][0], 'Date')}"]
        words = ", ".join(
            f"groupBitOr(if(intDiv(k, 64) = {w}, bitShiftLeft(toUInt64(1), toUInt8(k % 64)), toUInt64(0))) AS w{w}"
            for w in range(layout.words)
        )
        meets = "bitOr(bitOr(bitAnd(p.h0, m.m0), bitAnd(p.h1, m.m1)), bitAnd(p.h2, m.m2)) != 0"
        layout.sql = (
            f"SELECT person, {words} FROM (SELECT p.person AS person, m.k AS k FROM "
            f"(SELECT person_key AS person, week, h0, h1, h2 FROM {self.table} WHERE {' AND '.join(where)}) AS p "
            f"INNER JOIN (SELECT s.1 AS week, s.2 AS k, s.3 AS m0, s.4 AS m1, s.5 AS m2 "
            f"FROM (SELECT arrayJoin(arrayZip({', '.join(columns)})) AS s)) AS m ON p.week = m.week "
            f"WHERE {meets}) GROUP BY person"
        )
        return layout

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
