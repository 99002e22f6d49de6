"""Benchmarks with the settings changed: k = 3 and Laplace noise (epsilon 0.5) through the API."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings
from tests.impact.support import activity, cost, outcome
from tests.support.factories import make_tenant


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("data"), warehouse_path, impact_benchmark_k=3, impact_benchmark_epsilon=0.5
    )


def test_noisy_statistics_hide_every_members_figure(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    tenants = []
    for i, amount in enumerate((3_000, 6_000, 12_000)):
        tenant = make_tenant(client, admin_headers, f"dp-{uuid.uuid4().hex[:6]}")
        client.patch(
            f"/v1/admin/tenants/{tenant.id}",
            json={"region": "north", "data_sharing_opt_in": True},
            headers=admin_headers,
        )
        events = [cost(amount), activity("v", 2.0 + i)]
        for p in range(6):
            events += [
                outcome(f"p{p}", 0.3, "baseline", dimension="wellbeing", days_ago=30),
                outcome(f"p{p}", 0.6, "post", dimension="wellbeing", days_ago=5),
            ]
        tenant.ingest(events)
        tenants.append(tenant)
    assert client.post("/v1/admin/impact/benchmarks/refresh", headers=admin_headers).json()["tenants"] == 3
    figures = {t.get("/v1/impact/sroi").json()["ratio"] for t in tenants}
    assert len(figures) == 3
    body = tenants[0].get("/v1/impact/benchmarks", params={"metric": "sroi", "compare_with": "region"}).json()
    assert body["suppressed"] is False and body["k"] == 3 and body["peer_tenants"] == 3 and body["epsilon"] == 0.5
    stats = [body[name] for name in ("p10", "p25", "p50", "p75", "p90")]
    assert stats == sorted(stats) and all(0 <= v <= 20 for v in stats) and 0 <= body["mean"] <= 20
    assert not figures & {*stats, body["mean"]}
    assert 0 <= body["percentile_rank"] <= 100
    assert (
        tenants[0].get("/v1/impact/benchmarks", params={"metric": "sroi", "compare_with": "industry"}).json()["reason"]
        == "this tenant has no industry set"
    )
