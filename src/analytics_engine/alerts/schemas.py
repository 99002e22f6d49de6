"""Request and response shapes of alert rules: what a rule watches (`source`), its `condition`,
its schedule and notifications; actions (acknowledge, snooze, resolve) and `simulate`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analytics_engine.insights.dates import DateSpec
from analytics_engine.query.guard import MAX_SQL_CHARS
from analytics_engine.reports.schemas import Recipients
from analytics_engine.validation import PatchModel, WarehouseDateTime

AlertState = Literal["ok", "pending", "firing", "resolved", "no_data", "error"]
STATES: tuple[AlertState, ...] = ("ok", "pending", "firing", "resolved", "no_data", "error")
SlaSignal = Literal["ingest_lag_seconds", "rejected_rate", "query_p95_ms", "job_failures"]
JOB_KINDS_DEFAULT = ["sync", "export", "report"]
MIN_EVERY_SECONDS = 60
MAX_EVERY_SECONDS = 7 * 86400


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- what a rule watches ---------------------------------------------------------------------------
class ValueSelector(_Strict):
    """Which value of an insight answer the rule watches. Every source gives a series of points in
    time; the rule judges its newest complete point."""

    series: int = Field(0, ge=0, le=50, description="Trends, engagement, impact: the series' index (0: the first).")
    step: int | None = Field(
        None,
        ge=2,
        le=20,
        description="Funnels: the conversion from the first step to this step (1-based; default the last step).",
    )
    period: int | None = Field(
        None, ge=0, le=36, description="Retention: the share retained at period N (required for retention)."
    )
    include_current: bool = Field(
        False, description="Judge the current, still incomplete bucket too (default: only complete buckets)."
    )


class InsightSource(ValueSelector):
    type: Literal["insight"] = "insight"
    query: dict[str, Any] = Field(
        description="An insight query with `kind` (trends, funnels, retention, engagement, impact). Its date "
        "range is replaced by the history the condition needs."
    )


class MetricSource(ValueSelector):
    type: Literal["metric"] = "metric"
    metric_id: str = Field(min_length=1, max_length=40, description="A registry metric (`/v1/metrics`).")


class SlaSource(_Strict):
    type: Literal["sla"] = "sla"
    signal: SlaSignal = Field(
        description="`ingest_lag_seconds`: p95 of received_at - timestamp of the tenant's events received in "
        "the bucket; `rejected_rate`: rejected / (accepted + rejected) events received in the bucket; "
        "`query_p95_ms`: p95 of the tenant's warehouse statements (this process, last 48 hours); "
        "`job_failures`: the tenant's jobs of `job_kinds` that failed in the bucket."
    )
    interval: Literal["hour", "day"] = "hour"
    job_kinds: list[str] = Field(default_factory=lambda: list(JOB_KINDS_DEFAULT), min_length=1, max_length=10)
    include_current: bool = Field(False, description="Judge the current, still incomplete bucket too.")


class SqlSource(_Strict):
    """A restricted SQL query (`POST /v1/sql`'s rules: one SELECT over the tenant's tables). With
    `time_column` its rows are a series (one point per row, in time order); without, the first row's
    `column` is the one value judged (threshold conditions only)."""

    type: Literal["sql"] = "sql"
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="One SELECT over the tenant tables.")
    column: str = Field(min_length=1, max_length=200, description="The numeric result column watched.")
    time_column: str | None = Field(
        None, max_length=200, description="The result column holding each row's time (makes the rows a series)."
    )
    interval: Literal["hour", "day", "week", "month"] | None = Field(
        None, description="The spacing of `time_column`'s points (default `day` when `time_column` is given)."
    )
    include_current: bool = Field(False, description="Judge the current, still incomplete bucket too.")

    @model_validator(mode="after")
    def _interval_needs_time(self) -> SqlSource:
        if self.interval is not None and self.time_column is None:
            raise ValueError("'interval' needs 'time_column'")
        return self


Source = Annotated[InsightSource | MetricSource | SlaSource | SqlSource, Field(discriminator="type")]


# --- conditions ------------------------------------------------------------------------------------
Direction = Literal["up", "down", "either"]


class ThresholdCondition(_Strict):
    type: Literal["threshold"] = "threshold"
    operator: Literal["above", "below"]
    value: float


class RelativeCondition(_Strict):
    type: Literal["relative"] = "relative"
    compare_to: Literal["previous_period", "week_ago", "year_ago"] = "previous_period"
    direction: Direction = "either"
    by: float = Field(gt=0, description="Breach when the change exceeds this (percent or absolute units).")
    unit: Literal["percent", "absolute"] = "percent"


class AnomalyCondition(_Strict):
    type: Literal["anomaly"] = "anomaly"
    detector: str = Field("auto", max_length=40, description="A detector of analytics_engine.forecasting.")
    sensitivity: float = Field(0.5, ge=0, le=1, description="0: only glaring anomalies ... 1: the slightest.")
    direction: Direction = "either"
    season: int | None = Field(None, ge=1, le=400, description="Points per season (default by interval).")


class ForecastCondition(_Strict):
    type: Literal["forecast"] = "forecast"
    level: Literal[80, 95] = Field(95, description="The forecast interval (percent) the value must stay inside.")
    direction: Direction = "either"
    season: int | None = Field(None, ge=1, le=400, description="Points per season (default by interval).")


Condition = Annotated[
    ThresholdCondition | RelativeCondition | AnomalyCondition | ForecastCondition, Field(discriminator="type")
]


class Notify(Recipients):
    """Where notifications go besides the bus: emails and signed webhooks."""


class RuleBody(_Strict):
    source: Source
    condition: Condition
    pending_periods: int = Field(1, ge=1, le=100, description="Fire after this many breaches in a row.")
    cooldown_seconds: int = Field(
        0, ge=0, le=30 * 86400, description="No new `triggered` notification within this long of the last one."
    )


class AlertCreate(RuleBody):
    name: str = Field(min_length=1, max_length=200)
    every_seconds: int = Field(
        3600, ge=MIN_EVERY_SECONDS, le=MAX_EVERY_SECONDS, description="How often the rule is evaluated."
    )
    notify: Notify = Field(default_factory=Notify)
    enabled: bool = True


class AlertUpdate(PatchModel, _Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    source: Source | None = None
    condition: Condition | None = None
    pending_periods: int | None = Field(None, ge=1, le=100)
    cooldown_seconds: int | None = Field(None, ge=0, le=30 * 86400)
    every_seconds: int | None = Field(None, ge=MIN_EVERY_SECONDS, le=MAX_EVERY_SECONDS)
    notify: Notify | None = None
    enabled: bool | None = None


class Acknowledgement(BaseModel):
    at: datetime
    comment: str


class AlertPublic(BaseModel):
    id: str
    name: str
    source: dict[str, Any]
    condition: dict[str, Any]
    every_seconds: int
    pending_periods: int
    cooldown_seconds: int
    notify: dict[str, Any]
    enabled: bool
    webhook_secret: str = Field(description="HMAC-SHA256 key of the webhook signature header.")
    state: AlertState
    reason: str | None = Field(None, description="Why the rule is in its state (the breach, the error).")
    value: float | None = Field(None, description="The value judged at the last evaluation.")
    breaches: int = Field(description="Breaches in a row so far.")
    last_evaluated_at: datetime | None
    next_evaluation_at: datetime | None
    firing_since: datetime | None = Field(None, description="Set while an incident is open (fired, not resolved).")
    snoozed_until: datetime | None
    acknowledged: Acknowledgement | None = None
    created_at: datetime
    updated_at: datetime


class AlertEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    time: datetime
    kind: str = Field(
        description="`state` (a change of state), `acknowledged`, `snoozed`, `unsnoozed`, `resolved` (by hand), "
        "`notified`, `notification_suppressed`."
    )
    from_state: str | None
    to_state: str | None
    value: float | None
    reason: str | None
    comment: str | None
    details: dict[str, Any]


class AcknowledgeBody(_Strict):
    comment: str = Field(min_length=1, max_length=2000)


class SnoozeBody(_Strict):
    minutes: int | None = Field(None, ge=1, le=90 * 24 * 60, description="Snooze for this long...")
    until: WarehouseDateTime | None = Field(None, description="...or until this time.")
    comment: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _one(self) -> SnoozeBody:
        if (self.minutes is None) == (self.until is None):
            raise ValueError("give either minutes or until (one of them)")
        return self


class ResolveBody(_Strict):
    comment: str | None = Field(None, max_length=2000)


class SimulateRange(_Strict):
    date_from: DateSpec = Field("-30d", max_length=40)
    date_to: DateSpec | None = Field(None, max_length=40)


class SimulateRequest(RuleBody):
    date_range: SimulateRange = Field(default_factory=SimulateRange)


class SimulatedPoint(BaseModel):
    time: datetime
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    score: float | None
    firing: bool


class FiredPoint(BaseModel):
    time: datetime
    value: float | None
    reason: str


class SimulateResponse(BaseModel):
    points: list[SimulatedPoint]
    fired: list[FiredPoint]
