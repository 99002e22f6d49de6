"""The warehouse evaluation agrees with the plain-Python reference on random data and definitions,
with events placed exactly on window edges (and 1 ms either side) and nested AND/OR groups."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.cohorts.schemas import CohortCreate, Group
from analytics_engine.ingest.validation import EVENT_COLUMNS
from analytics_engine.tenants.schemas import TenantCreate
from tests.cohorts.reference import Ev, Reference

AS_OF = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
USERS = [f"u{i}" for i in range(6)]
EVENTS = ["buy", "view"]
PLANS = ["pro", "free", "Pro-X", "10"]
DAYS = [0, 1, 2, 3, 5, 7, -1]  # -1: after the evaluation moment (must never count in last_days)
SHIFTS_MS = [-1, 0, 1]
STATIC = "static"

prop_values = st.one_of(st.sampled_from(PLANS), st.integers(0, 12))


@st.composite
def an_event(draw: Any) -> tuple[str, str, int, int, int, dict[str, Any]]:
    props: dict[str, Any] = {}
    if draw(st.booleans()):
        props["plan"] = draw(st.sampled_from(PLANS))
    if draw(st.booleans()):
        props["n"] = draw(st.integers(0, 12))
    return (
        draw(st.sampled_from(EVENTS)),
        draw(st.sampled_from(USERS)),
        draw(st.sampled_from(DAYS)),
        draw(st.sampled_from([0, 6])),
        draw(st.sampled_from(SHIFTS_MS)),
        props,
    )


@st.composite
def a_filter(draw: Any) -> dict[str, Any]:
    key = draw(st.sampled_from(["plan", "n", "missing"]))
    op = draw(st.sampled_from(["eq", "neq", "gt", "lte", "contains", "in", "is_set", "is_not_set"]))
    if op in ("gt", "lte"):
        value: Any = draw(st.integers(0, 12))
    elif op == "in":
        value = draw(st.lists(prop_values, min_size=1, max_size=3))
    elif op in ("is_set", "is_not_set"):
        value = None
    elif op == "contains":
        value = draw(st.sampled_from(["pro", "R", "1"]))
    else:
        value = draw(prop_values)
    return {"key": key, "operator": op, "value": value}


windows = st.one_of(
    st.none(),
    st.builds(lambda d: {"last_days": d}, st.sampled_from([1, 2, 3, 7])),
    st.builds(
        lambda a, b: {"start": AS_OF - timedelta(days=a), "end": AS_OF - timedelta(days=b)},
        st.sampled_from([3, 5, 7]),
        st.sampled_from([0, 1, 2]),
    ),
    st.builds(lambda a: {"start": AS_OF - timedelta(days=a)}, st.sampled_from([1, 2, 5])),
)


@st.composite
def a_leaf(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["event", "event", "not_performed", "first_performed", "person_property", "cohort"]))
    if kind == "person_property":
        return {"type": kind, **draw(a_filter())}
    if kind == "cohort":
        return {"type": "cohort", "cohort_id": STATIC, "negate": draw(st.booleans())}
    node: dict[str, Any] = {
        "type": kind,
        "event": draw(st.sampled_from(EVENTS)),
        "properties": draw(st.lists(a_filter(), max_size=1)),
    }
    if kind == "first_performed":
        node["window"] = draw(windows.filter(lambda w: w is not None))
    else:
        node["window"] = draw(windows)
    if kind == "event":
        node["operator"] = draw(st.sampled_from(["at_least", "at_most", "exactly"]))
        node["count"] = draw(st.integers(0, 3))
    return node


definitions = st.recursive(
    a_leaf(),
    lambda children: st.builds(
        lambda op, kids: {"type": "group", "operator": op, "criteria": kids},
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=6,
).map(lambda node: node if node["type"] == "group" else {"type": "group", "operator": "and", "criteria": [node]})


def insert(runtime, tenant_id: str, evs: list[Ev]) -> None:  # type: ignore[no-untyped-def]
    lines = [
        orjson.dumps(
            {
                "tenant_id": tenant_id,
                "event": e.event,
                "distinct_id": e.distinct_id,
                "timestamp": e.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                "event_id": str(uuid.uuid4()),
                "received_at": e.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                "properties": e.properties,
            }
        )
        for e in evs
    ]
    runtime.warehouse.insert_json_rows(runtime.warehouse.table("events"), list(EVENT_COLUMNS), b"\n".join(lines))


def with_static(node: dict[str, Any], static_id: str) -> dict[str, Any]:
    if node["type"] == "group":
        return {**node, "criteria": [with_static(c, static_id) for c in node["criteria"]]}
    if node["type"] == "cohort":
        return {**node, "cohort_id": static_id}
    return node


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.lists(an_event(), min_size=1, max_size=30, unique_by=lambda e: (e[1], e[2], e[3], e[4])),
    definition=definitions,
    static_members=st.sets(st.sampled_from([*USERS[:3], "ghost"]), max_size=3),
)
def test_evaluation_matches_reference(runtime, raw, definition, static_members) -> None:  # type: ignore[no-untyped-def]
    tenant = runtime.tenants.create(TenantCreate(name=f"ref-{uuid.uuid4().hex[:10]}"))
    evs = [
        Ev(name, user, AS_OF - timedelta(days=d) + timedelta(hours=h, milliseconds=ms), props)
        for name, user, d, h, ms, props in raw
    ]
    insert(runtime, tenant.id, evs)
    service = runtime.cohorts
    static = service.create(tenant.id, CohortCreate(name="static", kind="static", distinct_ids=sorted(static_members)))
    concrete = with_static(definition, static.id)
    cohort = service.create(tenant.id, CohortCreate(name="random", definition=Group(**concrete)))
    result = service.evaluate(tenant.id, cohort.id, as_of=AS_OF, trigger="test")

    expected = Reference(evs, AS_OF, {static.id: set(static_members)}).members(concrete)
    got = set(service.members(tenant.id, cohort.id, limit=1000).distinct_ids)
    assert got == expected, (concrete, sorted(got), sorted(expected))
    assert result.size == len(expected)


def test_window_edges_exactly(runtime) -> None:  # type: ignore[no-untyped-def]
    """An event exactly K days before the evaluation counts, 1 ms earlier it does not; an event at
    the evaluation moment itself does not count (the window is [as_of - K days, as_of))."""
    tenant = runtime.tenants.create(TenantCreate(name=f"edge-{uuid.uuid4().hex[:10]}"))
    edge = AS_OF - timedelta(days=7)
    evs = [
        Ev("buy", "on-edge", edge, {}),
        Ev("buy", "just-before", edge - timedelta(milliseconds=1), {}),
        Ev("buy", "at-as-of", AS_OF, {}),
        Ev("buy", "just-inside", AS_OF - timedelta(milliseconds=1), {}),
    ]
    insert(runtime, tenant.id, evs)
    service = runtime.cohorts
    definition = {"type": "group", "criteria": [{"type": "event", "event": "buy", "window": {"last_days": 7}}]}
    cohort = service.create(tenant.id, CohortCreate(name="edge", definition=Group(**definition)))
    service.evaluate(tenant.id, cohort.id, as_of=AS_OF)
    assert service.members(tenant.id, cohort.id).distinct_ids == ["just-inside", "on-edge"]
    assert Reference(evs, AS_OF).members(definition) == {"just-inside", "on-edge"}
