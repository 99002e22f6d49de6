"""Insight, metric and dashboard sources: each computes a typed insight result (`insights/results.py`),
which knows its own tables; here they become `Section`s (title, result, tables) that reports draw
and table plans that exports write. `exports/sources.py` plans raw-event exports and never imports
this module (so the two no longer import each other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analytics_engine.errors import InvalidInput
from analytics_engine.exports.schemas import DashboardSource, EventsSource, InsightSource, MetricSource
from analytics_engine.exports.sources import TablePlan
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.insights.results import SeriesResult
from analytics_engine.insights.results import Table as ResultTable

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


# Runs the section's query again over another range (ISO `date_from`, `date_to`): a report's
# comparison with the previous period.
Rerun = Callable[[str, str], SeriesResult]


@dataclass
class Section:
    """One block of a report or a multi-table export: an insight result and its tables, and for a
    report how to draw it (`viz`: a dashboard widget's chart), its unit and how to compute it again."""

    title: str
    kind: str
    result: SeriesResult | None = None
    tables: list[ResultTable] = field(default_factory=list)
    error: str | None = None
    viz: str | None = None
    unit: str | None = None
    value_format: str | None = None  # a metric's format: number, percent, currency, duration
    rerun: Rerun | None = field(default=None, repr=False, compare=False)
    previous: SeriesResult | None = field(default=None, repr=False, compare=False)

    @property
    def data(self) -> dict[str, Any]:
        """The result as the API's JSON (what report templates and webhooks carry)."""
        return self.result.model_dump(mode="json") if self.result is not None else {}


def tables_for(title: str, result: SeriesResult) -> list[ResultTable]:
    tables = result.to_tables(title)
    if result.kind and len(tables) == 1 and not tables[0].title:
        tables[0].title = result.kind
    return tables


def section_for(title: str, result: SeriesResult) -> Section:
    return Section(title, result.kind, result, tables_for(title, result))


def tables_from_result(title: str, data: dict[str, Any]) -> list[ResultTable]:
    """The tables of a JSON answer (typed by its `kind` through the registry)."""
    return tables_for(title, registry.result_from_json(data))


# --- computing sections --------------------------------------------------------------------------------
def parse_insight(query: dict[str, Any]) -> Any:
    return registry.parse_query(query)


def insight_section(
    runtime: Runtime, tenant: Any, title: str, query: dict[str, Any], context: dict[str, Any] | None = None
) -> Section:
    if context:
        query = registry.with_overrides(query, Overrides(**context))
    section = section_for(title, registry.run_query(RunContext(runtime, tenant), query))
    section.rerun = _rerun_query(runtime, tenant, query)
    return section


def _rerun_query(runtime: Runtime, tenant: Any, query: dict[str, Any]) -> Rerun:
    def rerun(date_from: str, date_to: str) -> SeriesResult:
        shifted = registry.with_overrides(query, Overrides(date_from=date_from, date_to=date_to))
        return registry.run_query(RunContext(runtime, tenant), shifted)

    return rerun


def metric_section(
    runtime: Runtime, tenant: Any, metric_id: str, request: dict[str, Any], title: str | None = None
) -> Section:
    from analytics_engine.metrics.schemas import MetricQueryRequest, TimeRange

    try:
        body = MetricQueryRequest.model_validate(request or {})
    except ValueError as exc:
        raise InvalidInput(f"Not a valid metric query: {exc}") from exc
    answer, result = runtime.metrics.compute(runtime, tenant, metric_id, body)
    section = section_for(title or answer.metric.name, result)
    section.unit = answer.metric.definition.unit
    section.value_format = answer.metric.definition.format.value

    def rerun(date_from: str, date_to: str) -> SeriesResult:
        shifted = body.model_copy(update={"time_range": TimeRange(date_from=date_from, date_to=date_to)})
        return runtime.metrics.compute(runtime, tenant, metric_id, shifted)[1]

    section.rerun = rerun
    return section


def dashboard_sections(
    runtime: Runtime, tenant: Any, dashboard_id: str, filters: dict[str, Any] | None
) -> tuple[str, list[Section]]:
    from analytics_engine.dashboards.render import plan_widget, render
    from analytics_engine.dashboards.schemas import DashboardFilters

    try:
        override = DashboardFilters.model_validate(filters or {})
    except ValueError as exc:
        raise InvalidInput(f"Not valid dashboard filters: {exc}") from exc
    rendered = render(runtime, tenant, dashboard_id, override)
    defined = {w.id: w for w in runtime.dashboards.get(tenant.tenant_id, dashboard_id).widgets}
    sections = []
    for widget in rendered.widgets:
        result = widget.result()
        if widget.error is not None or result is None:
            message = widget.error.message if widget.error else "no data"
            sections.append(Section(widget.title, "error", None, [], error=message, viz=widget.viz.value))
            continue
        section = section_for(widget.title, result)
        section.viz = widget.viz.value
        if widget.id in defined:
            plan = plan_widget(runtime, tenant.tenant_id, defined[widget.id], rendered.filters)
            if plan.query is not None and plan.error is None:
                section.rerun = _rerun_query(runtime, tenant, plan.query)
        sections.append(section)
    return rendered.name, sections


# --- export sources ------------------------------------------------------------------------------------
def validate_source(runtime: Runtime, tenant: Any, source: Any) -> None:
    """Refuse, at request time, a source that cannot run (unknown kind, dashboard of another tenant)."""
    if isinstance(source, EventsSource):
        if source.start and source.end and source.end <= source.start:
            raise InvalidInput("`end` must be after `start`.")
    elif source.type == "insight":
        parse_insight(source.query)
    elif source.type == "metric":
        runtime.metrics.get(tenant.tenant_id, source.metric_id)
    elif source.type == "dashboard":
        runtime.dashboards.get(tenant.tenant_id, source.dashboard_id)


def _plan(sections: list[Section], name: str) -> TablePlan:
    failed = [s for s in sections if s.error]
    if failed and len(failed) == len(sections):
        raise InvalidInput(f"Nothing to export: {failed[0].title}: {failed[0].error}")
    results = [s.result for s in sections if s.result is not None]
    return TablePlan(
        [table for section in sections for table in section.tables],
        name=name,
        date_from=min((r.date_from for r in results), default=None),
        date_to=max((r.date_to for r in results), default=None),
    )


def insight_name(query: dict[str, Any]) -> str:
    """`trends-signup-purchase`: the kind and the events it counts (series, steps or the returning event)."""
    kind = str(query.get("kind", "insight"))
    events: list[str] = []
    specs = [*(query.get("series") or []), *(query.get("steps") or []), query.get("start_event"), query]
    for item in specs:
        if isinstance(item, dict) and isinstance(item.get("event"), str) and item["event"] not in events:
            events.append(item["event"])
    return "-".join([kind, *events[:3]])


def table_plan(runtime: Runtime, tenant: Any, source: InsightSource | MetricSource | DashboardSource) -> TablePlan:
    if isinstance(source, InsightSource):
        kind = str(source.query.get("kind", "insight"))
        return _plan([insight_section(runtime, tenant, kind, source.query)], insight_name(source.query))
    if isinstance(source, MetricSource):
        section = metric_section(runtime, tenant, source.metric_id, source.query)
        return _plan([section], section.title)
    name, sections = dashboard_sections(runtime, tenant, source.dashboard_id, source.filters)
    return _plan(sections, name)


__all__ = [
    "Section",
    "dashboard_sections",
    "insight_section",
    "metric_section",
    "section_for",
    "table_plan",
    "tables_for",
    "tables_from_result",
    "validate_source",
]
