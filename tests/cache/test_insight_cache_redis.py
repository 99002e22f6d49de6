"""Insight answers cached in the real Redis through the API: per tenant, never shared, refreshable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from analytics_engine.config import Settings
from tests.conftest import build_settings
from tests.support.factories import events
from tests.support.services import REDIS, require_service

REDIS_URL = "redis://127.0.0.1:6379/0"
QUERY = {"series": [{"event": "pageview", "math": "total"}], "interval": "day", "date_range": {"date_from": "-7d"}}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    require_service("Redis", REDIS)
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, cache_url=REDIS_URL)


def test_answers_are_cached_per_tenant_in_redis(new_tenant) -> None:  # type: ignore[no-untyped-def]
    one, two = new_tenant(), new_tenant()
    start = datetime.now(UTC) - timedelta(days=2)
    one.ingest(events("pageview", 5, users=2, start=start))
    two.ingest(events("pageview", 3, users=1, start=start))

    first = one.post("/v1/insights/trends", json=QUERY)
    assert first.status_code == 200, first.text
    assert first.json()["cached"] is False
    again = one.post("/v1/insights/trends", json=QUERY).json()
    assert again["cached"] is True
    assert again["series"] == first.json()["series"]

    # the same query from another tenant is its own entry with its own numbers
    other = two.post("/v1/insights/trends", json=QUERY).json()
    assert other["cached"] is False
    assert sum(p["value"] for p in other["series"][0]["points"]) == 3
    assert sum(p["value"] for p in again["series"][0]["points"]) == 5

    # refresh recomputes (and stores the new answer)
    refreshed = one.post("/v1/insights/trends", params={"refresh": "true"}, json=QUERY).json()
    assert refreshed["cached"] is False

    client = redis.Redis.from_url(REDIS_URL)
    every = [k.decode() for k in client.scan_iter(match=f"{one.id}:*")]
    keys = [k for k in every if k.startswith(f"{one.id}:insight:")]
    # besides answers, only the tenant's data version (cache/versions.py) is stored
    assert keys and set(every) - set(keys) <= {f"{one.id}:dataversion:current"}
    assert 0 < client.ttl(keys[0]) <= 300  # the range includes now: the short TTL
    client.delete(*every, *client.scan_iter(match=f"{two.id}:*"))
