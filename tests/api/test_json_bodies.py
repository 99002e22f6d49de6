"""Issue 24 item 1: a JSON body sent without a JSON Content-Type (curl's `-d` default, or no header)
is read as JSON on every route; a body that is not JSON, or is labelled as another type, gets an
answer that names the header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.factories import TenantHandle

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
QUERY = b'{"series": [{"event": "visit"}], "date_range": {"date_from": "-7d"}}'


def test_form_labelled_json_is_accepted_on_a_model_route(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/admin/tenants", content=b'{"name": "form-labelled"}', headers={**admin_headers, **FORM})
    assert response.status_code == 201, response.text


def test_unlabelled_json_is_accepted_on_the_insight_route(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant: TenantHandle = new_tenant()
    for headers in (FORM, {}):
        response = tenant.client.post("/v1/insights/trends", content=QUERY, headers={**tenant.headers, **headers})
        assert response.status_code == 200, response.text


def test_a_body_that_is_not_json_names_the_header(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/admin/tenants", content=b"name=x", headers={**admin_headers, **FORM})
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["error"]["message"]


def test_another_declared_type_is_415_naming_the_header(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/admin/tenants", content=b'{"name": "t"}', headers={**admin_headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json()["error"]["message"]


def test_insight_body_of_the_wrong_json_type_says_what_it_got(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant: TenantHandle = new_tenant()
    response = tenant.client.post("/v1/insights/trends", json=[1, 2], headers=tenant.headers)
    assert response.status_code == 422
    assert "not a JSON list" in response.json()["error"]["message"]


def test_a_single_valued_query_parameter_sent_twice_is_refused(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant: TenantHandle = new_tenant()
    response = tenant.get("/v1/events/count?event=a&event=b")
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["loc"] == ["query", "event"]


def test_a_number_is_not_a_time(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant: TenantHandle = new_tenant()
    assert tenant.get("/v1/events/count?to=4.7e-193").status_code == 422
    assert tenant.get("/v1/events/count?to=2026-01-01T00:00:00Z").status_code == 200
