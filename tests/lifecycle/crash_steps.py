"""Child-process steps of the kill tests (chDB: one data path per process, so the test process never
opens the warehouse it kills). `python -m tests.lifecycle.crash_steps prepare|check <data_dir> [id]`
prints one JSON line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.lifecycle.cold import CHECKSUM, cold_files, file_figures, local_path
from analytics_engine.lifecycle.window import hot_window_start
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)
PEOPLE = 40


def _runtime() -> Runtime:
    return Runtime.build(Settings())  # ANALYTICS_* from the environment the test sets


def prepare(rt: Runtime) -> dict[str, Any]:
    start = hot_window_start(datetime.now(UTC), 1) - timedelta(days=80)
    tenants = []
    for name in ("crash-a", "crash-b"):
        tenant = rt.tenants.create(TenantCreate(name=name))
        raw = [
            {
                "event": ("view", "signup", "buy")[i % 3],
                "distinct_id": f"p{i % PEOPLE}",
                "timestamp": (start + timedelta(minutes=37 * i)).isoformat(),
                "properties": {"plan": ("free", "pro")[i % 2], "n": i},
            }
            for i in range(4000)
        ]
        for chunk in range(0, len(raw), 500):
            rt.writer.write(validate_events(raw[chunk : chunk + 500], tenant.id, OLD).accepted)
        tenants.append(tenant.id)
    export = rt.settings.data_dir / "export.csv"
    export.write_text("distinct_id,n\np3,1\np4,2\n")
    rt.storage.put_file(tenants[0], "exports/ex_crash.csv", export)
    return {"tenants": tenants, "figures": figures(rt, tenants), "p3": figures(rt, tenants, "distinct_id = 'p3'")}


def figures(rt: Runtime, tenants: list[str], where: str = "1") -> dict[str, Any]:
    """Per tenant: rows and checksum of hot and cold rows together (matching `where`)."""
    out: dict[str, Any] = {}
    for tenant_id in tenants:
        scope = rt.warehouse.for_tenant(tenant_id)
        rows, total = 0, 0
        hot = scope.query(
            f"SELECT {CHECKSUM} FROM {scope.table('events')} WHERE tenant_id = {{tenant_id:String}} AND ({where})"
        ).rows[0]
        rows, total = int(hot[0]), int(str(hot[1]) or "0", 16)
        for entry in cold_files(rt, tenant_id):
            n, checksum = file_figures(scope, local_path(rt, tenant_id, entry.key), where)
            rows, total = rows + n, (total + int(checksum or "0", 16)) & ((1 << 64) - 1)
        out[tenant_id] = [rows, format(total, "x")]
    return out


def check(rt: Runtime, tenants: list[str]) -> dict[str, Any]:
    hot_old = {}
    window = hot_window_start(datetime.now(UTC), 1)
    for tenant_id in tenants:
        scope = rt.warehouse.for_tenant(tenant_id)
        hot_old[tenant_id] = int(
            scope.query(
                f"SELECT count() FROM {scope.table('events')} WHERE tenant_id = {{tenant_id:String}} "
                "AND timestamp < {w:DateTime64(3, 'UTC')}",
                {"w": window.strftime("%Y-%m-%d %H:%M:%S")},
            ).scalar()
        )
    leftovers = (
        sorted(p.name for p in (rt.settings.data_dir / "tmp" / "lifecycle").glob("*"))
        if (rt.settings.data_dir / "tmp" / "lifecycle").exists()
        else []
    )
    staging = (
        rt.warehouse.platform("test")
        .query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name LIKE 'lifecycle_people_%'",
            {"db": rt.warehouse.database},
        )
        .scalar()
    )
    export = b"".join(rt.storage.open(tenants[0], "exports/ex_crash.csv")).decode()
    return {
        "figures": figures(rt, tenants),
        "p3": figures(rt, tenants, "distinct_id = 'p3'"),
        "without_p3": figures(rt, tenants, "distinct_id != 'p3'"),
        "hot_old": hot_old,
        "mismatches": [m.describe() for m in check_derived(rt.warehouse) if m.tenant_id in tenants],
        "leftovers": leftovers,
        "staging_tables": int(staging),
        "export": export,
        "cold_months": {t: [f.month for f in cold_files(rt, t)] for t in tenants},
    }


def main() -> None:
    step, tenants = sys.argv[1], sys.argv[2:]
    rt = _runtime()
    try:
        result = prepare(rt) if step == "prepare" else check(rt, tenants)
    finally:
        rt.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
