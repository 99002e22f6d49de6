"""The request context (api/middleware.py): request ids on every answer, error envelopes included,
the log context, the latency metric; and the cheap dependencies that run on the event loop."""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from analytics_engine.api import deps
from analytics_engine.api.middleware import RequestContext
from analytics_engine.api.routes import dashboards as dashboard_routes

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def http_count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("analytics_http_request_seconds_count", labels) or 0.0


def test_a_request_id_is_made_when_none_is_sent_and_differs_per_request(client):
    first, second = client.get("/healthz").headers["X-Request-ID"], client.get("/healthz").headers["X-Request-ID"]
    assert HEX_ID.match(first) and HEX_ID.match(second) and first != second
    assert HEX_ID.match(client.get("/healthz", headers={"X-Request-ID": ""}).headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v1/nowhere", {}, 404, "not_found"),
        ("/v1/events/count", {}, 401, "unauthorized"),
        ("/v1/events/count", {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ("/v1/dashboards/dsh_x/render", {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
    ],
)
def test_error_envelopes_carry_the_request_id(client, path, headers, status, code):
    response = client.get(path, headers={**headers, "X-Request-ID": "req-envelope-1"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert set(response.json()) == {"error"}
    assert response.headers["X-Request-ID"] == "req-envelope-1"


def test_validation_and_not_found_answers_of_the_render_route_carry_the_request_id(new_tenant):
    tenant = new_tenant()
    invalid = tenant.get(
        "/v1/dashboards/dsh_x/render", params={"date_from": "x" * 41}, headers={"X-Request-ID": "req-422"}
    )
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_input"
    assert invalid.headers["X-Request-ID"] == "req-422"
    missing = tenant.get("/v1/dashboards/dsh_missing/render", headers={"X-Request-ID": "req-404"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert missing.headers["X-Request-ID"] == "req-404"


def test_the_500_envelope_names_the_request_id_the_client_sent(client, monkeypatch, new_tenant):
    tenant = new_tenant()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("analytics_engine.api.routes.events.count_events", boom)
    before = http_count("GET", "/v1/events/count", "500")
    response = tenant.get("/v1/events/count", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side.",
            "details": {"request_id": "req-500"},
        }
    }
    assert http_count("GET", "/v1/events/count", "500") == before + 1


def test_the_log_context_holds_the_request_id_inside_the_route(monkeypatch, new_tenant):
    tenant = new_tenant()
    seen: list[dict[str, Any]] = []

    def spy(*args: Any, **kwargs: Any) -> int:
        seen.append(structlog.contextvars.get_contextvars())
        return 0

    monkeypatch.setattr("analytics_engine.api.routes.events.count_events", spy)
    tenant.get("/v1/events/count", headers={"X-Request-ID": "req-log-1"})
    tenant.get("/v1/events/count", headers={"X-Request-ID": "req-log-2"})
    assert [context.get("request_id") for context in seen] == ["req-log-1", "req-log-2"]


def test_the_latency_metric_is_labelled_with_the_route_and_status(client, new_tenant):
    tenant = new_tenant()
    route = "/v1/dashboards/{dashboard_id}/render"
    before_404, before_unmatched = http_count("GET", route, "404"), http_count("GET", "unmatched", "404")
    tenant.get("/v1/dashboards/dsh_missing/render")
    client.get("/v1/nowhere")
    assert http_count("GET", route, "404") == before_404 + 1
    assert http_count("GET", "unmatched", "404") == before_unmatched + 1


def test_a_body_without_content_type_is_labelled_with_its_route(new_tenant):
    """api/content_type.py relabels such a body; the route must still reach the metric's label."""
    tenant = new_tenant()
    before = http_count("POST", "/v1/events", "200"), http_count("POST", "unmatched", "200")
    response = tenant.post("/v1/events", content=b'[{"event": "e", "distinct_id": "u"}]', headers={"content-type": ""})
    assert response.status_code == 200, response.text
    assert http_count("POST", "/v1/events", "200") == before[0] + 1
    assert http_count("POST", "unmatched", "200") == before[1]


# The middleware alone, on a bare ASGI app.


def run_asgi(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/x", "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RequestContext(app)(scope, receive, send))
    return sent, scope


def test_the_middleware_replaces_a_request_id_the_app_set_and_keeps_the_body():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain"), (b"X-Request-ID", b"from-app")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    sent, scope = run_asgi(app, [(b"x-request-id", b"client-id"), (b"x-request-id", b"second")])
    assert sent[0]["status"] == 201
    assert sent[0]["headers"] == [(b"content-type", b"text/plain"), (b"x-request-id", b"client-id")]
    assert [m.get("body") for m in sent[1:]] == [b"one", b"two"]
    assert scope["state"]["request_id"] == "client-id"
    assert "request_id" not in structlog.contextvars.get_contextvars()


def test_the_middleware_lets_an_error_through_to_the_error_handler():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    before = http_count("GET", "unmatched", "500")
    with pytest.raises(RuntimeError, match="boom"):
        run_asgi(app, [])
    assert http_count("GET", "unmatched", "500") == before + 1


def test_dependencies_without_io_run_on_the_loop_and_the_render_off_it():
    """A plain `def` dependency or route costs a thread-pool hop; the ones that do no I/O are async.
    The tenant dependency reads the metadata database, so it stays a `def` (run in the pool)."""
    for dependency in (deps.get_runtime, deps.single_query_values, deps.require_admin, dashboard_routes.filter_params):
        assert inspect.iscoroutinefunction(dependency), dependency
    assert not inspect.iscoroutinefunction(deps.tenant_with(deps.Scope.read))
    assert not inspect.iscoroutinefunction(dashboard_routes.render_body)
