"""Request and status shapes of exports. A source says WHAT to export (raw events with filters and
columns, an insight query, a metric query, a dashboard); a format says HOW the file is written."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics_engine.properties import PropertyPath, check_property_path
from analytics_engine.validation import WarehouseDateTime

BUILTIN_COLUMNS = ("timestamp", "event", "distinct_id", "event_id", "received_at", "properties")
DEFAULT_COLUMNS = ["timestamp", "event", "distinct_id", "event_id", "properties"]


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


class PropertyEquals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    property: PropertyPath
    value: str | int | float | bool = Field(description="Compared as text with the stored value.")


class EventsSource(BaseModel):
    """Raw events of this tenant, filtered, with the columns you choose."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["events"] = "events"
    events: list[str] = Field(default_factory=list, max_length=100, description="Event names; empty: all.")
    start: WarehouseDateTime | None = Field(None, description="From this time (inclusive; naive means UTC).")
    end: WarehouseDateTime | None = Field(
        None, description="Until this time (exclusive; default: when the export is created)."
    )
    where: list[PropertyEquals] = Field(default_factory=list, max_length=20, description="Property equals value.")
    columns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COLUMNS),
        min_length=1,
        max_length=200,
        description="Built-in columns (timestamp, event, distinct_id, event_id, received_at, properties) or "
        "`properties.<path>` for one property (as text).",
    )
    order_by_time: bool = Field(False, description="Sort rows by timestamp (costs a sort on the warehouse).")
    limit: int | None = Field(None, ge=1, description="At most this many rows (default: no cap).")

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: list[str]) -> list[str]:
        seen = set()
        for column in columns:
            if column in seen:
                raise ValueError(f"column {column!r} appears twice")
            seen.add(column)
            if column in BUILTIN_COLUMNS:
                continue
            if not column.startswith("properties."):
                raise ValueError(
                    f"unknown column {column!r}: use one of {', '.join(BUILTIN_COLUMNS)} or properties.<name>"
                )
            check_property_path(column.removeprefix("properties."))
        return columns


class InsightSource(BaseModel):
    """The result table of one insight query (trends, funnels, retention...)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["insight"] = "insight"
    query: dict[str, Any] = Field(description="An insight query, as `POST /v1/insights` takes it (with `kind`).")


class MetricSource(BaseModel):
    """A registry metric's values."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["metric"] = "metric"
    metric_id: str = Field(description="The metric's id.")
    query: dict[str, Any] = Field(default_factory=dict, description="Metric query options (range, interval...).")


class DashboardSource(BaseModel):
    """Every widget of a dashboard, one after another (one sheet per widget in XLSX)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["dashboard"] = "dashboard"
    dashboard_id: str
    filters: dict[str, Any] = Field(default_factory=dict, description="Dashboard filters to apply.")


ExportSource = Annotated[EventsSource | InsightSource | MetricSource | DashboardSource, Field(discriminator="type")]


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: ExportSource
    format: ExportFormat = ExportFormat.csv


class ExportAccepted(BaseModel):
    id: str
    status: str
    status_url: str


class ExportStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "expired", "cancelled"]
    format: ExportFormat
    source_type: str
    rows_written: int
    rows_total: int | None = None
    bytes: int | None = None
    progress: float | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    download_url: str | None = Field(None, description="Signed, expiring link to the file (when succeeded).")
    download_url_expires_at: datetime | None = None
