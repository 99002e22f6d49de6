"""`ingest verify` reads `events` month partition by month partition where a figure adds up over
months: the slices cover every row once (a gap month and the rows outside the partitions listed
included), and a difference is still found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.ingest.consistency import check_derived, month_slices
from analytics_engine.ingest.validation import Limits, validate_events


def test_slices_cover_every_row_once_and_find_a_difference(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    start = datetime.now(UTC) - timedelta(days=75)
    raw = [
        {
            "event": "view",
            "distinct_id": f"p{i % 11}",
            "timestamp": (start + timedelta(days=i)).isoformat(),
            "properties": {"k": i},
        }
        for i in range(0, 75, 3)
    ]
    outcome = validate_events(raw, tenant.id, Limits(max_past_ms=400 * 86_400_000))
    runtime.writer.write(outcome.accepted)
    scope = runtime.warehouse.for_tenant(tenant.id)
    events = runtime.warehouse.table("events")
    for slices in (month_slices(runtime.warehouse),):
        parts = [
            int(scope.query(f"SELECT count() FROM {events} WHERE tenant_id = {{tenant_id:String}} AND {c}").scalar())
            for c in slices
        ]
        assert sum(parts) == len(raw)
    months = month_slices(runtime.warehouse)
    assert len(months) >= 4 and months[-1].startswith("(toYYYYMM(timestamp) <")
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    # One person's property rows gone: found.
    scope.command(
        f"ALTER TABLE {runtime.warehouse.table('person_properties')} DELETE WHERE tenant_id = {{tenant_id:String}} "
        "AND distinct_id = 'p3' SETTINGS mutations_sync = 2"
    )
    found = [(m.table, m.derived, m.raw) for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id]
    assert found == [("person_properties", 10, 11)]
