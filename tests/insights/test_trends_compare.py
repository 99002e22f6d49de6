"""Compare to the previous period (issue 27 item 3): the previous period is the same number of local
calendar buckets immediately before the current range (real hours for `hour`), aligned point by
point, never a fixed number of seconds; checked on the issue's example and against a zoneinfo
reference across daylight-saving changes in four zones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run


def test_previous_week_across_spring_change_in_berlin(runtime):
    """The issue's example: Europe/Berlin moves to summer time on 2026-03-29."""
    tenant = new_tenant("Europe/Berlin")
    load(
        runtime,
        tenant,
        [
            Ev("u1", "visit", datetime(2026, 3, 22, 22, 30, tzinfo=UTC)),  # 23:30 on 03-22 in Berlin
            Ev("u1", "visit", datetime(2026, 4, 1, 10, 0, tzinfo=UTC)),
        ],
    )
    query = {
        "kind": "trends",
        "series": [{"event": "visit"}],
        "interval": "day",
        "compare": True,
        "date_range": {"date_from": "2026-03-30", "date_to": "2026-04-05"},
    }
    current, previous = run(runtime, tenant, query).series
    assert [p.label for p in current.points] == ["2026-03-30", "2026-03-31", *(f"2026-04-0{i}" for i in range(1, 6))]
    assert [p.label for p in previous.points] == [f"2026-03-{d}" for d in range(23, 30)]
    assert [p.value for p in previous.points] == [0] * 7 and previous.total == 0
    assert current.total == 1


def test_previous_month_steps_back_by_calendar_month(runtime):
    """A month bucket steps back a calendar month; a day that month lacks is its last day."""
    tenant = new_tenant("Europe/Berlin")
    load(
        runtime,
        tenant,
        [
            Ev("u1", "visit", datetime(2026, 2, 27, 23, 30, tzinfo=UTC)),  # 02-28 00:30 in Berlin: inside
            Ev("u1", "visit", datetime(2026, 2, 27, 22, 30, tzinfo=UTC)),  # 02-27 23:30 in Berlin: before
        ],
    )
    query = {
        "kind": "trends",
        "series": [{"event": "visit"}],
        "interval": "month",
        "compare": True,
        "date_range": {"date_from": "2026-03-31", "date_to": "2026-03-31"},
    }
    _, previous = run(runtime, tenant, query).series
    assert [(p.label, p.value) for p in previous.points] == [("2026-02-01", 1)]


# --- property test against a zoneinfo reference --------------------------------------------------------
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]
# days next to 2026's offset changes of those zones (US 03-08, 11-01; EU 03-29, 10-25; Sydney 04-05, 10-04)
CHANGES = [date(2026, m, d) for m, d in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1))]
# days a range of each interval spans, from `length` (1-60): up to 2 days of hours, 12 days, 4 weeks
SPAN_DAYS = {"hour": lambda n: max(1, n // 24), "day": lambda n: min(n, 12), "week": lambda n: 7 * min(n, 4)}


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _reference_previous(tz: str, interval: str, first: date, last: date) -> tuple[datetime, datetime, list[str]]:
    """The previous range [start, end) and its bucket labels, written from the rule in docs/insights.md:
    both ends of the range moved back as many local days / weeks / months as it has points (real
    hours for `hour`); a range of whole days by day or hour ends where the current one starts."""
    zone = ZoneInfo(tz)
    start, end = _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    if interval == "hour":
        hours = int((end - start).total_seconds() // 3600)
        begin = start - timedelta(hours=hours)
        labels = [(begin + timedelta(hours=h)).astimezone(zone).isoformat() for h in range(hours)]
        return begin, start, labels
    if interval == "day":
        days = (last - first).days + 1
        days_before = [first - timedelta(days=days - i) for i in range(days)]
        return _midnight(days_before[0], zone), start, [d.isoformat() for d in days_before]
    if interval == "week":
        monday = first - timedelta(days=first.weekday())
        weeks = ((last - monday).days // 7) + 1
        mondays = [monday - timedelta(weeks=weeks - i) for i in range(weeks)]
        begin = _midnight(first - timedelta(weeks=weeks), zone)
        finish = _midnight(last + timedelta(days=1) - timedelta(weeks=weeks), zone)
        return begin, finish, [m.isoformat() for m in mondays]
    months = (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
    firsts = [_months_back(first, months - i) for i in range(months)]
    begin_month = firsts[0]
    begin_day = min(first.day, ((_months_back(begin_month, -1)) - timedelta(days=1)).day)
    end_next = last + timedelta(days=1)
    end_month = _months_back(end_next, months)
    end_day = min(end_next.day, (_months_back(end_month, -1) - timedelta(days=1)).day)
    return (
        _midnight(begin_month.replace(day=begin_day), zone),
        _midnight(end_month.replace(day=end_day), zone),
        [m.isoformat() for m in firsts],
    )


@pytest.fixture(scope="module")
def tenant():
    return new_tenant("UTC")  # every query names its zone


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    tz=st.sampled_from(ZONES),
    interval=st.sampled_from(["hour", "day", "week", "month"]),
    change=st.sampled_from(CHANGES),
    offset_days=st.integers(-20, 20),
    length=st.integers(1, 60),
    spots=st.lists(st.integers(0, 1_000_000), min_size=0, max_size=30),
)
def test_previous_period_matches_reference(runtime, tenant, tz, interval, change, offset_days, length, spots):
    first = change + timedelta(days=offset_days)
    if interval == "month":  # 1-3 months from any day of the month
        last = _months_back(first, -min(length, 3)) - timedelta(days=1)
    else:
        last = first + timedelta(days=SPAN_DAYS[interval](length) - 1)
    begin, finish, labels = _reference_previous(tz, interval, first, last)
    # random moments from a day before the previous range to a day after it, and its edges
    low, high = begin - timedelta(days=1), finish + timedelta(days=1)
    seconds = int((high - low).total_seconds())
    moments = [low + timedelta(seconds=seconds * s // 1_000_000) for s in spots]
    moments += [begin, begin - timedelta(milliseconds=1), finish - timedelta(milliseconds=1), finish]
    event = f"e_{uuid.uuid4().hex[:8]}"  # one tenant for every example, a fresh event name each
    events = [Ev(f"u{i % 3}", event, at) for i, at in enumerate(moments)]
    load(runtime, tenant, events)
    query = {
        "kind": "trends",
        "series": [{"event": event}],
        "interval": interval,
        "timezone": tz,
        "compare": True,
        "date_range": {"date_from": first.isoformat(), "date_to": last.isoformat()},
    }
    current, previous = run(runtime, tenant, query).series
    assert previous.compare == "previous"
    assert [p.label for p in previous.points] == labels
    assert len(previous.points) == len(current.points)
    expected: dict[str, float] = {}
    for e in events:
        if begin <= e.at < finish:
            key = reference.label(reference.bucket(e.at, interval, tz), tz)
            expected[key] = expected.get(key, 0) + 1
    assert {p.label: p.value for p in previous.points if p.value} == expected
    assert previous.total == sum(expected.values()) >= 2  # the two edge events inside
