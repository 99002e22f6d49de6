"""Insight, metric and dashboard sources: their packages compute small result tables, which are
exported as tables. Imported lazily so exports of raw events work in any build."""

from __future__ import annotations

from typing import Any

from analytics_engine.errors import InvalidInput
from analytics_engine.exports.sources import TablePlan


def _missing(what: str) -> InvalidInput:
    return InvalidInput(f"{what} sources are not available in this build.", code="source_unavailable")


def validate(runtime: Any, tenant: Any, source: Any) -> None:
    if source.type == "insight":
        parse_insight(source.query)
    elif source.type == "metric":
        _metric_api()
    elif source.type == "dashboard":
        _dashboard_api()


def parse_insight(query: dict[str, Any]) -> Any:
    try:
        from analytics_engine.insights import parse_query  # type: ignore[attr-defined]
    except ImportError:
        raise _missing("Insight") from None
    try:
        return parse_query(query)
    except ValueError as exc:
        raise InvalidInput(f"Not a valid insight query: {exc}", code="invalid_query") from exc


def _metric_api() -> Any:
    raise _missing("Metric")


def _dashboard_api() -> Any:
    raise _missing("Dashboard")


def insight_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    parse_insight(source.query)
    raise _missing("Insight")


def metric_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    raise _missing("Metric")


def dashboard_tables(runtime: Any, tenant: Any, source: Any) -> TablePlan:
    raise _missing("Dashboard")
