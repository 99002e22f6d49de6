"""Metadata tables of dashboards: a dashboard (name, dashboard-level filters) and its widgets.

A widget shows either a registry metric (`metric_id`, the metric's current version unless
`metric_version` pins one) or an inline insight query (`query`), drawn as `viz`, at `layout`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class Dashboard(Base):
    __tablename__ = "dashboards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dsh"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Widget(Base):
    __tablename__ = "dashboard_widgets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wdg"))
    dashboard_id: Mapped[str] = mapped_column(ForeignKey("dashboards.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    viz: Mapped[str] = mapped_column(String(32))
    metric_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    metric_version: Mapped[int | None] = mapped_column(Integer, default=None)
    query: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    dimensions: Mapped[list[str]] = mapped_column(default=list)
    layout: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
