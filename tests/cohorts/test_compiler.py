"""The compiler is pure: the SQL of a definition under a fixed clock, values only as parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from analytics_engine.cohorts.compiler import Compiler
from analytics_engine.cohorts.schemas import CohortCreate, Group
from analytics_engine.cohorts.service import dependency_order, find_cycle

AS_OF = datetime(2026, 3, 10, 12, tzinfo=UTC)


def compile_(definition: dict) -> tuple[str, dict]:
    compiler = Compiler(lambda name: f"db.{name}", "tn_1", AS_OF, lambda cohort_id: 4)
    return compiler.members_sql(Group(**definition)), compiler.params


def test_sql_snapshot_and_parameters() -> None:
    sql, params = compile_(
        {
            "type": "group",
            "operator": "or",
            "criteria": [
                {
                    "type": "event",
                    "event": "buy'; DROP TABLE x; --",
                    "operator": "at_most",
                    "count": 2,
                    "window": {"last_days": 7},
                    "properties": [{"key": "$plan-x", "operator": "eq", "value": "O'Brien"}],
                },
                {"type": "cohort", "cohort_id": "coh_a", "negate": True},
            ],
        }
    )
    assert sql == (
        "SELECT distinct_id FROM db.persons WHERE tenant_id = {tenant_id:String} AND ("
        "distinct_id NOT IN (SELECT distinct_id FROM db.events WHERE tenant_id = {tenant_id:String} "
        "AND event = {c2:String} AND timestamp >= {c3:DateTime64(3, 'UTC')} AND timestamp < {c4:DateTime64(3, 'UTC')} "
        "AND toString(properties.`$plan-x`) = {c5:String} GROUP BY distinct_id HAVING count() > {c1:UInt64}) OR "
        "distinct_id NOT IN (SELECT distinct_id FROM db.cohort_users WHERE tenant_id = {tenant_id:String} "
        "AND cohort_id = {c6:String} AND version = {c7:UInt32})) GROUP BY distinct_id"
    )
    assert params == {
        "tenant_id": "tn_1",
        "c1": 2,
        "c2": "buy'; DROP TABLE x; --",
        "c3": "2026-03-03 12:00:00.000",
        "c4": "2026-03-10 12:00:00.000",
        "c5": "O'Brien",
        "c6": "coh_a",
        "c7": 4,
    }


def test_person_property_and_first_performed() -> None:
    sql, params = compile_(
        {
            "type": "group",
            "criteria": [
                {"type": "person_property", "key": "age", "operator": "gte", "value": 18},
                {"type": "person_property", "key": "plan", "operator": "neq", "value": "free"},
                {"type": "first_performed", "event": "signup", "window": {"start": "2026-01-01", "end": "2026-02-01"}},
            ],
        }
    )
    assert "HAVING ifNull(toFloat64OrNull(if(startsWith(argMaxMerge(value), '\"')" in sql
    assert "distinct_id NOT IN (SELECT distinct_id FROM db.person_properties" in sql  # neq includes missing
    assert "HAVING min(timestamp) >= {c" in sql and "timestamp < {c" in sql
    assert 18.0 in params.values() and "free" in params.values() and "2026-02-01 00:00:00.000" in params.values()


@pytest.mark.parametrize(
    "bad",
    [
        {"key": "a`b", "value": "x"},
        {"key": "a b", "value": "x"},
        {"key": "", "value": "x"},
        {"key": "a", "operator": "in", "value": []},
        {"key": "a", "operator": "lt", "value": True},
        {"key": "a", "operator": "eq"},
        {"key": "a", "operator": "regex", "value": "."},
    ],
)
def test_invalid_property_filters_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Group(type="group", criteria=[{"type": "person_property", **bad}])


def test_depth_and_size_limits() -> None:
    node: dict = {"type": "event", "event": "x"}
    for _ in range(6):
        node = {"type": "group", "criteria": [node]}
    with pytest.raises(ValidationError, match="nest at most"):
        CohortCreate(name="deep", definition=node)
    wide = {"type": "group", "criteria": [{"type": "group", "criteria": [{"type": "event", "event": "x"}] * 30}] * 2}
    with pytest.raises(ValidationError, match="at most 50"):
        CohortCreate(name="wide", definition=wide)


def test_cycle_search_and_dependency_order() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph, "a") == ["a", "b", "c", "a"]
    assert find_cycle(graph, "d") is None

    def ref(*ids: str) -> dict:
        return {"type": "group", "criteria": [{"type": "cohort", "cohort_id": i} for i in ids]}

    order = dependency_order([("t", "x", ref("y", "z")), ("t", "y", ref("z")), ("t", "z", ref("static"))])
    assert order == [("t", "z"), ("t", "y"), ("t", "x")]
