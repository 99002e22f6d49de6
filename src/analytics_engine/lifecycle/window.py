"""Where the hot tier begins: one rule for ingest (what it accepts), the tiering job (which month
partitions it moves) and cold reads (which ranges reach the cold tier).

The hot tier holds whole UTC months: the current month and the `months` before it. With 13 months on
2026-12-07 the oldest hot month is 2025-11, so an event stamped 2025-11-01T00:00Z or later is
accepted and stays hot until 2026-12 ends; an older one is refused at ingest with its reason (kept in
rejected events), never acknowledged and then dropped. Month partitions before the oldest hot month
belong to the cold tier (Parquet)."""

from __future__ import annotations

from datetime import UTC, datetime


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    """The first instant (UTC) of the month `months_back` months before `moment`'s month."""
    index = moment.astimezone(UTC).year * 12 + moment.astimezone(UTC).month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def hot_window_start(now: datetime, months: int) -> datetime:
    """The first instant of the oldest hot month: events before it belong to the cold tier."""
    return month_start(now, months)


def hot_window_start_ms(now_ms: int, months: int) -> int:
    return int(hot_window_start(datetime.fromtimestamp(now_ms / 1000, UTC), months).timestamp() * 1000)


def partition_of(moment: datetime) -> int:
    """The month partition id (`toYYYYMM`) of an instant."""
    utc = moment.astimezone(UTC)
    return utc.year * 100 + utc.month


def cold_partition_limit(now: datetime, months: int) -> int:
    """Month partitions strictly below this id are cold."""
    return partition_of(hot_window_start(now, months))


def cold_expiry_limit(now: datetime, years: int) -> int:
    """Cold month files strictly below this id are past the cold retention and are deleted."""
    return partition_of(month_start(now, years * 12))
