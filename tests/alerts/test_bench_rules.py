"""`bench alerts`' rule mix is valid (every rule passes the create checks) and evaluates in one job
with one fetch per group."""

from __future__ import annotations

from analytics_engine.alerts.lifecycle import register_jobs
from analytics_engine.alerts.service import JOB_KIND
from analytics_engine.bench.alerts import make_rules, sources
from analytics_engine.tenants.service import TenantContext


def test_bench_rules_create_and_evaluate_in_groups(client, admin_headers, runtime) -> None:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "alerts-bench")
    tenant = TenantContext(handle.id, handle.name, "UTC", frozenset({"read", "admin"}), "test")
    count = len(sources("met_x")) * 2
    ids = make_rules(runtime, tenant, count)
    assert len(ids) == count
    register_jobs(runtime)
    runtime.runner.paused = True
    try:
        job = runtime.runner.enqueue(JOB_KIND, tenant_id=handle.id, params={"rule_ids": ids, "refresh": True})
        done = runtime.runner.run_now(job.id, wait=True)
    finally:
        runtime.runner.paused = False
    assert done.state == "succeeded", done.error
    assert done.result["evaluated"] == count
    assert done.result["groups"] == 20  # the two funnel-step sources share the funnel's query
    assert "error" not in done.result["states"], done.result
