"""Metadata tables of alert rules and their history (Alembic revision 1500_alerts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.models import Base, new_id, utcnow


class AlertRule(Base):
    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_due", "enabled", "next_evaluation_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("alr"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    every_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    pending_periods: Mapped[int] = mapped_column(Integer, default=1)
    cooldown_seconds: Mapped[int] = mapped_column(Integer, default=0)
    notify: Mapped[dict[str, Any]] = mapped_column(default=dict)
    webhook_secret: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(default=True)
    # The evaluation state (alerts/states.py)
    state: Mapped[str] = mapped_column(String(16), default="ok")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    breaches: Mapped[int] = mapped_column(Integer, default=0)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    next_evaluation_at: Mapped[datetime | None] = mapped_column(default=None)
    firing_since: Mapped[datetime | None] = mapped_column(default=None)
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_comment: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertEvent(Base):
    """One row per state change, action (acknowledge, snooze, resolve) and notification."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert_time", "alert_id", "time"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ale"))
    alert_id: Mapped[str] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str | None] = mapped_column(String(16), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
