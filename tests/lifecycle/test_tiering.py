"""Tiering on a hot window of one month: old months go to Parquet under the tenant's prefix, leave
the hot tier, derived tables agree with events after it, answers over the cold range are the same as
before the move (and say they read cold data), a second run changes nothing, an erasure rewrites the
cold files, and cold files past the cold retention are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.exports.runner import count_rows, plan_for
from analytics_engine.exports.schemas import EventsSource
from analytics_engine.exports.sources import SqlPlan
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.lifecycle.cold import cold_files, file_figures, local_path
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.lifecycle.window import hot_window_start, partition_of
from tests.support.factories import TenantHandle

STEP = 5
OLD = Limits(max_past_ms=10 * 365 * 86_400_000)


def _old_events(runtime, tenant_id: str, start: datetime, count: int, users: int) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {
            "event": ("view", "signup", "buy")[i % 3],
            "distinct_id": f"p{i % users}",
            "timestamp": (start + timedelta(hours=STEP * i)).isoformat(),
            "properties": {"plan": ("free", "pro")[i % 2], "n": i},
        }
        for i in range(count)
    ]
    outcome = validate_events(raw, tenant_id, OLD)
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)


def _insights(tenant: TenantHandle, date_from: str) -> dict[str, Any]:
    answers = {}
    queries = {
        "trends": {
            "series": [{"event": "view"}, {"event": "buy", "math": "unique_users"}],
            "date_range": {"date_from": date_from},
            "interval": "week",
            "breakdown": [{"property": "plan"}],
        },
        "funnels": {"steps": [{"event": "view"}, {"event": "buy"}], "date_range": {"date_from": date_from}},
        "retention": {
            "start_event": {"event": "signup"},
            "return_event": {"event": "view"},
            "date_range": {"date_from": date_from},
            "period": "week",
        },
    }
    for kind, query in queries.items():
        response = tenant.post(f"/v1/insights/{kind}", json=query, params={"refresh": "true"})
        assert response.status_code == 200, (kind, response.text)
        answers[kind] = response.json()
    return answers


def _numbers(answer: dict[str, Any]) -> Any:
    return {k: answer.get(k) for k in ("series", "totals", "funnel", "retention")}


def test_tiering_moves_old_months_and_answers_stay_the_same(client, runtime, new_tenant, admin_headers) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    window = hot_window_start(now, 1)
    first_old = window - timedelta(days=75)
    tenant, other = new_tenant(), new_tenant()
    _old_events(runtime, tenant.id, first_old, 400, 30)  # ~117 days of events: old months and hot ones
    _old_events(runtime, other.id, first_old, 100, 5)
    date_from = first_old.date().isoformat()
    hot_before = tenant.count()
    before = _insights(tenant, date_from)
    assert all(not a["read_cold"] for a in before.values())

    response = client.post("/v1/admin/lifecycle/run", params={"wait": "true"}, headers=admin_headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "succeeded", job
    old_months = sorted(
        {partition_of(first_old + timedelta(hours=STEP * i)) for i in range(400)} - {partition_of(window)}
    )
    old_months = [m for m in old_months if m < partition_of(window)]
    assert set(old_months) <= set(job["result"]["months"])

    # Hot keeps only the window; the cold files hold the rest, exactly.
    events = runtime.warehouse.table("events")
    scope = runtime.warehouse.for_tenant(tenant.id)
    hot_left = int(scope.query(f"SELECT count() FROM {events} WHERE tenant_id = {{tenant_id:String}}").scalar())
    assert (
        int(
            scope.query(
                f"SELECT count() FROM {events} WHERE tenant_id = {{tenant_id:String}} "
                "AND timestamp < {w:DateTime64(3, 'UTC')}",
                {"w": window.strftime("%Y-%m-%d %H:%M:%S")},
            ).scalar()
        )
        == 0
    )
    files = cold_files(runtime, tenant.id)
    assert [f.month for f in files] == old_months
    assert sum(f.rows for f in files) + hot_left == hot_before
    for entry in files:
        path = local_path(runtime, tenant.id, entry.key)
        assert path.is_relative_to(runtime.settings.data_dir / "storage" / "tenants" / tenant.id)
        assert file_figures(scope, path)[0] == entry.rows
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id in (tenant.id, other.id)] == []

    # The same answers over the same range, now read from both tiers.
    after = _insights(tenant, date_from)
    for kind in before:
        assert after[kind]["read_cold"] is True, kind
        assert _numbers(after[kind]) == _numbers(before[kind]), kind
    # An events export reaching the cold tier reads both tiers too.
    plan = plan_for(runtime, tenant.id, EventsSource(), default_end=datetime.now(UTC))
    assert isinstance(plan, SqlPlan) and plan.table is not None
    assert count_rows(scope, plan) == hot_before
    # A range inside the hot window reads hot only.
    hot_only = tenant.post(
        "/v1/insights/trends",
        json={"series": [{"event": "view"}], "date_range": {"date_from": window.date().isoformat()}},
    ).json()
    assert hot_only["read_cold"] is False

    # A second run finds nothing to move and changes nothing.
    again = client.post("/v1/admin/lifecycle/run", params={"wait": "true"}, headers=admin_headers).json()
    assert again["state"] == "succeeded" and again["result"]["rows_moved"] == 0
    assert [(f.month, f.rows, f.checksum) for f in cold_files(runtime, tenant.id)] == [
        (f.month, f.rows, f.checksum) for f in files
    ]
    status = client.get("/v1/admin/lifecycle", headers=admin_headers).json()
    assert all(status["months"][str(m)] == "done" for m in old_months)

    # An erasure rewrites the cold files without the person.
    erased = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "p3"}).json()
    receipt = tenant.get(f"/v1/privacy/erasures/{erased['id']}").json()["receipt"]
    cold = {e["store"]: e for e in receipt["stores"]}["cold_files"]
    assert cold["rows_before"] > 0 and cold["rows_after"] == 0
    for entry in cold_files(runtime, tenant.id):
        path = local_path(runtime, tenant.id, entry.key)
        assert file_figures(scope, path, "distinct_id = 'p3'")[0] == 0
        assert file_figures(scope, path) == (entry.rows, entry.checksum)

    # Cold files past the cold retention are deleted.
    later = Tiering(runtime, now=now + timedelta(days=366 * runtime.settings.cold_retention_years + 200))
    later.expire()
    assert cold_files(runtime, tenant.id) == []
    assert runtime.storage.list(tenant.id, "cold/") == []
