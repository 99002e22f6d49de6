"""Metadata table of embed tokens (Alembic revision 1810_annotations_embeds). The token itself is not
stored: it is `{id}.{expiry}.{signature}`, signed over the row's id, tenant and expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class EmbedToken(Base):
    __tablename__ = "embed_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("emb"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # One of the two: a dashboard (no foreign key, see revision 1810) or an insight query.
    dashboard_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    query: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    title: Mapped[str] = mapped_column(String(200))
    locked: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_key: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
