"""How long a cached result stays fresh.

A result over a range that ended in the past cannot change (late events aside), so it stays for
`cache_ttl_closed_seconds`; one whose range includes now goes stale as events arrive and stays for
`cache_ttl_seconds`. A range ending within the ingest future-skew of now counts as open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.config import Settings

# Late events arrive within minutes; a range that ended this recently is still treated as open.
_SETTLE = timedelta(minutes=15)


def result_ttl(settings: Settings, range_end: datetime | None, now: datetime | None = None) -> int:
    """Seconds to keep a result whose date range ends at `range_end` (None: open-ended, up to now)."""
    now = now or datetime.now(UTC)
    if range_end is not None:
        if range_end.tzinfo is None:
            range_end = range_end.replace(tzinfo=UTC)
        if range_end + _SETTLE <= now:
            return settings.cache_ttl_closed_seconds
    return settings.cache_ttl_seconds
