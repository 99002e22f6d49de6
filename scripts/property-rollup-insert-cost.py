"""Insert CPU of `events` with and without the property rollup's views, alternated in one process
(issue 18: what the pre-aggregation costs ingest). The writer's own insert (JSONCompactEachRow
blocks with a deduplication token, EVENTS_INSERT_SETTINGS), 15,000-row blocks as the server sends
them; process CPU time (chDB runs in this process: its threads, merges included) per event.

    .venv/bin/python scripts/property-rollup-insert-cost.py [columns=1] [events=300000] [rounds=5] [gate=0] [email=0]

gate=1: the view reads only the columns the issue-18 bound admits (service.roll_up: at most
ANALYTICS_PROPERTY_ROLLUP_MAX_COLUMNS, each with at most ANALYTICS_PROPERTY_ROLLUP_MAX_VALUES distinct
values in one tenant, event and hour, measured after the warm-up round); gate=0: every string column
(the view before the bound); gate=2: three sides alternated in each round: no views, the views over
every string column (before the bound) and over the admitted ones (after). email=1: every event also
carries `email` (one per user, a high-cardinality property), materialized as a string column too.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from analytics_engine.bench.ingest import add_materialized
from analytics_engine.config import Settings
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest.validation import validate_events
from analytics_engine.ingest.writer import insert_event_rows
from analytics_engine.materialized.columns import add_column_sql
from analytics_engine.materialized.rollup import PropertyRollup
from analytics_engine.warehouse import Warehouse
from analytics_engine.warehouse.migrations import migrate

defaults = ["1", "300000", "5", "0", "0"]
columns, count, rounds, gate, email = (int(a) for a in (sys.argv[1:] + defaults[len(sys.argv) - 1 :]))
folder = Path(tempfile.mkdtemp(prefix="ae-prop-rollup-cost-"))
warehouse = Warehouse(f"chdb://{folder}", "cost")
migrate(warehouse)
add_materialized(warehouse, columns)
if email:
    warehouse.command(add_column_sql(warehouse.table("events"), "email", "string"))
rollup = PropertyRollup(warehouse)
views = ("metrics_by_property_mv", "metrics_by_property_days_mv")
events = list(generate_events(GeneratorSpec(events=count, days=30, seed=99)))
if email:
    for e in events:
        e["properties"]["email"] = f"{e['distinct_id']}@example.com"
lines = [e.line for e in validate_events(events, "t", GENERATOR_LIMITS).accepted]
blocks = [b"\n".join(lines[i : i + 15000]) for i in range(0, len(lines), 15000)]
days_view = None


def with_views(on: bool, chosen: list[str] | None = None) -> None:
    """The two views on (the property view over `chosen`; None: every string column) or off."""
    global days_view
    if on:
        if days_view is not None:
            warehouse.command(f"DROP VIEW IF EXISTS {warehouse.table(views[1])}")
            warehouse.command(days_view)
        rollup.sync_view(chosen)
    else:
        days_view = warehouse.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {v:String}",
            {"db": warehouse.database, "v": views[1]},
        ).scalar()
        for view in views:
            warehouse.command(f"DROP VIEW IF EXISTS {warehouse.table(view)}")


def one_round() -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for block in blocks:
        insert_event_rows(warehouse, block, uuid.uuid4().hex)
    return (time.process_time() - cpu) / len(lines) * 1e6, time.perf_counter() - wall


with_views(True)
print("view reads", rollup.view_columns())
one_round()  # warm-up
admitted: list[str] | None = None  # None: every string column
if gate in (1, 2):
    limits = Settings()
    values = {c: rollup.max_values(c) for c in rollup.events_columns()}
    admitted = [c for c in values if values[c] <= limits.property_rollup_max_values]
    admitted = admitted[: limits.property_rollup_max_columns]
    print("largest distinct values in one (tenant, event, hour):", values, "admitted:", admitted)

sides: list[tuple[str, bool, list[str] | None]] = [("off", False, None), ("on", True, admitted)]
if gate == 2:
    sides = [("off", False, None), ("every column", True, None), ("admitted", True, admitted)]
figures: dict[str, list[float]] = {name: [] for name, _, _ in sides}
for r in range(rounds):
    for name, on, chosen in sides if r % 2 == 0 else sides[::-1]:
        with_views(on, chosen)
        us, seconds = one_round()
        figures[name].append(us)
        print(f"round {r + 1} views={name} {us:.2f} us/event CPU, {seconds:.2f} s", flush=True)
off = statistics.median(figures["off"])
for name, _, _ in sides[1:]:
    median = statistics.median(figures[name])
    paired = ", ".join(f"{a / b:.2f}" for a, b in zip(figures[name], figures["off"], strict=True))
    print(
        f"{columns} column(s) + email={email}, views over {name}: median {off:.2f} us/event without the property "
        f"rollup, {median:.2f} with: ratio {median / off:.3f}; per-round ratios {paired}"
    )
