"""The executor runs a trend's statements side by side and hands results back in statement order;
timing and usage count every statement once."""

from __future__ import annotations

from analytics_engine.insights.base import SQL, Executor
from tests.insights.support import new_tenant


def test_run_all_keeps_statement_order_and_counts_each(runtime):
    tenant = new_tenant()
    executor = Executor(runtime, tenant.tenant_id)
    statements = [
        SQL(f"s{i}", "SELECT {n:UInt32} + 0 * sleepEachRow(0.01), {tenant_id:String}", {"n": i}) for i in range(6)
    ]
    results = executor.run_all(statements)
    assert [r.rows[0][0] for r in results] == list(range(6))
    assert all(r.rows[0][1] == tenant.tenant_id for r in results)
    assert executor.timing.queries == 6
    assert executor.timing.sql_ms > 0
