from __future__ import annotations


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready == {"status": "ready", "checks": {"warehouse": True, "metadata": True}}


def test_metrics_count_ingest_and_http(client, new_tenant):
    tenant = new_tenant()
    tenant.ingest([{"event": "m", "distinct_id": "u"}, {"event": "", "distinct_id": "u"}])
    tenant.ingest([{"event": "m", "distinct_id": "u"}])
    text = client.get("/metrics").text
    assert 'analytics_ingest_bodies_total{path="fast"}' in text
    assert 'analytics_ingest_bodies_total{path="general"}' in text
    assert 'analytics_events_accepted_total{source="http"}' in text
    assert 'analytics_events_rejected_total{source="http"}' in text
    assert "analytics_ingest_insert_seconds_bucket" in text
    assert 'route="/v1/events"' in text


def test_request_id_is_echoed(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"] == "abc123"
