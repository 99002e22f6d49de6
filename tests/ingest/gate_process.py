"""A separate inserting process for tests/ingest/test_shared_gate.py (chDB: its own data folder; the
metadata database is shared). `python -m tests.ingest.gate_process insert SECONDS LOG` writes one event
at a time for SECONDS and appends `insert <pid> <start> <end>` lines (wall clock) to LOG, timed around
the warehouse insert itself (not the duplicate check nor a wait for the gate);
`python -m tests.ingest.gate_process hold 0 LOG` holds the gate, prints `held` and sleeps until killed.
Settings come from ANALYTICS_* in the environment the test sets."""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.core import Core
from analytics_engine.ingest import writer
from analytics_engine.ingest.validation import Limits, validate_events


def one_event() -> list:
    raw = [{"event": "gate", "distinct_id": "p1", "event_id": str(uuid.uuid4())}]
    return validate_events(raw, "tn_gate", Limits()).accepted


def timed_inserts(log: str) -> None:
    """Log the span of every warehouse insert of events (the writer's own function, wrapped)."""
    insert = writer.insert_event_rows

    def timed(*args: Any, **kwargs: Any) -> None:
        started = time.time()
        insert(*args, **kwargs)
        with open(log, "a") as out:
            out.write(f"insert {os.getpid()} {started:.6f} {time.time():.6f}\n")

    writer.insert_event_rows = timed  # type: ignore[assignment]


def main(mode: str, seconds: float, log: str) -> None:
    timed_inserts(log)
    core = Core(**Core.parts(Settings()))
    if mode == "hold":
        with core.writer.exclusive("test: a holder that is killed"):
            print("held", flush=True)
            time.sleep(3600)
    print("ready", flush=True)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        core.writer.write(one_event())
    core.close()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
