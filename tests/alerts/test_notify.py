"""Notifications against real local servers: a signed webhook through the outgoing guard (the
receiver's address allowlisted) retried with backoff after 5xx answers, a 4xx not retried, an
internal address refused by the guard, and an email over SMTP (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics_engine.alerts.notify import post_with_retries
from analytics_engine.bench.common import free_port
from analytics_engine.config import Settings
from analytics_engine.reports.delivery import verify_webhook
from tests.conftest import build_settings
from tests.reports.servers import HookReceiver, start_smtp
from tests.support.factories import TenantHandle, events

SMTP_PORT = free_port()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("alerts-notify"),
        warehouse_path,
        outgoing_allow=["127.0.0.1"],
        smtp_host="127.0.0.1",
        smtp_port=SMTP_PORT,
        alerts_webhook_backoff_seconds=0.05,
    )


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    server = HookReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Any]:
    controller, box = start_smtp(SMTP_PORT)
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def tenant(client, admin_headers) -> TenantHandle:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "alerts-notify")
    yesterday = datetime.now(UTC).replace(hour=6, minute=0) - timedelta(days=1)
    handle.ingest(events("signup", 2, start=yesterday))
    return handle


def source() -> dict[str, Any]:
    return {
        "type": "insight",
        "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "timezone": "UTC"},
    }


def test_trigger_and_resolve_reach_webhook_and_email(tenant, receiver, mailbox) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": "Few signups",
        "source": source(),
        "condition": {"type": "threshold", "operator": "below", "value": 5},
        "notify": {"emails": ["oncall@example.com"], "webhooks": [{"url": receiver.url + "/hook"}]},
    }
    created = tenant.post("/v1/alerts", json=body)
    assert created.status_code == 201, created.text
    alert = created.json()
    fired = tenant.post(f"/v1/alerts/{alert['id']}/evaluate").json()
    assert fired["state"] == "firing"
    assert len(receiver.received) == 1
    hit = receiver.received[0]
    assert verify_webhook(alert["webhook_secret"], hit.body, hit.headers["x-analytics-signature"])
    envelope = orjson.loads(hit.body)
    assert envelope["type"] == "alert.triggered" and envelope["version"] == "v1"
    assert envelope["tenant_id"] == tenant.id and envelope["data"]["alert_id"] == alert["id"]
    assert envelope["data"]["value"] == 2 and envelope["data"]["state"] == "firing"
    message = mailbox.messages[-1]
    assert message["To"] == "oncall@example.com" and "[FIRING] Few signups" in message["Subject"]
    tenant.post(f"/v1/alerts/{alert['id']}/resolve", json={"comment": "done"})
    assert orjson.loads(receiver.received[-1].body)["type"] == "alert.resolved"
    assert "[RESOLVED]" in mailbox.messages[-1]["Subject"]
    notified = [e for e in tenant.get(f"/v1/alerts/{alert['id']}/events").json() if e["kind"] == "notified"]
    deliveries = notified[-1]["details"]["deliveries"]
    assert {d["channel"] for d in deliveries} == {"email", "webhook"} and all(d["ok"] for d in deliveries)


def test_webhook_retries_5xx_with_backoff_then_succeeds(receiver) -> None:  # type: ignore[no-untyped-def]
    answers = iter([500, 200])  # after the first 503, the receiver answers these in turn
    waits: list[float] = []
    receiver.status = 503
    envelope = {"type": "alert.triggered", "id": "x", "data": {}}

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        receiver.status = next(answers)

    delivery = post_with_retries(
        receiver.url, "sec", envelope, timeout=5, allow=["127.0.0.1"], attempts=3, backoff_seconds=0.01, sleep=sleep
    )
    assert delivery.ok and delivery.status == 200
    assert waits == [0.01, 0.02]
    assert [r.headers["x-analytics-delivery-attempt"] for r in receiver.received] == ["1", "2", "3"]


def test_webhook_4xx_is_not_retried_and_internal_address_is_refused(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 410
    delivery = post_with_retries(
        receiver.url, "s", {"type": "t"}, timeout=5, allow=["127.0.0.1"], attempts=3, backoff_seconds=0
    )
    assert not delivery.ok and delivery.status == 410 and len(receiver.received) == 1
    refused = post_with_retries(receiver.url, "s", {"type": "t"}, timeout=5, allow=[], attempts=3, backoff_seconds=0)
    assert not refused.ok and "url_not_allowed" in (refused.error or "") and len(receiver.received) == 1
