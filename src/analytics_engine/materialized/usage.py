"""Which properties a tenant's dashboards and saved metrics use: the rule behind suggestions.

Every widget query (inline, or the current version of the metric it shows), every saved metric and
every dashboard-level property filter is parsed with the insight registry and walked: a property
filter counts one use of its path as a `number` (numeric operators, equality with a number) or a
`string` (everything else), a breakdown one `string` use, a math property (sum, avg... of a trend)
one `number` use. Queries that no longer parse are skipped, never an error."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics_engine.dashboards.models import Dashboard, Widget
from analytics_engine.errors import AppError
from analytics_engine.insights import registry
from analytics_engine.insights.filters import PropertyBreakdown, PropertyFilter
from analytics_engine.materialized.columns import ValueType
from analytics_engine.metrics.models import Metric, MetricVersion

Use = tuple[str, ValueType]
_NUMERIC = {"gt", "gte", "lt", "lte"}


def filter_type(item: PropertyFilter) -> ValueType:
    """The column type that would serve this filter (insights/filters.py: filter_sql)."""
    numeric_value = isinstance(item.value, int | float) and not isinstance(item.value, bool)
    if item.operator in _NUMERIC or (item.operator in {"eq", "neq"} and numeric_value):
        return "number"
    return "string"


def query_uses(model: Any) -> Counter[Use]:
    """Property uses in one parsed query model (walks nested models and lists)."""
    uses: Counter[Use] = Counter()
    if isinstance(model, PropertyFilter):
        uses[(model.key, filter_type(model))] += 1
    elif isinstance(model, PropertyBreakdown):
        uses[(model.property, "string")] += 1
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name == "math_property" and isinstance(value, str):
                uses[(value, "number")] += 1
            else:
                uses += query_uses(value)
    elif isinstance(model, list | tuple):
        for item in model:
            uses += query_uses(item)
    return uses


def _parsed_uses(query: dict[str, Any] | None) -> Counter[Use]:
    if not query:
        return Counter()
    try:
        return query_uses(registry.parse_query(query))
    except (ValidationError, AppError, ValueError, KeyError, TypeError):
        return Counter()


def _filter_uses(items: list[dict[str, Any]]) -> Counter[Use]:
    uses: Counter[Use] = Counter()
    for item in items:
        try:
            uses += query_uses(PropertyFilter.model_validate({k: v for k, v in item.items() if k != "type"}))
        except ValidationError:
            continue
    return uses


def tenant_uses(session: Session, tenant_id: str) -> Counter[Use]:
    """All property uses of one tenant's dashboards and saved metrics."""
    metric_queries: dict[str, dict[str, Any] | None] = {}
    rows = session.execute(
        select(Metric.id, MetricVersion.definition)
        .join(MetricVersion, (MetricVersion.metric_id == Metric.id) & (MetricVersion.version == Metric.current_version))
        .where(Metric.tenant_id == tenant_id)
    )
    for metric_id, definition in rows:
        metric_queries[metric_id] = (definition or {}).get("query")
    uses: Counter[Use] = Counter()
    for query in metric_queries.values():
        uses += _parsed_uses(query)
    dashboards = {d.id: d for d in session.scalars(select(Dashboard).where(Dashboard.tenant_id == tenant_id))}
    for widget in session.scalars(select(Widget).where(Widget.tenant_id == tenant_id)):
        query = widget.query if widget.query else metric_queries.get(widget.metric_id or "")
        uses += _parsed_uses(query)
        dashboard = dashboards.get(widget.dashboard_id)
        if dashboard is not None:
            uses += _filter_uses(list((dashboard.filters or {}).get("properties") or []))
    return uses
