"""The chart-ready answer every kind returns: series of labelled points, totals, the time zone used,
which path served it (rollup or raw), whether it came from the cache, and the SQL timing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# Part of every cache key: bump when an answer's shape or meaning changes, so cached answers of the
# old shape are never served (2: retention cells in the future are null, totals carry reached/returned).
RESULT_VERSION = 2


class Point(BaseModel):
    label: str
    value: float | None
    bucket: str | None = Field(None, description="Bucket start (local date, or ISO time for hours).")


class Series(BaseModel):
    label: str
    points: list[Point]
    total: float | None = None
    breakdown_value: list[str] | None = None
    compare: Literal["current", "previous"] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class FunnelStepResult(BaseModel):
    step: int
    label: str
    event: str
    count: int
    conversion_from_previous: float
    conversion_from_first: float
    dropped: int = Field(description="Reached the previous step but not this one.")
    median_seconds: float | None = Field(None, description="Median time from the previous step.")
    average_seconds: float | None = None


class FunnelBreakdownResult(BaseModel):
    breakdown_value: list[str] | None
    steps: list[FunnelStepResult]


class RetentionCohort(BaseModel):
    label: str
    date: str
    size: int
    values: list[int | None] = Field(description="People per period; null for a period not yet reached (future).")
    percentages: list[float | None]
    breakdown_value: list[str] | None = None


class Timing(BaseModel):
    sql_ms: float = Field(0.0, description="Warehouse time of all statements, summed (they may run in parallel).")
    queries: int = 0
    total_ms: float = Field(0.0, description="Wall time of the computation.")


class InsightResponse(BaseModel):
    kind: str
    timezone: str
    date_from: datetime
    date_to: datetime
    interval: str | None = None
    served_by: Literal["rollup", "raw"] = "raw"
    cached: bool = False
    computed_at: datetime
    approximate: bool = Field(
        False, description="A unique-user figure is a sketch estimate (rollup, above 500 people in a bucket)."
    )
    timing: Timing = Field(default_factory=Timing)
    series: list[Series] = Field(default_factory=list)
    totals: dict[str, Any] = Field(default_factory=dict)
    funnel: list[FunnelBreakdownResult] | None = None
    retention: list[RetentionCohort] | None = None


class PeoplePage(BaseModel):
    people: list[str]
    step: int
    status: Literal["converted", "dropped"]
    limit: int
    offset: int
    has_more: bool
