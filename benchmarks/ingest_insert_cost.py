"""Issue 18 ingest budget (2026-12-07, third session): process CPU per event of the writer's insert
path alone, for variants of the person-id and view work, on the rows of `bench ingest` (30 days,
seed 99, every person new). Each run is one fresh process and one fresh chDB folder; the variants
are alternated round by round. CPU = `time.process_time()` of the process (chDB's insert, view and
merge threads run in it) from the first insert until the background merges are idle.

    .venv/bin/python benchmarks/ingest_insert_cost.py --events 300000 --block 20000 --rounds 3 \
        --variants nobitmaps,current,noweeks

Variants:
- `nobitmaps`: the code before the bitmaps: no `person_hours_mv`, rows without a person id, no allocator.
- `current`: `insert_event_rows` as the service calls it.
- `noweeks`: `current` without `person_weeks_mv` (what retiring that view would save at insert).
- `nohours`: `current` without `person_hours_mv` (the allocator and the column only).
- `given`, `givennohours`: ids handed out before the clock starts (no allocator), with and without `person_hours_mv`.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import fresh_process_variants  # beside this script (sys.path[0])


def one(variant: str, events: int, block: int) -> dict[str, float]:
    from analytics_engine.bench.ingest import make_events
    from analytics_engine.datagen.loader import GENERATOR_LIMITS
    from analytics_engine.ingest import writer
    from analytics_engine.ingest.validation import EVENT_COLUMNS, EVENT_ROW_FORMAT, validate_events
    from analytics_engine.warehouse.client import Warehouse
    from analytics_engine.warehouse.migrations import migrate

    accepted = validate_events(make_events(events, True), "bench", GENERATOR_LIMITS).accepted
    blocks = [accepted[i : i + block] for i in range(0, len(accepted), block)]
    folder = Path(tempfile.mkdtemp(prefix="ae-ingest18-"))
    warehouse = Warehouse(f"chdb://{folder}", "bench")
    migrate(warehouse)
    drop = {
        "nobitmaps": ["person_hours_mv"],
        "noweeks": ["person_weeks_mv"],
        "nohours": ["person_hours_mv"],
        "givennohours": ["person_hours_mv"],
    }.get(variant, [])
    given: list[bytes] = []
    if variant.startswith("given"):  # ids handed out before the clock starts: the allocator's cost left out
        people: dict[bytes, int] = {}
        for e in accepted:
            pid = people.setdefault(e.line.split(b",")[2], len(people) + 1)  # the bench's ids have no commas
            given.append(e.line.rstrip()[:-1] + b"," + str(pid).encode() + b"]")
    for view in drop:
        warehouse.command(f"DROP VIEW IF EXISTS {warehouse.table(view)}")
    table = warehouse.table("events")
    settings = {**writer.EVENTS_INSERT_SETTINGS, **writer.DEDUPLICATION_SETTINGS}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n, part in enumerate(blocks):
        if given:
            warehouse.insert_json_rows(
                table,
                writer.ID_COLUMNS,
                b"\n".join(given[n * block : (n + 1) * block]),
                settings={**settings, "insert_deduplication_token": uuid.uuid4().hex},
                fmt=EVENT_ROW_FORMAT,
            )
        elif variant == "nobitmaps":
            warehouse.insert_json_rows(
                table,
                EVENT_COLUMNS,
                b"\n".join(e.line for e in part),
                settings={**settings, "insert_deduplication_token": uuid.uuid4().hex},
                fmt=EVENT_ROW_FORMAT,
            )
        elif hasattr(writer, "insert_accepted"):
            writer.insert_accepted(warehouse, part, uuid.uuid4().hex)
        else:
            writer.insert_event_rows(warehouse, b"\n".join(e.line for e in part), uuid.uuid4().hex)
    cpu_insert = time.process_time() - cpu0
    fresh_process_variants.wait_for_idle_merges(warehouse)
    cpu = time.process_time() - cpu0
    count = warehouse.query(f"SELECT count() FROM {table}").scalar()
    assert count == len(accepted), (count, len(accepted))
    return {
        "us_per_event": cpu / len(accepted) * 1e6,
        "insert_us_per_event": cpu_insert / len(accepted) * 1e6,
        "wall_s": time.perf_counter() - wall0,
    }


if __name__ == "__main__":
    fresh_process_variants.main(__file__, one, "nobitmaps,current", ratio=True)
