"""Two tenants with events, persons, cohort members and a synced table, for the restricted SQL tests.

Tenant A's rows and tenant B's rows are told apart by marks in every text column: anything a query of
A returns that holds B's mark (or the other way round) is a leak."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.query.catalogue import CATALOGUES, SYNC_COMMENT_PREFIX
from analytics_engine.tenants.service import TenantContext


@dataclass
class Pair:
    a: TenantContext
    b: TenantContext
    mark_a: str
    mark_b: str


def tenant(name: str) -> TenantContext:
    return TenantContext(f"tq_{uuid.uuid4().hex[:10]}", name, "UTC", frozenset({"read"}), "key")


def load_events(runtime: Any, who: TenantContext, mark: str, count: int = 30) -> None:
    start = datetime.now(UTC) - timedelta(days=3)
    raw = [
        {
            "event": f"{mark}_ev{i % 3}",
            "distinct_id": f"{mark}_user{i % 5}",
            "timestamp": (start + timedelta(hours=i)).isoformat(),
            "properties": {"plan": f"{mark}_plan", "amount": i},
        }
        for i in range(count)
    ]
    outcome = validate_events(raw, who.tenant_id, Limits())
    assert not outcome.rejected, outcome.rejected[:3]
    runtime.writer.write(outcome.accepted)


def make_pair(runtime: Any) -> Pair:
    pair = Pair(tenant("SQL A"), tenant("SQL B"), "alpha", "bravo")
    load_events(runtime, pair.a, pair.mark_a)
    load_events(runtime, pair.b, pair.mark_b)
    platform = runtime.warehouse.platform("tests: restricted SQL fixtures")
    cohorts = runtime.warehouse.table("cohort_users")
    for who, mark in ((pair.a, pair.mark_a), (pair.b, pair.mark_b)):
        platform.command(
            f"INSERT INTO {cohorts} (tenant_id, cohort_id, version, distinct_id) VALUES "
            "({t:String}, {c:String}, 1, {u:String})",
            {"t": who.tenant_id, "c": f"{mark}_cohort", "u": f"{mark}_user1"},
        )
    # a synced table as sync makes them: tenant_id, the source's columns, _version and _is_deleted
    donations = runtime.warehouse.table("donations")
    platform.command(
        f"CREATE TABLE IF NOT EXISTS {donations} (tenant_id LowCardinality(String), id Int64, note String, "
        "amount Float64, _version UInt64, _is_deleted UInt8) ENGINE = ReplacingMergeTree(_version, _is_deleted) "
        f"ORDER BY (tenant_id, id) COMMENT '{SYNC_COMMENT_PREFIX}donations'"
    )
    for who, mark in ((pair.a, pair.mark_a), (pair.b, pair.mark_b)):
        platform.command(
            f"INSERT INTO {donations} VALUES ({{t:String}}, 1, {{n:String}}, 10, 1, 0), "
            "({t:String}, 2, {n:String}, 20, 1, 0), ({t:String}, 2, {n:String}, 25, 2, 0), "
            "({t:String}, 3, {n:String}, 30, 1, 0), ({t:String}, 3, {n:String}, 30, 2, 1)",
            {"t": who.tenant_id, "n": f"{mark}_note"},
        )
    CATALOGUES.clear()
    return pair
