"""Pre-aggregated answers (`person_weeks`, insights/preaggregations.py): the planner's hour alignment and
week offsets around a daylight-saving change, breakdowns and property filters read raw, the range's
edge hours, and new events counted at once. The random comparison of every pre-aggregated path with
raw (bitmaps, `person_weeks`, raw) is tests/insights/test_person_bitmaps_property.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics_engine.insights.preaggregations import Window, hour_aligned, week_offsets, week_slots
from tests.insights.preaggregation_cases import BASE, CHANGE
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, run


def both(runtime: Any, tenant: Any, query: dict[str, Any]) -> tuple[Any, Any]:
    """The answer with pre-aggregations enabled, then with them disabled (raw)."""
    try:
        runtime.settings.preaggregations = True
        served = run(runtime, tenant, query, refresh=True)
        runtime.settings.preaggregations = False
        raw = run(runtime, tenant, query, refresh=True)
    finally:
        runtime.settings.preaggregations = True
    assert raw.served_by == "raw"
    return served, raw


def test_half_hour_zone_and_odd_range_ends_are_not_hour_aligned() -> None:
    start = BASE.replace(minute=0, second=0, microsecond=0)
    assert hour_aligned(Window(start, start + timedelta(days=30), "day", "Europe/Berlin"))
    assert hour_aligned(Window(start, start + timedelta(days=30), "week", "America/Sao_Paulo"))
    assert not hour_aligned(Window(start, start + timedelta(days=30), "day", "Asia/Kolkata"))
    assert not hour_aligned(Window(start + timedelta(minutes=30), start + timedelta(days=3), "day", "UTC"))


def test_breakdown_and_property_filters_read_raw(runtime: Any) -> None:
    tenant = new_tenant("Europe/Berlin")
    load(runtime, tenant, [Ev("u1", "signup", BASE, {"plan": "pro"}), Ev("u1", "visit", BASE + timedelta(days=1), {})])
    date_range = {"date_from": iso(BASE - timedelta(days=1))[:10], "date_to": iso(BASE + timedelta(days=3))[:10]}
    base = {"kind": "retention", "start_event": {"event": "signup"}, "period": "day", "date_range": date_range}
    plain = run(runtime, tenant, base, refresh=True)
    assert plain.served_by == "preaggregation"
    by_plan = run(runtime, tenant, {**base, "breakdown": ["plan"]}, refresh=True)
    filtered = run(runtime, tenant, {**base, "filters": [{"key": "plan", "value": "pro"}]}, refresh=True)
    assert by_plan.served_by == "raw" and filtered.served_by == "raw"
    assert filtered.totals["people"] == plain.totals["people"] == 1


def test_events_in_the_first_and_last_hour_of_the_range_count_once(runtime: Any) -> None:
    """Recurring cohorts from events at the range's first moment (local midnight, 23:00 UTC in
    Berlin's winter) and in its last hour; one event an hour before the range must not count."""
    zone = ZoneInfo("Europe/Berlin")
    first_day = (CHANGE + timedelta(days=3)).astimezone(zone).date()
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone).astimezone(UTC)
    end = start + timedelta(days=2)  # two local days, no change inside
    events = [
        Ev("u0", "signup", start, {}),
        Ev("u1", "signup", start - timedelta(minutes=1), {}),
        Ev("u2", "signup", end - timedelta(milliseconds=1), {}),
        Ev("u0", "visit", start + timedelta(days=1), {}),
    ]
    tenant = new_tenant("Europe/Berlin")
    load(runtime, tenant, events)
    query = {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": "visit"},
        "period": "day",
        "periods": 2,
        "start_type": "recurring",
        "date_range": {"date_from": first_day.isoformat(), "date_to": (first_day + timedelta(days=1)).isoformat()},
    }
    served, raw = both(runtime, tenant, query)
    assert served.served_by == "preaggregation"
    assert [c.size for c in served.retention] == [c.size for c in raw.retention] == [1, 1]
    assert served.retention[0].values == raw.retention[0].values == [1, 1]


def test_week_offsets_of_berlin_autumn_change() -> None:
    """The week of 2026-10-25: CEST (+2) until 01:00 UTC on Sunday (hour 145 of the UTC week), then CET."""
    monday = datetime(2026, 10, 19, tzinfo=UTC)
    offsets = week_offsets(Window(monday, monday + timedelta(days=7), "day", "Europe/Berlin"))
    assert offsets is not None
    assert (offsets.weeks, offsets.before, offsets.change, offsets.after) == ([monday.date()], [2], [145], [1])
    slots = week_slots(Window(monday, monday + timedelta(days=7), "week", "Europe/Berlin"))
    # local week of 10-19 from the UTC week's start to Sunday 23:00 UTC (Monday 00:00 CET), then the next
    assert slots is not None and [(s[1], s[4] >> 32) for s in slots] == [(0, (1 << 7) - 1), (1, 1 << 7)]
    sao_paulo = week_offsets(Window(monday, monday + timedelta(days=7), "day", "America/Sao_Paulo"))
    assert sao_paulo is not None and sao_paulo.change == [168] and sao_paulo.before == [-3]


def test_new_events_reach_a_pre_aggregated_answer_at_once(runtime: Any) -> None:
    """The view writes person_weeks in the insert of events: the next read counts a new event (the
    cache key changes with the tenant's data version, so even a cached read recomputes)."""
    tenant = new_tenant("Europe/Berlin")
    day = (CHANGE + timedelta(days=3)).astimezone(ZoneInfo("Europe/Berlin")).date()
    load(runtime, tenant, [Ev("u0", "visit", CHANGE + timedelta(days=3, hours=12), {})])
    query = {
        "kind": "engagement",
        "measure": "active_users",
        "date_range": {"date_from": day.isoformat(), "date_to": day.isoformat()},
    }
    before = run(runtime, tenant, query)
    load(runtime, tenant, [Ev("u1", "visit", CHANGE + timedelta(days=3, hours=13), {})])
    after = run(runtime, tenant, query)
    assert before.served_by == after.served_by == "preaggregation"
    assert [p.value for p in before.series[0].points] == [1.0]
    assert [p.value for p in after.series[0].points] == [2.0]
    assert after.fresh_as_of is not None and not after.cached
