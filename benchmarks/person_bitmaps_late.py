# ruff: noqa: E501
"""Issue 18 measurement (2026-12-07): do per-hour person bitmaps stay exact after late events and
duplicates? On a folder prepared by `benchmarks/person_bitmaps.py --build` (x_ids, x_hb_d), insert
into `events` (the real views fire): late signups of people already in a later cohort (some moved to
an earlier week of the range, some before it), exact duplicates of existing rows (same event_id),
and late returns (any event in past weeks); OR the new rows into x_hb_d as a view would; then run
benchmarks/person_bitmaps.py again and compare (it prints "same answer").

    .venv/bin/python benchmarks/person_bitmaps_late.py DATA_DIR --people 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--people", type=int, default=50)
    args = parser.parse_args()
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    wh = rt.warehouse
    tb = wh.table
    tenant = next(t for t in rt.tenants.list() if t.name == "gen-1").id
    marker = wh.query("SELECT now64(3)").rows[0][0]
    n = args.people
    params = {"t": tenant, "n": n}
    cols = "tenant_id, event, distinct_id, timestamp, event_id, properties"
    # late signups: people whose first signup is in the last 60 days sign up again 10-100 days earlier
    wh.command(
        f"INSERT INTO {tb('events')} ({cols}) SELECT {{t:String}}, 'signup', distinct_id, "
        "first - toIntervalHour(240 + cityHash64(distinct_id) % 2160), generateUUIDv4(), '{}' FROM "
        f"(SELECT distinct_id, min(timestamp) AS first FROM {tb('events')} WHERE tenant_id = {{t:String}} AND event = 'signup' "
        "GROUP BY distinct_id HAVING first > now() - INTERVAL 60 DAY ORDER BY cityHash64(distinct_id) LIMIT {n:UInt32})",
        params,
    )
    # duplicates: the same rows again (same event_id)
    wh.command(
        f"INSERT INTO {tb('events')} ({cols}) SELECT tenant_id, event, distinct_id, timestamp, event_id, properties "
        f"FROM {tb('events')} WHERE tenant_id = {{t:String}} AND timestamp > now() - INTERVAL 80 DAY "
        "ORDER BY cityHash64(event_id) LIMIT {n:UInt32}",
        params,
    )
    # late returns: any event of existing people in past weeks of the range
    wh.command(
        f"INSERT INTO {tb('events')} ({cols}) SELECT tenant_id, 'pageview', distinct_id, "
        "now() - toIntervalHour(24 + cityHash64(distinct_id, 1) % 2000), generateUUIDv4(), '{}' FROM "
        f"(SELECT DISTINCT tenant_id, distinct_id FROM {tb('events')} WHERE tenant_id = {{t:String}} AND event = 'signup' "
        "AND timestamp > now() - INTERVAL 120 DAY ORDER BY cityHash64(distinct_id, 2) LIMIT {n:UInt32})",
        params,
    )
    # what the bitmap view would have added for those inserts
    wh.command(
        f"INSERT INTO {tb('x_hb_d')} SELECT e.tenant_id, name, toStartOfHour(e.timestamp) AS h, groupBitmapState(i.id) "
        f"FROM {tb('events')} AS e INNER JOIN {tb('x_ids')} AS i ON i.person_key = e.person_key "
        "ARRAY JOIN [e.event, ''] AS name WHERE e.tenant_id = {t:String} AND e.received_at >= {m:DateTime64(3)} "
        "GROUP BY e.tenant_id, name, h",
        {**params, "m": marker},
    )
    rows = wh.query(
        f"SELECT event, count() FROM {tb('events')} WHERE tenant_id = {{t:String}} AND received_at >= {{m:DateTime64(3)}} GROUP BY event",
        {**params, "m": marker},
    ).rows
    print("inserted after", marker, rows)


if __name__ == "__main__":
    main()
