"""The loop shared by the ingest cost scripts (ingest_insert_cost.py, ingest_view_cost.py): each
variant runs `<script> --one <variant>` in a fresh process (its own chDB folder), alternated round by
round, and prints each run's process CPU per event and the medians against the first variant."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def wait_for_idle_merges(warehouse: Any) -> None:
    """Until the background merges are idle (up to 20 s): they are part of what an insert costs."""
    for _ in range(200):
        if not warehouse.query("SELECT count() FROM system.merges").scalar():
            return
        time.sleep(0.1)


def main(script: str, one: Callable[[str, int, int], dict[str, float]], default_variants: str, *, ratio: bool) -> None:
    """`ratio`: report each median as a ratio of the first variant's (else as microseconds over it)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300000)
    parser.add_argument("--block", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=default_variants)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.events, args.block)))
        return
    results: dict[str, list[float]] = {v: [] for v in args.variants.split(",")}
    for round_ in range(args.rounds):
        for variant in results:
            load = os.getloadavg()[0]
            command = [
                sys.executable,
                script,
                "--one",
                variant,
                "--events",
                str(args.events),
                "--block",
                str(args.block),
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            figures = json.loads(out)
            results[variant].append(figures["us_per_event"])
            print(
                f"round {round_ + 1} {variant:10} CPU {figures['us_per_event']:.1f} us/event "
                f"(insert {figures['insert_us_per_event']:.1f}), wall {figures['wall_s']:.1f} s, load {load:.1f}",
                flush=True,
            )
    first = next(iter(results))
    base = statistics.median(results[first])
    for variant, values in results.items():
        median = statistics.median(values)
        against = f"{median / base:.3f}x of {first}" if ratio else f"+{median - base:.1f} us over {first}"
        print(f"{variant:10} median {median:.1f} us/event, {against}")
