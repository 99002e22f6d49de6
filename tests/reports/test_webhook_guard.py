"""Report webhooks and the outgoing guard (issue 27 item 10): an internal URL is 422 url_not_allowed
on create and update, a host that does not resolve yet is accepted and checked at delivery, a
delivery to a refused address records an error and reaches nothing, a non-2xx reply records the
status code and never the body, and a local receiver is reachable only when allowlisted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analytics_engine.bench.common import free_port
from tests.reports.servers import HookReceiver

INTERNAL = [
    "http://127.0.0.1:{port}/x",
    "http://localhost:{port}/x",  # a host name resolving to loopback
    "http://[::1]:{port}/x",
    "http://10.0.0.5/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]:{port}/x",
]


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    server = HookReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def tenant(client, admin_headers):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    return make_tenant(client, admin_headers, "webhook-guard")


def body(url: str) -> dict:  # type: ignore[type-arg]
    return {
        "name": "Guarded",
        "queries": [{"title": "Signups", "query": {"kind": "trends", "series": [{"event": "signup"}]}}],
        "formats": ["xlsx"],
        "recipients": {"webhooks": [{"url": url}]},
    }


def run(tenant, report_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = tenant.post(f"/v1/reports/{report_id}/run", params={"wait": "true"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("template", INTERNAL)
def test_create_with_internal_url_is_422(tenant, template: str) -> None:  # type: ignore[no-untyped-def]
    response = tenant.post("/v1/reports", json=body(template.format(port=free_port())))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "url_not_allowed"


def test_update_with_internal_url_is_422_and_changes_nothing(tenant) -> None:  # type: ignore[no-untyped-def]
    created = tenant.post("/v1/reports", json=body("https://hooks.example.com/report"))
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]
    response = tenant.request(
        "PATCH", f"/v1/reports/{report_id}", json={"recipients": {"webhooks": [{"url": "http://192.168.0.10/admin"}]}}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "url_not_allowed"
    stored = tenant.get(f"/v1/reports/{report_id}").json()
    assert stored["recipients"]["webhooks"] == [{"url": "https://hooks.example.com/report"}]


def test_unresolvable_host_is_saved_and_checked_at_delivery(tenant) -> None:  # type: ignore[no-untyped-def]
    created = tenant.post("/v1/reports", json=body("http://not-registered-yet.invalid/hook"))
    assert created.status_code == 201, created.text
    delivery = run(tenant, created.json()["id"])["deliveries"][0]
    assert delivery["ok"] is False and delivery["error"] and delivery["status"] is None


def test_loopback_receiver_reachable_only_when_allowlisted(tenant, settings, receiver, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(settings, "outgoing_allow", ["127.0.0.1"])
    created = tenant.post("/v1/reports", json=body(receiver.url + "/hook"))
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]
    delivered = run(tenant, report_id)["deliveries"][0]
    assert delivered["ok"] is True and delivered["status"] == 200
    assert [r.path for r in receiver.received] == ["/hook"]

    # The operator removes the allowlist entry: the saved URL is refused at delivery, nothing sent.
    monkeypatch.setattr(settings, "outgoing_allow", [])
    refused = run(tenant, report_id)
    delivery = refused["deliveries"][0]
    assert refused["status"] == "partial" and delivery["ok"] is False and delivery["status"] is None
    assert delivery["error"].startswith("url_not_allowed:")
    assert len(receiver.received) == 1


def test_non_2xx_reply_records_status_never_body(tenant, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    receiver = HookReceiver(status=500)
    try:
        monkeypatch.setattr(settings, "outgoing_allow", ["127.0.0.1"])
        created = tenant.post("/v1/reports", json=body(receiver.url + "/hook"))
        delivery = run(tenant, created.json()["id"])["deliveries"][0]
    finally:
        receiver.close()
    assert len(receiver.received) == 1  # it was reached, and answered 500 with a body ("ok")
    assert delivery == {**delivery, "ok": False, "status": 500, "error": "HTTP 500"}
