"""Prometheus metrics of dashboards and live streams (exposed at `/metrics`; no tenant label)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STREAMS_OPEN = Gauge("analytics_dashboard_streams_open", "Open dashboard SSE streams.")
STREAM_MESSAGES = Counter(
    "analytics_dashboard_stream_messages_total", "Messages published to dashboard feeds.", ["event"]
)
STREAM_RESYNCS = Counter(
    "analytics_dashboard_stream_resyncs_total", "Slow clients whose backlog was replaced by a snapshot."
)
REFRESH_SECONDS = Histogram(
    "analytics_dashboard_refresh_seconds",
    "Time to recompute a streamed dashboard after new events.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WIDGETS = Counter(
    "analytics_dashboard_widgets_total", "Widgets rendered, by outcome.", ["outcome"]
)  # cached | computed | stale | pending | error
