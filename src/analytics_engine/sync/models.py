"""Metadata tables of sync: sources declared through the admin API, and one checkpoint per source.

Sources from the YAML file are not stored here (the file is their home); their checkpoints are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, utcnow


class SyncSource(Base):
    """A source declared through `POST /v1/admin/sync/sources` (the spec as JSON)."""

    __tablename__ = "sync_sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncCheckpoint(Base):
    """How far a source has been copied: the cursor of the last committed chunk.

    `in_doubt` is set before a chunk is written and cleared together with the new cursor after it:
    when a run finds it set, the previous run stopped between the two, and rows past `cursor` in the
    target are removed (or, for events, checked against what is stored) before copying resumes."""

    __tablename__ = "sync_checkpoints"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    # updated_at sources are first copied in primary-key order; this is the last (cursor, key) when
    # that copy started, where incremental sync takes over once it is done.
    high_water: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    rows_copied: Mapped[int] = mapped_column(BigInteger, default=0)
    backfill_done: Mapped[bool] = mapped_column(Boolean, default=False)
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    last_job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
