"""Insight, metric and dashboard sources: the insight engine computes small chart-ready results
(series of points, funnel steps, retention cohorts); here they become tables (for every export
format, and for the numbers of a report) and `Section`s (title, result, tables) that reports draw.
The engine, the metric registry and the dashboard renderer are imported lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics_engine.errors import InvalidInput
from analytics_engine.exports.sources import ResultTable, TablePlan


@dataclass
class Section:
    """One block of a report or a multi-table export: an insight result and its tables."""

    title: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    tables: list[ResultTable] = field(default_factory=list)
    error: str | None = None


# --- results -> tables -------------------------------------------------------------------------------
def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def tables_from_result(title: str, data: dict[str, Any]) -> list[ResultTable]:
    kind = data.get("kind", "")
    tables: list[ResultTable] = []
    if data.get("funnel"):
        rows = []
        for group in data["funnel"]:
            breakdown = ", ".join(group.get("breakdown_value") or []) or "all"
            for step in group["steps"]:
                rows.append(
                    [
                        breakdown,
                        step["step"],
                        step["label"],
                        step["count"],
                        round(step["conversion_from_first"], 4),
                        round(step["conversion_from_previous"], 4),
                        step.get("median_seconds"),
                    ]
                )
        columns = [
            "breakdown",
            "step",
            "label",
            "count",
            "conversion_from_first",
            "conversion_from_previous",
            "median_seconds",
        ]
        tables.append(ResultTable(title, columns, rows))
    if data.get("retention"):
        periods = max((len(c["values"]) for c in data["retention"]), default=0)
        columns = ["cohort", "date", "size"] + [f"period {i}" for i in range(periods)]
        rows = [
            [c["label"], c["date"], c["size"], *c["values"], *([None] * (periods - len(c["values"])))]
            for c in data["retention"]
        ]
        tables.append(ResultTable(title, columns, rows))
    series = data.get("series") or []
    if series and not tables:  # funnels and retention also carry series: their own table says more
        labels: list[str] = []
        seen: set[str] = set()
        for one in series:
            for point in one["points"]:
                if point["label"] not in seen:
                    seen.add(point["label"])
                    labels.append(point["label"])
        names = _unique([s["label"] + (" (previous)" if s.get("compare") == "previous" else "") for s in series])
        values = [{p["label"]: _number(p["value"]) for p in s["points"]} for s in series]
        rows = [[label, *[v.get(label) for v in values]] for label in labels]
        tables.append(ResultTable(title, ["label", *names], rows))
    if not tables:
        totals = data.get("totals") or {}
        tables.append(ResultTable(title, ["name", "value"], [[k, _number(v)] for k, v in totals.items()]))
    if kind and len(tables) == 1 and not tables[0].title:
        tables[0].title = kind
    return tables


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in out:
            number += 1
            candidate = f"{name} #{number}"
        out.append(candidate)
    return out


# --- computing sections --------------------------------------------------------------------------------
def _engine() -> Any:
    try:
        from analytics_engine.metrics import engine
    except ImportError:  # pragma: no cover - only in a build without the engine
        raise InvalidInput("Insight sources are not available in this build.", code="source_unavailable") from None
    return engine


def parse_insight(query: dict[str, Any]) -> Any:
    return _engine().parse_query(query)


def insight_section(
    runtime: Any, tenant: Any, title: str, query: dict[str, Any], context: dict | None = None
) -> Section:
    engine = _engine()
    if context:
        query = engine.with_context(query, engine.QueryContext(**context))
    data = engine.run_query(runtime, tenant, query)
    return Section(title, data.get("kind", query.get("kind", "")), data, tables_from_result(title, data))


def metric_section(
    runtime: Any, tenant: Any, metric_id: str, request: dict[str, Any], title: str | None = None
) -> Section:
    from analytics_engine.metrics.schemas import MetricQueryRequest
    from analytics_engine.metrics.service import metric_service

    try:
        body = MetricQueryRequest.model_validate(request or {})
    except ValueError as exc:
        raise InvalidInput(f"Not a valid metric query: {exc}") from exc
    answer = metric_service(runtime).query(runtime, tenant, metric_id, body)
    name = title or answer.metric.name
    return Section(name, answer.result.get("kind", ""), answer.result, tables_from_result(name, answer.result))


def dashboard_sections(
    runtime: Any, tenant: Any, dashboard_id: str, filters: dict[str, Any] | None
) -> tuple[str, list[Section]]:
    from analytics_engine.dashboards.render import render
    from analytics_engine.dashboards.schemas import DashboardFilters

    try:
        override = DashboardFilters.model_validate(filters or {})
    except ValueError as exc:
        raise InvalidInput(f"Not valid dashboard filters: {exc}") from exc
    rendered = render(runtime, tenant, dashboard_id, override)
    sections = []
    for widget in rendered.widgets:
        if widget.error is not None or widget.data is None:
            message = widget.error.message if widget.error else "no data"
            sections.append(Section(widget.title, "error", {}, [], error=message))
            continue
        sections.append(
            Section(
                widget.title, widget.data.get("kind", ""), widget.data, tables_from_result(widget.title, widget.data)
            )
        )
    return rendered.name, sections


# --- export sources ------------------------------------------------------------------------------------
def validate(runtime: Any, tenant: Any, source: Any) -> None:
    if source.type == "insight":
        parse_insight(source.query)
    elif source.type == "metric":
        from analytics_engine.metrics.service import metric_service

        metric_service(runtime).get(tenant.tenant_id, source.metric_id)
    elif source.type == "dashboard":
        from analytics_engine.dashboards.service import dashboard_service

        dashboard_service(runtime).get(tenant.tenant_id, source.dashboard_id)


def _plan(sections: list[Section]) -> TablePlan:
    failed = [s for s in sections if s.error]
    if failed and len(failed) == len(sections):
        raise InvalidInput(f"Nothing to export: {failed[0].title}: {failed[0].error}")
    return TablePlan([table for section in sections for table in section.tables])


def insight_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    return _plan([insight_section(runtime, tenant, source.query.get("kind", "insight"), source.query)])


def metric_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    return _plan([metric_section(runtime, tenant, source.metric_id, source.query)])


def dashboard_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    _, sections = dashboard_sections(runtime, tenant, source.dashboard_id, source.filters)
    return _plan(sections)


__all__ = ["Section", "dashboard_sections", "insight_section", "metric_section", "tables_from_result"]
