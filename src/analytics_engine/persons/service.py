"""Persons: per tenant and distinct_id, first and last seen and the latest value of each property.

The warehouse keeps them current: materialized views on `events` feed `persons` (min/max timestamp,
events received) and `person_properties` (argMax(value, timestamp) state per top-level key). Rows of
one person merge in the background, so reads aggregate (min/max/sum, argMaxMerge).
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field

from analytics_engine.cohorts.compiler import Compiler
from analytics_engine.cohorts.schemas import PersonPropertyCriterion, PropertyFilter
from analytics_engine.errors import NotFound
from analytics_engine.warehouse.scoped import TenantScope

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


class PersonPublic(BaseModel):
    distinct_id: str
    first_seen: datetime
    last_seen: datetime
    event_count: int = Field(description="Events received for this person (duplicates merged later included).")
    properties: dict[str, Any] = Field(description="The latest value of each top-level property.")


class PersonEvent(BaseModel):
    event: str
    timestamp: datetime
    properties: dict[str, Any]


class PersonsPage(BaseModel):
    results: list[PersonPublic]
    limit: int
    offset: int
    has_more: bool


def as_utc(moment: datetime) -> datetime:
    """Warehouse times are UTC; some drivers hand them back without a zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


class PersonService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.warehouse = runtime.warehouse

    def scope(self, tenant_id: str) -> TenantScope:
        scope: TenantScope = self.warehouse.for_tenant(tenant_id)
        return scope

    def get(self, tenant_id: str, distinct_id: str) -> PersonPublic:
        people = self._fetch(tenant_id, [distinct_id])
        if not people:
            raise NotFound(f"No person with distinct_id {distinct_id!r}.")
        return people[0]

    def events(self, tenant_id: str, distinct_id: str, limit: int = 50) -> builtins.list[PersonEvent]:
        """This person's most recent events, newest first."""
        scope = self.scope(tenant_id)
        rows = scope.query(
            f"SELECT event, timestamp, toJSONString(properties) FROM {self.warehouse.table('events')} "
            "WHERE tenant_id = {tenant_id:String} AND distinct_id = {id:String} "
            "ORDER BY timestamp DESC LIMIT {limit:UInt32}",
            {"id": distinct_id, "limit": limit},
        ).rows
        return [
            PersonEvent(event=str(event), timestamp=as_utc(moment), properties=orjson.loads(raw or "{}"))
            for event, moment, raw in rows
        ]

    def list(
        self,
        tenant_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        search: str | None = None,
        filters: list[PropertyFilter] | None = None,
        cohort_id: str | None = None,
        seen_after: datetime | None = None,
        seen_before: datetime | None = None,
    ) -> PersonsPage:
        """Newest activity first; `filters` apply to the latest property values (all must hold)."""
        compiler = Compiler(self.warehouse.table, tenant_id, datetime.now(UTC), lambda _: 0, prefix="pf")
        where = ["tenant_id = {tenant_id:String}"]
        if search:
            where.append(f"positionCaseInsensitive(distinct_id, {compiler.param(search, 'String')}) > 0")
        for item in filters or []:
            where.append(compiler.person_property(PersonPropertyCriterion(**item.model_dump())))
        params = dict(compiler.params)
        if cohort_id:
            from analytics_engine.cohorts.filters import cohort_condition

            condition, extra = cohort_condition(self.runtime, tenant_id, cohort_id)
            where.append(condition)
            params.update(extra)
        having = []
        if seen_after is not None:
            having.append(f"max(last_seen) >= {compiler.time_param(seen_after)}")
        if seen_before is not None:
            having.append(f"min(first_seen) < {compiler.time_param(seen_before)}")
        params.update(compiler.params)
        sql = (
            f"SELECT distinct_id, max(last_seen) AS seen FROM {self.warehouse.table('persons')} "
            f"WHERE {' AND '.join(where)} GROUP BY distinct_id "
            + (f"HAVING {' AND '.join(having)} " if having else "")
            + f"ORDER BY seen DESC, distinct_id LIMIT {int(limit) + 1} OFFSET {int(offset)}"
        )
        ids = [row[0] for row in self.scope(tenant_id).query(sql, params).rows]
        people = {p.distinct_id: p for p in self._fetch(tenant_id, ids[:limit])}
        return PersonsPage(
            results=[people[i] for i in ids[:limit] if i in people],
            limit=limit,
            offset=offset,
            has_more=len(ids) > limit,
        )

    def _fetch(self, tenant_id: str, ids: builtins.list[str]) -> builtins.list[PersonPublic]:
        if not ids:
            return []
        scope = self.scope(tenant_id)
        table = self.warehouse.table
        rows = scope.query(
            "SELECT distinct_id, min(first_seen), max(last_seen), sum(event_count) "
            f"FROM {table('persons')} WHERE tenant_id = {{tenant_id:String}} AND distinct_id IN {{ids:Array(String)}} "
            "GROUP BY distinct_id",
            {"ids": ids},
        ).rows
        props: dict[str, dict[str, Any]] = {}
        for distinct_id, key, raw in scope.query(
            f"SELECT distinct_id, key, argMaxMerge(value) FROM {table('person_properties')} "
            "WHERE tenant_id = {tenant_id:String} AND distinct_id IN {ids:Array(String)} "
            "GROUP BY distinct_id, key ORDER BY distinct_id, key",
            {"ids": ids},
        ).rows:
            props.setdefault(distinct_id, {})[key] = parse_value(raw)
        return [
            PersonPublic(
                distinct_id=distinct_id,
                first_seen=as_utc(first),
                last_seen=as_utc(last),
                event_count=int(count),
                properties=props.get(distinct_id, {}),
            )
            for distinct_id, first, last, count in rows
        ]
