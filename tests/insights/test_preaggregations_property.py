"""Pre-aggregated answers (`person_weeks`, insights/preaggregations.py) equal raw answers on random
events: retention (first-time and recurring, day and week periods) and DAU/WAU/MAU, around a
daylight-saving change, in zones with DST (Europe/Berlin), without (America/Sao_Paulo), with half
hours (Asia/Kolkata: always raw) and in UTC; with late events (a second batch of earlier times),
events written twice, cohort filters (in and not in) and ranges not on whole hours (raw)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.cohorts.schemas import CohortCreate
from analytics_engine.insights.preaggregations import Window, hour_aligned, week_offsets, week_slots
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantContext
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

# Europe/Berlin's latest change: the data spans ~3 weeks around it.
CHANGE = recent_dst_change("Europe/Berlin", min_age_days=20)
BASE = CHANGE - timedelta(days=10)
USERS = [f"u{i}" for i in range(4)]
ZONES = ["Europe/Berlin", "America/Sao_Paulo", "UTC", "Asia/Kolkata"]
HALF_HOUR_ZONES = {"Asia/Kolkata"}

DAY0 = BASE.replace(hour=0, minute=0, second=0, microsecond=0)
# UTC hours near local midnights: Berlin 22-23, Sao Paulo 03, Kolkata 18:30, UTC 00
HOURS = [0, 2, 3, 4, 12, 18, 21, 22, 23]


def random_events(seed: int, count: int) -> list[Ev]:
    """`count` events of 4 people over 22 days, dense enough that every cohort and day has people."""
    rng = random.Random(seed)
    return [
        Ev(
            rng.choice(USERS),
            rng.choice(["signup", "visit", "visit", "other"]),
            DAY0 + timedelta(days=rng.randint(0, 21), hours=rng.choice(HOURS), minutes=rng.choice([0, 1, 29, 30, 59])),
            {},
        )
        for _ in range(count)
    ]


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


def numbers(answer: Any) -> Any:
    return answer.series, answer.totals, answer.retention


def stored_tenant(runtime: Any, zone: str) -> TenantContext:
    """A tenant with a metadata row (cohorts belong to one)."""
    tenant = runtime.tenants.create(TenantCreate(name=f"pre-{uuid.uuid4().hex[:8]}", timezone=zone))
    return TenantContext(tenant.id, tenant.name, zone, frozenset({"read"}), "key")


def make_cohort(runtime: Any, tenant: Any, members: list[str]) -> str:
    created = runtime.cohorts.create(
        tenant.tenant_id, CohortCreate(name=f"c-{uuid.uuid4().hex[:6]}", kind="static", distinct_ids=members)
    )
    return str(created.id)


def range_strategy() -> Any:
    # local dates around the change; sometimes a start at minute 30 (not a whole hour: raw)
    return st.tuples(st.integers(0, 12), st.integers(1, 10), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(5, 80),
    twice=st.booleans(),
    zone=st.sampled_from(ZONES),
    dates=range_strategy(),
    kind=st.sampled_from(["retention", "engagement"]),
    period=st.sampled_from(["day", "week"]),
    periods=st.integers(1, 5),
    start_type=st.sampled_from(["first_time", "recurring"]),
    start_event=st.sampled_from(["signup", "visit", None]),
    return_event=st.sampled_from(["visit", "other", None]),
    cohort=st.sampled_from([None, "in", "not_in"]),
    members=st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True),
)
def test_preaggregated_answers_equal_raw(
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
    tenant = stored_tenant(runtime, zone) if cohort else new_tenant(zone)
    events = random_events(seed, count)
    # the second batch arrives later, with times throughout (late events)
    first, late = events[: count * 2 // 3], events[count * 2 // 3 :]
    load(runtime, tenant, first)
    load(runtime, tenant, late)
    if twice:
        load(runtime, tenant, first[:5])  # written again: new ids, the same people, events and times
    offset, days, half_hour = dates
    start_day = (BASE + timedelta(days=offset)).date()
    date_from = start_day.isoformat() + ("T10:30:00" if half_hour else "")
    date_range = {"date_from": date_from, "date_to": (start_day + timedelta(days=days)).isoformat()}
    filters = []
    if cohort is not None:
        filters = [{"type": "cohort", "cohort_id": make_cohort(runtime, tenant, members), "operator": cohort}]
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
    served, raw = both(runtime, tenant, query)
    assert numbers(served) == numbers(raw)
    if zone not in HALF_HOUR_ZONES and not half_hour:
        assert served.served_by == "preaggregation"
        assert served.fresh_as_of is not None
    else:
        assert served.served_by == "raw"


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
