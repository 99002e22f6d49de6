"""Funnels against an exhaustive pure-Python reference on random events: ordered, strict and
unordered; overall and per-step windows at their edges; entry only inside the date range; events
sharing a timestamp."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics_engine.insights.models import parse_insight_query
from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)
STEPS = ["s1", "s2", "s3"]
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute: Ev(f"u{user}", name, BASE + timedelta(minutes=minute)),
        st.integers(0, 2),
        st.sampled_from([*STEPS, "other"]),
        # a coarse grid: ties, exact window edges, entries just outside the range
        st.sampled_from([-10, 0, 10, 20, 30, 40, 60, 90, 120, 140, 150, 160, 180, 270]),
    ),
    min_size=4,
    max_size=24,
)


@SETTINGS
@given(
    events=events_strategy,
    order=st.sampled_from(["ordered", "strict", "unordered"]),
    window=st.sampled_from([20, 30, 60, 120]),
    step_windows=st.lists(st.sampled_from([None, 10, 20, 40]), min_size=2, max_size=2),
    names=st.sampled_from([STEPS, ["s1", "s2", "s1"], ["s1", "s1", "s2"]]),  # repeated events as steps
)
@example(
    events=[
        Ev("u0", "s1", BASE),
        Ev("u0", "s2", BASE + timedelta(minutes=10)),
        Ev("u0", "s1", BASE + timedelta(minutes=20)),
    ],
    order="ordered",
    window=30,
    step_windows=[None, None],
    names=["s1", "s2", "s1"],
)
def test_funnel_matches_reference(runtime, events, order, window, step_windows, names):
    if order == "unordered":
        step_windows = [None, None]
        names = STEPS  # unordered steps are distinct events
    tenant = new_tenant("Europe/Oslo")
    load(runtime, tenant, events)
    steps = [{"event": names[0]}] + [
        {"event": name, **({"window": {"value": w, "unit": "minute"}} if w else {})}
        for name, w in zip(names[1:], step_windows, strict=True)
    ]
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": steps,
            "order": order,
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        },
    )
    expected = reference.funnel(
        events,
        names,
        order,
        timedelta(minutes=window),
        [None, *(timedelta(minutes=w) if w else None for w in step_windows)],
        BASE,
        RANGE_END,
    )
    got = [step.count for step in answer.funnel[0].steps]
    assert got == expected
    assert answer.totals["entered"] == expected[0]


def _at(minute: float) -> object:
    return BASE + timedelta(minutes=minute)


EDGE_CASES = [
    # (events as (user, event, minute), order, window minutes, per-step windows, expected counts)
    ([(0, "s1", 0), (0, "s2", 20), (0, "s3", 30)], "ordered", 30, [None, None], [1, 1, 1]),  # exactly at the window
    ([(0, "s1", 0), (0, "s2", 20), (0, "s3", 30.001)], "ordered", 30, [None, None], [1, 1, 0]),  # 60 ms past it
    ([(0, "s1", 0), (0, "s2", 10), (0, "s3", 30)], "ordered", 60, [None, 20], [1, 1, 1]),  # step window edge
    ([(0, "s1", 0), (0, "s2", 10), (0, "s3", 30.001)], "ordered", 60, [None, 20], [1, 1, 0]),
    ([(0, "s1", 0), (0, "s2", 0)], "ordered", 60, [None, None], [1, 0, 0]),  # same moment: not a step later
    ([(0, "s1", 0), (0, "s2", 10), (0, "s2", 40), (0, "s3", 55)], "ordered", 60, [None, 20], [1, 1, 1]),  # latest s2
    ([(0, "s1", 0), (0, "other", 5), (0, "s2", 10), (0, "s3", 20)], "strict", 60, [None, None], [1, 0, 0]),
    ([(0, "s1", 0), (0, "s2", 10), (0, "other", 15), (0, "s3", 20)], "strict", 60, [None, None], [1, 1, 0]),
    ([(0, "s1", 0), (0, "s1", 5), (0, "s2", 10), (0, "s3", 20)], "strict", 60, [None, None], [1, 1, 1]),
    ([(0, "s3", 0), (0, "s1", 10), (0, "s2", 20)], "unordered", 20, [None, None], [1, 1, 1]),
    ([(0, "s3", 0), (0, "s1", 10), (0, "s2", 21)], "unordered", 20, [None, None], [1, 1, 0]),
    ([(0, "s1", 150), (0, "s2", 160)], "ordered", 60, [None, None], [0, 0, 0]),  # entry at the range end: out
    ([(0, "s1", 149), (0, "s2", 200), (0, "s3", 209)], "ordered", 60, [None, None], [1, 1, 1]),  # completes after
    ([(0, "s1", -1), (0, "s2", 10)], "ordered", 60, [None, None], [0, 0, 0]),  # entered before the range
]


@pytest.mark.parametrize(("rows", "order", "window", "step_windows", "expected"), EDGE_CASES)
def test_funnel_edges(runtime, rows, order, window, step_windows, expected):
    events = [Ev(f"u{u}", name, _at(minute)) for u, name, minute in rows]
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    steps = [{"event": "s1"}] + [
        {"event": name, **({"window": {"value": w, "unit": "minute"}} if w else {})}
        for name, w in zip(STEPS[1:], step_windows, strict=True)
    ]
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": steps,
            "order": order,
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        },
    )
    assert [s.count for s in answer.funnel[0].steps] == expected
    reference_windows = [None, *(timedelta(minutes=w) if w else None for w in step_windows)]
    assert (
        reference.funnel(events, STEPS, order, timedelta(minutes=window), reference_windows, BASE, RANGE_END)
        == expected
    )


def test_funnel_times_breakdown_and_people(runtime):
    rows = [
        ("a", "s1", 0, "pro"),
        ("a", "s2", 10, "pro"),
        ("a", "s3", 40, "pro"),
        ("b", "s1", 0, "free"),
        ("b", "s2", 30, "free"),
        ("c", "s1", 5, "pro"),
        ("d", "s1", 5, "team"),
        ("d", "s2", 25, "team"),
        ("d", "s3", 35, "team"),
    ]
    events = [Ev(u, name, _at(m), {"plan": plan}) for u, name, m, plan in rows]
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    query = {
        "kind": "funnels",
        "steps": [{"event": s} for s in STEPS],
        "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        "interval": "day",
    }
    answer = run(runtime, tenant, query)
    steps = answer.funnel[0].steps
    assert [s.count for s in steps] == [4, 3, 2]
    assert steps[1].median_seconds == 20 * 60 and steps[1].average_seconds == 20 * 60  # 10, 30, 20 minutes
    assert steps[2].median_seconds == 20 * 60  # 30 and 10 minutes
    assert steps[1].conversion_from_previous == 0.75 and steps[2].conversion_from_first == 0.5
    assert steps[1].dropped == 1 and steps[2].dropped == 1
    trend = answer.series[-1]
    assert trend.meta["trend"] and sum(p.value for p in trend.points) == 50.0

    by_plan = run(runtime, tenant, {**query, "breakdown": ["plan"], "breakdown_limit": 1})
    groups = {tuple(g.breakdown_value): [s.count for s in g.steps] for g in by_plan.funnel}
    assert groups == {("pro",): [2, 1, 1], ("$other",): [2, 2, 1]}

    from analytics_engine.insights.funnels import FunnelsRunner
    from analytics_engine.insights.models import parse_insight_query

    runner = FunnelsRunner(runtime, tenant, parse_insight_query(query))
    dropped = runner.people(2, "dropped", limit=10)
    assert dropped.people == ["c"] and not dropped.has_more
    converted = runner.people(2, "converted", limit=2)
    assert converted.people == ["a", "b"] and converted.has_more
    assert runner.people(2, "converted", limit=2, offset=2).people == ["d"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy,
    window=st.sampled_from([20, 30, 60, 120]),
    names=st.sampled_from([STEPS, ["s1", "s2", "s1"], ["s1", "s1", "s2"], ["s1", "s2", "s3", "s2"]]),
    breakdown=st.booleans(),
)
def test_funnel_linear_path_equals_general(runtime, monkeypatch, events, window, names, breakdown):
    """The linear ordered path (no binding step windows) returns exactly what the general dynamic
    programming returns: counts, average and median times, per breakdown and per entry bucket."""
    from analytics_engine.insights import funnels_builder

    tenant = new_tenant("Europe/Oslo")
    events = [Ev(e.user, e.event, e.at, {"plan": "pro" if i % 3 else "free"}) for i, e in enumerate(events)]
    load(runtime, tenant, events)
    query = {
        "kind": "funnels",
        "steps": [{"event": name} for name in names],
        "conversion_window": {"value": window, "unit": "minute"},
        "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        "interval": "hour",
        **({"breakdown": ["plan"]} if breakdown else {}),
    }
    assert funnels_builder.merge_applies(parse_insight_query(query))
    fast = run(runtime, tenant, query, refresh=True)
    with monkeypatch.context() as patch:
        patch.setattr(funnels_builder, "merge_applies", lambda query: False)
        general = run(runtime, tenant, query, refresh=True)
    assert fast.funnel == general.funnel
    assert fast.series == general.series


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=events_strategy, window=st.sampled_from([20, 30, 60, 120]))
def test_unordered_funnel_matches_reference(runtime, events, window):
    """Unordered funnels (counted with running counts per step over a sorted merge) against the reference."""
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": [{"event": name} for name in STEPS],
            "order": "unordered",
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        },
    )
    expected = reference.funnel(
        events, STEPS, "unordered", timedelta(minutes=window), [None, None, None], BASE, RANGE_END
    )
    assert [step.count for step in answer.funnel[0].steps] == expected
