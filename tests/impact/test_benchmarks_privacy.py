"""Benchmark privacy (issue 27 item 9), both leaks reproduced through the API:
1. a group below k told its size (`peer_tenants: 3`) to a tenant without a figure in it;
2. a tenant that changed industry after a refresh saw the new group's statistics next to the figure
   computed in its old group."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.impact.test_benchmarks_api import impact_tenant
from tests.support.factories import TenantHandle, make_tenant

STATS = ("p10", "p25", "p50", "p75", "p90", "mean", "percentile_rank")
QUERY = {"metric": "sroi", "compare_with": "industry"}


def tenants(client, admin_headers, industry: str, costs: list[float]) -> list[TenantHandle]:  # type: ignore[no-untyped-def]
    def new_tenant() -> TenantHandle:
        return make_tenant(client, admin_headers, f"bp-{uuid.uuid4().hex[:8]}")

    return [
        impact_tenant(
            new_tenant,
            client,
            admin_headers,
            costs=c,
            opt_in=True,
            region=f"r-{uuid.uuid4().hex[:6]}",
            industry=industry,
        )
        for c in costs
    ]


def refresh(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/admin/impact/benchmarks/refresh", headers=admin_headers)
    assert response.status_code == 200, response.text


def set_industry(client, admin_headers, tenant: TenantHandle, industry: str) -> None:  # type: ignore[no-untyped-def]
    response = client.patch(
        f"/v1/admin/tenants/{tenant.id}",
        json={"industry": industry, "data_sharing_opt_in": True},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text


def test_group_below_k_reveals_nothing_not_even_its_size(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    industry = f"g-{uuid.uuid4().hex[:8]}"
    members = tenants(client, admin_headers, industry, [5_000, 8_000, 12_000])  # A, B, C: 3 < k = 5
    refresh(client, admin_headers)
    newcomer = make_tenant(client, admin_headers, f"bp-d-{uuid.uuid4().hex[:8]}")  # D: no impact data
    set_industry(client, admin_headers, newcomer, industry)
    for asker in [newcomer, *members]:
        body = asker.get("/v1/impact/benchmarks", params=QUERY).json()
        assert body["suppressed"] is True and body["group"] == industry.lower()
        assert body["peer_tenants"] is None, body
        assert all(body[name] is None for name in STATS)
        assert "3" not in json.dumps({k: v for k, v in body.items() if k in ("reason", "peer_tenants")})
    # The members still see their own figure; the newcomer has none.
    assert members[0].get("/v1/impact/benchmarks", params=QUERY).json()["value"] is not None
    assert newcomer.get("/v1/impact/benchmarks", params=QUERY).json()["value"] is None


def test_industry_change_answers_the_group_the_figure_was_computed_in(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    old, new = f"old-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    old_members = tenants(client, admin_headers, old, [5_000, 8_000, 12_000, 20_000, 40_000])
    new_members = tenants(client, admin_headers, new, [1_000, 2_000, 3_000, 4_000, 6_000])
    refresh(client, admin_headers)
    mover = old_members[0]
    before = mover.get("/v1/impact/benchmarks", params=QUERY).json()
    new_stats = new_members[0].get("/v1/impact/benchmarks", params=QUERY).json()
    assert before["suppressed"] is False and before["group"] == old and before["current_group"] is None
    assert new_stats["suppressed"] is False and new_stats["p50"] != before["p50"]

    set_industry(client, admin_headers, mover, new)
    after = mover.get("/v1/impact/benchmarks", params=QUERY).json()
    # Same answer as before the change (the old group, its statistics, the figure computed in it),
    # and the current group named; nothing of the new group.
    assert after["group"] == old and after["current_group"] == new
    for name in ("value", "peer_tenants", "percentile_rank", *STATS):
        assert after[name] == pytest.approx(before[name]), name
    assert after["p50"] != pytest.approx(new_stats["p50"])

    refresh(client, admin_headers)  # the next refresh places the figure in the new group
    moved = mover.get("/v1/impact/benchmarks", params=QUERY).json()
    assert moved["group"] == new and moved["current_group"] is None and moved["peer_tenants"] == 6
    assert moved["value"] == pytest.approx(before["value"])
