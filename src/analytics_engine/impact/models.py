"""Metadata tables of impact measurement: formula versions, computed results (each recording the
formula version that produced it) and each tenant's event vocabulary. Revision `0900_impact`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class ImpactFormula(Base):
    """One immutable version of the SROI or VIS formula (proxies, weights, defaults)."""

    __tablename__ = "impact_formulas"
    __table_args__ = (UniqueConstraint("kind", "version", name="uq_impact_formulas_kind_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ifm"))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    effective_from: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImpactResult(Base):
    """One computed SROI or VIS figure of a tenant (optionally one programme) over a period."""

    __tablename__ = "impact_results"
    __table_args__ = (Index("ix_impact_results_tenant_kind", "tenant_id", "kind", "computed_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("imr"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    programme: Mapped[str | None] = mapped_column(String(200), default=None)
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    value: Mapped[float | None] = mapped_column(default=None)
    formula_version: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImpactVocabulary(Base):
    """A tenant's remapping of the default impact event and property names."""

    __tablename__ = "impact_vocabularies"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
