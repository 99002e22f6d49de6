"""Cohort definitions as pydantic models: nested AND/OR groups of criteria, discriminated by `type`.

{"type": "group", "operator": "and", "criteria": [
    {"type": "event", "event": "purchase", "operator": "at_least", "count": 2,
     "window": {"last_days": 30}, "properties": [{"key": "plan", "operator": "eq", "value": "pro"}]},
    {"type": "not_performed", "event": "churned", "window": {"last_days": 90}},
    {"type": "group", "operator": "or", "criteria": [
        {"type": "person_property", "key": "country", "operator": "in", "value": ["NO", "SE"]},
        {"type": "cohort", "cohort_id": "coh_...", "negate": false}]}]}
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analytics_engine.properties import PropertyPath
from analytics_engine.validation import PatchModel, WarehouseDateTime

MAX_DEPTH = 5
MAX_CRITERIA = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PropertyOperator(StrEnum):
    eq = "eq"
    neq = "neq"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    contains = "contains"
    in_ = "in"
    is_set = "is_set"
    is_not_set = "is_not_set"


Scalar = str | int | float | bool


class PropertyFilter(_Strict):
    """A condition on one property. `eq`/`neq`/`contains`/`in` compare as text (numbers and booleans
    as their JSON text: `10`, `2.5`, `true`); `gt`/`gte`/`lt`/`lte` compare numbers. `neq` and
    `is_not_set` also match when the property is missing."""

    key: PropertyPath = Field(description="Property path, e.g. `plan` or `utm.source` for a nested key.")
    operator: PropertyOperator = PropertyOperator.eq
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value(self) -> PropertyFilter:
        op = self.operator
        if op in (PropertyOperator.is_set, PropertyOperator.is_not_set):
            self.value = None
        elif op == PropertyOperator.in_:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("operator 'in' needs a non-empty list as value")
        elif op in (PropertyOperator.gt, PropertyOperator.gte, PropertyOperator.lt, PropertyOperator.lte):
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise ValueError(f"operator {op.value!r} needs a number as value")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"operator {op.value!r} needs a single value")
        return self


class Window(_Strict):
    """Either the last `last_days` days before the evaluation, or `[start, end)`."""

    last_days: int | None = Field(None, ge=1, le=3650)
    start: WarehouseDateTime | None = None
    end: WarehouseDateTime | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        if self.last_days is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either last_days or start/end, not both")
        elif self.start is None and self.end is None:
            raise ValueError("give last_days, or start and/or end")
        elif self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class CountOperator(StrEnum):
    at_least = "at_least"
    at_most = "at_most"
    exactly = "exactly"


class EventCriterion(_Strict):
    """Performed `event` (matching `properties`) at least / at most / exactly `count` times in the
    window. `at_most` and `exactly 0` include people who did not perform it at all."""

    type: Literal["event"] = "event"
    event: str = Field(min_length=1, max_length=200)
    operator: CountOperator = CountOperator.at_least
    count: int = Field(1, ge=0, le=1_000_000)
    window: Window | None = None
    properties: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class NotPerformedCriterion(_Strict):
    """Did not perform `event` (matching `properties`) in the window."""

    type: Literal["not_performed"] = "not_performed"
    event: str = Field(min_length=1, max_length=200)
    window: Window | None = None
    properties: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class FirstPerformedCriterion(_Strict):
    """The first time this person performed `event` (matching `properties`) falls in the window."""

    type: Literal["first_performed"] = "first_performed"
    event: str = Field(min_length=1, max_length=200)
    window: Window
    properties: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class PersonPropertyCriterion(PropertyFilter):
    """A condition on the latest value of a person property (from the persons view)."""

    type: Literal["person_property"] = "person_property"


class CohortCriterion(_Strict):
    """Member (or with `negate`, not a member) of another cohort of the same tenant, as of that
    cohort's latest complete version."""

    type: Literal["cohort"] = "cohort"
    cohort_id: str = Field(min_length=1, max_length=40)
    negate: bool = False


class Group(_Strict):
    type: Literal["group"] = "group"
    operator: Literal["and", "or"] = "and"
    criteria: list[Criterion] = Field(min_length=1, max_length=MAX_CRITERIA)


Criterion = Annotated[
    EventCriterion
    | NotPerformedCriterion
    | FirstPerformedCriterion
    | PersonPropertyCriterion
    | CohortCriterion
    | Group,
    Field(discriminator="type"),
]
Group.model_rebuild()


def walk(group: Group, depth: int = 1) -> list[tuple[int, Any]]:
    """Every criterion in the tree with its depth (groups included)."""
    found: list[tuple[int, Any]] = []
    for criterion in group.criteria:
        found.append((depth, criterion))
        if isinstance(criterion, Group):
            found.extend(walk(criterion, depth + 1))
    return found


def check_shape(group: Group) -> None:
    nodes = walk(group)
    if any(depth > MAX_DEPTH for depth, _ in nodes):
        raise ValueError(f"groups nest at most {MAX_DEPTH} levels deep")
    if len(nodes) > MAX_CRITERIA:
        raise ValueError(f"a definition holds at most {MAX_CRITERIA} criteria")


def referenced_cohorts(group: Group) -> set[str]:
    return {c.cohort_id for _, c in walk(group) if isinstance(c, CohortCriterion)}


class CohortKind(StrEnum):
    dynamic = "dynamic"
    static = "static"


class CohortCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    kind: CohortKind = CohortKind.dynamic
    definition: Group | None = Field(None, description="Required for dynamic cohorts.")
    distinct_ids: list[str] | None = Field(None, description="Members of a static cohort.")
    is_active: bool = Field(True, description="Active dynamic cohorts are evaluated on the schedule.")

    @model_validator(mode="after")
    def _kind(self) -> CohortCreate:
        if self.kind == CohortKind.dynamic:
            if self.definition is None:
                raise ValueError("a dynamic cohort needs a definition")
            if self.distinct_ids is not None:
                raise ValueError("distinct_ids belong to static cohorts")
            check_shape(self.definition)
        else:
            if self.definition is not None:
                raise ValueError("a static cohort has no definition (send distinct_ids)")
            self.distinct_ids = self.distinct_ids or []
        return self


class CohortUpdate(PatchModel, _Strict):
    nullable = frozenset({"description"})

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    definition: Group | None = None
    distinct_ids: list[str] | None = Field(None, description="Replace a static cohort's members.")
    is_active: bool | None = None

    @model_validator(mode="after")
    def _shape(self) -> CohortUpdate:
        if self.definition is not None:
            check_shape(self.definition)
        return self


class CohortPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str | None
    kind: CohortKind
    definition: dict[str, Any] | None
    is_active: bool
    current_version: int = Field(description="Latest complete version (0: not evaluated yet).")
    size: int | None
    last_evaluated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CohortVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    state: str
    size: int | None
    joined: int | None
    left: int | None
    trigger: str | None
    job_id: str | None
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None


class EvaluationResult(BaseModel):
    cohort_id: str
    version: int
    previous_version: int
    size: int
    joined: int
    left: int
    duration_ms: int = Field(description="Time to write, compare and publish the version.")
    analysis_ms: int = Field(0, description="Time to store the retention analysis, after the publish.")
    trigger: str


class MembersPage(BaseModel):
    cohort_id: str
    version: int
    distinct_ids: list[str]
    limit: int
    offset: int
    has_more: bool


class AnalysisRow(BaseModel):
    period_start: str
    period_index: int
    users: int
    share: float


class CohortAnalysis(BaseModel):
    cohort_id: str
    version: int = Field(description="The membership version these rows describe (0: none analysed yet).")
    membership_version: int = Field(description="The published membership version.")
    period: Literal["week"] = "week"
    rows: list[AnalysisRow]
