"""The tenant-scoped query policy (`warehouse.for_tenant`): binding, limits, admission, usage; and
the reads that ran outside any budget before it (persons, events/count, cohort members, raw
exports) now counting against it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from analytics_engine.budgets import BudgetUpdate
from analytics_engine.errors import BudgetExceeded
from analytics_engine.exports.runner import ExportScope
from analytics_engine.runtime import Runtime
from tests.support.budgets import slot_held
from tests.support.factories import events

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
COUNT_SQL = "SELECT count() FROM {events} WHERE tenant_id = {{tenant_id:String}}"


def queries(runtime: Runtime, tenant_id: str) -> int:
    return runtime.budgets.usage(tenant_id).usage.queries


def limit_to(runtime: Runtime, tenant_id: str, **limits: Any) -> None:
    runtime.budgets.set_budget(tenant_id, BudgetUpdate(**limits))


# --- binding -------------------------------------------------------------------------------------
def test_a_scope_sees_only_its_tenant_and_refuses_unbound_sql(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    ann, bob = new_tenant(), new_tenant()
    ann.ingest(events("pageview", 5, users=2, start=START))
    bob.ingest(events("pageview", 3, users=1, start=START))
    sql = COUNT_SQL.format(events=runtime.warehouse.table("events"))
    scope = runtime.warehouse.for_tenant(ann.id)
    assert scope.query(sql).scalar() == 5
    assert runtime.warehouse.for_tenant(bob.id).query(sql).scalar() == 3

    unbound = f"SELECT count() FROM {runtime.warehouse.table('events')}"
    with pytest.raises(ValueError, match="must filter"):
        scope.query(unbound)
    with pytest.raises(ValueError, match="must filter"):
        scope.stream_rows(unbound)
    with pytest.raises(ValueError, match="must filter"):
        scope.command(f"DELETE FROM {runtime.warehouse.table('events')} WHERE 1")
    with pytest.raises(ValueError, match="another tenant"):
        scope.query(sql, {"tenant_id": bob.id})
    row = orjson.dumps({"tenant_id": bob.id, "cohort_id": "c", "version": 1, "distinct_id": "x"})
    with pytest.raises(ValueError, match="another tenant"):
        scope.insert_json_rows(
            runtime.warehouse.table("cohort_users"), ["tenant_id", "cohort_id", "version", "distinct_id"], row
        )
    assert runtime.warehouse.for_tenant(bob.id).query(sql).scalar() == 3  # nothing was written or deleted


def test_platform_access_needs_a_reason(runtime: Runtime) -> None:
    with pytest.raises(ValueError):
        runtime.warehouse.platform(" ")
    assert runtime.warehouse.platform("a test").query("SELECT 1").scalar() == 1


# --- limits, admission, usage ---------------------------------------------------------------------
def test_the_tenants_read_limit_is_a_clickhouse_setting_the_caller_may_lift(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("pageview", 40, users=4, start=START))
    sql = COUNT_SQL.format(events=runtime.warehouse.table("events"))
    limit_to(runtime, tenant.id, max_rows_to_read=2)
    scope = runtime.warehouse.for_tenant(tenant.id)
    assert scope.limit_settings()["max_rows_to_read"] == 2
    with pytest.raises(BudgetExceeded) as refused:
        scope.query(f"SELECT event FROM ({sql.replace('count()', 'event')}) ORDER BY event")
    assert refused.value.details["limit"] == "max_rows_to_read"
    assert runtime.budgets.usage(tenant.id).usage.queries >= 1  # the refused statement was charged
    # Trusted code (exports lift max_execution_time) may override a limit explicitly.
    lifted = scope.query(sql, settings={"max_rows_to_read": 0})
    assert lifted.scalar() == 40


def test_statements_share_an_enclosing_admission_and_are_each_recorded(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    limit_to(runtime, tenant.id, max_concurrent_queries=1)
    sql = COUNT_SQL.format(events=runtime.warehouse.table("events"))
    scope = runtime.warehouse.for_tenant(tenant.id)
    before = queries(runtime, tenant.id)
    with scope.admitted():
        assert runtime.budgets.running(tenant.id) == 1
        scope.query(sql)
        scope.query(sql)  # the same slot: not refused by the limit of 1
    assert runtime.budgets.running(tenant.id) == 0
    assert queries(runtime, tenant.id) == before + 2  # two statements, the block not charged again
    with scope.admitted():
        pass  # answered from a cache, say: costs nothing
    assert queries(runtime, tenant.id) == before + 2


def test_a_full_budget_refuses_a_request_scope_but_not_background_work(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    limit_to(runtime, tenant.id, max_concurrent_queries=1)
    sql = COUNT_SQL.format(events=runtime.warehouse.table("events"))
    with slot_held(runtime.budgets, tenant.id):
        with pytest.raises(BudgetExceeded) as refused:
            runtime.warehouse.for_tenant(tenant.id).query(sql)
        assert refused.value.details["limit"] == "max_concurrent_queries"
        before = queries(runtime, tenant.id)
        assert runtime.warehouse.for_tenant(tenant.id, background=True).query(sql).scalar() == 0
        assert queries(runtime, tenant.id) == before + 1  # background work is still recorded


# --- the reads that had no budget -----------------------------------------------------------------
def _static_cohort(tenant: Any) -> str:
    made = tenant.post("/v1/cohorts", json={"name": "vip", "kind": "static", "distinct_ids": ["u0", "u1"]})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


READS: dict[str, Callable[[Any], str]] = {
    "persons": lambda tenant: "/v1/persons",
    "person": lambda tenant: "/v1/persons/u0",
    "events_count": lambda tenant: "/v1/events/count",
    "cohort_members": lambda tenant: f"/v1/cohorts/{_static_cohort(tenant)}/members",
}


@pytest.mark.parametrize("read", sorted(READS))
def test_tenant_reads_count_against_the_budget(read: str, new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("pageview", 4, users=2, start=START))
    path = READS[read](tenant)
    before = queries(runtime, tenant.id)
    answered = tenant.get(path)
    assert answered.status_code == 200, answered.text
    assert queries(runtime, tenant.id) > before  # usage recorded

    limit_to(runtime, tenant.id, max_concurrent_queries=1)
    with slot_held(runtime.budgets, tenant.id):
        refused = tenant.get(path)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["details"]["limit"] == "max_concurrent_queries"
    assert tenant.get(path).status_code == 200  # the slot is free again


def test_raw_exports_count_against_the_budget(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("pageview", 6, users=2, start=START))
    sql = f"SELECT event, distinct_id FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{tenant_id:String}}"
    scope = ExportScope(runtime.warehouse, tenant.id)
    before = queries(runtime, tenant.id)
    text = b"".join(scope.text_chunks(sql, {}, "CSV"))
    assert text.count(b"\n") == 6
    blocks = list(scope.column_blocks(sql, {}))
    assert sum(len(block[0]) for block in blocks) == 6
    assert queries(runtime, tenant.id) == before + 2

    limit_to(runtime, tenant.id, max_concurrent_queries=1)
    with slot_held(runtime.budgets, tenant.id):
        with pytest.raises(BudgetExceeded):
            b"".join(scope.text_chunks(sql, {}, "CSV"))
        with pytest.raises(BudgetExceeded):
            list(scope.column_blocks(sql, {}))
    with pytest.raises(ValueError, match="must filter"):
        list(scope.column_blocks(f"SELECT 1 FROM {runtime.warehouse.table('events')}", {}))
