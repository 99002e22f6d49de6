"""Auto mode: the scheduled pass materializes what dashboards use, within the caps (its own module:
a fresh warehouse database, so the service-wide column cap starts empty)."""

from __future__ import annotations

from typing import Any

from analytics_engine.runtime import Runtime

BASE = "/v1/materialized-properties"


def test_auto_pass_materializes_used_properties(new_tenant: Any, runtime: Runtime) -> None:
    tenant = new_tenant()
    query = {"kind": "trends", "series": [{"event": "x"}], "breakdown": ["tier"]}
    widgets = [{"title": f"w{i}", "viz": "line", "query": query} for i in range(3)]
    assert tenant.post("/v1/dashboards", json={"name": "auto", "widgets": widgets}).status_code == 201
    assert runtime.settings.materialized_auto_min_uses == 3
    runtime.materialized.auto_pass()
    items = tenant.get(BASE).json()["items"]
    assert [(item["path"], item["type"], item["source"]) for item in items] == [("tier", "string", "auto")]
    runtime.materialized.auto_pass()  # nothing new the second time
    assert len(tenant.get(BASE).json()["items"]) == 1


def test_auto_pass_stops_at_the_tenant_cap(new_tenant: Any, runtime: Runtime) -> None:
    from tests.materialized.conftest import MAX_PER_TENANT

    tenant = new_tenant()
    paths = [f"k{i}" for i in range(MAX_PER_TENANT + 2)]
    query = {"kind": "trends", "series": [{"event": "x"}], "filters": [{"key": p, "operator": "is_set"} for p in paths]}
    widgets = [{"title": f"w{i}", "viz": "line", "query": query} for i in range(3)]
    assert tenant.post("/v1/dashboards", json={"name": "many", "widgets": widgets}).status_code == 201
    result = runtime.materialized.apply_suggestions(tenant.id)
    assert len(result.created) == MAX_PER_TENANT
    assert len(result.skipped) == 2
    assert len(tenant.get(BASE).json()["items"]) == MAX_PER_TENANT


def test_serve_schedules_the_auto_pass_only_in_auto_mode(tmp_path: Any, warehouse_path: Any) -> None:
    from fastapi.testclient import TestClient

    from analytics_engine.api.app import create_app
    from analytics_engine.materialized.lifecycle import SCHEDULE_NAME
    from tests.conftest import build_settings

    for auto in (False, True):
        settings = build_settings(tmp_path / str(auto), warehouse_path, materialized_auto=auto)
        runtime = Runtime.build(settings)
        with TestClient(create_app(settings, runtime)):
            assert (SCHEDULE_NAME in runtime.scheduler.names()) is auto
            assert {"materialized.backfill", "materialized.drop"} <= set(runtime.runner.handlers)
        runtime.close()
