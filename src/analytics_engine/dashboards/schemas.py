"""Request and response models of dashboards and widgets.

{"name": "Growth", "filters": {"date_from": "-30d", "timezone": "Europe/Oslo",
 "properties": [{"key": "country", "operator": "eq", "value": "NO"}], "cohort_id": null},
 "widgets": [{"title": "Signups", "viz": "big_number", "metric_id": "met_..."},
             {"title": "Pageviews", "viz": "line", "query": {"kind": "trends", ...},
              "layout": {"x": 0, "y": 0, "w": 6, "h": 4}}]}
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from analytics_engine.insights.dates import DateSpec
from analytics_engine.insights.registry import result_from_json
from analytics_engine.insights.results import SeriesResult
from analytics_engine.validation import PatchModel


class Viz(StrEnum):
    line = "line"
    bar = "bar"
    funnel = "funnel"
    retention_table = "retention_table"
    big_number = "big_number"
    sankey = "sankey"  # paths: the flow of people between steps (the web page draws it; reports draw bars)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DashboardFilters(_Strict):
    """Applied to every widget of the dashboard (overriding the widgets' own range and time zone)."""

    date_from: DateSpec | None = Field(None, max_length=40, description="ISO date/datetime or relative: -30d, mtd.")
    date_to: DateSpec | None = Field(None, max_length=40, description="ISO date/datetime; now when omitted.")
    properties: list[dict[str, Any]] = Field(
        default_factory=list, max_length=50, description="Property filters added to every widget's query."
    )
    cohort_id: str | None = Field(None, max_length=40, description="Only people in this cohort.")
    timezone: str | None = Field(None, max_length=64, description="IANA time zone; the tenant's by default.")
    interval: str | None = Field(None, description="Interval of trend widgets: hour, day, week, month.")

    def merged(self, override: DashboardFilters | None) -> DashboardFilters:
        if override is None:
            return self
        values = self.model_dump()
        for key, value in override.model_dump(exclude_unset=True).items():
            if value not in (None, []):
                values[key] = value
        return DashboardFilters.model_validate(values)


class Layout(_Strict):
    """Position on a 12-column grid: column `x`, row `y`, width `w` columns, height `h` rows."""

    x: int = Field(0, ge=0, le=11)
    y: int = Field(0, ge=0, le=1000)
    w: int = Field(6, ge=1, le=12)
    h: int = Field(4, ge=1, le=12)


class WidgetCreate(_Strict):
    title: str = Field(min_length=1, max_length=200)
    viz: Viz
    metric_id: str | None = Field(None, description="A registry metric (not deprecated) ...")
    metric_version: int | None = Field(None, ge=1, description="Pin a metric version (default: always current).")
    query: dict[str, Any] | None = Field(None, description="... or an inline insight query.")
    dimensions: list[str] = Field(default_factory=list, max_length=5, description="Metric breakdown dimensions.")
    layout: Layout = Field(default_factory=Layout)
    options: dict[str, Any] = Field(default_factory=dict, description="Display options (free-form).")

    @model_validator(mode="after")
    def _source(self) -> WidgetCreate:
        if (self.metric_id is None) == (self.query is None):
            raise ValueError("a widget needs exactly one of 'metric_id' or 'query'")
        if self.query is not None and (self.dimensions or self.metric_version):
            raise ValueError("'dimensions' and 'metric_version' apply to metric widgets only")
        return self


class WidgetUpdate(PatchModel, _Strict):
    # A widget switches source by setting one of metric_id/query and nulling the other; version null: latest.
    nullable = frozenset({"metric_id", "metric_version", "query"})

    title: str | None = Field(None, min_length=1, max_length=200)
    viz: Viz | None = None
    metric_id: str | None = None
    metric_version: int | None = Field(None, ge=1)
    query: dict[str, Any] | None = None
    dimensions: list[str] | None = Field(None, max_length=5)
    layout: Layout | None = None
    options: dict[str, Any] | None = None


class WidgetPublic(BaseModel):
    id: str
    dashboard_id: str
    title: str
    viz: Viz
    metric_id: str | None = None
    metric_version: int | None = None
    query: dict[str, Any] | None = None
    dimensions: list[str] = Field(default_factory=list)
    layout: Layout
    options: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class DashboardCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    filters: DashboardFilters = Field(default_factory=DashboardFilters)
    widgets: list[WidgetCreate] = Field(default_factory=list, max_length=50)


class DashboardUpdate(PatchModel, _Strict):
    nullable = frozenset({"description"})

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    filters: DashboardFilters | None = None


class DashboardSummary(BaseModel):
    id: str
    name: str
    description: str | None = None
    widgets: int
    updated_at: datetime


class DashboardPublic(BaseModel):
    id: str
    name: str
    description: str | None = None
    filters: DashboardFilters
    widgets: list[WidgetPublic]
    created_at: datetime
    updated_at: datetime


class WidgetError(BaseModel):
    code: str
    message: str
    details: Any = None


class WidgetResult(BaseModel):
    id: str
    title: str
    viz: Viz
    layout: Layout
    metric_id: str | None = None
    metric_version: int | None = None
    data: dict[str, Any] | None = Field(None, description="The insight's chart-ready result.")
    error: WidgetError | None = Field(None, description="Set instead of `data` when this widget failed.")
    warning: str | None = Field(None, description="E.g. the metric was deprecated.")
    cached: bool = False
    computed_at: datetime | None = None
    stale: bool = Field(
        False,
        description="With `allow_stale`: `data` is this widget's last known answer (as of `computed_at`), "
        "shown while a fresh one computes in the background; ask again (e.g. `widgets=<id>`) for the fresh one.",
    )
    pending: bool = Field(
        False,
        description="With `allow_stale`: no answer is known yet (no `data`); it is computing in the background.",
    )
    elapsed_ms: float = 0.0
    # Not a field: (the data object, the exact JSON bytes it was parsed from) for a cached widget, so the
    # render route writes those bytes instead of serialising the data again (dashboards/render_json.py).
    _data_json: tuple[Any, bytes] | None = PrivateAttr(None)

    @property
    def data_json(self) -> tuple[Any, bytes] | None:
        return self._data_json

    @data_json.setter
    def data_json(self, value: tuple[Any, bytes] | None) -> None:
        self._data_json = value

    def result(self) -> SeriesResult | None:
        """The typed insight result of `data` (its tables and chart spec), None when it failed."""
        return result_from_json(self.data) if self.data is not None else None


class RenderResult(BaseModel):
    dashboard_id: str
    name: str
    filters: DashboardFilters
    widgets: list[WidgetResult]
    rendered_at: datetime
    elapsed_ms: float
