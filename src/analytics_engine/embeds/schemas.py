"""The embeds' API shapes: what an admin creates (a dashboard or an insight, locked filters, a
lifetime), what the list shows, and what a viewer's token answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analytics_engine.insights.dates import DateSpec, check_timezone

MAX_LIFETIME_SECONDS = 366 * 86400
DEFAULT_LIFETIME_SECONDS = 30 * 86400


class LockedFilters(BaseModel):
    """Filters fixed by the token: every answer is computed with them and a viewer cannot change or
    remove them (a viewer's property filters are added to them, which only narrows)."""

    model_config = ConfigDict(extra="forbid")

    date_from: DateSpec | None = Field(None, max_length=40, description="Fixed start (ISO or relative: -30d).")
    date_to: DateSpec | None = Field(None, max_length=40, description="Fixed end (with date_from; now when left out).")
    properties: list[dict[str, Any]] = Field(
        default_factory=list, max_length=20, description="Property filters always applied, e.g. one company."
    )
    cohort_id: str | None = Field(None, max_length=40, description="Only people of this cohort.")
    timezone: str | None = Field(None, max_length=64, description="Fixed IANA time zone.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value is not None else None

    @model_validator(mode="after")
    def _range(self) -> LockedFilters:
        if self.date_to and not self.date_from:
            raise ValueError("a locked date_to needs a locked date_from")
        return self

    @property
    def dates(self) -> bool:
        return self.date_from is not None


class EmbedCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dashboard_id": "dsh_1",
                    "title": "Volunteering at Acme",
                    "locked": {"properties": [{"key": "company", "operator": "eq", "value": "acme"}]},
                    "expires_in_seconds": 604800,
                },
                {
                    "insight": {"kind": "trends", "series": [{"event": "signup"}], "interval": "week"},
                    "locked": {"date_from": "-90d"},
                },
            ]
        },
    )

    dashboard_id: str | None = Field(None, max_length=40, description="The one dashboard the token shows.")
    insight: dict[str, Any] | None = Field(None, description="Or the one insight query it shows (any kind).")
    title: str | None = Field(None, max_length=200, description="Shown on the page; the dashboard's name by default.")
    locked: LockedFilters = Field(default_factory=LockedFilters)
    expires_in_seconds: int = Field(
        DEFAULT_LIFETIME_SECONDS, ge=60, le=MAX_LIFETIME_SECONDS, description="Lifetime (1 minute to 366 days)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> EmbedCreate:
        if (self.dashboard_id is None) == (self.insight is None):
            raise ValueError("give exactly one of dashboard_id and insight")
        return self


class EmbedPublic(BaseModel):
    id: str
    kind: Literal["dashboard", "insight"]
    title: str
    dashboard_id: str | None = None
    insight: dict[str, Any] | None = None
    locked: LockedFilters
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class EmbedCreated(EmbedPublic):
    token: str = Field(description="The secret to hand out; shown once (only its id is listed later).")
    url: str = Field(description="The read-only page: `/embed/{token}`.")
    data_url: str = Field(description="Its data as JSON: `/v1/embed/{token}`.")


class ViewerFilters(BaseModel):
    """What the viewer of an embed may choose: a period (unless locked), an interval, and property
    filters that are added to the locked ones (narrowing only)."""

    model_config = ConfigDict(extra="forbid")

    date_from: DateSpec | None = Field(None, max_length=40)
    date_to: DateSpec | None = Field(None, max_length=40)
    interval: Literal["hour", "day", "week", "month", "quarter"] | None = None
    properties: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


class EmbedView(BaseModel):
    kind: Literal["dashboard", "insight"]
    title: str
    expires_at: datetime
    locked: LockedFilters
    dashboard: dict[str, Any] | None = Field(None, description="The dashboard render (as /render answers).")
    insight: dict[str, Any] | None = Field(None, description="The insight answer (as /v1/insights answers).")
