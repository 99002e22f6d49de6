"""Prometheus counters of the cache (no tenant label: bounded cardinality)."""

from __future__ import annotations

from prometheus_client import Counter

CACHE_LOOKUPS = Counter(
    "analytics_cache_lookups_total", "Result cache lookups by backend and outcome.", ["backend", "outcome"]
)
CACHE_ERRORS = Counter("analytics_cache_errors_total", "Cache backend errors served as misses.", ["backend"])
