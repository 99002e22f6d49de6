"""With Redis unreachable, insight answers are computed (a miss each time), never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings
from tests.support.factories import events

QUERY = {"series": [{"event": "signup", "math": "total"}], "interval": "day", "date_range": {"date_from": "-7d"}}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    # Port 1 refuses connections: the cache backend is down for the whole module.
    return build_settings(
        tmp_path_factory.mktemp("data"), warehouse_path, cache_url="redis://127.0.0.1:1/0", cache_retry_seconds=0
    )


def test_unreachable_redis_serves_fresh_answers(new_tenant, runtime, capsys) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("signup", 4, users=4, start=datetime.now(UTC) - timedelta(days=1)))
    for _ in range(2):
        response = tenant.post("/v1/insights/trends", json=QUERY)
        assert response.status_code == 200, response.text
        assert response.json()["cached"] is False
        assert sum(p["value"] for p in response.json()["series"][0]["points"]) == 4
    assert runtime.cache.errors >= 2
    assert "cache.redis_unavailable" in capsys.readouterr().out
