"""Funnel answers against tests/insights/funnel_reference.py (the documented rules in plain Python) on
small random event sets: counts per step and breakdown value, average and median times to convert,
their distribution in bins (per step and overall), and the conversion trend by entry bucket; ordered
(both SQL paths), strict and unordered."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.insights import funnel_reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)
HOUR = timedelta(hours=1)

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute, plan: Ev(f"u{user}", name, BASE + timedelta(minutes=minute), {"plan": plan}),
        st.integers(0, 2),
        st.sampled_from(["s1", "s2", "s3", "other"]),
        # a coarse grid: ties (same millisecond, different plans), window edges, entries outside the range
        st.sampled_from([-10, 0, 10, 20, 30, 40, 60, 90, 120, 140, 150, 160, 180]),
        st.sampled_from(["free", "pro"]),
    ),
    min_size=3,
    max_size=20,
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy,
    order=st.sampled_from(["ordered", "strict", "unordered"]),
    window=st.sampled_from([30, 60, 120]),
    step_window=st.sampled_from([None, 20, 40]),  # a window on step 3: the general ordered path
    names=st.sampled_from([["s1", "s2", "s3"], ["s1", "s2", "s1"], ["s1", "s2", "s2"]]),
    breakdown=st.booleans(),
)
@example(  # issue 27 item 1 on the grid: the later s2 is on no chain reaching s3
    events=[
        Ev("u0", "s1", BASE, {"plan": "pro"}),
        Ev("u0", "s2", BASE + timedelta(minutes=10), {"plan": "pro"}),
        Ev("u0", "s3", BASE + timedelta(minutes=20), {"plan": "pro"}),
        Ev("u0", "s2", BASE + timedelta(minutes=40), {"plan": "pro"}),
    ],
    order="ordered",
    window=60,
    step_window=None,
    names=["s1", "s2", "s3"],
    breakdown=False,
)
@example(  # issue 27 item 2: entered through s2 (pro); its s1 (free) lies before the range
    events=[
        Ev("u0", "s1", BASE - timedelta(minutes=10), {"plan": "free"}),
        Ev("u0", "s2", BASE + timedelta(minutes=10), {"plan": "pro"}),
    ],
    order="unordered",
    window=60,
    step_window=None,
    names=["s1", "s2", "s3"],
    breakdown=True,
)
@example(  # item 8: two entry events at one millisecond with different values: the smallest ("free")
    events=[
        Ev("u0", "s1", BASE + timedelta(minutes=10), {"plan": "pro"}),
        Ev("u0", "s1", BASE + timedelta(minutes=10), {"plan": "free"}),
        Ev("u0", "s2", BASE + timedelta(minutes=20), {"plan": "pro"}),
    ],
    order="ordered",
    window=60,
    step_window=None,
    names=["s1", "s2", "s3"],
    breakdown=True,
)
def test_funnel_answers_match_the_documented_rules(runtime, events, order, window, step_window, names, breakdown):
    if order == "unordered":
        names, step_window = ["s1", "s2", "s3"], None  # unordered: distinct events, no step windows
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    steps = [{"event": names[0]}, {"event": names[1]}, {"event": names[2]}]
    if step_window:
        steps[2]["window"] = {"value": step_window, "unit": "minute"}
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": steps,
            "order": order,
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
            "interval": "hour",
            **({"breakdown": ["plan"]} if breakdown else {}),
        },
    )
    step_windows = [None, None, timedelta(minutes=step_window) if step_window else None]
    expected = funnel_reference.funnel(
        events, names, order, timedelta(minutes=window), step_windows, BASE, RANGE_END, ["plan"] if breakdown else []
    )
    got = {
        tuple(g.breakdown_value or ()): (
            [s.count for s in g.steps],
            [s.average_seconds for s in g.steps[1:]],
            [s.median_seconds for s in g.steps[1:]],
        )
        for g in answer.funnel
        if g.steps[0].count
    }
    assert got == expected["groups"]
    histograms = {
        tuple(g.breakdown_value or ()): (
            [[b.count for b in s.time_to_convert or []] for s in g.steps[1:]],
            [b.count for b in g.time_to_convert or []],
        )
        for g in answer.funnel
        if g.steps[0].count and order != "unordered"
    }
    assert histograms == expected["histograms"]
    trend = answer.series[-1]
    assert trend.meta["trend"]
    buckets = [BASE + HOUR * i for i in range(len(trend.points))]
    assert [p.value for p in trend.points] == funnel_reference.trend(expected["people"], 3, buckets, HOUR)
