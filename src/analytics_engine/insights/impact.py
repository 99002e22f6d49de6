"""The `impact` insight kind: SROI and VIS as a typed result (`ImpactResult`: series of labelled
points and totals, the JSON shape of every insight), registered in `insights/registry.py` like the
other kinds, so metrics, dashboards, exports and reports take them like any insight.

    {"kind": "impact", "metric": "sroi", "programme": "mentoring",
     "date_range": {"date_from": "2026-01-01", "date_to": "2026-06-30"}, "interval": "month"}

Without `interval` the series holds one point (the whole period); with `interval: "month"` one point
per calendar month, each computed over that month alone. Impact figures take a period only:
property filters, cohorts, breakdowns and time zones do not apply to SROI or VIS.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analytics_engine.errors import InvalidInput
from analytics_engine.impact.inputs import Window
from analytics_engine.impact.service import make_window
from analytics_engine.insights.results import ImpactResult

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

MAX_MONTHS = 36


class ImpactDateRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: date | None = None
    date_to: date | None = None


class ImpactMetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["impact"] = "impact"
    metric: Literal["sroi", "vis"]
    programme: str | None = Field(None, min_length=1, max_length=200)
    date_range: ImpactDateRange = Field(default_factory=ImpactDateRange)
    interval: Literal["month"] | None = None
    formula_version: int | None = Field(None, ge=1)


def parse_impact_query(query: dict[str, Any]) -> ImpactMetricQuery:
    try:
        return ImpactMetricQuery.model_validate(query)
    except ValidationError as exc:
        raise InvalidInput.from_validation("invalid impact query", exc.errors()) from exc


def _months(window: Window) -> list[Window]:
    out = []
    cursor = window.start.replace(day=1)
    while cursor < window.end:
        following = (cursor + timedelta(days=32)).replace(day=1)
        out.append(Window(max(cursor, window.start), min(following, window.end), window.programme))
        cursor = following
    if len(out) > MAX_MONTHS:
        raise InvalidInput(f"A monthly impact series may span at most {MAX_MONTHS} months.")
    return out


def run_impact_metric(runtime: Runtime, tenant: Any, query: dict[str, Any]) -> dict[str, Any]:
    """The same figure as JSON (the insight result shape)."""
    return run_impact(runtime, tenant, parse_impact_query(query)).model_dump(mode="json")


def run_impact(runtime: Runtime, tenant: Any, parsed: ImpactMetricQuery, *, refresh: bool = False) -> ImpactResult:
    """Compute SROI or VIS for `tenant` (a TenantContext). Reads go through the tenant scope and its
    budget; the figure is not recorded as a result, nor cached (`refresh` changes nothing)."""
    started = time.perf_counter()
    service = runtime.impact
    window = make_window(parsed.date_range.date_from, parsed.date_range.date_to, parsed.programme)
    field = "ratio" if parsed.metric == "sroi" else "score"
    label = "SROI" if parsed.metric == "sroi" else "VIS"
    windows = _months(window) if parsed.interval else [window]
    points = []
    with service.admitted(tenant.tenant_id):
        whole = service.compute(parsed.metric, tenant.tenant_id, window, parsed.formula_version)
        for part in windows if parsed.interval else []:
            value = service.compute(parsed.metric, tenant.tenant_id, part, parsed.formula_version)[field]
            points.append(
                {"label": part.start.date().isoformat(), "value": value, "bucket": part.start.date().isoformat()}
            )
    if not parsed.interval:
        points = [{"label": label, "value": whole[field], "bucket": window.start.date().isoformat()}]
    return ImpactResult.model_validate(
        {
            "kind": "impact",
            "timezone": "UTC",
            "date_from": window.start.isoformat(),
            "date_to": window.end.isoformat(),
            "interval": parsed.interval,
            "served_by": "raw",
            "cached": False,
            "computed_at": datetime.now(UTC).isoformat(),
            "timing": {"sql_ms": 0.0, "queries": 0, "total_ms": round((time.perf_counter() - started) * 1000, 1)},
            "series": [
                {
                    "label": label,
                    "points": points,
                    "total": whole[field],
                    "meta": {"band": whole["band"], "formula_version": whole["formula_version"]},
                }
            ],
            "totals": {
                "value": whole[field],
                "band": whole["band"],
                "formula_version": whole["formula_version"],
                "metric": parsed.metric,
                "programme": parsed.programme,
                # SROI's money, so a report can say what the ratio is made of, in its currency.
                **{key: whole[key] for key in ("present_value", "investment", "currency") if key in whole},
            },
        }
    )
