"""Metadata table of annotations (Alembic revision 1810_annotations_embeds)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class Annotation(Base):
    __tablename__ = "annotations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ann"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    __table_args__ = (Index("ix_annotations_tenant_id_date_from", "tenant_id", "date_from"),)
    # None: tenant-wide (every time chart); else only that dashboard's charts.
    # (no foreign key: see revision 1810; DashboardService.delete deletes a dashboard's annotations)
    dashboard_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    content: Mapped[str] = mapped_column(Text)
    date_from: Mapped[datetime] = mapped_column()
    date_to: Mapped[datetime | None] = mapped_column(default=None)  # None: a single moment
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
