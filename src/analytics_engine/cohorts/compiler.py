"""Compile a cohort definition into one ClickHouse SELECT of member distinct_ids.

Pure (no I/O): the caller passes the evaluation moment and the published version of every cohort
the definition references. Values always travel as parameters; property names were validated by
the schema (and are backtick-quoted as well). Each criterion becomes a condition on `distinct_id`
over the tenant's persons, so AND / OR / NOT compose as set operations:

- performed E at least N times      distinct_id IN (SELECT ... GROUP BY distinct_id HAVING count() >= N)
- performed E at most N times       distinct_id NOT IN (... HAVING count() > N)       (includes 0)
- did not perform E                 distinct_id NOT IN (...)
- first performed E in [a, b)       distinct_id IN (... WHERE timestamp < b ... HAVING min(timestamp) >= a)
- person property                   distinct_id IN (SELECT ... FROM person_properties ... HAVING <latest value>)
- member of cohort C                distinct_id IN (SELECT ... FROM cohort_users ... version = <published>)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics_engine.cohorts.schemas import (
    CohortCriterion,
    CountOperator,
    EventCriterion,
    FirstPerformedCriterion,
    Group,
    NotPerformedCriterion,
    PersonPropertyCriterion,
    PropertyFilter,
    PropertyOperator,
    Window,
)
from analytics_engine.properties import path_segments, property_expr
from analytics_engine.warehouse.params import utc_text

TablePath = Callable[[str], str]
NUMERIC = {
    PropertyOperator.gt: ">",
    PropertyOperator.gte: ">=",
    PropertyOperator.lt: "<",
    PropertyOperator.lte: "<=",
}


def value_text(value: Any) -> str:
    """The text a scalar compares as: JSON text for numbers and booleans (`10`, `true`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def window_bounds(window: Window | None, as_of: datetime) -> tuple[datetime | None, datetime | None]:
    """[start, end) of a window at the evaluation moment `as_of`."""
    if window is None:
        return None, None
    if window.last_days is not None:
        return as_of - timedelta(days=window.last_days), as_of
    return window.start, window.end


@dataclass
class Compiler:
    table: TablePath
    tenant_id: str
    as_of: datetime
    cohort_version: Callable[[str], int]
    prefix: str = "c"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params["tenant_id"] = self.tenant_id

    # --- helpers -------------------------------------------------------------------------------
    def param(self, value: Any, type_: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{type_}}}"

    def time_param(self, moment: datetime) -> str:
        return self.param(utc_text(moment), "DateTime64(3, 'UTC')")

    # --- entry points --------------------------------------------------------------------------
    def members_sql(self, group: Group) -> str:
        """SELECT distinct_id of every member (each once)."""
        return (
            f"SELECT distinct_id FROM {self.table('persons')} "
            f"WHERE tenant_id = {{tenant_id:String}} AND {self.group(group)} GROUP BY distinct_id"
        )

    def group(self, group: Group) -> str:
        joiner = " AND " if group.operator == "and" else " OR "
        return "(" + joiner.join(self.criterion(c) for c in group.criteria) + ")"

    def criterion(self, criterion: Any) -> str:
        if isinstance(criterion, Group):
            return self.group(criterion)
        if isinstance(criterion, EventCriterion):
            return self.performed(criterion)
        if isinstance(criterion, NotPerformedCriterion):
            return f"distinct_id NOT IN ({self.event_ids(criterion.event, criterion.window, criterion.properties)})"
        if isinstance(criterion, FirstPerformedCriterion):
            return self.first_performed(criterion)
        if isinstance(criterion, PersonPropertyCriterion):
            return self.person_property(criterion)
        if isinstance(criterion, CohortCriterion):
            version = self.cohort_version(criterion.cohort_id)
            sub = (
                f"SELECT distinct_id FROM {self.table('cohort_users')} WHERE tenant_id = {{tenant_id:String}} "
                f"AND cohort_id = {self.param(criterion.cohort_id, 'String')} "
                f"AND version = {self.param(version, 'UInt32')}"
            )
            return f"distinct_id {'NOT IN' if criterion.negate else 'IN'} ({sub})"
        raise TypeError(f"unknown criterion {type(criterion).__name__}")

    # --- behavioural ---------------------------------------------------------------------------
    def event_ids(
        self,
        event: str,
        window: Window | None,
        properties: list[PropertyFilter],
        having: str = "",
        *,
        end_only: bool = False,
    ) -> str:
        where = ["tenant_id = {tenant_id:String}", f"event = {self.param(event, 'String')}"]
        start, end = window_bounds(window, self.as_of)
        if start is not None and not end_only:
            where.append(f"timestamp >= {self.time_param(start)}")
        if end is not None:
            where.append(f"timestamp < {self.time_param(end)}")
        where.extend(self.event_property(p) for p in properties)
        sql = f"SELECT distinct_id FROM {self.table('events')} WHERE {' AND '.join(where)}"
        # Without a condition on the count, the IN set deduplicates by itself: no GROUP BY needed.
        return f"{sql} GROUP BY distinct_id HAVING {having}" if having else sql

    def performed(self, c: EventCriterion) -> str:
        n = c.count
        if c.operator == CountOperator.at_least:
            if n == 0:
                return "1"
            if n == 1:
                return f"distinct_id IN ({self.event_ids(c.event, c.window, c.properties)})"
            having = f"count() >= {self.param(n, 'UInt64')}"
            return f"distinct_id IN ({self.event_ids(c.event, c.window, c.properties, having)})"
        if c.operator == CountOperator.at_most:
            having = f"count() > {self.param(n, 'UInt64')}"
            return f"distinct_id NOT IN ({self.event_ids(c.event, c.window, c.properties, having)})"
        if n == 0:
            return f"distinct_id NOT IN ({self.event_ids(c.event, c.window, c.properties)})"
        having = f"count() = {self.param(n, 'UInt64')}"
        return f"distinct_id IN ({self.event_ids(c.event, c.window, c.properties, having)})"

    def first_performed(self, c: FirstPerformedCriterion) -> str:
        start, _ = window_bounds(c.window, self.as_of)
        having = f"min(timestamp) >= {self.time_param(start)}" if start is not None else ""
        # Events at or after the window's end cannot be the first one inside it: read only earlier ones.
        sub = self.event_ids(c.event, c.window, c.properties, having, end_only=True)
        return f"distinct_id IN ({sub})"

    # --- properties ----------------------------------------------------------------------------
    def event_property(self, p: PropertyFilter) -> str:
        column = property_expr(p.key)
        return self.compare(p, f"toString({column})", f"{column} IS NOT NULL", missing_matches_negation=True)

    def person_property(self, c: PersonPropertyCriterion) -> str:
        # person_properties keeps the latest raw JSON of each top-level key; a nested path reads
        # its inner keys out of that JSON.
        top, *inner = path_segments(c.key)
        raw = "argMaxMerge(value)"
        if inner:
            keys = ", ".join(self.param(key, "String") for key in inner)
            raw, is_set = f"JSONExtractRaw({raw}, {keys})", f"JSONHas(argMaxMerge(value), {keys})"
        else:
            is_set = ""
        text = f"if(startsWith({raw}, '\"'), JSONExtractString({raw}), {raw})"
        base = (
            f"SELECT distinct_id FROM {self.table('person_properties')} WHERE tenant_id = {{tenant_id:String}} "
            f"AND key = {self.param(top, 'String')} GROUP BY distinct_id"
        )

        def having(condition: str) -> str:
            if is_set and condition:
                return f"{base} HAVING {is_set} AND ({condition})"
            return f"{base} HAVING {is_set or condition}" if is_set or condition else base

        if c.operator == PropertyOperator.is_set:
            return f"distinct_id IN ({having('')})"
        if c.operator == PropertyOperator.is_not_set:
            return f"distinct_id NOT IN ({having('')})"
        if c.operator == PropertyOperator.neq:
            positive = PropertyFilter(key=c.key, operator=PropertyOperator.eq, value=c.value)
            return f"distinct_id NOT IN ({having(self.compare(positive, text, '1'))})"
        return f"distinct_id IN ({having(self.compare(c, text, '1'))})"

    def compare(self, p: PropertyFilter, text: str, is_set: str, *, missing_matches_negation: bool = False) -> str:
        op = p.operator
        if op == PropertyOperator.is_set:
            return is_set
        if op == PropertyOperator.is_not_set:
            return f"NOT ({is_set})"
        if op in NUMERIC:
            return f"ifNull(toFloat64OrNull({text}) {NUMERIC[op]} {self.param(float(p.value), 'Float64')}, 0)"  # type: ignore[arg-type]
        if op == PropertyOperator.contains:
            return f"positionCaseInsensitive({text}, {self.param(value_text(p.value), 'String')}) > 0"
        if op == PropertyOperator.in_:
            values = [value_text(v) for v in p.value]  # type: ignore[union-attr]
            return f"{text} IN {self.param(values, 'Array(String)')}"
        equal = self.equals(p.value, text)
        if op == PropertyOperator.neq:
            return f"NOT ifNull({equal}, 0)"
        return equal

    def equals(self, value: Any, text: str) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"ifNull(toFloat64OrNull({text}) = {self.param(float(value), 'Float64')}, 0)"
        return f"{text} = {self.param(value_text(value), 'String')}"
