"""Issue 18 ingest budget (2026-12-07, third session): what storing new people's ids costs the
allocator (`PersonIds._store`: one insert into `person_ids` per batch that brings new people), split
into the Python (rows rendered) and chDB's insert, for 1,000 and 5,000 new people, process CPU.

    .venv/bin/python benchmarks/person_ids_store_cost.py
"""

import tempfile
import time
from pathlib import Path

import orjson

from analytics_engine.personids.allocator import PersonIds
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

folder = Path(tempfile.mkdtemp(prefix="ae-ingest18p-"))
w = Warehouse(f"chdb://{folder}", "bench")
migrate(w)
a = PersonIds(w)
a.ids_for("t", ["warm"])
for n in (1000, 5000):
    for r in range(4):
        given = {f"q{n}-{r}-{i}": 100000 * r + i + n for i in range(n)}
        c0 = time.process_time()
        a._store("t", given)
        st = (time.process_time() - c0) * 1e3
        c0 = time.process_time()
        body = b"\n".join(orjson.dumps(["t", d, i]) for d, i in given.items())
        py = (time.process_time() - c0) * 1e3
        c0 = time.process_time()
        w.insert_json_rows(
            w.table("person_ids"),
            ("tenant_id", "distinct_id", "person_id"),
            body,
            settings={"insert_deduplicate": 0},
            fmt="JSONCompactEachRow",
        )
        ins = (time.process_time() - c0) * 1e3
        print(n, f"_store {st:.1f} ms, dumps {py:.1f}, insert {ins:.1f}")
