"""`bench ingest` helpers: the server's CPU by thread kind, the insert sizes from /metrics, and the
diagnostic that drops views on `events`."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from analytics_engine.bench.ingest import (
    EVENT_VIEWS,
    cpu_bound_ceiling,
    cpu_spent,
    drop_views,
    insert_batches,
    kernel_seconds,
    thread_cpu,
)
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_thread_cpu_counts_this_process_and_grows_with_work() -> None:
    before = thread_cpu(os.getpid())
    assert before and all(value >= 0 for value in before.values())
    total = 0
    for i in range(3_000_000):  # ~0.1-0.3 s of CPU on this thread
        total += i * i
    after = thread_cpu(os.getpid())
    assert sum(after.values()) > sum(before.values())
    assert thread_cpu(2**22 + 12345) == {}  # no such process


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kernel_seconds_grow_with_system_calls() -> None:
    before = kernel_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    with open("/dev/zero", "rb") as zero:
        while time.process_time() < deadline:
            zero.read(1 << 20)  # each read is a system call that fills a MiB in the kernel
    assert kernel_seconds(os.getpid()) - before >= 0.15  # most of the 0.3 s, not the Python loop around it
    assert kernel_seconds(2**22 + 12345) == 0.0  # no such process


def test_cpu_spent_is_the_difference_largest_first_without_idle_threads() -> None:
    spent = cpu_spent({"python": 1.0, "MergeMutate": 2.0}, {"python": 4.5, "MergeMutate": 2.0, "Unknown": 1.25})
    assert spent == {"python": 3.5, "Unknown": 1.25}
    assert list(spent) == ["python", "Unknown"]


@pytest.mark.parametrize(
    ("cores", "events", "cpu_seconds", "ceiling"),
    [(2, 300_000, 6.0, 100_000), (2, 300_000, 7.5, 80_000), (1, 1000, 0.5, 2000)],
)
def test_cpu_bound_ceiling_is_cores_over_cpu_per_event(cores, events, cpu_seconds, ceiling) -> None:
    assert cpu_bound_ceiling(cores, events, cpu_seconds) == pytest.approx(ceiling)


def test_insert_batches_reads_the_batch_histogram() -> None:
    text = (
        "# HELP analytics_ingest_batch_events Events per warehouse insert.\n"
        'analytics_ingest_batch_events_bucket{le="1000.0"} 3.0\n'
        "analytics_ingest_batch_events_count 51.0\n"
        "analytics_ingest_batch_events_sum 200000.0\n"
    )
    assert insert_batches(text) == (51, 200_000)
    assert insert_batches("") == (0, 0)


def test_drop_views_drops_only_named_views_on_events(warehouse_path: Path) -> None:
    warehouse = Warehouse(f"chdb://{warehouse_path}", f"bench_{uuid.uuid4().hex[:10]}")
    try:
        migrate(warehouse)
        drop_views(warehouse, ["person_properties_mv", "event_ids_mv"])
        views = {
            row[0]
            for row in warehouse.query(
                "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView'",
                {"db": warehouse.database},
            ).rows
        }
        assert views == set(EVENT_VIEWS) - {"person_properties_mv", "event_ids_mv"}
        with pytest.raises(ValueError, match="not a view on events: events"):
            drop_views(warehouse, ["events"])
        assert warehouse.query(f"SELECT count() FROM {warehouse.table('events')}").scalar() == 0
    finally:
        warehouse.command(f"DROP DATABASE IF EXISTS `{warehouse.database}`")
        warehouse.close()
