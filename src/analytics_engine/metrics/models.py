"""Metadata tables of the metric registry: a metric and its immutable versions.

A metric with `tenant_id` NULL is platform-wide (defined by the platform admin, visible to every
tenant, computed on each tenant's own data); otherwise it is private to its tenant. Every change of
the definition adds a `MetricVersion`; `Metric.current_version` points at the newest one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_tenant_name", "tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("met"))
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    deprecated_at: Mapped[datetime | None] = mapped_column(default=None)
    deprecation_message: Mapped[str | None] = mapped_column(Text, default=None)
    replaced_by: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MetricVersion(Base):
    __tablename__ = "metric_versions"

    metric_id: Mapped[str] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
