"""A separate process on one chDB data folder (chDB allows one folder per process), for the backup
test: `write FOLDER TENANT N` migrates and ingests N events; `count FOLDER TENANT` prints what the
folder holds for the tenant as JSON."""

from __future__ import annotations

import json
import sys
import uuid

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.ingest.writer import insert_event_rows
from analytics_engine.warehouse import Warehouse
from analytics_engine.warehouse.migrations import migrate
from tests.support.factories import events


def main(action: str, folder: str, tenant_id: str, count: int = 0) -> None:
    warehouse = Warehouse(f"chdb://{folder}", "analytics", pool_size=1)
    if action == "write":
        migrate(warehouse)
        batch = [{**e, "event_id": str(uuid.uuid4())} for e in events("backed_up", count, users=9, plan="pro")]
        body = b"\n".join(item.line for item in validate_events(batch, tenant_id, Limits()).accepted)
        insert_event_rows(warehouse, body, uuid.uuid4().hex)
    params = {"t": tenant_id}
    one = lambda table, expr: warehouse.query(  # noqa: E731
        f"SELECT {expr} FROM {warehouse.table(table)} WHERE tenant_id = {{t:String}}", params
    ).scalar()
    print(
        json.dumps(
            {
                "events": int(one("events", "count()")),
                "metrics_daily": int(one("metrics_daily", "sum(events)") or 0),
                "persons": int(one("persons", "uniqExact(distinct_id)")),
                "mismatches": len([m for m in check_derived(warehouse) if m.tenant_id == tenant_id]),
            }
        )
    )
    warehouse.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
