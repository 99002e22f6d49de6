"""SROI and VIS as insight-shaped results (for the metric registry, dashboards, exports, reports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.impact import run_impact_metric
from analytics_engine.insights.results import InsightResponse
from analytics_engine.tenants.service import TenantContext
from tests.impact.support import activity, worked_example


def context(tenant_id: str) -> TenantContext:
    return TenantContext(tenant_id, "t", "UTC", frozenset({"read"}), "key")


def test_sroi_metric_matches_the_api_and_validates_as_an_insight(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(worked_example())
    result = run_impact_metric(runtime, context(tenant.id), {"kind": "impact", "metric": "sroi"})
    InsightResponse.model_validate(result)  # the same shape dashboards already draw
    assert result["totals"]["value"] == pytest.approx(4.0542, abs=1e-4)
    assert result["series"][0]["points"][0]["value"] == result["totals"]["value"]
    assert result["totals"]["band"] == "excellent" and result["totals"]["formula_version"] == 1


def test_monthly_vis_series(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([activity("v1", 10.0, days_ago=1)])
    today = datetime.now(UTC).date()
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # first day of last month
    result = run_impact_metric(
        runtime,
        context(tenant.id),
        {
            "kind": "impact",
            "metric": "vis",
            "interval": "month",
            "date_range": {"date_from": start.isoformat(), "date_to": today.isoformat()},
        },
    )
    points = result["series"][0]["points"]
    assert [p["label"] for p in points] == [start.isoformat(), today.replace(day=1).isoformat()]
    active_month = (datetime.now(UTC) - timedelta(days=1)).date().replace(day=1).isoformat()
    for point in points:
        if point["label"] == active_month:
            assert point["value"] > 0  # 10 hours, one session, no outcomes: 100 x (0.3 x h + 0.3 x c)
        else:
            assert point["value"] is None  # no volunteers that month
    with pytest.raises(InvalidInput):
        run_impact_metric(runtime, context(tenant.id), {"kind": "impact", "metric": "nps"})
