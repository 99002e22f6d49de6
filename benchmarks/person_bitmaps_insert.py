# ruff: noqa: E501
"""Issue 18 measurement (2026-12-07): what a per-hour person-bitmap view would add to each insert,
against what the `person_weeks` view does now. For batches of B events taken from the bench tenant
(a random contiguous slice of `events` by event id), the CPU of the two views' SELECTs inserted into
scratch tables (`x_pw_scratch`, `x_hb_scratch`), the dense id taken from `x_ids` (made by
benchmarks/person_bitmaps.py --build) as if the writer had put it on the event.

    .venv/bin/python benchmarks/person_bitmaps_insert.py DATA_DIR --batch 2000 --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from analytics_engine.config import Settings
from analytics_engine.lifecycle.derived import person_weeks_insert
from analytics_engine.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--recent",
        action="store_true",
        help="consecutive latest events (as live ingest sends) instead of a random sample",
    )
    args = parser.parse_args()
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    wh = rt.warehouse
    tb = wh.table
    tenant = next(t for t in rt.tenants.list() if t.name == "gen-1").id
    wh.command(f"DROP TABLE IF EXISTS {tb('x_batch')}")
    wh.command(f"DROP TABLE IF EXISTS {tb('x_pw_scratch')}")
    wh.command(f"DROP TABLE IF EXISTS {tb('x_hb_scratch')}")
    wh.command(f"CREATE TABLE {tb('x_pw_scratch')} AS {tb('person_weeks')}")
    wh.command(
        f"CREATE TABLE {tb('x_hb_scratch')} (tenant_id LowCardinality(String), event LowCardinality(String), "
        "hour DateTime('UTC'), ids AggregateFunction(groupBitmap, UInt32)) ENGINE = AggregatingMergeTree "
        "PARTITION BY toYYYYMM(hour) ORDER BY (tenant_id, event, hour)"
    )
    pw, hb = [], []
    for i in range(args.repeat):
        wh.command(f"DROP TABLE IF EXISTS {tb('x_batch')}")
        # a batch as the writer sends it: recent events of many people, with their dense id
        wh.command(
            f"CREATE TABLE {tb('x_batch')} ENGINE = Memory AS SELECT e.tenant_id AS tenant_id, e.event AS event, "
            "e.distinct_id AS distinct_id, e.timestamp AS timestamp, e.person_key AS person_key, i.id AS person_id "
            f"FROM (SELECT tenant_id, event, distinct_id, timestamp, person_key FROM {tb('events')} WHERE tenant_id = {{t:String}} "
            + (
                f"ORDER BY timestamp DESC LIMIT {args.batch} OFFSET {i * args.batch})"
                if args.recent
                else f"ORDER BY cityHash64(event_id, {i}) LIMIT {args.batch})"
            )
            + f" AS e INNER JOIN {tb('x_ids')} AS i ON i.person_key = e.person_key",
            {"t": tenant},
        )
        c0 = time.process_time()
        wh.command(person_weeks_insert(tb("x_pw_scratch"), tb("x_batch"), "1"))
        pw.append((time.process_time() - c0) * 1000)
        c0 = time.process_time()
        wh.command(
            f"INSERT INTO {tb('x_hb_scratch')} SELECT tenant_id, name, toStartOfHour(timestamp) AS h, "
            f"groupBitmapState(person_id) FROM {tb('x_batch')} ARRAY JOIN [event, ''] AS name "
            "GROUP BY tenant_id, name, h SETTINGS insert_deduplicate = 0"
        )
        hb.append((time.process_time() - c0) * 1000)
    print(
        f"batch of {args.batch} {'recent' if args.recent else 'random'} events: person_weeks view SELECT+insert cpu min {min(pw):.2f} med {statistics.median(pw):.2f} ms; "
        f"per-hour bitmap cpu min {min(hb):.2f} med {statistics.median(hb):.2f} ms"
    )
    for name in ("x_batch", "x_pw_scratch", "x_hb_scratch"):
        wh.command(f"DROP TABLE IF EXISTS {tb(name)}")


if __name__ == "__main__":
    main()
