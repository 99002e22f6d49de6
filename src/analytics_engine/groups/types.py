"""A tenant's group types (docs/groups.md, "Group types"): company, programme, team... at most
`MAX_GROUP_TYPES` (5), each with a stable index (0-4, PostHog's `group_type_index`), a display name and
a description. Stored in metadata (Alembic revision 1900_group_types).

A type is declared by `POST /v1/groups/types`, or registered on first sight: the types events carried
under `$groups` are read from the taxonomy's `taxonomy_properties` (paths `$groups.<type>`, kept by a
materialized view on every insert, so no scan of `events` and nothing added to the ingest hot path),
and those not yet registered are registered in the order they were first seen (then by name) while
the tenant has fewer than 5. That happens whenever the engine looks at a tenant's groups: listing the
types, the taxonomy, and an insight naming a type it does not know yet. A type seen after the fifth
stays undeclared: its events are stored and count as usual, but group analytics ignore that key (an
insight aggregating by, filtering on or breaking down by it is a 422) and the taxonomy lists a
`group_type_limit` warning with the events that carried it."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.errors import Conflict, InvalidInput, NotFound
from analytics_engine.insights.filters import GROUP_TYPE
from analytics_engine.insights.models import GROUPS_KEY, MAX_GROUP_TYPES
from analytics_engine.metadata.models import Base, new_id, utcnow

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.taxonomy.schemas import PropertyEntry, TaxonomyWarning

log = structlog.get_logger(__name__)

# `/v1/groups/types` is the list of types, so no group type may be called that.
RESERVED = frozenset({"types"})
Source = Literal["declared", "auto"]


class GroupTypeRow(Base):
    __tablename__ = "group_types"
    __table_args__ = (
        UniqueConstraint("tenant_id", "group_type", name="uq_group_types_type"),
        UniqueConstraint("tenant_id", "group_type_index", name="uq_group_types_index"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("gt"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    group_type: Mapped[str] = mapped_column(String(40))
    group_type_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))  # "declared" (API) or "auto" (first sight)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def check_group_type(value: str) -> str:
    if not GROUP_TYPE.match(value):
        raise ValueError("a group type is a letter or '_' then letters, digits or '_' (at most 40)")
    if value in RESERVED:
        raise ValueError(f"{value!r} is reserved (the path /v1/groups/types)")
    return value


class GroupTypeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"group_type": "company", "name": "Companies", "description": "Employers of volunteers"}]
        },
    )

    group_type: str = Field(description="The key events carry under `$groups`, e.g. `company`.")
    name: str | None = Field(None, min_length=1, max_length=200, description="Display name; default the key.")
    description: str = Field("", max_length=2000)

    _type = field_validator("group_type")(classmethod(lambda cls, v: check_group_type(v)))


class GroupTypeUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Employers", "description": "Companies we serve"}]}
    )

    name: str | None = Field(None, min_length=1, max_length=200, description="New display name.")
    description: str | None = Field(None, max_length=2000)


class GroupTypePublic(BaseModel):
    group_type: str = Field(description="The key events carry under `$groups` (never changes).")
    group_type_index: int = Field(description="Stable index 0-4, in the order types were declared or first seen.")
    name: str
    description: str
    source: Source = Field(description="`declared` through the API, or `auto`: registered on first sight.")
    created_at: datetime
    updated_at: datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _public(row: GroupTypeRow) -> GroupTypePublic:
    return GroupTypePublic(
        group_type=row.group_type,
        group_type_index=row.group_type_index,
        name=row.name,
        description=row.description,
        source="declared" if row.source == "declared" else "auto",
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def type_of_path(key: str) -> str | None:
    """The group type of a property path `$groups.<type>`, None for other paths or malformed types."""
    prefix = GROUPS_KEY + "."
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if not GROUP_TYPE.match(name) or name in RESERVED:
        return None
    return name


def limit_warnings(properties: list[PropertyEntry], declared: set[str]) -> list[TaxonomyWarning]:
    """`group_type_limit` warnings: the `$groups.<type>` keys events carried whose type is not
    declared (the tenant had 5 already when it was first seen), with the events concerned."""
    from analytics_engine.taxonomy.schemas import TaxonomyWarning

    found = []
    for prop in properties:
        name = type_of_path(prop.key)
        if name is None or name in declared:
            continue
        found.append(
            TaxonomyWarning(
                kind="group_type_limit",
                subject=prop.key,
                message=(
                    f"group type {name!r} is not declared (a tenant has at most {MAX_GROUP_TYPES}): its events "
                    "are stored, but group analytics ignore this key"
                ),
                count=prop.volume,
                details={"group_type": name, "max_group_types": MAX_GROUP_TYPES, "first_seen": prop.first_seen},
            )
        )
    return sorted(found, key=lambda w: (-w.count, w.subject))


class GroupTypeService:
    def __init__(self, core: Core) -> None:
        self.core = core

    # --- reads -------------------------------------------------------------------------------------
    def _rows(self, tenant_id: str) -> builtins.list[GroupTypePublic]:
        with self.core.metadata.session() as session:
            rows = session.scalars(
                select(GroupTypeRow).where(GroupTypeRow.tenant_id == tenant_id).order_by(GroupTypeRow.group_type_index)
            ).all()
            return [_public(row) for row in rows]

    def seen(self, tenant_id: str) -> builtins.list[tuple[str, datetime, int]]:
        """(type, first seen, events) of every group type events carried, first seen first."""
        rows = (
            self.core.warehouse.for_tenant(tenant_id)
            .query(
                "SELECT key, min(first_seen), sum(events) "
                f"FROM {self.core.warehouse.table('taxonomy_properties')} "
                "WHERE tenant_id = {tenant_id:String} AND startsWith(key, {prefix:String}) GROUP BY key",
                {"prefix": GROUPS_KEY + "."},
            )
            .rows
        )
        seen: dict[str, tuple[datetime, int]] = {}
        for key, first, events in rows:
            name = type_of_path(str(key))
            if name is None:
                continue
            before = seen.get(name)
            first = _aware(first)
            seen[name] = (min(first, before[0]), before[1] + int(events)) if before else (first, int(events))
        return sorted(((n, f, e) for n, (f, e) in seen.items()), key=lambda item: (item[1], item[0]))

    def list(self, tenant_id: str, *, observe: bool = True) -> builtins.list[GroupTypePublic]:
        """The tenant's group types by index; with `observe`, types first seen in events since the last
        look are registered first (while fewer than 5)."""
        declared = self._rows(tenant_id)
        if not observe:
            return declared
        return self._observe(tenant_id, declared)

    def _observe(self, tenant_id: str, declared: builtins.list[GroupTypePublic]) -> builtins.list[GroupTypePublic]:
        known = {t.group_type for t in declared}
        if len(known) >= MAX_GROUP_TYPES:
            return declared
        new = [name for name, _, _ in self.seen(tenant_id) if name not in known]
        room = MAX_GROUP_TYPES - len(known)
        if not new:
            return declared
        for _attempt in range(2):  # a concurrent registration takes an index first: read again, retry
            try:
                return self._register(tenant_id, new[:room])
            except IntegrityError:
                declared = self._rows(tenant_id)
                known = {t.group_type for t in declared}
                new = [name for name in new if name not in known]
                room = MAX_GROUP_TYPES - len(known)
                if not new or room <= 0:
                    return declared
        # Still refused (a tenant id the metadata does not hold: library use without a tenant row):
        # answer with the types as they would be registered, without storing them.
        log.warning("group_types.not_stored", tenant_id=tenant_id, types=new[:room])
        now = datetime.now(UTC)
        used = {t.group_type_index for t in declared}
        free = [i for i in range(MAX_GROUP_TYPES) if i not in used]
        virtual = [
            GroupTypePublic(
                group_type=name,
                group_type_index=index,
                name=name,
                description="",
                source="auto",
                created_at=now,
                updated_at=now,
            )
            for name, index in zip(new[:room], free, strict=False)
        ]
        return sorted([*declared, *virtual], key=lambda t: t.group_type_index)

    def _register(self, tenant_id: str, names: builtins.list[str]) -> builtins.list[GroupTypePublic]:
        with self.core.metadata.session() as session:
            rows = session.scalars(select(GroupTypeRow).where(GroupTypeRow.tenant_id == tenant_id)).all()
            known = {row.group_type for row in rows}
            used = {row.group_type_index for row in rows}
            free = [i for i in range(MAX_GROUP_TYPES) if i not in used]
            for name, index in zip([n for n in names if n not in known], free, strict=False):
                session.add(
                    GroupTypeRow(
                        tenant_id=tenant_id,
                        group_type=name,
                        group_type_index=index,
                        name=name,
                        description="",
                        source="auto",
                    )
                )
            session.flush()
        log.info("group_types.registered", tenant_id=tenant_id, group_types=names)
        return self._rows(tenant_id)

    def require(self, tenant_id: str, names: set[str]) -> None:
        """Refuse (422) an insight naming a group type the tenant has not declared, after registering
        the types first seen since the last look."""
        if not names:
            return
        types = self._rows(tenant_id)
        if not names - {t.group_type for t in types}:
            return
        types = self._observe(tenant_id, types)
        missing = sorted(names - {t.group_type for t in types})
        if missing:
            declared = [t.group_type for t in types]
            raise InvalidInput(
                f"group type {missing[0]!r} is not declared for this tenant (declared: "
                f"{', '.join(declared) or 'none'}; at most {MAX_GROUP_TYPES}, see /v1/groups/types)",
                code="undeclared_group_type",
                details={"group_types": missing, "declared": declared},
            )

    # --- changes -----------------------------------------------------------------------------------
    def declare(self, tenant_id: str, body: GroupTypeCreate) -> GroupTypePublic:
        """A new type at the lowest free index; 409 when it exists or the tenant has 5 already."""
        types = self._observe(tenant_id, self._rows(tenant_id))
        if any(t.group_type == body.group_type for t in types):
            raise Conflict(f"group type {body.group_type!r} is already declared", code="group_type_exists")
        if len(types) >= MAX_GROUP_TYPES:
            raise Conflict(
                f"a tenant has at most {MAX_GROUP_TYPES} group types ({', '.join(t.group_type for t in types)})",
                code="group_type_limit",
            )
        used = {t.group_type_index for t in types}
        index = min(i for i in range(MAX_GROUP_TYPES) if i not in used)
        try:
            with self.core.metadata.session() as session:
                session.add(
                    GroupTypeRow(
                        tenant_id=tenant_id,
                        group_type=body.group_type,
                        group_type_index=index,
                        name=body.name or body.group_type,
                        description=body.description,
                        source="declared",
                    )
                )
                session.flush()
        except IntegrityError:
            raise Conflict("group types changed at the same time; try again", code="group_type_conflict") from None
        return self.get(tenant_id, body.group_type)

    def get(self, tenant_id: str, group_type: str) -> GroupTypePublic:
        for item in self._rows(tenant_id):
            if item.group_type == group_type:
                return item
        raise NotFound(f"No group type {group_type!r} declared for this tenant.")

    def update(self, tenant_id: str, group_type: str, body: GroupTypeUpdate) -> GroupTypePublic:
        """Rename (display name) or describe a type; its key and index never change."""
        with self.core.metadata.session() as session:
            row = session.scalars(
                select(GroupTypeRow).where(GroupTypeRow.tenant_id == tenant_id, GroupTypeRow.group_type == group_type)
            ).one_or_none()
            if row is None:
                raise NotFound(f"No group type {group_type!r} declared for this tenant.")
            for field, value in body.model_dump(exclude_none=True).items():
                setattr(row, field, value)
            row.updated_at = utcnow()
            session.flush()
            return _public(row)


__all__ = [
    "GroupTypeCreate",
    "GroupTypePublic",
    "GroupTypeService",
    "GroupTypeUpdate",
    "limit_warnings",
    "type_of_path",
]
