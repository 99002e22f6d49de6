"""Every error source answers `{"error": {"code", "message", ...}}` with the right status."""

from __future__ import annotations

import pytest

from analytics_engine.config import Settings


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def test_unknown_route(client):
    assert_error(client.get("/v1/nowhere"), 404, "not_found")


def test_wrong_method(client):
    assert_error(client.put("/healthz"), 405, "method_not_allowed")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer wrong-key"])
def test_missing_or_bad_keys(client, header):
    headers = {"Authorization": header} if header else {}
    assert_error(client.get("/v1/events/count", headers=headers), 401, "unauthorized")


def test_malformed_json(new_tenant):
    tenant = new_tenant()
    assert_error(tenant.post("/v1/events", content=b"{not json"), 400, "bad_request")
    assert_error(tenant.post("/v1/events", content=b"   "), 400, "bad_request")
    assert_error(tenant.post("/v1/events", content=b"42"), 400, "bad_request")


def test_wrong_types_in_a_model(client, admin_headers):
    error = assert_error(
        client.post("/v1/admin/tenants", json={"name": 5}, headers=admin_headers), 422, "invalid_input"
    )
    assert error["details"]["errors"][0]["loc"][-1] == "name"


def test_wrong_query_types(new_tenant):
    assert_error(new_tenant().get("/v1/events/count", params={"from": "soon"}), 422, "invalid_input")


def test_oversize_body(new_tenant, settings: Settings):
    tenant = new_tenant()
    body = b"[" + b" " * (settings.ingest_max_body_bytes + 10) + b"]"
    assert_error(tenant.post("/v1/events", content=body), 413, "payload_too_large")


def test_too_many_events(new_tenant, settings: Settings):
    tenant = new_tenant()
    body = [{"event": "x", "distinct_id": "u"}] * (settings.ingest_max_events_per_request + 1)
    assert_error(tenant.post("/v1/events", json=body), 413, "payload_too_large")
    assert tenant.count() == 0


def test_unknown_job_is_404(new_tenant):
    assert_error(new_tenant().get("/v1/jobs/job_missing"), 404, "not_found")


def test_unexpected_errors_are_500_without_a_traceback(client, monkeypatch, new_tenant):
    tenant = new_tenant()

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("analytics_engine.api.routes.events.count_events", boom)
    error = assert_error(tenant.get("/v1/events/count"), 500, "internal_error")
    assert "secret internals" not in error["message"]
    assert error["details"]["request_id"]


def test_openapi_and_docs(client):
    schema = client.get("/openapi.json").json()
    assert "/v1/events" in schema["paths"]
    assert "/v1/admin/tenants" in schema["paths"]
    assert client.get("/docs").status_code == 200


# Every source of a 422: FastAPI's request validation, each service that validates by hand, and
# plain InvalidInput raised with or without context. Each answers the one details shape.
UNPROCESSABLE = {
    "request model": ("admin", "POST", "/v1/admin/tenants", {"json": {"name": 5}}),
    "query parameter": ("tenant", "GET", "/v1/events/count", {"params": {"from": "soon"}}),
    "warehouse date bound": ("tenant", "GET", "/v1/events/count", {"params": {"from": "0100-12-05T19:43:09Z"}}),
    "insight query": ("tenant", "POST", "/v1/insights/trends", {"json": {"series": [{"event": "e", "math": "x"}]}}),
    "insight kind": ("tenant", "POST", "/v1/insights", {"json": {"kind": "nope"}}),
    "registry (dashboard widget)": (
        "tenant",
        "POST",
        "/v1/dashboards",
        {"json": {"name": "d", "widgets": [{"title": "w", "query": {"kind": "trends", "series": "x"}}]}},
    ),
    "impact query": (
        "tenant",
        "POST",
        "/v1/dashboards",
        {"json": {"name": "d", "widgets": [{"title": "w", "query": {"kind": "impact", "metric": 5}}]}},
    ),
    "dashboard filters": (
        "tenant",
        "GET",
        "/v1/dashboards/dsh_x/render",
        {"params": {"date_from": "x" * 41}},
    ),
    "person filter": ("tenant", "GET", "/v1/persons", {"params": {"where": '[{"key": "a b", "value": 1}]'}}),
    "impact vocabulary": ("tenant", "PUT", "/v1/impact/vocabulary", {"json": {"volunteer_hours": 5}}),
    "cohort property path": (
        "tenant",
        "POST",
        "/v1/cohorts",
        {"json": {"name": "c", "definition": {"type": "person_property", "key": "a b", "value": 1}}},
    ),
    "patch null": ("tenant", "PATCH", "/v1/cohorts/coh_missing", {"json": {"name": None}}),
    "webhook guard": (
        "tenant",
        "POST",
        "/v1/reports",
        {
            "json": {
                "name": "r",
                "schedule": "0 8 * * 1",
                "recipients": [{"type": "webhook", "url": "http://127.0.0.1/x"}],
            }
        },
    ),
    "sync source": ("admin", "POST", "/v1/admin/sync/sources", {"json": {"name": "s"}}),
}


@pytest.mark.parametrize("source", UNPROCESSABLE)
def test_every_422_has_one_details_shape(source: str, client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    who, method, path, kwargs = UNPROCESSABLE[source]
    if who == "admin":
        response = client.request(method, path, headers=admin_headers, **kwargs)
    else:
        response = new_tenant().request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in {"invalid_input", "invalid_query", "url_not_allowed"}, error
    errors = error["details"]["errors"]
    assert errors, error
    for item in errors:
        assert set(item) == {"loc", "message", "type"}, item
        assert isinstance(item["loc"], list) and all(isinstance(part, str | int) for part in item["loc"])
        assert item["message"] and isinstance(item["type"], str)
