"""`bench impact`: SROI and VIS for one large tenant, against the bare warehouse reads they need.

Baseline: the impact input queries alone (outcomes per participant, activity per volunteer, costs),
run through the same tenant scope, rows into Python. Figure: the whole computation (those reads plus
calibration, discounting, explanation; or the VIS components and ranking). The ratio is the cost of
everything the service adds on top of the warehouse. Also times a benchmarks refresh over N tenants.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analytics_engine.bench.common import print_table, write_result
from analytics_engine.config import Settings
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.impact import DIMENSIONS, ImpactSpec, generate_impact_events
from analytics_engine.datagen.loader import load_events
from analytics_engine.impact.service import make_window
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate


def _median(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: caches, connections
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(participants: int, volunteers: int, product_events: int, tenants: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-impact-"))
    runtime = Runtime.build(Settings(data_dir=folder, log_json=False, log_level="warning"))
    try:
        service = runtime.impact
        big = runtime.tenants.create(
            TenantCreate(name="bench-impact", industry="education", size_band="large", data_sharing_opt_in=True)
        )
        spec = ImpactSpec(7, ("a", "b", "c"), DIMENSIONS, participants=participants, volunteers=volunteers, days=365)
        started = time.perf_counter()
        impact_rows = load_events(runtime.warehouse, big.id, generate_impact_events(spec))
        load_events(runtime.warehouse, big.id, generate_events(GeneratorSpec(events=product_events, days=365)))
        load_seconds = time.perf_counter() - started
        window = make_window(None, None, None)

        read_sroi = _median(lambda: service.read_sroi(big.id, window), repeat)
        read_vis = _median(lambda: service.read_vis(big.id, window), repeat)
        sroi = _median(lambda: service.compute("sroi", big.id, window), repeat)
        vis = _median(lambda: service.compute("vis", big.id, window), repeat)

        for i in range(tenants - 1):
            peer = runtime.tenants.create(
                TenantCreate(name=f"bench-peer-{i}", industry="education", size_band="large", data_sharing_opt_in=True)
            )
            small = ImpactSpec(100 + i, ("a",), DIMENSIONS[:2], participants=200, volunteers=20, days=365)
            load_events(runtime.warehouse, peer.id, generate_impact_events(small))
        opted = [t.id for t in runtime.tenants.list()]
        started = time.perf_counter()
        for tenant_id in opted:  # baseline: every opted-in tenant's SROI and VIS, computed one by one
            service.compute("sroi", tenant_id, window)
            service.compute("vis", tenant_id, window)
        computed = time.perf_counter() - started
        started = time.perf_counter()
        summary = asyncio.run(service.refresh_benchmarks())
        refresh = time.perf_counter() - started

        rows = [
            ("SROI (read + calculate)", sroi * 1000, read_sroi * 1000, sroi / read_sroi),
            ("VIS (read + score + rank)", vis * 1000, read_vis * 1000, vis / read_vis),
            (f"benchmarks refresh, {tenants} tenants", refresh * 1000, computed * 1000, refresh / computed),
        ]
        print_table(
            f"impact: {impact_rows:,} impact events + {product_events:,} other events in one tenant "
            f"({participants:,} participants, {volunteers:,} volunteers); median of {repeat}",
            ["case", "ms", "baseline ms", "ratio"],
            [list(r) for r in rows],
        )
        path = write_result(
            "impact",
            {
                "participants": participants,
                "volunteers": volunteers,
                "impact_events": impact_rows,
                "product_events": product_events,
                "tenants": tenants,
                "repeat": repeat,
                "load_seconds": round(load_seconds, 2),
                "baseline": "the impact input reads alone (same SQL, same tenant scope) for SROI/VIS; "
                "every opted-in tenant's SROI + VIS computed one by one for the refresh",
                "results": [
                    {"case": r[0], "ms": round(r[1], 1), "baseline_ms": round(r[2], 1), "ratio": round(r[3], 2)}
                    for r in rows
                ],
                "refresh": summary,
            },
        )
        print(f"wrote {path}")
    finally:
        runtime.close()
        shutil.rmtree(folder, ignore_errors=True)
