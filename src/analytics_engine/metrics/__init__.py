"""Metric registry: named, versioned metric definitions built on the insight query models."""

from analytics_engine.metrics.service import MetricService, metric_service

__all__ = ["MetricService", "metric_service"]
