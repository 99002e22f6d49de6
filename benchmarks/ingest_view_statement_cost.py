# ruff: noqa: E501
"""Issue 18 ingest budget (2026-12-07, third session): the CPU of each view's statement on its own,
as an INSERT ... SELECT from a block of 20,000 `bench ingest` rows (held in a Memory table, dense
ids given) into a fresh copy of the view's target table, next to the same SELECT without the write.
Five blocks per variant, three rounds alternated, one process (chDB in it), `time.process_time()`.

    .venv/bin/python benchmarks/ingest_view_statement_cost.py weeks,weeksnoany,aj 8192
    .venv/bin/python benchmarks/ingest_view_statement_cost.py aj,noany,union 64,8192

`aj` is person_hours_mv's statement, `weeks` person_weeks_mv's; `noany`/`weeksnoany` leave out the
`''` (any event) rows, `union` makes them with a second GROUP BY instead of the ARRAY JOIN.
"""

import sys
import tempfile
import time
from pathlib import Path

from analytics_engine.bench.ingest import EVENT_VIEWS, make_events
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest import writer
from analytics_engine.ingest.validation import EVENT_ROW_FORMAT, validate_events
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

accepted = validate_events(make_events(100000, True), "bench", GENERATOR_LIMITS).accepted
people = {}
lines = []
for e in accepted:
    d = e.line.split(b",")[2]
    pid = people.setdefault(d, len(people) + 1)
    lines.append(e.line.rstrip()[:-1] + b"," + str(pid).encode() + b"]")
folder = Path(tempfile.mkdtemp(prefix="ae-ingest18i-"))
w = Warehouse(f"chdb://{folder}", "bench")
migrate(w)
for v in EVENT_VIEWS:
    w.command(f"DROP VIEW IF EXISTS {w.table(v)}")
ev = w.table("events")
db = ev.rsplit(".", 1)[0]
for i in range(5):
    w.command(f"CREATE TABLE {db}.b{i} AS {ev} ENGINE = Memory")
    w.insert_json_rows(
        f"{db}.b{i}", writer.ID_COLUMNS, b"\n".join(lines[i * 20000 : (i + 1) * 20000]), fmt=EVENT_ROW_FORMAT
    )


def target(name, g, kind="hours"):
    if kind == "weeks":
        w.command(f"CREATE TABLE {db}.{name} AS {db}.person_weeks")
        return
    w.command(f"""CREATE TABLE {db}.{name} (tenant_id LowCardinality(String), event LowCardinality(String), hour DateTime('UTC'),
    people AggregateFunction(groupBitmap, UInt32)) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(hour) ORDER BY (tenant_id, event, hour)
    SETTINGS index_granularity = {g}, non_replicated_deduplication_window = 1000""")


HW = "toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600))"
SEL = {
    "weeks": f"""WITH {HW} AS hw SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
   groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0, groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
   groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2, min(timestamp) AS first_ts, count() AS events
   FROM {{src}} ARRAY JOIN [event, ''] AS name GROUP BY tenant_id, event, week, person_key""",
    "weeksnoany": f"""WITH {HW} AS hw SELECT tenant_id, event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
   groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0, groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
   groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2, min(timestamp) AS first_ts, count() AS events
   FROM {{src}} GROUP BY tenant_id, event, week, person_key""",
    "aj": "SELECT tenant_id, name AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people FROM {src} ARRAY JOIN [event, ''] AS name WHERE person_id != 0 GROUP BY tenant_id, event, hour",
    "noany": "SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people FROM {src} WHERE person_id != 0 GROUP BY tenant_id, event, hour",
    "union": "SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people FROM {src} WHERE person_id != 0 GROUP BY tenant_id, event, hour UNION ALL SELECT tenant_id, '' AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people FROM {src} WHERE person_id != 0 GROUP BY tenant_id, hour",
}
variants = [(s, g) for s in sys.argv[1].split(",") for g in map(int, sys.argv[2].split(","))]
res = {v: [] for v in variants}
n = 0
for rnd in range(3):
    for s, g in variants:
        n += 1
        name = f"t{n}"
        target(name, g, "weeks" if s.startswith("weeks") else "hours")
        c0 = time.process_time()
        for i in range(5):
            w.command(f"INSERT INTO {db}.{name} " + SEL[s].format(src=f"{db}.b{i}"))
        ins = time.process_time() - c0
        sel0 = time.process_time()
        for i in range(5):
            w.query(
                f"SELECT count(), sum(length(toString(x))) FROM (SELECT * FROM ({SEL[s].format(src=f'{db}.b{i}')})) AS q ARRAY JOIN [1] AS x"
            )
        sel = time.process_time() - sel0
        rows = w.query(f"SELECT count() FROM {db}.{name}").scalar()
        res[(s, g)].append(ins / 100000 * 1e6)
        print(
            rnd,
            s,
            g,
            f"insert {ins / 100000 * 1e6:.2f} us/event, select-only {sel / 100000 * 1e6:.2f}, rows {rows}",
            flush=True,
        )
for k, v in res.items():
    print(k, sorted(v))
