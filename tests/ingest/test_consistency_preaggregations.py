"""`ingest verify` (ingest/consistency.py) checks the `person_weeks` pre-aggregation against events:
equal after ingest, and a row lost from it is reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import DERIVED_CHECKS, check_derived
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant


def test_person_weeks_agrees_with_events_and_a_lost_row_is_reported(runtime: Any) -> None:
    tenant = new_tenant()
    start = datetime(2026, 10, 20, 9, tzinfo=UTC)
    load(
        runtime,
        tenant,
        [Ev(f"u{i % 3}", ["signup", "visit"][i % 2], start + timedelta(hours=7 * i), {}) for i in range(40)],
    )
    assert {c.figure for c in DERIVED_CHECKS if c.table == "person_weeks"} >= {"events", "events (any-event rows)"}
    assert not [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.tenant_id]

    table = runtime.warehouse.table("person_weeks")
    runtime.warehouse.command(
        f"DELETE FROM {table} WHERE tenant_id = {{t:String}} AND event = 'visit' AND person_key = cityHash64('u1')",
        {"t": tenant.tenant_id},
    )
    found = {(m.table, m.figure) for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.tenant_id}
    assert ("person_weeks", "events") in found
    assert ("person_weeks", "(event, hour, person) triples") in found
