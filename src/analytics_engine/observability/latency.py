"""Per-tenant warehouse statement latency, kept in this process for the `query_p95_ms` SLA signal
of alert rules (Prometheus metrics carry no tenant label, `metrics.py`).

Each tenant keeps, per UTC hour, at most `SAMPLES_PER_HOUR` durations (a uniform reservoir), for
the last `HOURS_KEPT` hours. Lost at restart: the signal reports what this process saw."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

HOURS_KEPT = 48
SAMPLES_PER_HOUR = 1000


class QueryLatency:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # tenant -> hour start -> [seen, samples]
        self._hours: dict[str, dict[datetime, tuple[int, list[float]]]] = defaultdict(dict)
        self._random = random.Random(7)

    def record(self, tenant_id: str, seconds: float, now: datetime | None = None) -> None:
        hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
        with self._lock:
            hours = self._hours[tenant_id]
            seen, samples = hours.get(hour, (0, []))
            seen += 1
            if len(samples) < SAMPLES_PER_HOUR:
                samples.append(seconds)
            else:
                slot = self._random.randrange(seen)
                if slot < SAMPLES_PER_HOUR:
                    samples[slot] = seconds
            hours[hour] = (seen, samples)
            if len(hours) > HOURS_KEPT:
                oldest = hour - timedelta(hours=HOURS_KEPT)
                for stale in [h for h in hours if h <= oldest]:
                    del hours[stale]

    def samples(self, tenant_id: str, start: datetime, end: datetime) -> list[float]:
        with self._lock:
            hours = dict(self._hours.get(tenant_id, {}))
        return [s for hour, (_, samples) in hours.items() if start <= hour < end for s in samples]


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between the closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


QUERY_LATENCY = QueryLatency()
