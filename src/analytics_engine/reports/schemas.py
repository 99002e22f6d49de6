"""Request and response shapes of reports and report runs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analytics_engine.validation import PatchModel

_EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
ReportFormat = Literal["pdf", "xlsx"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportQuery(_Strict):
    """One section of a report: an insight query, or a registry metric."""

    type: Literal["insight", "metric"] = "insight"
    title: str | None = Field(None, max_length=200)
    query: dict[str, Any] = Field(
        default_factory=dict,
        description="`insight`: an insight query (with `kind`). `metric`: metric query options "
        "(dimensions, filters, time_range, interval).",
    )
    metric_id: str | None = Field(None, max_length=40, description="The metric (type `metric`).")

    @model_validator(mode="after")
    def _shape(self) -> ReportQuery:
        if self.type == "metric" and not self.metric_id:
            raise ValueError("a metric section needs metric_id")
        if self.type == "insight" and not self.query.get("kind"):
            raise ValueError("an insight section needs a query with 'kind'")
        return self


class Webhook(_Strict):
    url: str = Field(max_length=2000, description="http(s) URL receiving a signed JSON POST.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a webhook URL must start with http:// or https://")
        return value


class Recipients(_Strict):
    emails: list[str] = Field(default_factory=list, max_length=50)
    webhooks: list[Webhook] = Field(default_factory=list, max_length=10)

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _EMAIL_RE.match(value) or len(value) > 320:
                raise ValueError(f"not an email address: {value[:80]!r}")
        return values


def check_cron(value: str | None) -> str | None:
    if value is not None and not croniter.is_valid(value):
        raise ValueError(f"not a cron expression: {value!r} (e.g. '0 8 * * MON')")
    return value


def check_tz(value: str | None) -> str | None:
    if value is None:
        return value
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception:
        raise ValueError(f"unknown time zone: {value!r}") from None
    return value


class ReportBase(_Strict):
    name: str = Field(min_length=1, max_length=200)
    dashboard_id: str | None = Field(None, max_length=40, description="Report on this dashboard's widgets...")
    queries: list[ReportQuery] = Field(
        default_factory=list, max_length=20, description="...or on these insight/metric sections."
    )
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="Dashboard filters applied to every section: date_from, date_to, properties, cohort_id, "
        "timezone, interval.",
    )
    schedule: str | None = Field(None, description="Cron expression in the report's time zone; null: only on demand.")
    timezone: str | None = Field(None, description="IANA time zone of the schedule (default: the tenant's).")
    formats: list[ReportFormat] = Field(default_factory=lambda: list[ReportFormat](["pdf", "xlsx"]), min_length=1)
    recipients: Recipients = Field(default_factory=Recipients)
    enabled: bool = True

    _cron = field_validator("schedule")(classmethod(lambda cls, v: check_cron(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: check_tz(v)))


class ReportCreate(ReportBase):
    @model_validator(mode="after")
    def _source(self) -> ReportCreate:
        if bool(self.dashboard_id) == bool(self.queries):
            raise ValueError("give either dashboard_id or queries (one of them)")
        return self


class ReportUpdate(PatchModel, _Strict):
    # dashboard_id null: the report runs its queries; schedule null: on demand only; timezone null: the tenant's.
    nullable = frozenset({"dashboard_id", "schedule", "timezone"})

    name: str | None = Field(None, min_length=1, max_length=200)
    dashboard_id: str | None = None
    queries: list[ReportQuery] | None = None
    filters: dict[str, Any] | None = None
    schedule: str | None = None
    timezone: str | None = None
    formats: list[ReportFormat] | None = None
    recipients: Recipients | None = None
    enabled: bool | None = None

    _cron = field_validator("schedule")(classmethod(lambda cls, v: check_cron(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: check_tz(v)))


class ReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    dashboard_id: str | None
    queries: list[dict[str, Any]]
    filters: dict[str, Any]
    schedule: str | None
    timezone: str | None
    formats: list[str]
    recipients: dict[str, Any]
    enabled: bool
    webhook_secret: str = Field(description="HMAC-SHA256 key of the webhook signature header.")
    next_run_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Artifact(BaseModel):
    format: str
    key: str
    bytes: int
    url: str | None = None


class Delivery(BaseModel):
    channel: Literal["email", "webhook"]
    target: str
    ok: bool
    status: int | None = None
    error: str | None = None


class ReportRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    report_id: str
    trigger: str
    status: Literal["running", "succeeded", "partial", "failed"]
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    artifacts: list[Artifact]
    deliveries: list[Delivery]
    error: str | None
