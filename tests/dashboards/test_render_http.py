"""The render route on the event loop (issue 18, cached renders): its cheap parts run on the loop, the
render itself (metadata reads, the cache, warehouse queries on a miss) in the thread pool, so a slow
render never holds up other requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from analytics_engine.api.routes import dashboards as dashboard_routes
from tests.dashboards.test_dashboards import create_dashboard
from tests.dashboards.test_dashboards import loaded as loaded  # the fixture


def test_a_slow_render_does_not_block_the_event_loop(client, loaded, monkeypatch) -> None:
    dashboard = create_dashboard(loaded)
    real = dashboard_routes.render

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.8)  # a render whose warehouse queries take long
        return real(*args, **kwargs)

    monkeypatch.setattr(dashboard_routes, "render", slow)

    async def scenario() -> tuple[int, bool, int]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            rendering = asyncio.create_task(
                http.get(f"/v1/dashboards/{dashboard['id']}/render", headers=loaded.headers)
            )
            await asyncio.sleep(0.2)
            health = await asyncio.wait_for(http.get("/healthz"), timeout=5)
            pending_then = not rendering.done()
            return health.status_code, pending_then, (await rendering).status_code

    health_status, render_pending_when_health_answered, render_status = asyncio.run(scenario())
    assert health_status == 200 and render_status == 200
    assert render_pending_when_health_answered


def test_the_render_route_answers_what_render_returns(loaded, runtime) -> None:
    """The body the route sends (serialised in the pool) is the render's own JSON."""
    dashboard = create_dashboard(loaded)
    path = f"/v1/dashboards/{dashboard['id']}/render"
    loaded.get(path)  # fill the widget cache
    through_http = loaded.get(path, headers={"X-Request-ID": "render-1"})
    assert through_http.headers["content-type"] == "application/json"
    assert through_http.headers["X-Request-ID"] == "render-1"
    tenant = runtime.tenants.authenticate(loaded.key)
    rendered = dashboard_routes.render(runtime, tenant, dashboard["id"])
    # the cached widgets keep the bytes they were cached as (dashboards/render_json.py)
    assert all(w.data_json is not None and w.data is w.data_json[0] for w in rendered.widgets if w.data)
    direct = rendered.model_dump(mode="json")
    answer = through_http.json()
    for body in (answer, direct):
        body.pop("rendered_at"), body.pop("elapsed_ms")
        for widget in body["widgets"]:
            widget.pop("elapsed_ms")
    assert answer == direct
    assert all(widget["cached"] for widget in answer["widgets"])
