"""An event older than the hot window is refused with its reason and kept in rejected events; an
event inside the window stays (no TTL removes it as it is inserted). Hot window here: 1 month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.ingest.validation import Limits
from analytics_engine.lifecycle.window import cold_partition_limit, hot_window_start, month_start


def test_window_is_whole_months() -> None:
    now = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
    assert hot_window_start(now, 13) == datetime(2025, 11, 1, tzinfo=UTC)
    assert hot_window_start(now, 1) == datetime(2026, 11, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2025, 12, 1, tzinfo=UTC)
    assert cold_partition_limit(now, 13) == 202511


def test_limits_take_the_earlier_rule() -> None:
    now_ms = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp() * 1000)
    limits = Limits(max_past_ms=395 * 86_400_000, hot_retention_months=1)
    assert limits.earliest_ms(now_ms) == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    assert "2026-11-01T00:00:00Z" in limits.too_old(now_ms)
    assert Limits(max_past_ms=86_400_000, hot_retention_months=13).earliest_ms(now_ms) == now_ms - 86_400_000


def test_old_event_is_refused_not_acknowledged_and_dropped(client, runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    now = datetime.now(UTC)
    old = hot_window_start(now, 1) - timedelta(days=3)
    inside = hot_window_start(now, 1) + timedelta(hours=1)
    # Flat events take the fast path; it must hand the old one to the general path, which refuses it.
    result = tenant.ingest(
        [
            {"event": "e", "distinct_id": "u1", "timestamp": old.isoformat()},
            {"event": "e", "distinct_id": "u1", "timestamp": inside.isoformat()},
        ]
    )
    assert result["accepted"] == 1
    assert [r["index"] for r in result["rejected"]] == [0]
    assert "older than the hot retention window" in result["rejected"][0]["reason"]
    rejected = tenant.get("/v1/events/rejected").json()
    assert len(rejected) == 1 and "hot retention" in rejected[0]["reason"]
    # The accepted one survives a merge (a TTL would have removed it at insert or merge time).
    runtime.warehouse.platform("test").command(f"OPTIMIZE TABLE {runtime.warehouse.table('events')} FINAL")
    assert tenant.count() == 1
