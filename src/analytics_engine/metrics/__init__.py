"""Metric registry: named, versioned metric definitions built on the insight query models."""

from analytics_engine.metrics.service import MetricService

__all__ = ["MetricService"]
