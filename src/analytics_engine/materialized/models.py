"""Metadata of materialized properties (Alembic revision 1300_materialized_properties).

`MaterializedColumn` is one column of `events`, shared by every tenant using its (path, type);
`MaterializedProperty` links a tenant to one. A column is read by a tenant's queries only in state
`ready` (its backfill finished); it is dropped from `events` when its last link goes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow

# States of a column: backfilling (added; the job rewriting old parts has not finished), ready
# (served from), failed (the backfill gave up; served from JSON until a create asks again),
# dropping (no tenant uses it; the drop job removes it from `events`).
COLUMN_STATES = ("backfilling", "ready", "failed", "dropping")

# Whether the property rollup's view reads a string column (issue 18 bound, decided at its backfill):
# `rolled_up` (it does: the slot is taken), or why not: `column_cap` (ANALYTICS_PROPERTY_ROLLUP_MAX_COLUMNS
# columns came first), `too_many_values` (over ANALYTICS_PROPERTY_ROLLUP_MAX_VALUES in one tenant, event
# and hour), `backfill_failed`. NULL: not decided yet (backfilling, a number column, or made before 1850).
ROLLUP_STATES = ("rolled_up", "column_cap", "too_many_values", "backfill_failed")


class MaterializedColumn(Base):
    __tablename__ = "materialized_columns"
    __table_args__ = (UniqueConstraint("path", "value_type", name="uq_materialized_columns_path_type"),)

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    path: Mapped[str] = mapped_column(String(600))
    value_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="backfilling")
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Bumped by every backfill request, so a stale job (an earlier request) cannot mark it ready.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    rollup: Mapped[str | None] = mapped_column(String(24), default=None)
    rollup_detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)


class MaterializedProperty(Base):
    __tablename__ = "materialized_properties"
    __table_args__ = (UniqueConstraint("tenant_id", "path", "value_type", name="uq_materialized_properties"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mp"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(600))
    value_type: Mapped[str] = mapped_column(String(16))
    column_name: Mapped[str] = mapped_column(String(80), index=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
