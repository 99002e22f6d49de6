"""insights/segments.py: a funnel's and retention's figures per segment over two periods in one
statement equal those of the insight runs they replace (the metric broken down by each grouping set
over each period, through the registry), and `POST /v1/ai/explain` answers from it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_engine.ai.explain import _rows
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import load_events
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.registry import parse_query, run
from analytics_engine.insights.segments import SIDES, SegmentsBuilder, SegmentsRequest, compute, side_query
from tests.insights.support import new_tenant

END = datetime(2026, 7, 20, 9, 30, tzinfo=UTC)
SETS = ((), ("plan",), ("country",), ("browser",), ("plan", "country"), ("plan", "browser"), ("country", "browser"))
METRICS = {
    "funnel_ordered": ("funnels", {"steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}]}),
    "funnel_unordered": ("funnels", {"order": "unordered", "steps": [{"event": "activated"}, {"event": "purchase"}]}),
    "retention_first_time": ("retention", {"period": "week", "periods": 4}),
    "retention_recurring": (
        "retention",
        {"period": "day", "periods": 3, "start_type": "recurring", "start_event": {"event": "pageview"}},
    ),
}


@pytest.fixture(scope="module")
def tenant(runtime):
    handle = new_tenant()
    spec = GeneratorSpec(events=12_000, days=120, seed=5, end=END)
    load_events(runtime.warehouse, handle.tenant_id, generate_events(spec))
    return handle


FEW = ((), ("plan", "browser"))
CASES = [
    ("funnel_ordered", SETS, 100),
    ("retention_first_time", SETS, 100),
    ("funnel_unordered", FEW, 100),
    ("retention_recurring", FEW, 100),
    # top 2 values per set, the rest summed into '$other' as a breakdown_limit does
    ("funnel_ordered", (("country",), ("plan", "country")), 2),
    ("retention_first_time", (("country",), ("country", "browser")), 2),
    # a zone whose days start on half hours: returns (and recurring cohorts) from raw events
    ("retention_first_time", FEW, 100, "Asia/Kolkata"),
    ("retention_recurring", FEW, 100, "Asia/Kolkata"),
]


@pytest.mark.parametrize(("name", "sets", "limit", "zone"), [(*case, "Europe/Oslo")[:4] for case in CASES])
def test_one_statement_equals_the_insight_runs(runtime, tenant, name, sets, limit, zone):
    kind, query = METRICS[name]
    request = SegmentsRequest(
        kind=kind,
        query={**query, "kind": kind},
        sets=sets,
        baseline={"date_from": "2026-05-01", "date_to": "2026-05-31"},
        period={"date_from": "2026-06-01", "date_to": "2026-06-30"},
        timezone=zone,
        retention_period=1,
        limit=limit,
    )
    if kind == "retention":
        # Whole-hour zones read returns (and first-time cohorts' first times) from `person_weeks`.
        builder = SegmentsBuilder(runtime, tenant, request)
        builder.resolve()
        statement = builder.to_sql()
        whole_hours = zone == "Europe/Oslo"
        assert ("groupUniqArray" in statement.text) != whole_hours  # the raw returns
        first_time = query.get("start_type", "first_time") == "first_time"
        # first times (exact to the millisecond in any zone) instead of a scan of every event since 1970
        starts = [value for name, value in statement.params.items() if name.startswith("u_")]
        assert "1970-01-01 00:00:00.000" not in starts
        assert ("person_weeks" in statement.text) == (whole_hours or first_time)
    figures = compute(runtime, tenant, request, refresh=True)
    first = figures[(sets[0], "period")]
    assert sum(d for _, d in first.values()) > 50  # enough people to compare
    if limit == 2:
        assert ("$other",) * len(sets[0]) in first
    for dims in sets:
        for side in SIDES:
            single = {**side_query(request, side), "breakdown": list(dims)}
            if not dims:
                single.pop("breakdown")
            result = run(RunContext(runtime, tenant, refresh=True), parse_query(single))
            expected = _rows(kind, result, request.retention_period)
            if not dims:
                expected = {(): (sum(n for n, _ in expected.values()), sum(d for _, d in expected.values()))}
            got = figures[(dims, side)]
            # the insight folds the rest into one ['$other'] value; so does the statement, per dimension
            expected = {(k if len(k) == len(dims) else tuple(k * len(dims))): v for k, v in expected.items()}
            assert got == expected, (dims, side)
    # a second read comes from the cache with the same figures
    assert compute(runtime, tenant, request) == figures
