"""Stale-while-revalidate renders (`allow_stale`, `widgets=`) and the background warmer of the widget
cache (dashboards/warm.py): what a first visit is answered from, and that nothing stale passes as fresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.dashboards.warm import Warmer, warm_tenant
from analytics_engine.runtime import Runtime
from tests.conftest import build_settings
from tests.support.factories import events

PAGEVIEWS = {"kind": "trends", "series": [{"event": "pageview"}], "interval": "day", "date_range": {"date_from": "-7d"}}
SIGNUPS = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}


def total(widget: dict) -> float:
    return sum(p["value"] or 0 for s in widget["data"]["series"] for p in s["points"])


def wait_until(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def board(tenant) -> dict:
    body = {
        "name": "Warm",
        "widgets": [
            {"title": "Views", "viz": "line", "query": PAGEVIEWS},
            {"title": "Signups", "viz": "line", "query": SIGNUPS},
        ],
    }
    created = tenant.post("/v1/dashboards", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_allow_stale_answers_pending_then_the_fresh_answer(new_tenant) -> None:
    tenant = new_tenant()
    now = datetime.now(UTC)
    tenant.ingest(events("pageview", 5, users=2, start=now - timedelta(days=1)))
    dashboard = board(tenant)
    url = f"/v1/dashboards/{dashboard['id']}/render"
    first = tenant.get(url, params={"allow_stale": "true"}).json()
    # nothing known yet: no data, marked pending, computing in the background
    assert all(w["pending"] and w["data"] is None and not w["stale"] for w in first["widgets"])
    one = tenant.get(url, params={"widgets": first["widgets"][0]["id"]}).json()["widgets"]
    assert [w["title"] for w in one] == ["Views"] and total(one[0]) == 5 and not one[0]["pending"]
    wait_until(lambda: all(w["cached"] for w in tenant.get(url).json()["widgets"]))
    fresh = tenant.get(url, params={"allow_stale": "true"}).json()["widgets"]
    assert all(w["cached"] and not w["stale"] and not w["pending"] for w in fresh)


def test_new_events_show_the_last_known_answer_marked_stale(new_tenant) -> None:
    tenant = new_tenant()
    now = datetime.now(UTC)
    tenant.ingest(events("pageview", 5, users=2, start=now - timedelta(days=1)))
    dashboard = board(tenant)
    url = f"/v1/dashboards/{dashboard['id']}/render"
    before = tenant.get(url).json()["widgets"]
    tenant.ingest(events("pageview", 3, users=1, start=now - timedelta(hours=2)))  # a new data version
    stale = tenant.get(url, params={"allow_stale": "true"}).json()["widgets"]
    assert all(w["stale"] and w["cached"] for w in stale)
    assert total(stale[0]) == 5 and stale[0]["computed_at"] == before[0]["computed_at"]  # the old answer, its age
    fresh = tenant.get(url).json()["widgets"]  # joins the background computation or reads its result
    assert total(fresh[0]) == 8 and not fresh[0]["stale"]


def test_an_erasure_drops_the_last_known_answers(new_tenant) -> None:
    """They outlive new data on purpose, but were computed with the erased person's events."""
    tenant = new_tenant()
    now = datetime.now(UTC)
    tenant.ingest(events("pageview", 5, users=2, start=now - timedelta(days=1)))
    dashboard = board(tenant)
    url = f"/v1/dashboards/{dashboard['id']}/render"
    tenant.get(url)  # computed: each widget has a last known answer
    erased = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "u0"})
    assert erased.status_code == 202, erased.text
    assert tenant.get(f"/v1/privacy/erasures/{erased.json()['id']}").json()["status"] == "completed"
    after = tenant.get(url, params={"allow_stale": "true"}).json()["widgets"]
    assert all(w["pending"] and w["data"] is None for w in after), after


@pytest.fixture(scope="module")
def warm_settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("warm"), warehouse_path, dashboard_warm=True, dashboard_warm_min_interval_seconds=1
    )


@pytest.fixture(scope="module")
def warm_runtime(warm_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(warm_settings)
    yield rt
    rt.metadata.dispose()


def test_warm_tenant_fills_the_widget_cache(new_tenant, runtime: Runtime) -> None:
    tenant = new_tenant()
    tenant.ingest(events("pageview", 4, users=2, start=datetime.now(UTC) - timedelta(days=1)))
    dashboard = board(tenant)
    assert warm_tenant(runtime, tenant.id) == 2
    answered = tenant.get(f"/v1/dashboards/{dashboard['id']}/render", params={"allow_stale": "true"}).json()
    assert all(w["cached"] and not w["stale"] for w in answered["widgets"])


def test_the_service_warms_after_an_ingest_burst(
    warm_settings: Settings, warm_runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    from tests.support.factories import make_tenant

    with TestClient(create_app(warm_settings, warm_runtime), raise_server_exceptions=False) as client:
        warmer = warm_runtime.dashboard_warmer
        assert isinstance(warmer, Warmer)
        tenant = make_tenant(client, admin_headers, "warm")
        dashboard, unseen = board(tenant), board(tenant)
        wait_until(warmer.idle)
        tenant.get(f"/v1/dashboards/{dashboard['id']}/render")  # someone looks at this one
        warms = warmer.warms
        tenant.ingest(events("pageview", 6, users=3, start=datetime.now(UTC) - timedelta(days=1)))
        wait_until(lambda: warmer.warms > warms and warmer.idle())
        answered = tenant.get(f"/v1/dashboards/{dashboard['id']}/render", params={"allow_stale": "true"}).json()
        views = answered["widgets"][0]
        assert views["cached"] and not views["stale"] and total(views) == 6
        # a dashboard no one opened is left alone after ingest (its queries would count on the budget)
        left = tenant.get(f"/v1/dashboards/{unseen['id']}/render", params={"allow_stale": "true"}).json()
        assert all(w["pending"] for w in left["widgets"])
