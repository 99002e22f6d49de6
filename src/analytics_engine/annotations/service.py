"""Annotations of a tenant: create, list, read, change, delete, and the ones in a time range (for
charts). Times are stored UTC; a bare date is read in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from analytics_engine.annotations.models import Annotation
from analytics_engine.annotations.schemas import AnnotationCreate, AnnotationPublic, AnnotationUpdate
from analytics_engine.dashboards.models import Dashboard
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.metadata.models import utcnow

if TYPE_CHECKING:
    from analytics_engine.core import Core

MAX_LIST = 500
# Annotations a chart reads at most (the newest in its range first are kept).
MAX_IN_RANGE = 500


def to_utc(value: datetime | date, timezone: str, *, end: bool = False) -> datetime:
    """A datetime as UTC (naive: UTC); a bare date as midnight in `timezone` (as an end: next midnight)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def public(row: Annotation) -> AnnotationPublic:
    return AnnotationPublic(
        id=row.id,
        content=row.content,
        date_from=row.date_from,
        date_to=row.date_to,
        dashboard_id=row.dashboard_id,
        scope="dashboard" if row.dashboard_id else "tenant",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_range(date_from: datetime, date_to: datetime | None) -> None:
    if date_to is not None and date_to <= date_from:
        raise InvalidInput(
            "date_to is not after date_from (leave date_to out for one moment)",
            details={"errors": [{"loc": ["body", "date_to"], "message": "not after date_from", "type": "value_error"}]},
        )


class AnnotationService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _dashboard(self, session: Session, tenant_id: str, dashboard_id: str) -> None:
        found = session.scalar(
            select(Dashboard.id).where(Dashboard.id == dashboard_id, Dashboard.tenant_id == tenant_id)
        )
        if found is None:
            raise NotFound(f"No dashboard {dashboard_id!r}.")

    def _row(self, session: Session, tenant_id: str, annotation_id: str) -> Annotation:
        row = session.get(Annotation, annotation_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"No annotation {annotation_id!r}.")
        return row

    def create(self, tenant_id: str, timezone: str, body: AnnotationCreate) -> AnnotationPublic:
        date_from = to_utc(body.date_from, timezone)
        date_to = to_utc(body.date_to, timezone, end=True) if body.date_to is not None else None
        _check_range(date_from, date_to)
        with self.core.metadata.session() as session:
            if body.dashboard_id is not None:
                self._dashboard(session, tenant_id, body.dashboard_id)
            row = Annotation(
                tenant_id=tenant_id,
                dashboard_id=body.dashboard_id,
                content=body.content,
                date_from=date_from,
                date_to=date_to,
            )
            session.add(row)
            session.flush()
            return public(row)

    def get(self, tenant_id: str, annotation_id: str) -> AnnotationPublic:
        with self.core.metadata.session() as session:
            return public(self._row(session, tenant_id, annotation_id))

    def update(self, tenant_id: str, timezone: str, annotation_id: str, body: AnnotationUpdate) -> AnnotationPublic:
        with self.core.metadata.session() as session:
            row = self._row(session, tenant_id, annotation_id)
            fields = body.model_fields_set
            if "content" in fields and body.content is not None:
                row.content = body.content
            if "date_from" in fields and body.date_from is not None:
                row.date_from = to_utc(body.date_from, timezone)
            if "date_to" in fields:
                row.date_to = to_utc(body.date_to, timezone, end=True) if body.date_to is not None else None
            _check_range(row.date_from, row.date_to)
            row.updated_at = utcnow()
            session.flush()
            return public(row)

    def delete(self, tenant_id: str, annotation_id: str) -> None:
        with self.core.metadata.session() as session:
            session.delete(self._row(session, tenant_id, annotation_id))

    def find(
        self,
        tenant_id: str,
        *,
        dashboard_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        scope: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AnnotationPublic]:
        """Oldest first. With `dashboard_id`: the tenant-wide ones and that dashboard's (404 for a
        dashboard of another tenant); `start`/`end`: those overlapping `[start, end)`."""
        with self.core.metadata.session() as session:
            statement: Any = select(Annotation).where(Annotation.tenant_id == tenant_id)
            if dashboard_id is not None:
                self._dashboard(session, tenant_id, dashboard_id)
                statement = statement.where(
                    or_(Annotation.dashboard_id.is_(None), Annotation.dashboard_id == dashboard_id)
                )
            if scope == "tenant":
                statement = statement.where(Annotation.dashboard_id.is_(None))
            elif scope == "dashboard":
                statement = statement.where(Annotation.dashboard_id.is_not(None))
            if end is not None:
                statement = statement.where(Annotation.date_from < end)
            if start is not None:
                statement = statement.where(
                    or_(
                        Annotation.date_from >= start,
                        Annotation.date_to > start,
                    )
                )
            statement = statement.order_by(Annotation.date_from, Annotation.id).limit(limit).offset(offset)
            return [public(row) for row in session.scalars(statement)]

    def in_range(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        dashboard_id: str | None = None,
        only_dashboard: bool = False,
    ) -> list[AnnotationPublic]:
        """What a chart over `[start, end)` shows: tenant-wide annotations (and, with `dashboard_id`,
        that dashboard's; `only_dashboard`: only those)."""
        with self.core.metadata.session() as session:
            statement: Any = select(Annotation).where(
                Annotation.tenant_id == tenant_id,
                Annotation.date_from < end,
                or_(Annotation.date_from >= start, Annotation.date_to > start),
            )
            if dashboard_id is None:
                statement = statement.where(Annotation.dashboard_id.is_(None))
            elif only_dashboard:
                statement = statement.where(Annotation.dashboard_id == dashboard_id)
            else:
                statement = statement.where(
                    or_(Annotation.dashboard_id.is_(None), Annotation.dashboard_id == dashboard_id)
                )
            statement = statement.order_by(Annotation.date_from.desc(), Annotation.id).limit(MAX_IN_RANGE)
            return sorted((public(row) for row in session.scalars(statement)), key=lambda a: (a.date_from, a.id))
