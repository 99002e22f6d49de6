"""Retention and engagement against the pure-Python reference: cohort periods (first-time and
recurring) around a daylight-saving change, DAU/WAU/MAU windows and lifecycle states."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

DST = recent_dst_change()
START = DST - timedelta(days=4)
END = DST + timedelta(days=3)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))

events_strategy = st.lists(
    st.builds(
        lambda user, name, hours: Ev(f"u{user}", name, START + timedelta(hours=hours)),
        st.integers(0, 4),
        st.sampled_from(["signup", "visit"]),
        st.integers(-72, 24 * 10),
    ),
    min_size=1,
    max_size=30,
)


@SETTINGS
@given(
    events=events_strategy,
    tz=st.sampled_from(["UTC", "Europe/Oslo", "America/New_York"]),
    period=st.sampled_from(["day", "week"]),
    start_type=st.sampled_from(["first_time", "recurring"]),
)
def test_retention_matches_reference(runtime, events, tz, period, start_type):
    tenant = new_tenant(tz)
    load(runtime, tenant, events)
    periods = 5
    answer = run(
        runtime,
        tenant,
        {
            "kind": "retention",
            "start_event": {"event": "signup"},
            "return_event": {"event": "visit"},
            "period": period,
            "periods": periods,
            "start_type": start_type,
            "date_range": {"date_from": iso(START), "date_to": iso(END)},
        },
    )
    got = {c.date: c.values for c in answer.retention if c.size}
    expected = reference.retention(events, "signup", "visit", period, periods, start_type, tz, START, END)
    assert got == expected
    for cohort in answer.retention:
        assert len(cohort.values) == periods
        if cohort.size:
            assert cohort.percentages[0] == 100.0


@SETTINGS
@given(events=events_strategy, tz=st.sampled_from(["UTC", "Europe/Oslo", "Asia/Kolkata"]))
def test_active_users_match_reference(runtime, events, tz):
    tenant = new_tenant(tz)
    load(runtime, tenant, events)
    answer = run(
        runtime,
        tenant,
        {
            "kind": "engagement",
            "measure": "active_users",
            "date_range": {"date_from": iso(START), "date_to": iso(END)},
        },
    )
    dau, wau, mau, stickiness = answer.series
    days = [p.label for p in dau.points]
    from datetime import date

    expected = reference.active_users(events, tz, [date.fromisoformat(d) for d in days], END)
    assert {d: (dau.points[i].value, wau.points[i].value, mau.points[i].value) for i, d in enumerate(days)} == {
        d: tuple(float(v) for v in values) for d, values in expected.items()
    }
    assert all(0 <= p.value <= 1 for p in stickiness.points)


@SETTINGS
@given(events=events_strategy, tz=st.sampled_from(["UTC", "Europe/Oslo"]), interval=st.sampled_from(["day", "week"]))
def test_lifecycle_matches_reference(runtime, events, tz, interval):
    tenant = new_tenant(tz)
    load(runtime, tenant, events)
    answer = run(
        runtime,
        tenant,
        {
            "kind": "engagement",
            "measure": "lifecycle",
            "interval": interval,
            "date_range": {"date_from": iso(START), "date_to": iso(END)},
        },
    )
    from datetime import date

    buckets = [date.fromisoformat(p.label) for p in answer.series[0].points]
    expected = reference.lifecycle(events, interval, tz, buckets, END)
    got = {s.label: [int(p.value) for p in s.points] for s in answer.series}
    assert got == expected
