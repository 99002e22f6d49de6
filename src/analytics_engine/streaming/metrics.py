"""Prometheus gauges of the NATS consumers (labels: stream and consumer, a handful per deployment)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LAG = Gauge(
    "analytics_nats_consumer_lag",
    "Stream last sequence minus the consumer's ack floor (messages not yet durably inserted).",
    ["stream", "consumer"],
)
ACKED_SEQUENCE = Gauge(
    "analytics_nats_acked_sequence",
    "Highest stream sequence acknowledged after a durable insert.",
    ["stream", "consumer"],
)
THROUGHPUT = Gauge(
    "analytics_nats_throughput_events_per_second",
    "Events committed per second over the last minute.",
    ["stream", "consumer"],
)
CONNECTED = Gauge("analytics_nats_connected", "1 while the consumer is connected to NATS.", ["stream", "consumer"])
BATCHES = Counter("analytics_nats_batches_total", "Batches committed by the NATS consumer.", ["stream", "consumer"])
INSERT_FAILURES = Counter(
    "analytics_nats_insert_failures_total", "Batches whose insert failed (messages nak'ed).", ["stream", "consumer"]
)
