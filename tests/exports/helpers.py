"""Helpers of the export tests: fast synthetic events in ClickHouse SQL, waiting for an export."""

from __future__ import annotations

import time
from typing import Any

from analytics_engine.runtime import Runtime

PLANS = ("free", "pro", "team")


def fill_events(runtime: Runtime, tenant_id: str, rows: int, *, event: str = "pageview") -> None:
    """`rows` events straight into the warehouse: property `n` = 0..rows-1 (a checksum is the sum
    of n), `plan` cycles free/pro/team, one event per second back from a fixed instant."""
    runtime.warehouse.command(
        f"""INSERT INTO {runtime.warehouse.table("events")}
            (tenant_id, event, distinct_id, timestamp, event_id, properties)
        SELECT {{tenant:String}}, {{event:String}}, concat('u', toString(number % 1000)),
               toDateTime64('2026-06-01 00:00:00', 3, 'UTC') - toIntervalSecond(number), generateUUIDv4(),
               concat('{{"n":', toString(number), ',"plan":"', ['free','pro','team'][number % 3 + 1],
                      '","note":"a, \\\\"quoted\\\\"\\\\nline"}}')
        FROM numbers({{rows:UInt64}})""",
        {"tenant": tenant_id, "event": event, "rows": rows},
    )


def wait_export(handle: Any, export_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = handle.get(f"/v1/exports/{export_id}").json()
        if status["status"] not in ("queued", "running"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
