"""Request and response models of the metric registry.

A metric's definition is an insight query (trends, funnels, retention or engagement: the models of
`analytics_engine.insights`) plus what the catalog needs: the dimensions it may be broken down by,
unit, display format, description and owner.

    {"name": "Weekly active buyers", "query": {"kind": "trends", "series": [{"event": "purchase",
     "math": "unique_users"}], "interval": "week"}, "dimensions": ["plan", "country"],
     "unit": "users", "format": "number", "description": "...", "owner": "growth@acme"}
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics_engine.insights.dates import DateSpec

NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")
DIMENSION = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_$\-.]{0,99}$")


class MetricFormat(StrEnum):
    number = "number"
    percent = "percent"
    currency = "currency"
    duration = "duration"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricDefinition(_Strict):
    query: dict[str, Any] = Field(
        description="The insight query computing the metric (`kind`: trends, funnels, retention, engagement, impact, "
        "or sql: a saved restricted SQL query, docs/sql.md)."
    )
    dimensions: list[str] = Field(
        default_factory=list, max_length=20, description="Properties the metric may be broken down by."
    )
    unit: str | None = Field(None, max_length=40, description="Unit shown next to values: `users`, `EUR`, `%`.")
    format: MetricFormat = Field(MetricFormat.number, description="How values are displayed.")
    description: str | None = Field(None, max_length=2000)
    owner: str | None = Field(None, max_length=200, description="Who answers for the metric (team, e-mail).")

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, dimensions: list[str]) -> list[str]:
        for item in dimensions:
            if not DIMENSION.match(item):
                raise ValueError(f"not a valid property name: {item!r}")
        return list(dict.fromkeys(dimensions))


class MetricCreate(MetricDefinition):
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        name = name.strip()
        if not name or not NAME.match(name):
            raise ValueError("name must be 1-200 printable characters")
        return name


class MetricUpdate(MetricDefinition):
    """A new version: the whole definition (name may change too)."""

    name: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        return None if name is None else MetricCreate._name(name)


class MetricDeprecate(_Strict):
    message: str | None = Field(None, max_length=1000, description="Why, and what to use instead.")
    replaced_by: str | None = Field(None, description="Id of the metric that replaces this one.")


class MetricVersionPublic(BaseModel):
    metric_id: str
    version: int
    name: str
    definition: MetricDefinition
    created_at: datetime


class MetricPublic(BaseModel):
    id: str
    name: str
    scope: Literal["platform", "tenant"]
    version: int = Field(description="The current version number.")
    definition: MetricDefinition
    deprecated: bool
    deprecated_at: datetime | None = None
    deprecation_message: str | None = None
    replaced_by: str | None = None
    created_at: datetime
    updated_at: datetime
    warning: str | None = Field(None, description="Set when the metric is deprecated.")


class TimeRange(_Strict):
    """`from`/`to`: ISO dates or datetimes, or relative (`-30d`, `-12w`, `mtd`, `ytd`); `to` defaults to now."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: DateSpec | None = Field(None, alias="from", max_length=40)
    date_to: DateSpec | None = Field(None, alias="to", max_length=40)


class MetricQueryRequest(_Strict):
    dimensions: list[str] = Field(default_factory=list, max_length=5, description="Allowed dimensions only.")
    filters: list[dict[str, Any]] = Field(
        default_factory=list, max_length=50, description="Extra property filters (insight filter objects)."
    )
    time_range: TimeRange | None = None
    interval: str | None = Field(None, description="hour, day, week, month, quarter (trends metrics).")
    timezone: str | None = Field(None, description="IANA time zone; the tenant's by default.")
    cohort_id: str | None = Field(None, description="Only people in this cohort.")
    version: int | None = Field(None, ge=1, description="Compute an older version of the definition.")
    refresh: bool = False


class MetricQueryResponse(BaseModel):
    metric: MetricPublic
    version: int
    result: dict[str, Any]
    warning: str | None = None
