"""Query models of every insight kind (pydantic v2, discriminated by `kind`).

{"kind": "trends", "series": [{"event": "purchase", "math": "sum", "math_property": "amount"}],
 "interval": "week", "date_range": {"date_from": "-90d"}, "breakdown": ["plan"]}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator

from analytics_engine.insights.dates import DateRange, Interval, check_timezone
from analytics_engine.insights.filters import GROUP_TYPE, Breakdown, Filter, Strict, normalize_breakdowns
from analytics_engine.properties import PropertyPath

MAX_SERIES = 20
MAX_STEPS = 20
MAX_PERIODS = 36
EVENT_NAME_MAX = 200

Math = Literal["total", "unique_users", "per_user_avg", "sum", "avg", "min", "max", "median", "p90", "p95", "p99"]
PROPERTY_MATHS = {"sum", "avg", "min", "max", "median", "p90", "p95", "p99"}
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


def _event_name(value: str | None) -> str | None:
    if value is not None and (not value or len(value) > EVENT_NAME_MAX):
        raise ValueError(f"event name must be 1-{EVENT_NAME_MAX} characters")
    return value


class Duration(Strict):
    value: int = Field(ge=1, le=100_000)
    unit: Literal["second", "minute", "hour", "day", "week"] = "day"

    @property
    def seconds(self) -> int:
        return self.value * _UNIT_SECONDS[self.unit]


GROUPS_KEY = "$groups"
MAX_GROUP_TYPES = 5


class Aggregation(Strict):
    """Count groups instead of people (docs/groups.md): events carry their groups' keys in the property
    `$groups` (`{"$groups": {"company": "acme"}}`); an insight aggregated by `company` treats each
    company as one unit (unique companies, company funnels, company retention) and reads only events
    that carry a company key."""

    group: str = Field(description="Group type: a key of the events' `$groups` property, e.g. `company`.")

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        if not GROUP_TYPE.match(value):
            raise ValueError("a group type is a letter or '_' then letters, digits or '_' (at most 40)")
        return value

    @property
    def path(self) -> str:
        return f"{GROUPS_KEY}.{self.group}"


class InsightBase(Strict):
    date_range: DateRange = Field(default_factory=DateRange)
    timezone: str | None = Field(None, description="IANA time zone; default the tenant's.")
    filters: list[Filter] = Field(default_factory=list, max_length=50, description="Applied to every event read.")
    cohort_id: str | None = Field(None, max_length=100, description="Only members of this cohort.")
    aggregation: Aggregation | None = Field(
        None, description='Count groups instead of people: `{"group": "company"}` (docs/groups.md); null: people.'
    )

    _tz = field_validator("timezone")(classmethod(lambda cls, v: v if v is None else check_timezone(v)))

    def all_filters(self) -> list[Any]:
        from analytics_engine.insights.filters import CohortFilter, PropertyFilter

        extra: list[Any] = [CohortFilter(type="cohort", cohort_id=self.cohort_id)] if self.cohort_id else []
        if self.aggregation is not None:  # aggregated by a group: only events that carry its key
            extra.append(PropertyFilter(type="property", key=self.aggregation.path, operator="is_set"))
        return [*self.filters, *extra]


class WithBreakdown(Strict):
    breakdown: list[Breakdown] = Field(default_factory=list, max_length=3)
    breakdown_limit: int = Field(10, ge=1, le=100, description="Top values kept; the rest go to '$other'.")

    @field_validator("breakdown", mode="before")
    @classmethod
    def _breakdown(cls, value: Any) -> Any:
        return normalize_breakdowns(value)


class TrendSeries(Strict):
    event: str | None = Field(None, description="Event name; null counts every event.")
    filters: list[Filter] = Field(default_factory=list, max_length=50)
    math: Math = "total"
    math_property: PropertyPath | None = None
    label: str | None = Field(None, max_length=200)

    _event = field_validator("event")(classmethod(lambda cls, v: _event_name(v)))

    @model_validator(mode="after")
    def _math(self) -> TrendSeries:
        if self.math in PROPERTY_MATHS:
            if not self.math_property:
                raise ValueError(f"math {self.math!r} needs math_property (a numeric event property)")
        elif self.math_property is not None:
            raise ValueError(f"math {self.math!r} takes no math_property")
        return self


class TrendsQuery(InsightBase, WithBreakdown):
    kind: Literal["trends"] = "trends"
    series: list[TrendSeries] = Field(min_length=1, max_length=MAX_SERIES)
    interval: Interval = "day"
    compare: bool = Field(False, description="Also compute the previous period of the same length.")
    formula: str | None = Field(None, max_length=500, description="Across series: `A / B * 100`.")
    cumulative: bool = False

    @model_validator(mode="after")
    def _formula(self) -> TrendsQuery:
        if self.formula is not None:
            from analytics_engine.insights.formula import parse_formula

            parse_formula(self.formula, len(self.series))
        return self


class FunnelStep(Strict):
    event: str
    filters: list[Filter] = Field(default_factory=list, max_length=50)
    label: str | None = Field(None, max_length=200)
    window: Duration | None = Field(None, description="Most time allowed since the previous step.")

    _event = field_validator("event")(classmethod(lambda cls, v: _event_name(v)))


class FunnelsQuery(InsightBase, WithBreakdown):
    kind: Literal["funnels"] = "funnels"
    steps: list[FunnelStep] = Field(min_length=2, max_length=MAX_STEPS)
    order: Literal["ordered", "strict", "unordered"] = "ordered"
    conversion_window: Duration = Field(default_factory=lambda: Duration(value=14, unit="day"))
    interval: Interval | None = Field(None, description="Also give the conversion rate as a trend by entry bucket.")

    @model_validator(mode="after")
    def _windows(self) -> FunnelsQuery:
        if self.order == "unordered" and any(step.window for step in self.steps):
            raise ValueError("per-step windows need an ordered or strict funnel")
        return self


class EventSpec(Strict):
    event: str | None = Field(None, description="Event name; null: any event.")
    filters: list[Filter] = Field(default_factory=list, max_length=50)

    _event = field_validator("event")(classmethod(lambda cls, v: _event_name(v)))


class RetentionQuery(InsightBase, WithBreakdown):
    kind: Literal["retention"] = "retention"
    start_event: EventSpec = Field(default_factory=EventSpec)
    return_event: EventSpec = Field(default_factory=EventSpec)
    period: Literal["day", "week", "month"] = "week"
    periods: int = Field(8, ge=1, le=MAX_PERIODS, description="Columns of the matrix (period 0 included).")
    start_type: Literal["first_time", "recurring"] = "first_time"


class EngagementQuery(InsightBase):
    kind: Literal["engagement"] = "engagement"
    measure: Literal["active_users", "days_active", "lifecycle"] = "active_users"
    event: str | None = Field(None, description="Event name that counts as activity; null: any event.")
    event_filters: list[Filter] = Field(default_factory=list, max_length=50)
    interval: Literal["day", "week", "month"] = Field(
        "day", description="lifecycle: bucket size; days_active: the period histogrammed (week or month)."
    )

    _event = field_validator("event")(classmethod(lambda cls, v: _event_name(v)))

    @model_validator(mode="after")
    def _interval(self) -> EngagementQuery:
        if self.measure == "days_active" and self.interval == "day":
            self.interval = "week"
        return self


# --- paths (issue 25) -------------------------------------------------------------------------------
MAX_PATH_STEPS = 20
# RE2 (ClickHouse's regex engine) has none of these; Python's `re` accepts them, so they are refused here
# instead of failing in the warehouse: lookarounds, backreferences, atomic groups, possessive quantifiers,
# conditionals.
_RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?>|\(\?\(|\\[1-9]|\\[gk]<|[*+?}]\+")


def check_clean_regex(value: str) -> str:
    """A path-cleaning pattern both Python's `re` and RE2 accept (validated before any SQL runs)."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _RE2_UNSUPPORTED.search(value):
        raise ValueError(
            "regular expression uses a construct the warehouse's RE2 engine does not support "
            "(lookaround, backreference, atomic group, possessive quantifier or conditional)"
        )
    return value


class PathCleaning(Strict):
    """Replace every match of `regex` in an event name by `alias` (`\\1`..`\\9`: the regex's groups)."""

    regex: str = Field(min_length=1, max_length=200, description="RE2 pattern matched against event names.")
    alias: str = Field(max_length=200, description="Replacement text; `\\0`-`\\9` insert the match or a group.")

    _regex = field_validator("regex")(classmethod(lambda cls, v: check_clean_regex(v)))

    @model_validator(mode="after")
    def _groups(self) -> PathCleaning:
        groups = re.compile(self.regex).groups
        for ref in re.findall(r"\\(\d)", self.alias):
            if int(ref) > groups:
                raise ValueError(f"alias refers to group {ref} but the regex has {groups}")
        return self


class PathsQuery(InsightBase):
    kind: Literal["paths"] = "paths"
    start_event: str | None = Field(None, description="Paths begin at each person's first such event.")
    end_event: str | None = Field(
        None, description="Paths lead up to each person's first such event (after the start event, when set)."
    )
    steps: int = Field(5, ge=2, le=MAX_PATH_STEPS, description="Steps (columns) of the paths.")
    include_events: list[str] = Field(
        default_factory=list, max_length=100, description="Only these events make up paths (empty: every event)."
    )
    exclude_events: list[str] = Field(default_factory=list, max_length=100, description="Events left out of paths.")
    path_cleaning: list[PathCleaning] = Field(
        default_factory=list, max_length=20, description="Rules applied in order to event names before paths."
    )
    nodes_per_step: int = Field(
        10, ge=1, le=50, description="Most frequent names kept at each step; the rest fold into '$other'."
    )

    _events = field_validator("start_event", "end_event")(classmethod(lambda cls, v: _event_name(v)))

    @field_validator("include_events", "exclude_events")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            _event_name(name)
        return value


InsightQuery = Annotated[
    TrendsQuery | FunnelsQuery | RetentionQuery | EngagementQuery | PathsQuery, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[TrendsQuery | FunnelsQuery | RetentionQuery | EngagementQuery | PathsQuery] = TypeAdapter(
    InsightQuery
)


def parse_insight_query(
    data: dict[str, Any],
) -> TrendsQuery | FunnelsQuery | RetentionQuery | EngagementQuery | PathsQuery:
    """The query model for a JSON body with `kind` (raises pydantic.ValidationError)."""
    return _ADAPTER.validate_python(data)
