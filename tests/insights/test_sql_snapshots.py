"""`to_sql()` is pure: the SQL and parameters of each kind under a frozen clock, compared with the
files in snapshots/ (rewrite them with UPDATE_SNAPSHOTS=1 after an intended change)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from analytics_engine.insights import parse_insight_query, runner_for
from analytics_engine.tenants.service import TenantContext
from analytics_engine.warehouse.client import Warehouse

SNAPSHOTS = Path(__file__).parent / "snapshots"
NOW = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
TENANT = TenantContext("t_snap", "Snap", "Europe/Oslo", frozenset({"read"}), "key")
# Building SQL touches no warehouse: a facade on a path that does not exist is enough.
RUNTIME = SimpleNamespace(
    warehouse=Warehouse("chdb:///nonexistent/never-opened", "snap"), settings=SimpleNamespace(preaggregations=True)
)

QUERIES = {
    "paths": {
        "kind": "paths",
        "start_event": "signup",
        "end_event": "purchase",
        "steps": 4,
        "exclude_events": ["heartbeat"],
        "path_cleaning": [{"regex": "^view_(\\d+)$", "alias": "view"}],
        "date_range": {"date_from": "-14d"},
    },
    "trends_rollup": {
        "kind": "trends",
        "series": [{"event": "signup", "math": "total"}],  # the rollups answer counts only
        "interval": "week",
        "date_range": {"date_from": "-14d"},
    },
    "trends_unique_users": {  # raw here (no bitmaps in a hand-built runtime): uniqExact
        "kind": "trends",
        "series": [{"event": "signup", "math": "unique_users"}],
        "interval": "week",
        "date_range": {"date_from": "-14d"},
    },
    "trends_breakdown": {
        "kind": "trends",
        "interval": "day",
        "compare": True,
        "breakdown": ["plan", "geo.country"],
        "breakdown_limit": 5,
        "series": [
            {
                "event": "purchase",
                "math": "p95",
                "math_property": "amount",
                "filters": [
                    {"key": "plan", "operator": "in", "value": ["pro", "team"]},
                    {"key": "amount", "operator": "gt", "value": 10},
                ],
            }
        ],
        "date_range": {"date_from": "2026-03-20", "date_to": "2026-03-30"},
    },
    "funnel_strict": {
        "kind": "funnels",
        "order": "strict",
        "interval": "day",
        "breakdown": ["plan"],
        "steps": [
            {"event": "signup"},
            {"event": "activated", "window": {"value": 2, "unit": "hour"}},
            {"event": "purchase"},
        ],
        "date_range": {"date_from": "-7d"},
    },
    "retention": {
        "kind": "retention",
        "period": "week",
        "periods": 6,
        "start_event": {"event": "signup"},
        "return_event": {"event": "pageview", "filters": [{"key": "path", "operator": "regex", "value": "^/courses"}]},
    },
    "lifecycle": {"kind": "engagement", "measure": "lifecycle", "interval": "week", "date_range": {"date_from": "-4w"}},
    # served by the person_weeks pre-aggregation (insights/preaggregations.py)
    "retention_preaggregated": {
        "kind": "retention",
        "period": "week",
        "periods": 6,
        "start_type": "recurring",
        "start_event": {"event": "signup"},
        "return_event": {"event": None},
    },
    "active_users_preaggregated": {
        "kind": "engagement",
        "measure": "active_users",
        "event": "pageview",
        "date_range": {"date_from": "-30d"},
    },
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_snapshot(name):
    runner = runner_for(RUNTIME, TENANT, parse_insight_query(QUERIES[name]), now=NOW)
    rendered = "\n\n".join(
        f"-- {s.name}\n{s.text}\n-- params: {json.dumps(s.params, sort_keys=True, default=str)}"
        for s in runner.to_sql()
    )
    assert "{tenant_id:String}" in rendered
    path = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(rendered + "\n")
    assert rendered + "\n" == path.read_text()
    assert runner.to_sql() == runner.to_sql()  # pure: the same SQL every time


SEGMENTS = {
    "segments_funnels": ("funnels", {"steps": [{"event": "signup"}, {"event": "purchase"}]}),
    "segments_retention": ("retention", {"period": "week", "periods": 4}),
}


@pytest.mark.parametrize("name", sorted(SEGMENTS))
def test_segments_sql_snapshot(name):
    """`POST /v1/ai/explain`'s one statement per funnel or retention (insights/segments.py)."""
    from analytics_engine.insights.segments import SegmentsBuilder, SegmentsRequest

    kind, query = SEGMENTS[name]
    request = SegmentsRequest(
        kind=kind,
        query={**query, "kind": kind},
        sets=((), ("plan",), ("country",), ("plan", "country")),
        baseline={"date_from": "2026-02-01", "date_to": "2026-02-28"},
        period={"date_from": "2026-03-01", "date_to": "2026-03-30"},
        timezone="Europe/Oslo",
    )
    statement = SegmentsBuilder(RUNTIME, TENANT, request, now=NOW).to_sql()  # type: ignore[arg-type]
    rendered = (
        f"-- {statement.name}\n{statement.text}\n-- params: {json.dumps(statement.params, sort_keys=True, default=str)}"
    )
    assert rendered.count("{tenant_id:String}") >= 2  # both periods bound to the tenant
    assert "GROUPING SETS ((side), (side, b1), (side, b2), (side, b1, b2))" in rendered
    path = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(rendered + "\n")
    assert rendered + "\n" == path.read_text()
