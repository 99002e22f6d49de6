"""A filter or breakdown served from a materialized column gives exactly the answer the JSON
properties give: the same events loaded for two tenants, one with the properties materialized and
one without, asked the same trend (random values: missing, null, text, numbers stored as text,
booleans, nested keys, objects, arrays; random filters of every operator; a breakdown)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.materialized.schemas import MaterializedPropertyCreate
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext
from tests.insights.reference import Ev
from tests.insights.support import load, run
from tests.materialized.conftest import real_tenant

DAY = datetime(2026, 4, 1, tzinfo=UTC)
RANGE = {"date_from": "2026-04-01", "date_to": "2026-04-01"}
PATHS = ["plan", "utm.source"]  # a top-level key and a nested one, each as string and number

TEXT = st.sampled_from(["pro", "Pro", "", "7", "2.5", "-3", "1e3", " 7", "true", "false", "null", "abc", "é"])
SCALAR = st.one_of(
    TEXT,
    st.integers(-1_000, 1_000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
VALUE = st.one_of(SCALAR, SCALAR, st.just({"inner": 1}), st.lists(st.integers(0, 3), max_size=2))
MISSING = object()


@st.composite
def properties(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {}
    plan = draw(st.one_of(st.just(MISSING), VALUE))
    if plan is not MISSING:
        props["plan"] = plan
    source = draw(st.one_of(st.just(MISSING), VALUE))
    if source is not MISSING:
        props["utm"] = {"source": source}
    elif draw(st.booleans()):
        props["utm"] = {"medium": "x"}  # the parent set, the nested key not
    return props


NUMBER = st.one_of(st.integers(-10, 10), st.sampled_from([2.5, 7.0, -3.0, 1000.0, 0.0]))
FILTER_VALUE = st.one_of(TEXT, NUMBER, st.booleans())


@st.composite
def a_filter(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(PATHS))
    op = draw(
        st.sampled_from(["eq", "neq", "contains", "regex", "gt", "gte", "lt", "lte", "is_set", "is_not_set", "in"])
    )
    item: dict[str, Any] = {"key": key, "operator": op}
    if op in {"gt", "gte", "lt", "lte"}:
        item["value"] = draw(NUMBER)
    elif op in {"contains", "regex"}:
        item["value"] = draw(st.sampled_from(["p", "7", "e", "^P", "\\d", "r"]))
    elif op == "in":
        item["value"] = draw(st.lists(FILTER_VALUE, min_size=1, max_size=3))
    elif op in {"eq", "neq"}:
        item["value"] = draw(FILTER_VALUE)
    return item


@pytest.fixture(scope="module")
def tenants(runtime: Runtime) -> tuple[TenantContext, TenantContext]:
    with_columns, without = real_tenant(runtime), real_tenant(runtime)
    for path in PATHS:
        for value_type in ("string", "number"):
            body = MaterializedPropertyCreate(path=path, type=value_type)
            created = runtime.materialized.create(with_columns.tenant_id, body, wait=True)
            assert created.state == "ready", created
    return with_columns, without


def _load_both(
    runtime: Runtime, pair: tuple[TenantContext, TenantContext], event: str, rows: list[dict[str, Any]]
) -> None:
    events = [Ev(f"u{i % 5}", event, DAY + timedelta(minutes=i), props) for i, props in enumerate(rows)]
    for tenant in pair:
        load(runtime, tenant, events)


def _answer(runtime: Runtime, tenant: TenantContext, query: dict[str, Any]) -> tuple[Any, list[str]]:
    result = run(runtime, tenant, query, refresh=True)
    series = sorted(
        (s.label, tuple(s.breakdown_value or ()), s.total, tuple(p.value for p in s.points)) for s in result.series
    )
    return series, result.materialized_properties


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(properties(), min_size=1, max_size=12), filters=st.lists(a_filter(), min_size=1, max_size=2))
def test_filters_and_breakdowns_match_json(
    runtime: Runtime, tenants: Any, rows: list[dict[str, Any]], filters: Any
) -> None:
    event = f"e{uuid.uuid4().hex[:10]}"
    _load_both(runtime, tenants, event, rows)
    for breakdown in ([], ["plan"], ["utm.source", "plan"]):
        query = {
            "kind": "trends",
            "series": [{"event": event}],
            "filters": filters,
            "breakdown": breakdown,
            "date_range": RANGE,
        }
        with_columns, used = _answer(runtime, tenants[0], query)
        without, unused = _answer(runtime, tenants[1], query)
        assert with_columns == without, (rows, filters, breakdown)
        assert unused == []
        assert set(used) == {f["key"] for f in filters} | set(breakdown), (used, filters, breakdown)


def test_backfilled_parts_match_json(runtime: Runtime) -> None:
    """Events stored before the column existed get their values from the backfill (MATERIALIZE
    COLUMN), not from the insert: the same answers again."""
    materialized, plain = real_tenant(runtime), real_tenant(runtime)
    path = f"late_{uuid.uuid4().hex[:6]}"
    values: list[Any] = ["a", "7", 7, 2.5, True, None, "", {"x": 1}, [1], "b", -1, "2.5"]
    rows = [{path: value} for value in values] + [{}]
    events = [Ev("u1", "late", DAY + timedelta(minutes=i), props) for i, props in enumerate(rows)]
    for tenant in (materialized, plain):
        load(runtime, tenant, events)
    for value_type in ("string", "number"):
        body = MaterializedPropertyCreate(path=path, type=value_type)
        assert runtime.materialized.create(materialized.tenant_id, body, wait=True).state == "ready"
    checks = [
        [{"key": path, "operator": "eq", "value": "7"}],
        [{"key": path, "operator": "eq", "value": 7}],
        [{"key": path, "operator": "gt", "value": 2}],
        [{"key": path, "operator": "is_set"}],
        [{"key": path, "operator": "is_not_set"}],
        [{"key": path, "operator": "neq", "value": "a"}],
        [{"key": path, "operator": "in", "value": ["a", True, 2.5]}],
    ]
    for filters in checks:
        query = {
            "kind": "trends",
            "series": [{"event": "late"}],
            "filters": filters,
            "breakdown": [path],
            "date_range": RANGE,
        }
        got, used = _answer(runtime, materialized, query)
        expected, _ = _answer(runtime, plain, query)
        assert got == expected, filters
        assert used == [path]
