"""Request and response models of budgets and usage. In every limit, 0 means "no limit"."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

LIMIT_NAMES = (
    "max_execution_time",
    "max_rows_to_read",
    "max_bytes_to_read",
    "max_concurrent_queries",
    "query_seconds_per_day",
)


class BudgetLimits(BaseModel):
    """The limits in force for a tenant (0 = no limit)."""

    max_execution_time: float = Field(description="Seconds one query may run.")
    max_rows_to_read: int = Field(description="Rows one query may read.")
    max_bytes_to_read: int = Field(description="Bytes one query may read.")
    max_concurrent_queries: int = Field(description="Queries running at the same time.")
    query_seconds_per_day: float = Field(description="Warehouse seconds per UTC day.")


class BudgetUpdate(BaseModel):
    """PUT body: the tenant's overrides. A field left out or null falls back to the default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"max_concurrent_queries": 2, "query_seconds_per_day": 600}},
    )

    max_execution_time: float | None = Field(None, ge=0, le=86_400)
    max_rows_to_read: int | None = Field(None, ge=0, le=2**62)
    max_bytes_to_read: int | None = Field(None, ge=0, le=2**62)
    max_concurrent_queries: int | None = Field(None, ge=0, le=10_000)
    query_seconds_per_day: float | None = Field(None, ge=0, le=86_400 * 1_000)


class BudgetPublic(BaseModel):
    tenant_id: str
    limits: BudgetLimits = Field(description="What is enforced: overrides over defaults.")
    overrides: dict[str, float | int] = Field(description="The limits the platform admin set for this tenant.")
    defaults: BudgetLimits = Field(description="The service-wide defaults (settings).")
    updated_at: datetime | None = None


class UsageNumbers(BaseModel):
    queries: int = Field(description="Queries run today.")
    rejected: int = Field(description="Queries refused today by the admission gate (429).")
    query_seconds: float = Field(description="Warehouse seconds used today.")
    read_rows: int
    read_bytes: int
    running: int = Field(description="Queries running now (this process).")


class UsageRemaining(BaseModel):
    query_seconds: float | None = Field(description="Seconds left today; null when unlimited.")
    concurrent_queries: int | None = Field(description="More queries that may start now; null when unlimited.")


class UsagePublic(BaseModel):
    tenant_id: str
    day: date = Field(description="The UTC day counted.")
    resets_at: datetime = Field(description="When the daily counters start again (next UTC midnight).")
    usage: UsageNumbers
    limits: BudgetLimits
    remaining: UsageRemaining
