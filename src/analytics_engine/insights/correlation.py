"""Funnel correlation: which events and which property values go with converting and which with
dropping off (PostHog's method: odds ratios with a prior of 1, a minimum support, and here a
significance test on the log odds ratio).

Semantics (tests/insights/correlation_reference.py implements them independently; docs/insights.md,
Funnel correlation):
- The people are those who entered the funnel (its rules: the chain, the entry). Success: reached
  the last step; failure: entered but did not.
- An event E (not a step's event, not excluded) goes with a person when they did E strictly after
  their entry and strictly before their conversion (success: the chosen chain's last step) or the
  end of the conversion window from the entry (failure; unordered funnels: the window for both).
- A property value goes with a person when their entry event (the funnel breakdown's rule: the first
  step-1 event in the range, ties the smallest value) has it.
- Per row, a = successes with it, b = failures with it, A and B the totals:
  odds ratio = ((a + 1) / (A - a + 1)) / ((b + 1) / (B - b + 1)); its log over
  sqrt(1/(a+1) + 1/(A-a+1) + 1/(b+1) + 1/(B-b+1)) is z, p = erfc(|z| / sqrt 2). Rows with fewer than
  `min_people` people (a + b) are left out; `significant` is p < alpha.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.filters import PropertyBreakdown, Strict
from analytics_engine.insights.funnels_builder import per_person_sql, window_params
from analytics_engine.insights.models import EVENT_NAME_MAX, FunnelsQuery
from analytics_engine.insights.results import InsightResponse
from analytics_engine.properties import PropertyPath

MAX_PEOPLE_PAGE = 1000
PRIOR = 1
# One statement with the per-person funnel as a materialized CTE where the warehouse allows it
# (`FunnelCorrelationRunner.shares_people`); tests turn it off to check the two-statement form.
SHARE_PEOPLE = True


class CorrelationOptions(Strict):
    properties: list[PropertyPath] = Field(
        default_factory=list, max_length=10, description="Event properties whose entry values are correlated."
    )
    exclude_events: list[str] = Field(default_factory=list, max_length=100, description="Events never correlated.")
    events: bool = Field(True, description="Correlate events (false: only the properties).")
    min_people: int = Field(25, ge=1, le=1_000_000, description="Minimum support: people with the event or value.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the test on the log odds ratio.")
    limit: int = Field(50, ge=1, le=500, description="Rows kept, strongest correlations first.")

    @field_validator("exclude_events")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > EVENT_NAME_MAX:
                raise ValueError(f"event name must be 1-{EVENT_NAME_MAX} characters")
        return value


class CorrelationRow(BaseModel):
    type: Literal["event", "property"]
    event: str | None = None
    property: str | None = None
    value: str | None = None
    success_count: int = Field(description="People who converted and did the event (or had the value).")
    failure_count: int = Field(description="People who dropped off and did the event (or had the value).")
    odds_ratio: float
    p_value: float
    significant: bool
    correlation_type: Literal["success", "failure"]


class CorrelationResult(InsightResponse):
    correlation: list[CorrelationRow] = Field(default_factory=list)


class CorrelationPeoplePage(BaseModel):
    people: list[str]
    status: Literal["converted", "dropped"]
    limit: int
    offset: int
    has_more: bool


def odds(a: int, b: int, success_total: int, failure_total: int) -> tuple[float, float]:
    """(odds ratio, two-sided p-value of its log) with a prior of 1 in every cell."""
    cells = (a + PRIOR, success_total - a + PRIOR, b + PRIOR, failure_total - b + PRIOR)
    ratio = (cells[0] / cells[1]) / (cells[2] / cells[3])
    z = math.log(ratio) / math.sqrt(sum(1 / c for c in cells))
    return ratio, math.erfc(abs(z) / math.sqrt(2))


class FunnelCorrelationRunner(InsightRunner[FunnelsQuery]):
    kind = "funnel_correlation"
    result_class = CorrelationResult

    def __init__(self, runtime: Any, tenant: Any, query: FunnelsQuery, options: CorrelationOptions, **kw: Any) -> None:
        # The properties ride on the funnel's breakdown: its per-person value is the entry event's.
        breakdown = [PropertyBreakdown(property=p) for p in options.properties]
        super().__init__(runtime, tenant, query.model_copy(update={"breakdown": breakdown, "interval": None}), **kw)
        self.options = options

    def limit_context(self) -> dict[str, Any]:
        return {"correlation": self.options.model_dump(mode="json")}

    def nested_filters(self) -> list[list[Any]]:
        return [s.filters for s in self.query.steps]

    def cache_range_end(self) -> datetime:
        return self.range.end + timedelta(seconds=self.query.conversion_window.seconds)

    # --- SQL -----------------------------------------------------------------------------------
    def _people(self, params: Any, *, ids: bool = False, values: bool = True) -> str:
        """Per person: success, the window (lo, hi) in epoch ms where events count, and the entry values
        (`values=False`: none, so the funnel reads no properties)."""
        n = len(self.query.steps)
        if not values and self.query.breakdown:
            saved = self.query
            self.query = saved.model_copy(update={"breakdown": []})
            try:
                return self._people(params, ids=ids)
            finally:
                self.query = saved
        window = window_params(self, params)
        conversion = "entry + arraySum(gaps)" if self.query.order != "unordered" else f"entry + {window.overall}"
        people = per_person_sql(self, params, ids=ids, window=window)
        return (
            f"SELECT person, reached = {n} AS success, entry AS lo, "
            f"if(success, {conversion}, entry + {window.overall}) AS hi, bd FROM ({people})"
        )

    def _events_source(self, params: Any, *, ids: bool = False) -> str:
        key = self.unit_id() if ids else self.unit_key()
        where = self.base_where(
            params,
            [],
            start=self.range.start,
            end=self.range.end + timedelta(seconds=self.query.conversion_window.seconds),
        )
        skipped = sorted({s.event for s in self.query.steps} | set(self.options.exclude_events))
        where.append(f"event NOT IN {params.add(skipped, 'Array(String)')}")
        return (
            f"SELECT {key} AS person, event, toUnixTimestamp64Milli(timestamp) AS ms FROM {self.events} "
            f"WHERE {' AND '.join(where)}"
        )

    def shares_people(self) -> bool:
        """One statement instead of two: the per-person funnel computed once into a materialized CTE
        (`enable_materialized_cte`, ClickHouse 26.x: the embedded chDB >= 4.4 pinned by this project) and
        read by both parts; a ClickHouse server (whose version we do not know) gets the two statements."""
        warehouse = self.runtime.warehouse
        return bool(SHARE_PEOPLE and self.options.events and warehouse.embedded and not warehouse.cluster)

    def to_sql(self) -> list[SQL]:
        """The funnel's per-person rows (`people`: success, window, entry values) read twice: for the
        totals and the people per entry property value (a GROUPING SETS row per (property, value) and one
        for all), and for the events (the join of the tenant's other events with the people's windows).
        Embedded: one statement, `people` a materialized CTE (computed once; the two parts' rows told
        apart by their first column). Otherwise two statements side by side, each computing `people`."""
        params = self.new_params()
        shared = self.shares_people()
        source = "p" if shared else f"({self._people(params)})"
        # A person is one row of `people`, so per (property, value) the people are counted by rows; the
        # everyone row counts each person's first value row alone (k <= 1: LEFT ARRAY JOIN gives a person
        # without values one row with k = 0).
        values = (
            "SELECT toUInt8(0) AS part, toUInt8(grouping(k)) AS everyone, toUInt32(k) AS k, toString(v) AS v, "
            "if(everyone = 1, countIf(success AND k <= 1), countIf(success)) AS a, "
            "if(everyone = 1, countIf(NOT success AND k <= 1), countIf(NOT success)) AS b "
            f"FROM {source} LEFT ARRAY JOIN arrayEnumerate(bd) AS k, bd AS v "
            "GROUP BY GROUPING SETS ((k, v), ())"
        )
        if not self.options.events:
            return [SQL("people", values, params.values)]
        if not shared:
            statements = [SQL("people", values, params.values)]
            params = self.new_params()
        right = "p" if shared else f"({self._people(params, values=False)})"
        # Each person's first event of a kind in the window counts; events at or past the window's edges
        # are left out by the join's filter. The right side (one row per person) only needs the window:
        # without the entry values the funnel reads no properties.
        events = (
            "SELECT toUInt8(1) AS part, toUInt8(0) AS everyone, toUInt32(0) AS k, toString(e.event) AS v, "
            "uniqExactIf(e.person, p.success) AS a, uniqExactIf(e.person, NOT p.success) AS b "
            f"FROM ({self._events_source(params)}) AS e INNER JOIN {right} AS p ON e.person = p.person "
            "WHERE e.ms > p.lo AND e.ms < p.hi GROUP BY e.event"
        )
        if shared:
            text = f"WITH p AS MATERIALIZED ({self._people(params)}) {values} UNION ALL {events}"
            return [SQL("correlation", text, params.values, settings={"enable_materialized_cte": 1})]
        statements.append(SQL("events", events, params.values))
        return statements

    # --- answer --------------------------------------------------------------------------------
    def calculate(self, executor: Executor) -> InsightResponse:
        rows_by_part: dict[int, list[Any]] = {0: [], 1: []}
        for result in executor.run_all(self.to_sql()):
            for row in result.rows:
                rows_by_part[int(row[0])].append(row[1:])
        people_rows, event_rows = rows_by_part[0], rows_by_part[1]
        success_total, failure_total = next(((int(a), int(b)) for one, _, _, a, b in people_rows if one), (0, 0))
        rows: list[CorrelationRow] = []
        skipped = 0

        def add(kind: Literal["event", "property"], a: int, b: int, **fields: Any) -> None:
            nonlocal skipped
            if a + b < self.options.min_people:
                skipped += 1
                return
            ratio, p_value = odds(a, b, success_total, failure_total)
            rows.append(
                CorrelationRow(
                    type=kind,
                    success_count=a,
                    failure_count=b,
                    odds_ratio=round(ratio, 6),
                    p_value=round(p_value, 6),
                    significant=p_value < self.options.alpha,
                    correlation_type="success" if ratio > 1 else "failure",
                    **fields,
                )
            )

        for _, _, event, a, b in event_rows:
            add("event", int(a), int(b), event=event)
        for everyone, index, value, a, b in people_rows:
            if everyone or not index:  # the totals row; a funnel without properties has no values
                continue
            add("property", int(a), int(b), property=self.options.properties[int(index) - 1], value=value)
        rows.sort(key=lambda r: (-abs(math.log(r.odds_ratio)), r.type, r.event or r.property or "", r.value or ""))
        totals = {
            "success": success_total,
            "failure": failure_total,
            "entered": success_total + failure_total,
            "rows": len(rows),
            "below_min_people": skipped,
        }
        return self.response(totals=totals, correlation=rows[: self.options.limit])

    # --- people ----------------------------------------------------------------------------------
    def correlation_people(
        self,
        status: Literal["converted", "dropped"],
        *,
        event: str | None = None,
        prop: str | None = None,
        value: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> CorrelationPeoplePage:
        """The people behind one row: who converted (or dropped off) and did `event` within their window,
        or had `value` of property `prop` on their entry event; by distinct id, paged."""
        if (event is None) == (prop is None):
            raise InvalidInput("give either event or property (with value)", code="invalid_query")
        if prop is not None and (value is None or prop not in self.options.properties):
            raise InvalidInput("property needs a value and must be one of the query's properties", code="invalid_query")
        if not 1 <= limit <= MAX_PEOPLE_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_PEOPLE_PAGE} and offset >= 0", code="invalid_query")
        self.resolve_cohorts()
        self.resolve_materialized()
        params = self.new_params()
        people = self._people(params, ids=True)
        wanted = "p.success" if status == "converted" else "NOT p.success"
        if event is not None:
            source = self._events_source(params, ids=True)
            text = (
                f"SELECT DISTINCT e.person FROM ({source}) AS e INNER JOIN ({people}) AS p ON e.person = p.person "
                f"WHERE e.ms > p.lo AND e.ms < p.hi AND e.event = {params.add(event, 'String')} AND {wanted}"
            )
        else:
            index = self.options.properties.index(prop or "") + 1
            text = (
                f"SELECT p.person FROM ({people}) AS p WHERE p.bd[{index}] = {params.add(value, 'String')} AND {wanted}"
            )
        text += f" ORDER BY 1 LIMIT {int(limit) + 1} OFFSET {int(offset)}"
        rows = Executor(self.runtime, self.tenant.tenant_id).run(SQL("people", text, params.values)).rows
        found = [row[0] for row in rows]
        return CorrelationPeoplePage(
            people=found[:limit], status=status, limit=limit, offset=offset, has_more=len(found) > limit
        )
