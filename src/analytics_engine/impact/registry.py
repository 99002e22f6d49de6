"""The formula registry: immutable SROI and VIS versions in the metadata database.

Version 1 of each kind is the built-in definition in `formulas.py`, stored on first use. The
platform admin adds versions (number = previous + 1); the version in force at a moment is the
highest whose `effective_from` has passed. Stored versions are never edited."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics_engine.errors import Conflict, InvalidInput, NotFound
from analytics_engine.impact.formulas import BUILTIN, Kind, SroiDefinition, VisDefinition, parse_definition
from analytics_engine.impact.models import ImpactFormula
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow


class FormulaPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Kind
    version: int
    definition: dict[str, Any]
    effective_from: datetime
    note: str | None
    created_at: datetime
    current: bool = Field(False, description="The version in force now.")


class FormulaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    definition: dict[str, Any] = Field(description="A full SROI or VIS definition (see docs/impact.md).")
    effective_from: datetime | None = Field(None, description="When it comes into force (default: now).")
    note: str | None = Field(None, max_length=2000)

    def parsed(self) -> SroiDefinition | VisDefinition:
        try:
            return parse_definition(self.kind, self.definition)
        except ValueError as exc:
            raise InvalidInput(f"Invalid {self.kind} definition: {exc}") from exc


class FormulaRegistry:
    def __init__(self, metadata: MetadataDB) -> None:
        self.metadata = metadata
        self._seeded = False
        self._lock = threading.Lock()

    def ensure_builtin(self) -> None:
        if self._seeded:
            return
        with self._lock:
            for kind, definition in BUILTIN.items():
                try:
                    with self.metadata.session() as session:
                        exists = session.scalar(
                            select(ImpactFormula.id).where(ImpactFormula.kind == kind, ImpactFormula.version == 1)
                        )
                        if exists is None:
                            session.add(
                                ImpactFormula(
                                    kind=kind,
                                    version=1,
                                    definition=definition.model_dump(mode="json"),
                                    effective_from=datetime(2000, 1, 1, tzinfo=UTC),
                                    note="built-in version 1 (docs/impact.md)",
                                    created_at=utcnow(),
                                )
                            )
                except IntegrityError:
                    pass  # another process seeded it first
            self._seeded = True

    def list(self, kind: str | None = None) -> list[FormulaPublic]:
        self.ensure_builtin()
        now = utcnow()
        with self.metadata.session() as session:
            query = select(ImpactFormula).order_by(ImpactFormula.kind, ImpactFormula.version)
            if kind:
                query = query.where(ImpactFormula.kind == kind)
            rows = session.scalars(query).all()
            current = {k: self._current_row(session, k, now).version for k in {r.kind for r in rows}}
            return [
                FormulaPublic.model_validate(r).model_copy(update={"current": current[r.kind] == r.version})
                for r in rows
            ]

    def get(self, kind: str, version: int | None = None) -> tuple[int, SroiDefinition | VisDefinition]:
        """The given version, or the one in force now."""
        self.ensure_builtin()
        with self.metadata.session() as session:
            row: ImpactFormula | None
            if version is None:
                row = self._current_row(session, kind, utcnow())
            else:
                row = session.scalar(
                    select(ImpactFormula).where(ImpactFormula.kind == kind, ImpactFormula.version == version)
                )
                if row is None:
                    raise NotFound(f"No {kind} formula version {version}.")
            return row.version, parse_definition(kind, row.definition)

    @staticmethod
    def _current_row(session: Session, kind: str, now: datetime) -> ImpactFormula:
        row = session.scalar(
            select(ImpactFormula)
            .where(ImpactFormula.kind == kind, ImpactFormula.effective_from <= now)
            .order_by(ImpactFormula.version.desc())
            .limit(1)
        )
        if row is None:
            raise NotFound(f"No {kind} formula in force.")
        return row

    def next_version(self, kind: str) -> int:
        self.ensure_builtin()
        with self.metadata.session() as session:
            latest = session.scalar(select(func.max(ImpactFormula.version)).where(ImpactFormula.kind == kind))
            return int(latest or 0) + 1

    def add(self, body: FormulaCreate) -> FormulaPublic:
        definition = body.parsed()
        version = self.next_version(body.kind)
        try:
            with self.metadata.session() as session:
                row = ImpactFormula(
                    kind=body.kind,
                    version=version,
                    definition=definition.model_dump(mode="json"),
                    effective_from=_utc(body.effective_from) if body.effective_from else utcnow(),
                    note=body.note,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                public = FormulaPublic.model_validate(row)
        except IntegrityError as exc:
            raise Conflict("Another version was added at the same time; try again.") from exc
        current, _ = self.get(body.kind)
        return public.model_copy(update={"current": current == version})


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
