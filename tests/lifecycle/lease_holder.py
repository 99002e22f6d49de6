"""A separate process holding a named lease (tests/lifecycle/test_swap_leases.py), run as
`python -m tests.lifecycle.lease_holder URL NAME ROUNDS LOG LEASE_SECONDS`: each round it holds the
lease a moment and appends `start`/`end` lines (pid, time) to LOG. With ROUNDS = 0 it takes the lease
once, prints `held` and sleeps until killed (a crashed holder)."""

from __future__ import annotations

import os
import sys
import time

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.leases import Leases


def main(url: str, name: str, rounds: int, log: str, lease_seconds: float) -> None:
    leases = Leases(MetadataDB(url), lease_seconds=lease_seconds, poll_seconds=0.01)
    if rounds == 0:
        with leases.hold([name], wait_seconds=30):
            print("held", flush=True)
            time.sleep(3600)
    for _ in range(rounds):
        with leases.hold([name], wait_seconds=60):
            with open(log, "a") as out:
                out.write(f"start {os.getpid()} {time.time():.6f}\n")
            time.sleep(0.02)
            with open(log, "a") as out:
                out.write(f"end {os.getpid()} {time.time():.6f}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
