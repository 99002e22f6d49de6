"""Metadata tables of query budgets: the admin's per-tenant overrides, and usage per tenant per day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, utcnow


class TenantBudget(Base):
    """Overrides set by the platform admin; a NULL column means "the default from settings"."""

    __tablename__ = "tenant_budgets"

    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    max_execution_time: Mapped[float | None] = mapped_column(Float, default=None)
    max_rows_to_read: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_bytes_to_read: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_concurrent_queries: Mapped[int | None] = mapped_column(Integer, default=None)
    query_seconds_per_day: Mapped[float | None] = mapped_column(Float, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantUsage(Base):
    """What one tenant consumed on one UTC day (flushed from in-memory counters)."""

    __tablename__ = "tenant_query_usage"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    query_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    read_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    read_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
