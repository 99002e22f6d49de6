"""Metadata of the cold tier (Alembic revision 1600_lifecycle): one row per tenant and month file,
and the tiering state of each month partition (exporting -> exported -> dropped -> done)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, utcnow


class ColdFile(Base):
    __tablename__ = "lifecycle_cold_files"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # YYYYMM
    key: Mapped[str] = mapped_column(String(300))  # under the tenant's storage prefix
    rows: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(40))  # groupBitXor(cityHash64(event_id)) as hex
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewritten_at: Mapped[datetime | None] = mapped_column(default=None)


class TieredMonth(Base):
    __tablename__ = "lifecycle_months"

    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
