"""Trends against the pure-Python reference on random events: buckets in several time zones across a
daylight-saving change, total and unique users, breakdown top-N with '$other', and the rollup path
against raw events."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.insights import parse_insight_query
from analytics_engine.insights.trends import TrendsRunner
from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change

DST = recent_dst_change()
START = DST - timedelta(days=3, hours=5)
END = DST + timedelta(days=4, hours=7)
ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata"]

event_strategy = st.builds(
    lambda user, name, minutes, plan: Ev(
        f"u{user}", name, START + timedelta(minutes=minutes), {} if plan is None else {"plan": plan}
    ),
    st.integers(0, 5),
    st.sampled_from(["view", "buy"]),
    st.integers(-600, int((END - START).total_seconds() // 60) + 600),
    st.sampled_from(["free", "pro", "team", 7, None]),
)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


def _points(series) -> dict[str, float]:
    return {p.label: p.value for p in series.points if p.value}


@SETTINGS
@given(
    events=st.lists(event_strategy, min_size=0, max_size=25),
    tz=st.sampled_from(ZONES),
    interval=st.sampled_from(["hour", "day", "week"]),
    math=st.sampled_from(["total", "unique_users"]),
)
def test_trends_match_reference(runtime, events, tz, interval, math):
    tenant = new_tenant(tz)
    load(runtime, tenant, events)
    query = {
        "kind": "trends",
        "series": [{"event": "view", "math": math}],
        "interval": interval,
        "date_range": {"date_from": iso(START), "date_to": iso(END)},
    }
    runner = TrendsRunner(runtime, tenant, parse_insight_query(query))
    answer = runner.run()
    expected = reference.trends(events, "view", math, interval, tz, START, END)
    assert len(answer.series) == 1
    assert _points(answer.series[0]) == expected.get((), {})
    labels = [p.label for p in answer.series[0].points]
    assert len(labels) == len(set(labels)), "a bucket appears twice"
    if interval == "day":  # every local day of the range once, none missing (23- and 25-hour days)
        days = {
            reference.label(reference.bucket(START + timedelta(hours=h), "day", tz), tz)
            for h in range(int((END - START).total_seconds() // 3600) + 1)
        }
        assert set(labels) >= {d for d in days}
    if math == "total":
        assert answer.series[0].total == sum(expected.get((), {}).values())


@SETTINGS
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    limit=st.integers(1, 3),
    math=st.sampled_from(["total", "unique_users"]),
)
def test_breakdown_other_bucketing(runtime, events, limit, math):
    tenant = new_tenant("Europe/Oslo")
    load(runtime, tenant, events)
    query = {
        "kind": "trends",
        "series": [{"event": "buy", "math": math}],
        "interval": "day",
        "breakdown": ["plan"],
        "breakdown_limit": limit,
        "date_range": {"date_from": iso(START), "date_to": iso(END)},
    }
    answer = TrendsRunner(runtime, tenant, parse_insight_query(query)).run()
    expected = reference.trends(events, "buy", math, "day", "Europe/Oslo", START, END, breakdown="plan", limit=limit)
    got = {tuple(s.breakdown_value): _points(s) for s in answer.series}
    assert got == {k: v for k, v in expected.items()}
    assert len([k for k in got if k != ("$other",)]) <= limit


@SETTINGS
@given(
    events=st.lists(event_strategy, min_size=0, max_size=25),
    tz=st.sampled_from(ZONES),
    interval=st.sampled_from(["day", "week", "month", "quarter"]),
    math=st.sampled_from(["total", "unique_users", "per_user_avg"]),
    event=st.sampled_from(["view", None]),
)
def test_rollup_equals_raw(runtime, events, tz, interval, math, event):
    tenant = new_tenant(tz)
    load(runtime, tenant, events)
    query = parse_insight_query(
        {
            "kind": "trends",
            "series": [{"event": event, "math": math}],
            "interval": interval,
            "date_range": {"date_from": iso(START.replace(minute=0)), "date_to": iso(END.replace(minute=0))},
        }
    )
    rolled = TrendsRunner(runtime, tenant, query).run(refresh=True)
    raw_runner = TrendsRunner(runtime, tenant, query)
    raw_runner.allow_rollups = False
    raw = raw_runner.run(refresh=True)
    assert raw.served_by == "raw"
    # counts from the rollups, unique users from the person bitmaps (exact, as raw), per-user raw
    served = {"total": "rollup", "unique_users": "preaggregation", "per_user_avg": "raw"}[math]
    assert rolled.served_by == ("raw" if tz == "Asia/Kolkata" else served)
    assert [p.value for p in rolled.series[0].points] == [p.value for p in raw.series[0].points]
    assert rolled.series[0].total == raw.series[0].total


@SETTINGS
@given(
    events=st.lists(event_strategy, min_size=0, max_size=25),
    interval=st.sampled_from(["day", "week", "month"]),
    math=st.sampled_from(["total", "unique_users", "per_user_avg"]),
)
def test_rollup_days_only_equals_raw(runtime, events, interval, math):
    """UTC and a range of whole UTC days: the rollup reads day rows only (no hour rows) and still
    equals the raw answer, events at the range edges included."""
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    first = START.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    query = parse_insight_query(
        {
            "kind": "trends",
            "series": [{"event": "view", "math": math}],
            "interval": interval,
            "date_range": {"date_from": iso(first), "date_to": iso(first + timedelta(days=3))},
        }
    )
    runner = TrendsRunner(runtime, tenant, query)
    assert all("metrics_daily" not in s.text for s in runner.to_sql())
    rolled = runner.run(refresh=True)
    raw_runner = TrendsRunner(runtime, tenant, query)
    raw_runner.allow_rollups = False
    raw = raw_runner.run(refresh=True)
    served = {"total": "rollup", "unique_users": "preaggregation", "per_user_avg": "raw"}[math]
    assert rolled.served_by == served and raw.served_by == "raw"
    assert [p.value for p in rolled.series[0].points] == [p.value for p in raw.series[0].points]
    assert rolled.series[0].total == raw.series[0].total
