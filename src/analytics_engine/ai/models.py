"""Metadata of AI answers (Alembic revision 1800_ai): each answer of `POST /v1/ai/ask` as given, and
the feedback on it (useful or not, a comment), which feeds prompt evaluation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class AiAnswer(Base):
    __tablename__ = "ai_answers"
    __table_args__ = (Index("ix_ai_answers_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ans"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the whole answer as served
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    useful: Mapped[bool | None] = mapped_column(default=None)
    feedback_comment: Mapped[str | None] = mapped_column(Text, default=None)
    feedback_at: Mapped[datetime | None] = mapped_column(default=None)
