"""Issue 18 measurement (2026-12-07): the Python cost of giving each event its person's dense id in the
ingest writer, from an in-memory map (no ClickHouse look-up): 200,000 synthetic event lines in the
writer's JSONCompactEachRow layout over 460,000 people; per event, parse the line for distinct_id (or
take it as known), look it up or hand out the next id, and append the id to the line.

    .venv/bin/python benchmarks/person_ids_writer_cost.py
"""

from __future__ import annotations

import random
import sys
import time

import orjson

N = 200_000
PROPERTIES = {"path": "/pricing", "browser": "Firefox", "country": "DE", "plan": "pro", "utm_source": "newsletter"}


def main() -> None:
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
                PROPERTIES,
            ]
        )
        for _ in range(N)
    ]
    ids: dict[str, int] = {}

    def give(line: bytes, did: str) -> bytes:
        pid = ids.get(did)
        if pid is None:
            pid = ids[did] = len(ids)
        return line[:-1] + b"," + str(pid).encode() + b"]"

    for rnd in range(3):
        c0 = time.process_time()
        [give(line, orjson.loads(line)[2]) for line in lines]
        print(f"round {rnd}: {(time.process_time() - c0) / N * 1e6:.2f} us per event (parse + map + append the id)")
    known = [orjson.loads(line)[2] for line in lines]
    for rnd in range(3):
        c0 = time.process_time()
        [give(line, did) for line, did in zip(lines, known, strict=True)]
        print(f"round {rnd}: {(time.process_time() - c0) / N * 1e6:.2f} us per event (distinct_id known: map + append)")
    print(f"people {len(ids)}; the map's table {sys.getsizeof(ids)} bytes (keys apart)")


if __name__ == "__main__":
    main()
