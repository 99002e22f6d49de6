"""A plain-Python retention reference, written from docs/insights.md ("Retention") and sharing no code
with the engine: cohorts, cells, nulls for periods not reached by `now`, and the totals.

Events are `tests.insights.reference.Ev` (user, event, aware datetime). Periods are local days,
Monday weeks or months of `tz`; a period "starts" at its local midnight.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.insights.reference import Ev


@dataclass
class Answer:
    cohorts: dict[str, list[int | None]]  # cohort date -> [size, period 1, ...] (None: not reached)
    percentages: dict[str, list[float | None]]
    retention: list[float | None]  # totals
    reached: list[int]
    returned: list[int]
    people: int


def _period_of(moment: datetime, period: str, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _shift(first: date, period: str, n: int) -> date:
    if period == "day":
        return first + timedelta(days=n)
    if period == "week":
        return first + timedelta(days=7 * n)
    months = first.year * 12 + first.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def _begins(first: date, zone: ZoneInfo) -> datetime:
    """When the local period starting on `first` begins (local midnight; resolved by zoneinfo)."""
    return datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)


def _pct(part: int, whole: int) -> float:
    return round(part / whole * 100, 3) if whole else 0.0


def retention(
    events: list[Ev],
    *,
    start_event: str,
    return_event: str,
    period: str,
    periods: int,
    start_type: str,
    tz: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Answer:
    zone = ZoneInfo(tz)
    # every cohort period touching [start, end)
    all_cohorts: list[date] = []
    current = _period_of(start, period, zone)
    last = _period_of(end - timedelta(microseconds=1), period, zone)
    while current <= last:
        all_cohorts.append(current)
        current = _shift(current, period, 1)

    members: dict[date, set[str]] = defaultdict(set)
    for user in sorted({e.user for e in events}):
        starts = sorted(e.at for e in events if e.user == user and e.event == start_event and e.at < end)
        chosen = starts[:1] if start_type == "first_time" else starts
        for at in chosen:
            if at >= start:
                members[_period_of(at, period, zone)].add(user)
    returns: dict[str, set[date]] = defaultdict(set)
    for e in events:
        if e.event == return_event:
            returns[e.user].add(_period_of(e.at, period, zone))

    cohorts: dict[str, list[int | None]] = {}
    percentages: dict[str, list[float | None]] = {}
    reached = [0] * periods
    returned = [0] * periods
    any_reached = [False] * periods
    for cohort in all_cohorts:
        people = members.get(cohort, set())
        row: list[int | None] = [len(people)]
        for p in range(1, periods):
            target = _shift(cohort, period, p)
            if _begins(target, zone) > now:
                row.append(None)
            else:
                row.append(sum(1 for u in people if target in returns[u]))
        for p, value in enumerate(row):
            if value is not None:
                any_reached[p] = True
                reached[p] += len(people)
                returned[p] += value
        cohorts[cohort.isoformat()] = row
        percentages[cohort.isoformat()] = [None if v is None else _pct(v, len(people)) for v in row]
    totals: list[float | None] = [_pct(returned[p], reached[p]) if any_reached[p] else None for p in range(periods)]
    return Answer(cohorts, percentages, totals, reached, returned, reached[0])


def as_dict(answer: Any) -> dict[str, Any]:
    """The engine's InsightResponse in the reference's terms (for one assert with a readable diff)."""
    return {
        "cohorts": {c.date: c.values for c in answer.retention},
        "percentages": {c.date: c.percentages for c in answer.retention},
        "retention": answer.totals["retention"],
        "reached": answer.totals["reached"],
        "returned": answer.totals["returned"],
        "people": answer.totals["people"],
    }
