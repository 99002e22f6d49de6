"""Helpers of the insight tests: events straight into the warehouse through the one validation path,
a tenant context per example, and a recent daylight-saving change to put data around."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.insights import parse_insight_query, run_insight
from analytics_engine.tenants.service import TenantContext
from tests.insights.reference import Ev


def new_tenant(tz: str = "UTC") -> TenantContext:
    return TenantContext(f"ti_{uuid.uuid4().hex[:10]}", "Insights test", tz, frozenset({"read"}), "key")


def load(runtime: Any, tenant: TenantContext, events: list[Ev]) -> None:
    raw = [
        {"event": e.event, "distinct_id": e.user, "timestamp": e.at.isoformat(), "properties": e.props} for e in events
    ]
    outcome = validate_events(raw, tenant.tenant_id, Limits())
    assert not outcome.rejected, outcome.rejected[:3]
    if outcome.accepted:
        runtime.writer.write(outcome.accepted)


def run(runtime: Any, tenant: TenantContext, query: dict[str, Any], **kwargs: Any) -> Any:
    return run_insight(runtime, tenant, parse_insight_query(query), **kwargs)


def recent_dst_change(tz: str = "Europe/Oslo", *, min_age_days: int = 10) -> datetime:
    """The latest moment (UTC, on the hour) at which `tz` changed its offset, at least `min_age_days` ago."""
    zone = ZoneInfo(tz)
    moment = (datetime.now(UTC) - timedelta(days=min_age_days)).replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        before = (moment - timedelta(hours=1)).astimezone(zone).utcoffset()
        if before != moment.astimezone(zone).utcoffset():
            return moment
        moment -= timedelta(hours=1)
    raise AssertionError(f"no offset change in {tz} within 400 days")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
