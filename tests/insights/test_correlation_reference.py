"""Funnel correlation against tests/insights/correlation_reference.py (the documented rules in plain
Python) on small random event sets: per event and per entry property value, the people converting
and dropping with it, odds ratios and p-values, the minimum support, excluded events, and the people
behind a row."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics_engine.insights.correlation import CorrelationOptions, FunnelCorrelationRunner
from analytics_engine.insights.models import parse_insight_query
from tests.insights import correlation_reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute, plan, src: Ev(
            f"u{user}", name, BASE + timedelta(minutes=minute), {"plan": plan, **({"src": src} if src else {})}
        ),
        st.integers(0, 5),
        st.sampled_from(["s1", "s2", "s3", "x", "y", "skip"]),
        st.sampled_from([-10, 0, 10, 20, 30, 40, 60, 90, 140, 150, 170]),
        st.sampled_from(["free", "pro"]),
        st.sampled_from([None, "ad", "seo"]),
    ),
    min_size=3,
    max_size=30,
)


def _runner(runtime, tenant, order, window, **options):
    query = parse_insight_query(
        {
            "kind": "funnels",
            "steps": [{"event": "s1"}, {"event": "s2"}, {"event": "s3"}],
            "order": order,
            "conversion_window": {"value": window, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        }
    )
    return FunnelCorrelationRunner(runtime, tenant, query, CorrelationOptions(**options))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy,
    order=st.sampled_from(["ordered", "strict", "unordered"]),
    window=st.sampled_from([30, 60, 120]),
    min_people=st.integers(1, 3),
)
@example(  # x after u0 converted does not count; x at u1's entry moment neither; y within u1's window does
    events=[
        Ev("u0", "s1", BASE, {"plan": "pro"}),
        Ev("u0", "s2", BASE + timedelta(minutes=10), {"plan": "pro"}),
        Ev("u0", "s3", BASE + timedelta(minutes=20), {"plan": "pro"}),
        Ev("u0", "x", BASE + timedelta(minutes=30), {"plan": "pro"}),
        Ev("u1", "s1", BASE, {"plan": "free"}),
        Ev("u1", "x", BASE, {"plan": "free"}),
        Ev("u1", "y", BASE + timedelta(minutes=30), {"plan": "free"}),
    ],
    order="ordered",
    window=60,
    min_people=1,
)
def test_correlation_matches_the_documented_rules(runtime, events, order, window, min_people):
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    options = {"properties": ["plan", "src"], "exclude_events": ["skip"], "min_people": min_people, "limit": 500}
    answer = _runner(runtime, tenant, order, window, **options).run()
    expected = correlation_reference.correlation(
        events, ["s1", "s2", "s3"], order, timedelta(minutes=window), BASE, RANGE_END, ["plan", "src"], ("skip",)
    )
    successes, failures = expected["totals"]
    assert (answer.totals["success"], answer.totals["failure"]) == expected["totals"]
    kept = {k: v for k, v in expected["rows"].items() if sum(v) >= min_people}
    got = {(r.type, r.event or r.property, r.value): (r.success_count, r.failure_count) for r in answer.correlation}
    assert got == kept
    assert answer.totals["below_min_people"] == len(expected["rows"]) - len(kept)
    for row in answer.correlation:
        ratio, p_value = correlation_reference.odds_ratio(row.success_count, row.failure_count, successes, failures)
        assert row.odds_ratio == pytest.approx(ratio, rel=1e-5, abs=1e-6)
        assert row.p_value == pytest.approx(p_value, abs=1e-5)
        assert row.correlation_type == ("success" if ratio > 1 else "failure")
    strengths = [abs(math.log(r.odds_ratio)) for r in answer.correlation]
    assert strengths == sorted(strengths, reverse=True)
    if answer.correlation:  # the people behind the first row, both ways
        row = answer.correlation[0]
        key = (row.type, row.event or row.property, row.value)
        runner = _runner(runtime, tenant, order, window, **options)
        for status, users in zip(("converted", "dropped"), expected["people"][key], strict=True):
            page = runner.correlation_people(status, event=row.event, prop=row.property, value=row.value, limit=1000)
            assert page.people == sorted(users)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy, order=st.sampled_from(["ordered", "strict", "unordered"]), window=st.sampled_from([30, 120])
)
def test_two_statement_form_gives_the_same_answer(runtime, monkeypatch, events, order, window):
    """A ClickHouse server gets two statements (each computing the per-person funnel) instead of one
    with a materialized CTE: the same rows either way."""
    from analytics_engine.insights import correlation

    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    options = {"properties": ["plan", "src"], "exclude_events": ["skip"], "min_people": 1, "limit": 500}
    answers = []
    for shared in (True, False):
        monkeypatch.setattr(correlation, "SHARE_PEOPLE", shared)
        runner = _runner(runtime, tenant, order, window, **options)
        assert len(runner.to_sql()) == (1 if shared else 2)
        answer = runner.run(refresh=True)
        answers.append((answer.totals, [r.model_dump() for r in answer.correlation]))
    assert answers[0] == answers[1]
