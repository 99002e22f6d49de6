"""Issue 18 ingest budget (2026-12-07, third session): process CPU per event of ONE materialized
view on `events` (all the others dropped), for the rows of `bench ingest` (30 days, seed 99, given
dense person ids as the writer would), in blocks of 20,000 (what group commit formed in `bench
ingest`). Each variant runs in a fresh process and chDB folder, alternated round by round; CPU =
`time.process_time()` from the first insert until the merges are idle, minus nothing (the `none`
variant is the events table alone, to subtract).

    .venv/bin/python benchmarks/ingest_view_cost.py --rounds 3 --variants none,hours,hours8192,hoursnoany,weeks
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import fresh_process_variants  # beside this script (sys.path[0])

HOURS_8192 = """
CREATE TABLE {t}.person_hours_alt (tenant_id LowCardinality(String), event LowCardinality(String), hour DateTime('UTC'),
    people AggregateFunction(groupBitmap, UInt32))
ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (tenant_id, event, hour)
SETTINGS index_granularity = {g}, non_replicated_deduplication_window = 1000"""
HOURS_VIEW = """
CREATE MATERIALIZED VIEW {t}.person_hours_alt_mv TO {t}.person_hours_alt AS
SELECT tenant_id, name AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people
FROM {t}.events ARRAY JOIN [event, ''] AS name WHERE person_id != 0 GROUP BY tenant_id, event, hour"""
HOURS_VIEW_NOANY = """
CREATE MATERIALIZED VIEW {t}.person_hours_alt_mv TO {t}.person_hours_alt AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people
FROM {t}.events WHERE person_id != 0 GROUP BY tenant_id, event, hour"""


def one(variant: str, events: int, block: int) -> dict[str, float]:
    from analytics_engine.bench.ingest import EVENT_VIEWS, make_events
    from analytics_engine.datagen.loader import GENERATOR_LIMITS
    from analytics_engine.ingest import writer
    from analytics_engine.ingest.validation import EVENT_ROW_FORMAT, validate_events
    from analytics_engine.warehouse.client import Warehouse
    from analytics_engine.warehouse.migrations import migrate

    accepted = validate_events(make_events(events, True), "bench", GENERATOR_LIMITS).accepted
    people: dict[bytes, int] = {}
    lines = []
    for e in accepted:
        distinct = e.line.split(b",")[2]  # the bench's distinct ids have no commas
        pid = people.setdefault(distinct, len(people) + 1)
        lines.append(e.line.rstrip()[:-1] + b"," + str(pid).encode() + b"]")
    blocks = [b"\n".join(lines[i : i + block]) for i in range(0, len(lines), block)]
    folder = Path(tempfile.mkdtemp(prefix="ae-ingest18v-"))
    warehouse = Warehouse(f"chdb://{folder}", "bench")
    migrate(warehouse)
    keep = {
        "hours": "person_hours_mv",
        "weeks": "person_weeks_mv",
        "persons": "persons_mv",
        "props": "person_properties_mv",
    }.get(variant)
    for view in EVENT_VIEWS:
        if view != keep:
            warehouse.command(f"DROP VIEW IF EXISTS {warehouse.table(view)}")
    t = warehouse.table("events").rsplit(".", 1)[0]
    if variant in ("hours8192", "hours256", "hoursnoany"):
        g = {"hours8192": 8192, "hours256": 256}.get(variant, 64)
        warehouse.command(HOURS_8192.format(t=t, g=g))
        warehouse.command((HOURS_VIEW_NOANY if variant == "hoursnoany" else HOURS_VIEW).format(t=t))
    table = warehouse.table("events")
    settings = {**writer.EVENTS_INSERT_SETTINGS, **writer.DEDUPLICATION_SETTINGS}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for body in blocks:
        warehouse.insert_json_rows(
            table,
            writer.ID_COLUMNS,
            body,
            settings={**settings, "insert_deduplication_token": uuid.uuid4().hex},
            fmt=EVENT_ROW_FORMAT,
        )
    cpu_insert = time.process_time() - cpu0
    fresh_process_variants.wait_for_idle_merges(warehouse)
    cpu = time.process_time() - cpu0
    return {
        "us_per_event": cpu / len(lines) * 1e6,
        "insert_us_per_event": cpu_insert / len(lines) * 1e6,
        "wall_s": time.perf_counter() - wall0,
    }


if __name__ == "__main__":
    fresh_process_variants.main(__file__, one, "none,hours,weeks", ratio=False)
