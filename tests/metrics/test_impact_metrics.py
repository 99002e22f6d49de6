"""SROI and VIS through the metric registry, on a dashboard, and relayed on its live stream."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from analytics_engine.dashboards.stream import StreamHub
from analytics_engine.tenants.service import TenantContext
from tests.impact.support import worked_example

SROI = {"kind": "impact", "metric": "sroi"}


def test_sroi_is_a_registry_metric_and_a_widget(new_tenant) -> None:
    tenant = new_tenant()
    tenant.ingest(worked_example())
    created = tenant.post("/v1/metrics", json={"name": "SROI", "query": SROI, "unit": "ratio", "owner": "impact"})
    assert created.status_code == 201, created.text
    answer = tenant.post(f"/v1/metrics/{created.json()['id']}/query", json={})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["totals"]["value"] == pytest.approx(4.0542, abs=1e-4)

    dashboard = tenant.post(
        "/v1/dashboards",
        json={"name": "Impact", "widgets": [{"title": "SROI", "viz": "big_number", "metric_id": created.json()["id"]}]},
    )
    assert dashboard.status_code == 201, dashboard.text
    rendered = tenant.get(f"/v1/dashboards/{dashboard.json()['id']}/render").json()
    widget = rendered["widgets"][0]
    assert widget.get("error") is None, widget
    assert widget["data"]["totals"]["value"] == pytest.approx(4.0542, abs=1e-4)


def test_bad_impact_metric_is_422(new_tenant) -> None:
    response = new_tenant().post("/v1/metrics", json={"name": "x", "query": {"kind": "impact", "metric": "nps"}})
    assert response.status_code == 422


def test_impact_changes_reach_only_that_tenants_streams(runtime) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        hub = StreamHub(runtime)
        hub.start()
        mine = TenantContext("tn_mine", "m", "UTC", frozenset({"read"}), "k1")
        other = TenantContext("tn_other", "o", "UTC", frozenset({"read"}), "k2")
        feed, client = hub.open(mine, "dash_missing", None)
        other_feed, other_client = hub.open(other, "dash_missing", None)
        feed.refresh_task.cancel()
        other_feed.refresh_task.cancel()
        await runtime.bus.publish("impact.sroi_updated", {"value": 4.1}, tenant_id="tn_mine")
        await asyncio.sleep(0.05)
        received = [m.event for m in _drain(client.queue)]
        others = [m.event for m in _drain(other_client.queue)]
        payload = orjson.loads(feed.replay[-1].data)
        assert payload["data"] == {"value": 4.1}
        await hub.close()
        return received, others

    received, others = asyncio.run(scenario())
    assert "sroi_updated" in received
    assert "sroi_updated" not in others


def _drain(queue: asyncio.Queue) -> list:
    items = []
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            items.append(item)
    return items
