"""The groups of one group type, like the persons list: each key with its events, people, first and
last seen, and its properties (the `$group_set` of its latest `$groupidentify` event). One scan of the
tenant's events through the tenant scope; a materialized `$groups.<type>` column is read when ready."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.filters import GROUP_TYPE, string_expr
from analytics_engine.insights.models import GROUPS_KEY, MAX_GROUP_TYPES
from analytics_engine.properties import property_expr

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

IDENTIFY_EVENT = "$groupidentify"
GROUP_SET = "$group_set"


class GroupPublic(BaseModel):
    key: str
    events: int = Field(description="Events that carry this group's key (hot tier).")
    people: int = Field(description="Distinct people among them.")
    first_seen: datetime
    last_seen: datetime
    properties: dict[str, Any] = Field(
        default_factory=dict, description="The `$group_set` of the group's latest `$groupidentify` event."
    )


class GroupsPage(BaseModel):
    group_type: str
    groups: list[GroupPublic]
    limit: int
    offset: int
    has_more: bool


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class GroupService:
    def __init__(self, runtime: Runtime) -> None:
        from analytics_engine.groups.types import GroupTypeService

        self.runtime = runtime
        self.types = GroupTypeService(runtime)  # the tenant's declared group types (groups/types.py)

    def list(
        self, tenant_id: str, group_type: str, *, search: str | None = None, limit: int = 100, offset: int = 0
    ) -> GroupsPage:
        if not GROUP_TYPE.match(group_type):
            raise InvalidInput("a group type is a letter or '_' then letters, digits or '_' (at most 40)")
        declared = [t.group_type for t in self.types.list(tenant_id)]
        if group_type not in declared and len(declared) >= MAX_GROUP_TYPES:
            # Over the limit of 5: its keys are stored but group analytics ignore them (groups/types.py).
            raise InvalidInput(
                f"group type {group_type!r} is not declared for this tenant (declared: {', '.join(declared)}; "
                f"at most {MAX_GROUP_TYPES})",
                code="undeclared_group_type",
                details={"group_types": [group_type], "declared": declared},
            )
        path = f"{GROUPS_KEY}.{group_type}"
        column = self.runtime.materialized.ready_columns(tenant_id).get((path, "string"))
        source = column or property_expr(path)
        text = f"ifNull({column}, '')" if column else string_expr(path)
        group_set = f"toJSONString(properties.^`{GROUP_SET}`)"
        where = ["tenant_id = {tenant_id:String}", f"{source} IS NOT NULL"]
        params: dict[str, Any] = {"limit": limit + 1, "offset": offset, "identify": IDENTIFY_EVENT}
        if search:
            where.append("positionCaseInsensitiveUTF8(group_key, {search:String}) > 0")
            params["search"] = search
        sql = (
            f"SELECT {text} AS group_key, count() AS events, uniq(distinct_id) AS people, min(timestamp), "
            f"max(timestamp), argMaxIf({group_set}, timestamp, event = {{identify:String}}) "
            f"FROM {self.runtime.warehouse.table('events')} WHERE {' AND '.join(where)} "
            "GROUP BY group_key ORDER BY max(timestamp) DESC, group_key "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt64}"
        )
        rows = self.runtime.warehouse.for_tenant(tenant_id).query(sql, params).rows
        groups = []
        for key, events, people, first, last, props in rows[:limit]:
            try:
                properties = orjson.loads(props) if props else {}
            except orjson.JSONDecodeError:
                properties = {}
            groups.append(
                GroupPublic(
                    key=str(key),
                    events=int(events),
                    people=int(people),
                    first_seen=_utc(first),
                    last_seen=_utc(last),
                    properties=properties if isinstance(properties, dict) else {},
                )
            )
        return GroupsPage(group_type=group_type, groups=groups, limit=limit, offset=offset, has_more=len(rows) > limit)


__all__ = ["GroupService", "GroupsPage"]
