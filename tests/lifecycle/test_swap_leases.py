"""Swaps of one partition serialized across processes (lifecycle/swap.py over metadata/leases.py):
two real processes sharing one metadata database (PostgreSQL, and a SQLite file) never hold the same
lease at once; a holder killed with SIGKILL keeps its lease until it expires, then another takes it;
a swap waits for a lease another holder has, and a cleanup leaves a live holder's staging table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analytics_engine.lifecycle.swap import REASON, STAGE_PREFIX, drop_stale_stages, lease_names, swap_partitions
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.leases import Leases

ROOT = Path(__file__).resolve().parents[2]


def _holder(url: str, name: str, rounds: int, log: Path, lease_seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle.lease_holder", url, name, str(rounds), str(log), str(lease_seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _metadata_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_two_processes_never_hold_one_lease_at_once(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _metadata_url(kind, tmp_path, request)
    MetadataDB(url).migrate()
    log = tmp_path / "holds.log"
    holders = [_holder(url, "swap:db.metrics_daily/202601", 25, log, 5.0) for _ in range(2)]
    for holder in holders:
        assert holder.wait(timeout=120) == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len(lines) == 2 * 2 * 25
    assert len({pid for _, pid, _ in lines}) == 2  # both processes held it
    # Ordered by time, every start is followed by the end of the same holder: no interleaving.
    ordered = sorted(lines, key=lambda line: float(line[2]))
    for start, end in zip(ordered[::2], ordered[1::2], strict=True):
        assert (start[0], end[0]) == ("start", "end")
        assert start[1] == end[1]


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_killed_holders_lease_is_taken_over_after_it_expires(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _metadata_url(kind, tmp_path, request)
    metadata = MetadataDB(url)
    metadata.migrate()
    # Long enough that a holder starved of CPU on a busy machine still renews in time.
    lease_seconds = 2.0
    leases = Leases(metadata, lease_seconds=lease_seconds)
    name = "swap:db.taxonomy_properties/all"
    holder = _holder(url, name, 0, tmp_path / "unused.log", lease_seconds)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        # Alive, it renews its lease: nobody takes it over, for well past one lease.
        until = time.monotonic() + 2.5 * lease_seconds
        while time.monotonic() < until:
            assert not leases.try_take(name, "someone-else")
            time.sleep(0.1)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    killed = time.monotonic()
    with leases.hold([name], wait_seconds=10) as held:
        waited = time.monotonic() - killed
        assert held.names == [name]
    # Taken once the dead holder's last renewal expired (at most one lease after the kill), not before
    # a renewal it might still have made.
    assert waited <= lease_seconds + 2.0
    metadata.dispose()


def test_a_swap_waits_for_a_lease_another_holder_has(runtime) -> None:  # type: ignore[no-untyped-def]
    platform = runtime.warehouse.platform(REASON)
    table = platform.table("swap_lease_probe")
    platform.command(f"DROP TABLE IF EXISTS {table}")
    platform.command(f"CREATE TABLE {table} (k String, d Date) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY k")
    platform.command(f"INSERT INTO {table} VALUES ('a', '2026-01-05'), ('b', '2026-01-06')")
    leases = runtime.warehouse.leases
    assert leases is not None
    done = threading.Event()

    def swap() -> None:
        swap_partitions(platform, table, ["202601"], "k != 'a'", [], {})
        done.set()

    # Another process's swap of the partition, as far as the lease says (a different owner).
    with leases.hold(lease_names(table, ["202601"])) as other:
        # Its staging table survives another run's cleanup while its lease lives.
        stage = platform.table(f"{STAGE_PREFIX}swap_lease_probe_{other.owner}")
        platform.command(f"CREATE TABLE {stage} AS {table}")
        drop_stale_stages(platform)
        assert platform.query("EXISTS TABLE " + stage).scalar() == 1
        worker = threading.Thread(target=swap)
        worker.start()
        time.sleep(1.0)
        assert not done.is_set()
        assert platform.query(f"SELECT count() FROM {table}").scalar() == 2
        platform.command(f"DROP TABLE {stage}")
    worker.join(timeout=30)
    assert done.is_set()
    assert [r[0] for r in platform.query(f"SELECT k FROM {table}").rows] == ["b"]
    platform.command(f"DROP TABLE IF EXISTS {table}")
