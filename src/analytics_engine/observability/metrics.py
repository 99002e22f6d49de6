"""Prometheus metrics of the service, exposed at `/metrics`. No tenant label: cardinality stays
bounded however many tenants there are."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter("analytics_events_accepted_total", "Events accepted at ingest.", ["source"])
EVENTS_REJECTED = Counter("analytics_events_rejected_total", "Events rejected at ingest.", ["source"])
INGEST_BODIES = Counter(
    "analytics_ingest_bodies_total",
    "HTTP ingest bodies by validation path: fast (every event plainly valid) or general (per-event verdicts).",
    ["path"],
)
BATCH_EVENTS = Histogram(
    "analytics_ingest_batch_events",
    "Events per warehouse insert.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000),
)
INSERT_SECONDS = Histogram(
    "analytics_ingest_insert_seconds",
    "Latency of one warehouse insert.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_SECONDS = Histogram(
    "analytics_http_request_seconds",
    "HTTP request latency.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EXPORT_ORPHANS_SWEPT = Counter(
    "analytics_export_orphans_swept_total",
    "Temporary export files or attempt folders deleted by the orphan sweep (left by dead processes).",
)
EXPORT_ORPHAN_BYTES_SWEPT = Counter(
    "analytics_export_orphan_bytes_swept_total",
    "Bytes of temporary export files deleted by the orphan sweep.",
)
JOBS_FINISHED = Counter(
    "analytics_jobs_finished_total",
    "Job attempts that ended, by kind and outcome (succeeded, failed, cancelled, retried, requeued).",
    ["kind", "outcome"],
)
DATA_DIR_FREE_BYTES = Gauge(
    "analytics_data_dir_free_bytes", "Free bytes on the file system of the data folder (read at each scrape)."
)
DATA_DIR_TOTAL_BYTES = Gauge(
    "analytics_data_dir_total_bytes", "Size in bytes of the file system of the data folder (read at each scrape)."
)
