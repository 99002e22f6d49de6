"""The consumer running inside the app (ANALYTICS_NATS_INGEST=true), and GET /v1/admin/ingest/status."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.conftest import build_settings
from tests.streaming.support import delete_stream, publish, tenant_events
from tests.support.factories import make_tenant
from tests.support.services import NATS, require_service

TAG = uuid.uuid4().hex[:10]
STREAM, SUBJECT = f"T_{TAG}".upper(), f"t{TAG}"


@pytest.fixture(scope="module")
def settings(tmp_path_factory, warehouse_path) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    require_service("NATS", NATS)
    yield build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        nats_ingest=True,
        nats_stream=STREAM,
        nats_subjects=f"{SUBJECT}.>",
        nats_consumer="serve-ingest",
        nats_batch_max_seconds=0.2,
        nats_tenant_cache_seconds=0,
    )
    asyncio.run(delete_stream(STREAM))


@pytest.fixture(scope="module")
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
        yield test_client


def wait_for_count(tenant, expected: int, timeout: float = 30) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (found := tenant.count()) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_serve_consumes_nats_and_reports_status(client, admin_headers):  # type: ignore[no-untyped-def]
    tenant = make_tenant(client, admin_headers, f"stream-{TAG}")
    other = make_tenant(client, admin_headers, f"other-{TAG}")
    seqs = asyncio.run(publish(STREAM, SUBJECT, [*tenant_events(tenant.id, 7), b"][", *tenant_events(other.id, 2)]))
    assert wait_for_count(tenant, 7) == 7
    assert wait_for_count(other, 2) == 2
    # Each tenant sees only its own NATS rejections through the ordinary route.
    asyncio.run(publish(STREAM, SUBJECT, [{"tenant_id": tenant.id, "event": "x", "distinct_id": "u", "bad": 1}]))
    deadline = time.monotonic() + 30
    while not tenant.get("/v1/events/rejected").json() and time.monotonic() < deadline:
        time.sleep(0.1)
    rejected = tenant.get("/v1/events/rejected").json()
    assert [(r["source"], r["reason"]) for r in rejected] == [("nats", "unknown field(s): bad")]
    assert other.get("/v1/events/rejected").json() == []

    last = seqs[-1] + 1
    deadline = time.monotonic() + 15
    while True:  # the acknowledgement and the checkpoint follow the insert by a moment
        status = client.get("/v1/admin/ingest/status", headers=admin_headers)
        assert status.status_code == 200, status.text
        body = status.json()
        mine = next(c for c in body["consumers"] if c["stream"] == STREAM)
        if (mine["acked_seq"], mine["lag"]) == (last, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["nats_reachable"] is True and body["nats_error"] is None
    assert mine["consumer"] == "serve-ingest" and mine["running_here"] is True and mine["state"] == "consuming"
    assert (mine["acked_seq"], mine["ack_floor"], mine["stream_last_seq"], mine["lag"]) == (last, last, last, 0)
    assert mine["events_total"] == 9 and mine["rejected_total"] == 2 and mine["throughput"] > 0
    assert mine["last_error"] is None

    metrics = client.get("/metrics").text
    assert f'analytics_nats_consumer_lag{{consumer="serve-ingest",stream="{STREAM}"}} 0.0' in metrics
    assert f'analytics_nats_acked_sequence{{consumer="serve-ingest",stream="{STREAM}"}} {float(last)}' in metrics
    assert 'analytics_events_accepted_total{source="nats"}' in metrics


def test_status_needs_the_platform_admin_key(client, new_tenant):  # type: ignore[no-untyped-def]
    assert client.get("/v1/admin/ingest/status").status_code == 401
    tenant = new_tenant()
    assert tenant.get("/v1/admin/ingest/status").status_code == 401
