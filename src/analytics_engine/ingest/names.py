"""The tenant's own event names and property keys (with how often each was seen), for pickers in the web
page: recent events only (`days`), most frequent first. A small catalogue read straight from `events`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from analytics_engine.warehouse.scoped import TenantScope

MAX_NAMES = 500


class NameCount(BaseModel):
    name: str
    count: int = Field(description="Events seen with this name (or carrying this property) in the window.")


class EventNames(BaseModel):
    days: int
    events: list[NameCount] = Field(description="Event names, most frequent first.")
    properties: list[NameCount] = Field(description="Property paths (`utm.source` for nested keys).")


def event_names(scope: TenantScope, days: int, event: str | None = None) -> EventNames:
    """Names of the last `days` days; `event` limits the property keys to that event's."""
    table = scope.table("events")
    window = "tenant_id = {tenant_id:String} AND timestamp >= now64(3) - toIntervalDay({days:UInt32})"
    params: dict[str, object] = {"days": days, "limit": MAX_NAMES}
    names = scope.query(
        f"SELECT event, count() AS n FROM {table} WHERE {window} "
        "GROUP BY event ORDER BY n DESC, event LIMIT {limit:UInt32}",
        params,
    ).rows
    keyed = window
    if event:
        keyed += " AND event = {event:String}"
        params["event"] = event
    keys = scope.query(
        f"SELECT arrayJoin(JSONAllPaths(properties)) AS key, count() AS n FROM {table} WHERE {keyed} "
        "GROUP BY key ORDER BY n DESC, key LIMIT {limit:UInt32}",
        params,
    ).rows
    return EventNames(
        days=days,
        events=[NameCount(name=str(name), count=int(n)) for name, n in names],
        properties=[NameCount(name=str(key), count=int(n)) for key, n in keys],
    )
