"""Request and answer bodies of /v1/ai (docs/ai.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_QUESTION = 500
MAX_DIMENSIONS = 6


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(Strict):
    date_from: date = Field(description="First local day (inclusive), ISO date.")
    date_to: date = Field(description="Last local day (inclusive), ISO date.")

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        return self

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1


class MetricSpec(Strict):
    kind: Literal["trends", "funnels", "retention"]
    query: dict[str, Any] = Field(
        description="The insight query (docs/insights.md) of that kind; its date range and breakdown are replaced."
    )


class ExplainRequest(Strict):
    metric: MetricSpec | None = None
    metric_id: str | None = Field(None, max_length=100, description="A saved metric (trends, funnels or retention).")
    period: Period
    baseline: Period | None = Field(None, description="Default: the same number of days just before the period.")
    dimensions: list[str] = Field(
        default_factory=list,
        max_length=MAX_DIMENSIONS,
        description="Property keys to decompose over; default: the tenant's busiest string properties (up to 4).",
    )
    timezone: str | None = Field(None, description="IANA time zone of the days; default the tenant's.")
    retention_period: int = Field(1, ge=1, le=35, description="Retention: the period whose return rate is the metric.")
    max_contributors: int = Field(10, ge=1, le=50)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "metric": {"kind": "retention", "query": {"kind": "retention", "period": "week"}},
                    "period": {"date_from": "2026-06-01", "date_to": "2026-06-30"},
                    "baseline": {"date_from": "2026-05-01", "date_to": "2026-05-31"},
                    "dimensions": ["plan", "country", "browser"],
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _one_metric(self) -> ExplainRequest:
        if (self.metric is None) == (self.metric_id is None):
            raise ValueError("give exactly one of metric and metric_id")
        return self


class Evidence(BaseModel):
    id: str
    kind: Literal["insight", "sql", "computation", "catalog"]
    query: dict[str, Any]
    result: dict[str, Any]


class Change(BaseModel):
    baseline: float
    current: float
    absolute: float
    relative: float | None


class Contributor(BaseModel):
    dimension: str
    value: str
    dimensions: list[str]
    values: list[str]
    contribution: float = Field(description="This segment's part of the change (sums to the change per dimension).")
    share: float | None = Field(description="contribution / change (Adtributor's explanatory power).")
    surprise: float = Field(description="Jensen-Shannon term of the segment (bits).")
    mix_effect: float | None = Field(description="Ratios: the part due to the segment's weight changing.")
    rate_effect: float | None = Field(description="Ratios: the part due to the segment's own rate changing.")
    baseline_value: float | None
    current_value: float | None
    baseline_volume: float
    current_volume: float
    evidence_id: str


class ExplainResponse(BaseModel):
    metric: dict[str, Any]
    metric_type: Literal["count", "ratio"]
    period: Period
    baseline: Period
    dimensions: list[str]
    change: Change
    contributors: list[Contributor]
    onset: date | None = Field(description="First day of the detected shift (ruptures), or null.")
    summary: str
    evidence: list[Evidence]


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    offline: bool = Field(False, description="Use the deterministic parser even when an LLM is configured.")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"question": "Why is retention dropping in June?"}]}
    )


class Provenance(BaseModel):
    model: str
    prompt_version: str
    tools: list[str]


class AskResponse(BaseModel):
    id: str
    question: str
    answer: str
    understood: bool = Field(description="False: the question was not parsed; `answer` says what was not understood.")
    charts: list[dict[str, Any]]
    evidence: list[Evidence]
    confidence: float
    provenance: Provenance
    created_at: datetime
    feedback: dict[str, Any] | None = None


class AnswerList(BaseModel):
    answers: list[AskResponse]


class Feedback(Strict):
    useful: bool
    comment: str = Field("", max_length=2000)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"useful": True, "comment": "Spot on: Safari broke in June."}]}
    )
