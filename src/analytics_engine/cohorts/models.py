"""Metadata tables of cohorts: the definition and the versions of its membership.

`Cohort.current_version` is the latest COMPLETE version: it is set only after that version's rows
are fully in `cohort_users`, so every reader that goes through it sees a whole cohort."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (Index("ix_cohorts_tenant_name", "tenant_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("coh"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str] = mapped_column(String(16), default="dynamic")  # dynamic | static
    definition: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CohortVersion(Base):
    """One evaluation (or upload) of a cohort: `building` while its rows are written, then
    `complete` (published as the cohort's current version) or `failed`."""

    __tablename__ = "cohort_versions"

    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="building")
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    joined: Mapped[int | None] = mapped_column(Integer, default=None)
    left: Mapped[int | None] = mapped_column(Integer, default=None)
    trigger: Mapped[str | None] = mapped_column(String(32), default=None)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
