"""Request and answer shapes of /v1/materialized-properties."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics_engine.materialized.columns import ValueType
from analytics_engine.properties import PropertyPath

ColumnState = Literal["backfilling", "ready", "failed", "dropping"]
RollupReason = Literal["not_string", "pending", "column_cap", "too_many_values", "backfill_failed"]


class MaterializedPropertyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PropertyPath
    type: ValueType = Field(
        "string",
        description="`string`: equality, `in`, contains, regex, set/unset filters and breakdowns read the "
        "column; `number`: numeric filters (gt, gte, lt, lte, equality with a number) read it.",
    )


class MaterializedPropertyPublic(BaseModel):
    id: str
    path: str
    type: ValueType
    column: str = Field(description="The column of `events` (shared by tenants materializing the same path and type).")
    state: ColumnState = Field(
        description="`ready`: filters and breakdowns on this property read the column; otherwise they read "
        "the JSON properties (same answers) until the backfill finishes."
    )
    job_id: str | None = Field(None, description="The backfill job (`GET /v1/jobs/{id}` for its progress).")
    error: str | None = None
    rolled_up: bool = Field(
        False,
        description="Whether trends filtered or broken down by this property alone may be served by the property "
        "rollup (`served_by: property_rollup`); otherwise they read the column of `events` (same answers).",
    )
    rollup_reason: RollupReason | None = Field(
        None,
        description="Why it is not rolled up: `not_string` (number columns never are), `pending` (not decided: "
        "the backfill has not finished), `column_cap` (the service rolls up at most "
        "ANALYTICS_PROPERTY_ROLLUP_MAX_COLUMNS columns), `too_many_values` (more distinct values in one event "
        "and hour than ANALYTICS_PROPERTY_ROLLUP_MAX_VALUES), `backfill_failed`.",
    )
    rollup_message: str | None = Field(None, description="The reason in words (null when rolled up).")
    source: Literal["manual", "auto"]
    created_at: datetime
    ready_at: datetime | None = None


class MaterializedPropertyList(BaseModel):
    items: list[MaterializedPropertyPublic]
    limit: int = Field(description="Most materialized properties this tenant may have.")


class Suggestion(BaseModel):
    path: str
    type: ValueType
    uses: int = Field(description="Filters, breakdowns and math properties naming it in dashboards and metrics.")
    materialized: bool


class SuggestionList(BaseModel):
    items: list[Suggestion]
    auto: bool = Field(description="Whether `serve` materializes suggestions by itself (ANALYTICS_MATERIALIZED_AUTO).")
    min_uses: int = Field(description="Uses a suggestion needs to be materialized in auto mode.")


class ApplySuggestionsResult(BaseModel):
    created: list[MaterializedPropertyPublic]
    skipped: list[Suggestion] = Field(default_factory=list, description="Suggestions left out by a cap.")
