"""Checkpoints of the NATS consumers: one row per (stream, durable consumer)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, utcnow


class IngestCheckpoint(Base):
    """Where a consumer stands: the highest stream sequence it acknowledged after a durable insert,
    running totals, its recent throughput and the last error it met."""

    __tablename__ = "ingest_checkpoints"

    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    subjects: Mapped[str] = mapped_column(String(500), default="")
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    events_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_total: Mapped[int] = mapped_column(BigInteger, default=0)
    batches_total: Mapped[int] = mapped_column(BigInteger, default=0)
    throughput: Mapped[float] = mapped_column(Float, default=0.0)
    last_batch_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
