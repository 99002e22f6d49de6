"""The taxonomy of one tenant: event names (volumes and first/last day from the rollups), property
keys (types, volumes, first/last seen from `taxonomy_properties`, warehouse migration 1700), what
people wrote about them (metadata table `taxonomy_entries`) and ingestion warnings
(`taxonomy/warnings.py`). Two small reads of derived tables; no scan of `events`."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from analytics_engine.errors import NotFound
from analytics_engine.groups.types import GroupTypeService, limit_warnings, type_of_path
from analytics_engine.metadata.models import utcnow
from analytics_engine.taxonomy.models import TaxonomyEntry
from analytics_engine.taxonomy.schemas import (
    AnnotatedName,
    Annotations,
    AnnotationUpdate,
    EventEntry,
    JsonType,
    PropertyEntry,
    Taxonomy,
    TaxonomyWarning,
    TypeCount,
)
from analytics_engine.taxonomy.warnings import EventFigures, possible_typos, type_changes

if TYPE_CHECKING:
    from analytics_engine.core import Core

Kind = Literal["event", "property"]
MAX_EVENT_NAMES_PER_KEY = 20


def json_type(clickhouse_type: str) -> JsonType:
    """The JSON type behind a type of ClickHouse's JSON column (dates and ids inferred from strings
    are strings: JSON has no other kind of text)."""
    if clickhouse_type in ("Int64", "UInt64", "Float64") or clickhouse_type.startswith(("Int", "UInt", "Float")):
        return "number"
    if clickhouse_type == "Bool":
        return "boolean"
    if clickhouse_type.startswith("Array"):
        return "array"
    if clickhouse_type.startswith(("String", "Date", "UUID", "IPv", "Nullable(String")):
        return "string"
    if clickhouse_type.startswith(("JSON", "Object", "Tuple", "Map")):
        return "object"
    return "other"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TaxonomyService:
    def __init__(self, core: Core) -> None:
        self.core = core

    # --- reads -----------------------------------------------------------------------------------
    def _events(self, tenant_id: str) -> list[EventFigures]:
        rows = (
            self.core.warehouse.for_tenant(tenant_id)
            .query(
                f"SELECT event, sum(events), min(day), max(day) FROM {self.core.warehouse.table('metrics_monthly')} "
                "WHERE tenant_id = {tenant_id:String} GROUP BY event",
                {},
            )
            .rows
        )
        return [EventFigures(str(name), int(volume), first, last) for name, volume, first, last in rows]

    def _properties(self, tenant_id: str) -> list[PropertyEntry]:
        rows = (
            self.core.warehouse.for_tenant(tenant_id)
            .query(
                "SELECT key, type, event, sum(events), min(first_seen), max(last_seen) "
                f"FROM {self.core.warehouse.table('taxonomy_properties')} "
                "WHERE tenant_id = {tenant_id:String} GROUP BY key, type, event",
                {},
            )
            .rows
        )
        by_key: dict[str, list[tuple[JsonType, str, int, datetime, datetime]]] = defaultdict(list)
        for key, type_, event, volume, first, last in rows:
            by_key[str(key)].append((json_type(str(type_)), str(event), int(volume), _utc(first), _utc(last)))
        entries = []
        for key, items in by_key.items():
            per_type: dict[JsonType, list[Any]] = {}
            per_event: dict[str, int] = defaultdict(int)
            for type_, event, volume, _, last in items:
                figures = per_type.setdefault(type_, [0, last])
                figures[0] += volume
                figures[1] = max(figures[1], last)
                per_event[event] += volume
            types = sorted(
                (TypeCount(type=t, events=v, last_seen=at) for t, (v, at) in per_type.items()),
                key=lambda t: (-t.events, t.type),
            )
            entries.append(
                PropertyEntry(
                    key=key,
                    type=types[0].type,
                    types=types,
                    volume=sum(t.events for t in types),
                    event_names=sorted(per_event, key=lambda e: (-per_event[e], e))[:MAX_EVENT_NAMES_PER_KEY],
                    first_seen=min(item[3] for item in items),
                    last_seen=max(item[4] for item in items),
                )
            )
        return sorted(entries, key=lambda p: (-p.volume, p.key))

    def _annotations(self, tenant_id: str) -> dict[tuple[str, str], TaxonomyEntry]:
        with self.core.metadata.session() as session:
            rows = session.scalars(select(TaxonomyEntry).where(TaxonomyEntry.tenant_id == tenant_id)).all()
            session.expunge_all()
        return {(row.kind, row.name): row for row in rows}

    def get(self, tenant_id: str, *, include_hidden: bool = False) -> Taxonomy:
        events = self._events(tenant_id)
        properties = self._properties(tenant_id)
        notes = self._annotations(tenant_id)
        warnings: list[TaxonomyWarning] = [*type_changes(properties), *possible_typos(events)]
        if any(type_of_path(p.key) for p in properties):
            # Group types seen since the last look are registered (at most 5); the others are warned of.
            declared = {t.group_type for t in GroupTypeService(self.core).list(tenant_id)}
            warnings += limit_warnings(properties, declared)

        def notes_of(kind: Kind, name: str) -> dict[str, Any]:
            row = notes.get((kind, name))
            if row is None:
                return {}
            return {
                "description": row.description,
                "tags": list(row.tags),
                "verified": row.verified,
                "hidden": row.hidden,
            }

        event_entries = [
            EventEntry(
                name=e.name,
                volume=e.volume,
                first_seen=e.first_seen,
                last_seen=e.last_seen,
                **notes_of("event", e.name),
            )
            for e in sorted(events, key=lambda e: (-e.volume, e.name))
        ]
        property_entries = [p.model_copy(update=notes_of("property", p.key)) for p in properties]
        if not include_hidden:
            event_entries = [e for e in event_entries if not e.hidden]
            property_entries = [p for p in property_entries if not p.hidden]
            shown = {e.name for e in event_entries} | {p.key for p in property_entries}
            warnings = [w for w in warnings if w.subject in shown]
        return Taxonomy(events=event_entries, properties=property_entries, warnings=warnings)

    # --- edits -----------------------------------------------------------------------------------
    def update(self, tenant_id: str, kind: Kind, name: str, body: AnnotationUpdate) -> AnnotatedName:
        """Set what is given of description, tags, verified and hidden for a name the tenant has sent."""
        known = (
            {e.name for e in self._events(tenant_id)}
            if kind == "event"
            else {p.key for p in self._properties(tenant_id)}
        )
        if name not in known:
            raise NotFound(f"No {kind} {name!r} in this tenant's data.")
        with self.core.metadata.session() as session:
            row = session.scalars(
                select(TaxonomyEntry).where(
                    TaxonomyEntry.tenant_id == tenant_id, TaxonomyEntry.kind == kind, TaxonomyEntry.name == name
                )
            ).one_or_none()
            if row is None:
                row = TaxonomyEntry(tenant_id=tenant_id, kind=kind, name=name, description="", tags=[])
                session.add(row)
            for field, value in body.model_dump(exclude_none=True).items():
                setattr(row, field, value)
            row.updated_at = utcnow()
            session.flush()
            result = AnnotatedName(
                kind=kind,
                name=name,
                description=row.description,
                tags=list(row.tags),
                verified=row.verified,
                hidden=row.hidden,
                updated_at=row.updated_at,
            )
        return result


__all__ = ["Annotations", "TaxonomyService", "json_type"]
