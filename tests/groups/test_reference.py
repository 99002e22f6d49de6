"""Insights aggregated by a group against the pure-Python references of tests/insights: a group
aggregation is the person aggregation with each event's group key in place of its person, over the
events that carry one (random events: people in several companies, events without a company)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)
STEPS = ["s1", "s2", "s3"]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute, company: Ev(
            f"u{user}",
            name,
            BASE + timedelta(minutes=minute),
            {"$groups": {"company": company}} if company else {"plan": "none"},
        ),
        st.integers(0, 4),
        st.sampled_from([*STEPS, "other"]),
        st.sampled_from([-10, 0, 10, 20, 30, 40, 60, 90, 120, 140, 150, 160]),
        st.sampled_from(["acme", "globex", "initech", None]),
    ),
    min_size=4,
    max_size=30,
)


def as_groups(events: list[Ev]) -> list[Ev]:
    """The events that carry a company, with the company as the unit counted."""
    return [Ev(e.props["$groups"]["company"], e.event, e.at) for e in events if "$groups" in e.props]


@SETTINGS
@given(
    events=events_strategy, order=st.sampled_from(["ordered", "strict", "unordered"]), window=st.sampled_from([20, 60])
)
def test_group_funnel_matches_reference(runtime, events, order, window):
    tenant = new_tenant("Europe/Oslo")
    load(runtime, tenant, events)
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": [{"event": name} for name in STEPS],
            "order": order,
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
            "aggregation": {"group": "company"},
        },
    )
    expected = reference.funnel(
        as_groups(events), STEPS, order, timedelta(minutes=window), [None, None, None], BASE, RANGE_END
    )
    assert [step.count for step in answer.funnel[0].steps] == expected


@SETTINGS
@given(events=events_strategy, math=st.sampled_from(["unique_users", "total"]))
def test_group_trend_matches_reference(runtime, events, math):
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    query = {
        "kind": "trends",
        "series": [{"event": "s1", "math": math}],
        "interval": "hour",
        "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        "aggregation": {"group": "company"},
    }
    answer = run(runtime, tenant, query)
    inside = [e for e in as_groups(events) if e.event == "s1" and BASE <= e.at < RANGE_END]
    expected = len({e.user for e in inside}) if math == "unique_users" else len(inside)
    assert answer.series[0].total == expected


@SETTINGS
@given(events=events_strategy)
def test_group_retention_matches_reference(runtime, events):
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    answer = run(
        runtime,
        tenant,
        {
            "kind": "retention",
            "start_event": {"event": "s1"},
            "return_event": {"event": "s2"},
            "period": "day",
            "periods": 2,
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
            "aggregation": {"group": "company"},
        },
    )
    expected = reference.retention(as_groups(events), "s1", "s2", "day", 2, "first_time", "UTC", BASE, RANGE_END)
    got = {c.date: [c.size, *(v or 0 for v in c.values[1:])] for c in answer.retention if c.size}
    assert got == expected
