"""The demo dashboard `analytics-engine demo` creates for each demo tenant: tenant metrics for the
headline numbers and a "Product overview" dashboard using them and inline insight queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analytics_engine.dashboards.schemas import DashboardCreate, DashboardPublic, WidgetCreate
from analytics_engine.metrics.schemas import MetricCreate

if TYPE_CHECKING:
    from analytics_engine.dashboards.service import DashboardService
    from analytics_engine.metrics.service import MetricService
    from analytics_engine.runtime import Runtime

DEMO_DASHBOARD = "Product overview"


def _trend(event: str | None, math: str = "total", interval: str = "day", **extra: Any) -> dict[str, Any]:
    series: dict[str, Any] = {"event": event, "math": math}
    if "math_property" in extra:
        series["math_property"] = extra.pop("math_property")
    return {"kind": "trends", "series": [series], "interval": interval, **extra}


DEMO_METRICS: tuple[MetricCreate, ...] = (
    MetricCreate(
        name="Pageviews",
        query=_trend("pageview"),
        dimensions=["path", "browser", "country"],
        unit="views",
        description="Every page viewed.",
        owner="web team",
    ),
    MetricCreate(
        name="Signups",
        query=_trend("signup"),
        dimensions=["plan", "country", "utm_source"],
        unit="signups",
        description="New accounts created.",
        owner="growth team",
    ),
    MetricCreate(
        name="Purchases",
        query=_trend("purchase", interval="week"),
        dimensions=["plan", "country"],
        unit="purchases",
        description="Completed purchases.",
        owner="revenue team",
    ),
    MetricCreate(
        name="Revenue",
        query=_trend("purchase", math="sum", math_property="amount", interval="week"),
        dimensions=["plan", "country"],
        unit="EUR",
        format="currency",
        description="Sum of purchase amounts.",
        owner="revenue team",
    ),
    MetricCreate(
        name="Daily active users",
        query=_trend(None, math="unique_users"),
        dimensions=["country", "browser"],
        unit="users",
        description="Distinct people doing anything on a day.",
        owner="product team",
    ),
)


def _metric_id(runtime: Runtime, tenant_id: str, body: MetricCreate) -> str:
    service: MetricService = runtime.metrics
    existing = next((m for m in service.list(tenant_id) if m.name == body.name and m.scope == "tenant"), None)
    return existing.id if existing else service.create(tenant_id, body, actor="demo").id


def demo_dashboard_spec(metric_ids: dict[str, str]) -> DashboardCreate:
    return DashboardCreate(
        name=DEMO_DASHBOARD,
        description="Traffic, signups, conversion and retention over the last 90 days.",
        filters={"date_from": "-90d"},
        widgets=[
            WidgetCreate(
                title="Pageviews per day",
                viz="line",
                metric_id=metric_ids["Pageviews"],
                layout={"x": 0, "y": 0, "w": 8, "h": 4},
            ),
            WidgetCreate(
                title="Signups",
                viz="big_number",
                metric_id=metric_ids["Signups"],
                layout={"x": 8, "y": 0, "w": 4, "h": 2},
            ),
            WidgetCreate(
                title="Revenue",
                viz="big_number",
                metric_id=metric_ids["Revenue"],
                layout={"x": 8, "y": 2, "w": 4, "h": 2},
            ),
            WidgetCreate(
                title="Signup → activated → purchase",
                viz="funnel",
                query={
                    "kind": "funnels",
                    "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}],
                    "conversion_window": {"value": 30, "unit": "day"},
                },
                layout={"x": 0, "y": 4, "w": 6, "h": 4},
            ),
            WidgetCreate(
                title="Weekly retention after signup",
                viz="retention_table",
                query={
                    "kind": "retention",
                    "start_event": {"event": "signup"},
                    "return_event": {"event": None},
                    "period": "week",
                    "periods": 8,
                },
                layout={"x": 6, "y": 4, "w": 6, "h": 4},
            ),
            WidgetCreate(
                title="Daily active users",
                viz="line",
                metric_id=metric_ids["Daily active users"],
                layout={"x": 0, "y": 8, "w": 6, "h": 4},
            ),
            WidgetCreate(
                title="Purchases by plan",
                viz="bar",
                metric_id=metric_ids["Purchases"],
                dimensions=["plan"],
                layout={"x": 6, "y": 8, "w": 6, "h": 4},
            ),
        ],
    )


def create_demo_dashboard(runtime: Runtime, tenant_id: str) -> DashboardPublic:
    """Create (once) the demo metrics and dashboard of a tenant; returns the dashboard."""
    metric_ids = {body.name: _metric_id(runtime, tenant_id, body) for body in DEMO_METRICS}
    service: DashboardService = runtime.dashboards
    existing = service.find_by_name(tenant_id, DEMO_DASHBOARD)
    if existing is not None:
        return service.get(tenant_id, existing.id)
    return service.create(tenant_id, demo_dashboard_spec(metric_ids))
