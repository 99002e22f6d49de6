"""Retention against the plain-Python reference (tests/insights/retention_reference.py): cohort sizes,
cells, null cells for periods not reached by `now`, and totals weighted over the cohorts that reached
each period. Plus the rules of issue 27 item 8: the local-calendar return cut-off across an autumn
daylight-saving change, and top-N breakdown values ranked by distinct people."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.insights import parse_insight_query, runner_for
from tests.insights import retention_reference as ref
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant

# Data runs to 70 days later, over the 2026 autumn changes (Berlin 10-25, New York 11-01).
START = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
_example = itertools.count()


def compute(runtime: Any, tenant: Any, query: dict[str, Any], now: datetime) -> Any:
    return runner_for(runtime, tenant, parse_insight_query(query), now=now).run(refresh=True)


@pytest.fixture(scope="module")
def shared_tenant() -> Any:
    # One tenant for every example (each example uses its own event names, so examples never meet).
    return new_tenant("UTC")


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(-24 * 5, 24 * 70)), min_size=1, max_size=25),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    period=st.sampled_from(["day", "week", "month"]),
    periods=st.integers(1, 5),
    start_type=st.sampled_from(["first_time", "recurring"]),
    range_days=st.integers(1, 40),
    now_hours=st.integers(0, 24 * 80),
)
def test_retention_matches_reference(
    runtime, shared_tenant, raw, tz, period, periods, start_type, range_days, now_hours
):
    n = next(_example)
    start_name, return_name = f"start_{n}", f"return_{n}"
    events = [
        Ev(f"u{user}", start_name if is_start else return_name, START + timedelta(hours=hours))
        for user, is_start, hours in raw
    ]
    load(runtime, shared_tenant, events)
    end = START + timedelta(days=range_days)
    now = START + timedelta(hours=now_hours)
    query = {
        "kind": "retention",
        "start_event": {"event": start_name},
        "return_event": {"event": return_name},
        "period": period,
        "periods": periods,
        "start_type": start_type,
        "timezone": tz,
        "date_range": {"date_from": iso(START), "date_to": iso(end)},
    }
    answer = compute(runtime, shared_tenant, query, now)
    expected = ref.retention(
        events,
        start_event=start_name,
        return_event=return_name,
        period=period,
        periods=periods,
        start_type=start_type,
        tz=tz,
        start=START,
        end=end,
        now=now,
    )
    assert ref.as_dict(answer) == {
        "cohorts": expected.cohorts,
        "percentages": expected.percentages,
        "retention": expected.retention,
        "reached": expected.reached,
        "returned": expected.returned,
        "people": expected.people,
    }
    for cohort, series in zip(answer.retention, answer.series, strict=True):
        assert [p.value for p in series.points] == cohort.values


def test_future_cells_are_null_and_totals_skip_them(runtime):
    """Two weekly cohorts; `now` is in the second cohort's first week: its period 1 is in the
    future, so it is null and the period-1 total is the first cohort's alone (not diluted)."""
    tenant = new_tenant("UTC")
    monday = datetime(2026, 9, 7, 10, tzinfo=UTC)
    events = [
        Ev("a", "signup", monday),
        Ev("b", "signup", monday),
        Ev("a", "visit", monday + timedelta(days=7)),
        Ev("c", "signup", monday + timedelta(days=7)),
        Ev("d", "signup", monday + timedelta(days=8)),
    ]
    load(runtime, tenant, events)
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": "visit"},
        "period": "week",
        "periods": 3,
        "date_range": {"date_from": "2026-09-07", "date_to": "2026-09-20"},
    }
    answer = compute(runtime, tenant, query, now=monday + timedelta(days=9))
    first, second = answer.retention
    assert first.values == [2, 1, None]
    assert first.percentages == [100.0, 50.0, None]
    assert second.values == [2, None, None]
    assert second.percentages == [100.0, None, None]
    assert answer.totals["retention"] == [100.0, 50.0, None]
    assert answer.totals["reached"] == [4, 2, 0]
    assert answer.totals["returned"] == [4, 1, 0]
    assert [p.value for p in answer.series[1].points] == [2, None, None]


def test_return_cutoff_follows_the_local_calendar_across_an_autumn_change(runtime):
    """Berlin, daily periods, a range ending at 00:30 local on 10-24: the last cohort is 10-24 and
    its period 1 is 10-25, a 25-hour day (clocks go back at 03:00). A return at 23:45 local on
    10-25 is in that period. The cut-off is the local midnight ending 10-25; two days of UTC after
    the range end would stop at 23:30 local and lose the return."""
    tenant = new_tenant("Europe/Berlin")
    events = [
        Ev("a", "signup", datetime(2026, 10, 24, 0, 10, tzinfo=UTC) - timedelta(hours=2)),  # 00:10 CEST
        Ev("a", "visit", datetime(2026, 10, 25, 22, 45, tzinfo=UTC)),  # 23:45 CET on 10-25
    ]
    load(runtime, tenant, events)
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": "visit"},
        "period": "day",
        "periods": 2,
        "date_range": {"date_from": "2026-10-23T00:00:00", "date_to": "2026-10-24T00:30:00"},
    }
    answer = compute(runtime, tenant, query, now=datetime(2026, 11, 30, tzinfo=UTC))
    by_date = {c.date: c.values for c in answer.retention}
    assert by_date["2026-10-24"] == [1, 1]


def test_range_ending_in_the_first_hour_after_an_autumn_change(runtime):
    """The range ends at 02:30 CET on 10-25, the first hour after Berlin's clocks went back: the last
    cohort is that 25-hour day and its period 1 the whole of 10-26 by the local calendar."""
    tenant = new_tenant("Europe/Berlin")
    events = [
        Ev("a", "signup", datetime(2026, 10, 25, 1, 10, tzinfo=UTC)),  # 02:10 CET, after the change
        Ev("a", "visit", datetime(2026, 10, 26, 22, 50, tzinfo=UTC)),  # 23:50 CET on 10-26
        Ev("b", "signup", datetime(2026, 10, 24, 22, 30, tzinfo=UTC)),  # 00:30 CEST on 10-25
        Ev("b", "visit", datetime(2026, 10, 26, 23, 10, tzinfo=UTC)),  # 00:10 CET on 10-27: period 2
    ]
    load(runtime, tenant, events)
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": "visit"},
        "period": "day",
        "periods": 2,
        "date_range": {"date_from": "2026-10-25", "date_to": "2026-10-25T02:30:00+01:00"},
    }
    answer = compute(runtime, tenant, query, now=datetime(2026, 11, 30, tzinfo=UTC))
    assert [(c.date, c.values) for c in answer.retention] == [("2026-10-25", [2, 1])]


def test_recurring_breakdown_ranks_values_by_distinct_people(runtime):
    """`pro`: one person starting in four daily cohorts (four person-periods); `free`: two people,
    once each. With a limit of one value, `free` (two people) is kept and `pro` becomes `$other`."""
    tenant = new_tenant("UTC")
    day = datetime(2026, 9, 1, 9, tzinfo=UTC)
    events = [Ev("p", "signup", day + timedelta(days=i), {"plan": "pro"}) for i in range(4)]
    events += [Ev("f1", "signup", day, {"plan": "free"}), Ev("f2", "signup", day, {"plan": "free"})]
    load(runtime, tenant, events)
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": "signup"},
        "period": "day",
        "periods": 2,
        "start_type": "recurring",
        "breakdown": ["plan"],
        "breakdown_limit": 1,
        "date_range": {"date_from": "2026-09-01", "date_to": "2026-09-04"},
    }
    answer = compute(runtime, tenant, query, now=datetime(2026, 11, 30, tzinfo=UTC))
    sizes: dict[tuple[str, ...], int] = {}
    for cohort in answer.retention:
        key = tuple(cohort.breakdown_value or ())
        sizes[key] = sizes.get(key, 0) + cohort.size
    assert sizes == {("free",): 2, ("$other",): 4}
