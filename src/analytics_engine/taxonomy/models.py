"""Metadata of the taxonomy (Alembic revision 1700_taxonomy): what people wrote about an event name
or a property key. Volumes, types and times are not stored here: they come from the warehouse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class TaxonomyEntry(Base):
    __tablename__ = "taxonomy_entries"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "name", name="uq_taxonomy_entries"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tx"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "event" or "property"
    name: Mapped[str] = mapped_column(String(600))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    verified: Mapped[bool] = mapped_column(default=False)
    hidden: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
