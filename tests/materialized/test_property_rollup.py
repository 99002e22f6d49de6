"""Trends with a filter or breakdown on a materialized property served from the property rollup
(`metrics_by_property`, insights/property_rollups.py) give exactly the raw answer: random events
(late ones, a batch sent twice, unset and empty values), random filters and breakdowns, maths, intervals
and zones (DST, and a half-hour zone that falls back to raw); queries the rollup does not cover fall
back to raw with the same answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.insights import parse_insight_query
from analytics_engine.insights.trends import TrendsRunner
from analytics_engine.materialized.schemas import MaterializedPropertyCreate
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext
from tests.materialized.conftest import real_tenant

# Australia/Sydney leaves summer time on 2026-04-05 (03:00 -> 02:00): the range spans it.
START = datetime(2026, 4, 2, tzinfo=UTC)
RANGE = {"date_from": "2026-04-03", "date_to": "2026-04-07"}
ZONES = ["UTC", "Australia/Sydney", "America/New_York", "Asia/Kolkata"]
WHOLE_HOUR_ZONES = {"UTC", "Australia/Sydney", "America/New_York"}
PLAN = "plan"
OTHER_PATH = "country"
MISSING = object()
PLAN_VALUE = st.one_of(st.just(MISSING), st.sampled_from(["pro", "free", "", "team", "7"]), st.none(), st.just(7))


@st.composite
def an_event(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {}
    plan = draw(PLAN_VALUE)
    if plan is not MISSING:
        props[PLAN] = plan
    if draw(st.booleans()):
        props[OTHER_PATH] = draw(st.sampled_from(["no", "se"]))
    return {
        "user": f"u{draw(st.integers(0, 6))}",
        "name": draw(st.sampled_from(["view", "buy"])),
        "minutes": draw(st.integers(0, 7 * 24 * 60)),
        "props": props,
    }


@st.composite
def covered_shape(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    """A filter and/or breakdown on `plan` alone: what the property rollup serves."""
    op = draw(st.sampled_from(["eq", "neq", "in", "is_set", "is_not_set", None]))
    filters: list[dict[str, Any]] = []
    if op in {"eq", "neq"}:
        filters = [{"key": PLAN, "operator": op, "value": draw(st.sampled_from(["pro", "", "7", "nope", True]))}]
    elif op == "in":
        values = draw(st.lists(st.sampled_from(["pro", "free", "", 7, "x"]), min_size=1, max_size=3))
        filters = [{"key": PLAN, "operator": "in", "value": values}]
    elif op is not None:
        filters = [{"key": PLAN, "operator": op}]
    breakdown = [PLAN] if op is None or draw(st.booleans()) else []
    return filters, breakdown


# Shapes it does not serve (raw, same answer): two filters, another property, a number, `contains`.
UNCOVERED: list[tuple[list[dict[str, Any]], list[str]]] = [
    ([{"key": PLAN, "operator": "eq", "value": "pro"}, {"key": OTHER_PATH, "operator": "eq", "value": "no"}], []),
    ([{"key": PLAN, "operator": "eq", "value": "pro"}], [OTHER_PATH]),
    ([{"key": PLAN, "operator": "eq", "value": 7}], []),
    ([{"key": PLAN, "operator": "contains", "value": "r"}], [PLAN]),
    ([{"key": OTHER_PATH, "operator": "eq", "value": "no"}], []),
]


@pytest.fixture(scope="module")
def tenant(runtime: Runtime) -> TenantContext:
    ctx = real_tenant(runtime)
    # `plan` materialized (and so in the property rollup); `country` is not: never served from it.
    created = runtime.materialized.create(ctx.tenant_id, MaterializedPropertyCreate(path=PLAN), wait=True)
    assert created.state == "ready", created
    assert created.column in runtime.materialized.rollup.covered(ttl_seconds=0)
    return ctx


def _write(runtime: Runtime, tenant: TenantContext, events: list[dict[str, Any]], name: str) -> None:
    raw = [
        {
            "event": f"{name}_{e['name']}",
            "distinct_id": e["user"],
            "timestamp": (START + timedelta(minutes=e["minutes"])).isoformat(),
            "properties": e["props"],
            "event_id": str(uuid.uuid4()),  # a client id: a retry of it is dropped as a duplicate
        }
        for e in events
    ]
    outcome = validate_events(raw, tenant.tenant_id, Limits())
    assert not outcome.rejected, outcome.rejected[:3]
    runtime.writer.write(outcome.accepted)
    runtime.writer.write(outcome.accepted)  # the same batch again (a client retry): counted once


def _answer(runtime: Runtime, tenant: TenantContext, query: dict[str, Any], *, rollups: bool) -> Any:
    runner = TrendsRunner(runtime, tenant, parse_insight_query(query))
    runner.allow_rollups = rollups
    result = runner.run(refresh=True)
    series = sorted(
        (s.label, tuple(s.breakdown_value or ()), s.total, tuple(p.value for p in s.points)) for s in result.series
    )
    return result.served_by, series, result.approximate


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    early=st.lists(an_event(), min_size=1, max_size=25),
    late=st.lists(an_event(), max_size=8),
    shape=st.one_of(covered_shape(), st.sampled_from(UNCOVERED)),
    math=st.sampled_from(["total", "unique_users", "per_user_avg"]),
    interval=st.sampled_from(["day", "week", "month"]),
    zone=st.sampled_from(ZONES),
    all_events=st.booleans(),
    limit=st.integers(1, 3),
    compare=st.booleans(),
)
def test_property_rollup_matches_raw(
    runtime: Runtime,
    tenant: TenantContext,
    early: list[dict[str, Any]],
    late: list[dict[str, Any]],
    shape: tuple[list[dict[str, Any]], list[str]],
    math: str,
    interval: str,
    zone: str,
    all_events: bool,
    limit: int,
    compare: bool,
) -> None:
    name = f"e{uuid.uuid4().hex[:8]}"
    _write(runtime, tenant, early, name)
    # Late events: written after, with times before the first batch's (the view adds their rows).
    _write(runtime, tenant, [{**e, "minutes": e["minutes"] // 3} for e in late], name)
    filters, breakdown = shape
    query = {
        "kind": "trends",
        "series": [{"event": None if all_events else f"{name}_view", "math": math}],
        "filters": filters,
        "breakdown": breakdown,
        "breakdown_limit": limit,
        "interval": interval,
        "timezone": zone,
        "date_range": RANGE,
        "compare": compare and not all_events,
    }
    served, got, approximate = _answer(runtime, tenant, query, rollups=True)
    raw_served, expected, raw_approximate = _answer(runtime, tenant, query, rollups=False)
    assert raw_served == "raw"
    assert got == expected, (served, query)
    # unique users are exact on raw events and the rollup's sketch is not: only counts are served
    covered = shape not in UNCOVERED and zone in WHOLE_HOUR_ZONES and math == "total"
    assert served == ("property_rollup" if covered else "raw"), (served, query)
    assert approximate is False and raw_approximate is False


def test_served_by_and_freshness_on_the_api_model(runtime: Runtime, tenant: TenantContext) -> None:
    """An answer from the property rollup says so, names the property and how fresh it is."""
    name = f"e{uuid.uuid4().hex[:8]}"
    _write(runtime, tenant, [{"user": "u1", "name": "view", "minutes": 2000, "props": {PLAN: "pro"}}], name)
    query = {
        "kind": "trends",
        "series": [{"event": f"{name}_view"}],
        "filters": [{"key": PLAN, "operator": "eq", "value": "pro"}],
        "date_range": RANGE,
    }
    result = TrendsRunner(runtime, tenant, parse_insight_query(query)).run(refresh=True)
    assert result.served_by == "property_rollup"
    assert result.materialized_properties == [PLAN]
    assert result.fresh_as_of is not None
    assert sum(p.value or 0 for p in result.series[0].points) == 1


EDGES: list[tuple[list[dict[str, Any]], list[str]]] = [
    ([{"key": PLAN, "operator": "eq", "value": ""}], []),
    ([{"key": PLAN, "operator": "neq", "value": ""}], [PLAN]),
    ([{"key": PLAN, "operator": "in", "value": ["", "pro", 7]}], [PLAN]),
    ([{"key": PLAN, "operator": "is_not_set"}], [PLAN]),
    ([{"key": PLAN, "operator": "is_set"}], []),
    ([], [PLAN]),
]


@pytest.mark.parametrize(("filters", "breakdown"), EDGES)
def test_unset_null_and_empty_values_match_raw(
    runtime: Runtime, tenant: TenantContext, filters: list[dict[str, Any]], breakdown: list[str]
) -> None:
    """Unset, null and '' in the same hours: `eq ""` means set and empty (not unset), a breakdown
    puts all three in the '' bucket."""
    name = f"e{uuid.uuid4().hex[:8]}"
    values: list[Any] = [MISSING, None, "", "", "pro", 7, "7", MISSING]
    events = [
        {"user": f"u{i % 3}", "name": "view", "minutes": 1500 + 61 * i, "props": {} if v is MISSING else {PLAN: v}}
        for i, v in enumerate(values)
    ]
    _write(runtime, tenant, events, name)
    for zone in ("UTC", "Australia/Sydney"):
        query = {
            "kind": "trends",
            "series": [{"event": f"{name}_view", "math": "total"}],  # unique users: raw (exact), not here
            "filters": filters,
            "breakdown": breakdown,
            "interval": "day",
            "timezone": zone,
            "date_range": RANGE,
        }
        served, got, _ = _answer(runtime, tenant, query, rollups=True)
        _, expected, _ = _answer(runtime, tenant, query, rollups=False)
        assert served == "property_rollup"
        assert got == expected, (filters, breakdown, zone)
