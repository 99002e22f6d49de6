# ruff: noqa: E501, E702, E401
"""Issue 18 measurement (2026-12-07): the Python cost of giving each event its person's dense id in the
ingest writer, from an in-memory map (no ClickHouse look-up): 200,000 synthetic event lines in the
writer's JSONCompactEachRow layout over 460,000 people; per event, parse the line for distinct_id (or
take it as known), look it up or hand out the next id, and append the id to the line.

    .venv/bin/python benchmarks/person_ids_writer_cost.py
"""

import orjson, time, random, statistics

N = 200_000
people = [f"user-{i:07d}" for i in range(460_000)]
lines = [
    orjson.dumps(
        [
            "tn_x",
            "pageview",
            random.choice(people),
            "1733580000.123",
            "0c8b1c7e-3f7a-4b6e-9d2a-1f0e2d3c4b5a",
            "1733580000.200",
            {"path": "/pricing", "browser": "Firefox", "country": "DE", "plan": "pro", "utm_source": "newsletter"},
        ]
    )
    for _ in range(N)
]
ids = {}


def assign(batch):
    out = []
    for line in batch:
        did = orjson.loads(line)[2]
        pid = ids.get(did)
        if pid is None:
            pid = ids[did] = len(ids)
        out.append(line[:-1] + b"," + str(pid).encode() + b"]")
    return out


for rnd in range(3):
    c0 = time.process_time()
    assign(lines)
    t = (time.process_time() - c0) / N * 1e6
    print(f"round {rnd}: {t:.2f} us per event (parse + dict + append the id), people {len(ids)}")
dids = [orjson.loads(l)[2] for l in lines]


def assign2(batch, dids):
    out = []
    for line, did in zip(batch, dids):
        pid = ids.get(did)
        if pid is None:
            pid = ids[did] = len(ids)
        out.append(line[:-1] + b"," + str(pid).encode() + b"]")
    return out


for rnd in range(3):
    c0 = time.process_time()
    assign2(lines, dids)
    t = (time.process_time() - c0) / N * 1e6
    print(f"round {rnd}: {t:.2f} us per event (distinct_id known: dict + append the id)")
import sys

print("dict bytes (table only, keys shared)", sys.getsizeof(ids))
