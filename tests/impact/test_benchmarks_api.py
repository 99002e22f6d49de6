"""Benchmarks through the API: opted-in tenants only, k-anonymity, true quantiles, nothing of
another tenant in any field; and the refresh as a scheduled job."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analytics_engine.impact.schedule import SCHEDULE_NAME
from tests.impact.support import activity, cost, outcome
from tests.support.factories import TenantHandle

FIELDS = {
    "metric",
    "compare_with",
    "group",
    "current_group",
    "suppressed",
    "reason",
    "peer_tenants",
    "k",
    "value",
    "percentile_rank",
    "p10",
    "p25",
    "p50",
    "p75",
    "p90",
    "mean",
    "epsilon",
    "refreshed_at",
}


def impact_tenant(
    new_tenant,
    client,
    admin_headers,
    *,
    costs: float,
    opt_in: bool,
    region: str,  # type: ignore[no-untyped-def]
    industry: str = "Education",
    hours: float = 4.0,
) -> TenantHandle:
    tenant = new_tenant()
    patch = client.patch(
        f"/v1/admin/tenants/{tenant.id}",
        json={"industry": industry, "region": region, "size_band": "small", "data_sharing_opt_in": opt_in},
        headers=admin_headers,
    )
    assert patch.status_code == 200 and patch.json()["data_sharing_opt_in"] is opt_in
    events = [cost(costs)]
    for i in range(10):
        events += [
            outcome(f"p{i}", 0.3, "baseline", dimension="language", days_ago=40),
            outcome(f"p{i}", 0.7, "post", dimension="language", volunteer="v1", days_ago=10),
        ]
    events += [activity("v1", hours, days_ago=d) for d in (2, 9, 16)]
    tenant.ingest(events)
    return tenant


@pytest.fixture(scope="module")
def peers(client, admin_headers):  # type: ignore[no-untyped-def]
    import uuid

    from tests.support.factories import make_tenant

    def new_tenant() -> TenantHandle:
        return make_tenant(client, admin_headers, f"bench-{uuid.uuid4().hex[:8]}")

    # five opted-in education tenants (four in "north", one in "south"), one opted-out education tenant
    opted = [
        impact_tenant(
            new_tenant, client, admin_headers, costs=c, opt_in=True, region="north" if i < 4 else "south", hours=2.0 + i
        )
        for i, c in enumerate((5_000, 8_000, 12_000, 20_000, 40_000))
    ]
    outsider = impact_tenant(new_tenant, client, admin_headers, costs=1_000, opt_in=False, region="north")
    refreshed = client.post("/v1/admin/impact/benchmarks/refresh", headers=admin_headers)
    assert refreshed.status_code == 200, refreshed.text
    return opted, outsider, refreshed.json()


def test_refresh_is_a_job_and_scheduled(client, admin_headers, runtime, peers) -> None:  # type: ignore[no-untyped-def]
    _, _, summary = peers
    assert summary["tenants"] == 5
    job = client.get(f"/v1/admin/jobs/{summary['job_id']}", headers=admin_headers).json()
    assert job["kind"] == "impact.benchmarks_refresh" and job["state"] == "succeeded" and job["rows_done"] == 5
    assert job["rows_total"] == 5 and job["progress"] == 1.0
    assert job["attempts"] == 1  # claimed by the one job runner: a job run outside it counts none
    listed = client.get("/v1/admin/jobs", params={"kind": "impact.benchmarks_refresh"}, headers=admin_headers)
    assert summary["job_id"] in [j["id"] for j in listed.json()]
    assert SCHEDULE_NAME in runtime.scheduler.names()


def test_quantiles_over_opted_in_peers_only(peers) -> None:  # type: ignore[no-untyped-def]
    opted, _, _ = peers
    values = [t.get("/v1/impact/sroi").json()["ratio"] for t in opted]
    assert len(set(values)) == 5
    for tenant, own in zip(opted, values, strict=True):
        body = tenant.get("/v1/impact/benchmarks", params={"metric": "sroi", "compare_with": "industry"}).json()
        assert set(body) == FIELDS
        assert body["suppressed"] is False and body["peer_tenants"] == 5 and body["group"] == "education"
        assert body["value"] == pytest.approx(own)
        for name, q in (("p10", 10), ("p25", 25), ("p50", 50), ("p75", 75), ("p90", 90)):
            assert body[name] == pytest.approx(float(np.percentile(values, q)))
        assert body["mean"] == pytest.approx(float(np.mean(values)))
        assert body["percentile_rank"] == pytest.approx(100 * (sorted(values).index(own) + 0.5) / 5)
    vis = opted[0].get("/v1/impact/benchmarks", params={"metric": "vis", "compare_with": "size"}).json()
    assert vis["suppressed"] is False and vis["peer_tenants"] == 5


def test_k_minus_one_peers_are_suppressed(peers) -> None:  # type: ignore[no-untyped-def]
    opted, _, _ = peers
    body = opted[0].get("/v1/impact/benchmarks", params={"metric": "sroi", "compare_with": "region"}).json()
    assert body["group"] == "north" and body["suppressed"] is True  # 4 opted-in tenants < k = 5
    assert "fewer than 5" in body["reason"]
    assert all(body[f] is None for f in ("p10", "p25", "p50", "p75", "p90", "mean", "percentile_rank", "peer_tenants"))


def test_opted_out_tenant_neither_counted_nor_served(peers) -> None:  # type: ignore[no-untyped-def]
    _, outsider, _ = peers
    body = outsider.get("/v1/impact/benchmarks", params={"metric": "sroi", "compare_with": "industry"}).json()
    assert body["suppressed"] is True and "opted in" in body["reason"] and body["p50"] is None


def test_no_field_reveals_another_tenant(peers, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    opted, outsider, _ = peers
    me, others = opted[0], [*opted[1:], outsider]
    names = {t.id: client.get(f"/v1/admin/tenants/{t.id}", headers=admin_headers).json()["name"] for t in others}
    their_values = {t.id: t.get("/v1/impact/sroi").json()["ratio"] for t in others}
    for metric in ("sroi", "vis"):
        for compare_with in ("industry", "region", "size"):
            response = me.get("/v1/impact/benchmarks", params={"metric": metric, "compare_with": compare_with})
            text = response.text
            for other_id, name in names.items():
                assert other_id not in text and name not in text
            body = response.json()
            assert set(body) == FIELDS
            # the only per-tenant figures are the asker's own value and rank
            if metric == "sroi" and not body["suppressed"]:
                assert body["value"] not in their_values.values()
    assert outsider.id not in json.dumps(me.get("/v1/impact/results").json())


def test_the_schedule_runs_a_refresh(client, admin_headers, runtime, peers) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import dataclasses
    from datetime import timedelta

    from analytics_engine.impact.schedule import start_impact
    from analytics_engine.metadata.models import utcnow
    from analytics_engine.scheduler import Scheduler

    async def run_once() -> None:
        scheduler = Scheduler(runtime.metadata)
        await start_impact(dataclasses.replace(runtime, scheduler=scheduler))
        assert scheduler.names() == [SCHEDULE_NAME]
        later = utcnow() + timedelta(seconds=runtime.settings.impact_benchmark_refresh_seconds + 60)
        assert await scheduler.run_due(later) == [SCHEDULE_NAME]
        await asyncio.gather(*[e.task for e in scheduler._entries.values() if e.task])  # let the run finish

    before = len(
        [
            j
            for j in client.get("/v1/admin/jobs", headers=admin_headers).json()
            if j["kind"] == "impact.benchmarks_refresh"
        ]
    )
    asyncio.run(run_once())
    jobs = [
        j
        for j in client.get("/v1/admin/jobs", headers=admin_headers).json()
        if j["kind"] == "impact.benchmarks_refresh"
    ]
    assert len(jobs) == before + 1 and all(j["state"] == "succeeded" for j in jobs)


def test_cancelled_refresh_stops_and_writes_nothing(client, admin_headers, runtime, peers, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from analytics_engine.impact.service import BENCHMARKS_JOB

    opted, _, _ = peers
    params = {"metric": "sroi", "compare_with": "industry"}
    before = opted[0].get("/v1/impact/benchmarks", params=params).json()["refreshed_at"]
    service = runtime.impact
    compute, computed = service.compute, []

    def cancel_during_first_tenant(*args, **kwargs):  # type: ignore[no-untyped-def]
        computed.append(args[1])
        if len(computed) == 1:
            (job,) = runtime.jobs.list(kind=BENCHMARKS_JOB, state="running")
            client.post(f"/v1/admin/jobs/{job.id}/cancel", headers=admin_headers)
        return compute(*args, **kwargs)

    monkeypatch.setattr(service, "compute", cancel_during_first_tenant)
    answer = client.post("/v1/admin/impact/benchmarks/refresh", headers=admin_headers)
    assert answer.status_code == 200 and answer.json()["cancelled"] is True
    job = client.get(f"/v1/admin/jobs/{answer.json()['job_id']}", headers=admin_headers).json()
    assert job["state"] == "cancelled" and job["rows_done"] == 1 and job["rows_total"] == 5
    assert len(set(computed)) == 1  # stopped before the second tenant
    assert opted[0].get("/v1/impact/benchmarks", params=params).json()["refreshed_at"] == before
