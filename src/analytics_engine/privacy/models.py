"""Metadata of erasures (Alembic revision 1600_lifecycle).

`ErasureRequest.progress` is the job's durable state: the subject's ids resolved once (so a restart
after the person's rows are gone still knows whom it erases), the (event, day) buckets the rollups
recompute, and per store the rows found before and after. Once the receipt is written the ids are
dropped from it; the receipt keeps only their SHA-256."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class ErasureRequest(Base):
    __tablename__ = "privacy_erasures"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("er"))
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    selector: Mapped[dict[str, Any]]
    suppress: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    signature: Mapped[str | None] = mapped_column(String(128), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class Suppression(Base):
    """An erased subject whose later events are refused at ingest (by SHA-256 of tenant and id)."""

    __tablename__ = "privacy_suppressions"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erasure_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
