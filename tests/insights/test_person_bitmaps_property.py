"""Answers from the person bitmaps (`person_hours`, insights/person_bitmaps.py) and from `person_weeks`
(insights/preaggregations.py) equal raw answers on random events: first-time and recurring retention
(day and week periods) and DAU/WAU/MAU, with late events (a second batch of earlier times), events
written twice, cohort filters (in and not in), around Europe/Berlin's latest daylight-saving change,
in Sao Paulo and UTC; a half-hour zone (Asia/Kolkata) and ranges off whole hours never read the
bitmaps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights.preaggregation_cases import (
    BASE,
    CASE_STRATEGIES,
    HALF_HOUR_ZONES,
    by_path,
    cohort_filters,
    loaded_tenant,
    numbers,
)
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run


def three_ways(runtime: Any, tenant: Any, query: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The answer with the bitmaps, with person_weeks only, and raw."""
    bitmaps, weeks, raw = by_path(runtime, tenant, query)
    assert weeks.served_from != "person_hours"
    return bitmaps, weeks, raw


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    **CASE_STRATEGIES,
    kind=st.sampled_from(["retention", "engagement"]),
    period=st.sampled_from(["day", "week"]),
    periods=st.integers(1, 5),
    start_type=st.sampled_from(["first_time", "recurring"]),
    start_event=st.sampled_from(["signup", "visit", None]),
    return_event=st.sampled_from(["visit", "other", None]),
)
def test_bitmap_answers_equal_raw(
    runtime: Any,
    seed: int,
    count: int,
    twice: bool,
    zone: str,
    dates: tuple[int, int, bool],
    kind: str,
    period: str,
    periods: int,
    start_type: str,
    start_event: str | None,
    return_event: str | None,
    cohort: str | None,
    members: list[str],
) -> None:
    tenant = loaded_tenant(runtime, zone, seed, count, twice, stored=cohort is not None)
    offset, days, half_hour = dates
    start_day = (BASE + timedelta(days=offset)).date()
    date_from = start_day.isoformat() + ("T10:30:00" if half_hour else "")
    date_range = {"date_from": date_from, "date_to": (start_day + timedelta(days=days)).isoformat()}
    filters = cohort_filters(runtime, tenant, cohort, members)
    query: dict[str, Any]
    if kind == "retention":
        query = {
            "kind": "retention",
            "start_event": {"event": start_event},
            "return_event": {"event": return_event},
            "period": period,
            "periods": periods,
            "start_type": start_type,
        }
    else:
        query = {"kind": "engagement", "measure": "active_users", "event": return_event}
    query.update(date_range=date_range, timezone=zone, filters=filters)
    bitmaps, weeks, raw = three_ways(runtime, tenant, query)
    assert numbers(bitmaps) == numbers(raw)
    assert numbers(weeks) == numbers(raw)
    if zone not in HALF_HOUR_ZONES and not half_hour:
        assert (bitmaps.served_by, bitmaps.served_from) == ("preaggregation", "person_hours")
        assert bitmaps.fresh_as_of is not None
    else:
        assert bitmaps.served_from != "person_hours"


def test_a_range_ending_off_the_hour_reads_no_bitmap(runtime: Any) -> None:
    """The range's end splits an hour: its start events of that hour may lie after the end."""
    tenant = new_tenant("UTC")
    at = BASE.replace(minute=0, second=0, microsecond=0)
    load(runtime, tenant, [Ev("u1", "signup", at + timedelta(minutes=45), {}), Ev("u2", "signup", at, {})])
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "period": "day",
        "periods": 2,
        "date_range": {
            "date_from": (at - timedelta(days=1)).isoformat(),
            "date_to": (at + timedelta(minutes=30)).isoformat(),
        },
    }
    bitmaps, _, raw = three_ways(runtime, tenant, query)
    assert bitmaps.served_from != "person_hours"
    assert numbers(bitmaps) == numbers(raw)
    assert bitmaps.totals["people"] == 1


def test_breakdowns_read_no_bitmap_and_recurring_does(runtime: Any) -> None:
    tenant = new_tenant("Europe/Berlin")
    load(runtime, tenant, [Ev("u1", "signup", BASE, {"plan": "pro"}), Ev("u1", "visit", BASE + timedelta(days=1), {})])
    date_range = {
        "date_from": (BASE - timedelta(days=1)).date().isoformat(),
        "date_to": (BASE + timedelta(days=3)).date().isoformat(),
    }
    base = {"kind": "retention", "start_event": {"event": "signup"}, "period": "day", "date_range": date_range}
    assert run(runtime, tenant, base, refresh=True).served_from == "person_hours"
    assert run(runtime, tenant, {**base, "breakdown": ["plan"]}, refresh=True).served_from is None
    assert run(runtime, tenant, {**base, "start_type": "recurring"}, refresh=True).served_from == "person_hours"
