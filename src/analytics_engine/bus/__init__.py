"""The outgoing event bus: one versioned envelope; in-process by default, NATS JetStream by URL."""

from analytics_engine.bus.base import EventBus, InProcessBus, OutgoingEvent, subject_for

__all__ = ["EventBus", "InProcessBus", "OutgoingEvent", "subject_for"]
