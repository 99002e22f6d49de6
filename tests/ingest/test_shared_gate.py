"""The insert gate across processes (ingest/shared_gate.py): a hold in one process (an erasure's or the
tiering job's derived step, a journal replay) holds the inserts of another process that shares the
metadata database, on PostgreSQL and on a SQLite file; a killed inserter stops being waited for once
its registration expires, and a killed holder's gate is released once its lease expires.

Each process has its own chDB folder (one process per folder); the protocol only needs the shared
metadata database, as with a ClickHouse server."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics_engine.config import Settings
from analytics_engine.core import Core
from analytics_engine.metadata.db import MetadataDB
from tests.conftest import build_settings
from tests.ingest.gate_process import one_event

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3.0


def _metadata_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'metadata.db'}"


def _env(url: str, folder: Path) -> dict[str, str]:
    return {
        "ANALYTICS_METADATA_URL": url,
        "ANALYTICS_DATA_DIR": str(folder),
        "ANALYTICS_INSERT_GATE_ACROSS_PROCESSES": "true",
        "ANALYTICS_SWAP_LEASE_SECONDS": str(LEASE_SECONDS),
        "ANALYTICS_LOG_LEVEL": "warning",
    }


def _spawn(mode: str, seconds: float, log: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest.gate_process", mode, str(seconds), str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    for line in child.stdout:  # the log lines of its start, then its word
        if line.strip() in ("ready", "held"):
            return child
    raise AssertionError(f"the child process ended with {child.wait()} before it was ready")


@pytest.fixture
def shared(
    kind: str, tmp_path: Path, warehouse_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Core]]:
    """The metadata URL and this process's own core sharing it (on the session's chDB folder: one
    embedded engine per process)."""
    url = _metadata_url(kind, tmp_path, request)
    MetadataDB(url).migrate()
    settings = build_settings(
        tmp_path / "parent",
        warehouse_path,
        metadata_url=url,
        insert_gate_across_processes=True,
        swap_lease_seconds=LEASE_SECONDS,
    )
    core = Core(**Core.parts(settings))
    yield url, core
    core.close()


def _inserts(log: Path) -> list[tuple[float, float]]:
    if not log.exists():
        return []
    return [(float(start), float(end)) for _, _, start, end in (line.split() for line in log.read_text().splitlines())]


def _wait_for_inserts(log: Path, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while len(_inserts(log)) < count:
        assert time.monotonic() < deadline, "the child process did not insert"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_hold_holds_the_inserts_of_another_process(shared: tuple[str, Core], tmp_path: Path) -> None:
    url, core = shared
    log = tmp_path / "inserts.log"
    child = _spawn("insert", 600, log, _env(url, tmp_path / "child"))
    try:
        _wait_for_inserts(log, 3)
        holds = []
        for _ in range(4):
            with core.writer.exclusive("test: a derived step"):
                started = time.time()
                time.sleep(0.6)
                holds.append((started, time.time()))
            before = len(_inserts(log))
            _wait_for_inserts(log, before + 2)  # the other process inserts again between holds
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    inserts = _inserts(log)
    overlapping = [(i, h) for i in inserts for h in holds if i[0] < h[1] and i[1] > h[0]]
    assert overlapping == [], f"{len(overlapping)} inserts of the other process ran during a hold: {overlapping}"
    # Not vacuous: the other process inserted before the first hold and in every gap between holds.
    assert any(end < holds[0][0] for _, end in inserts)
    for (_, ended), (next_start, _) in itertools.pairwise(holds):
        assert any(ended <= start and end <= next_start for start, end in inserts)


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_killed_inserter_is_waited_for_one_lease_at_most(shared: tuple[str, Core], tmp_path: Path) -> None:
    url, core = shared
    log = tmp_path / "inserts.log"
    child = _spawn("insert", 600, log, _env(url, tmp_path / "child"))
    _wait_for_inserts(log, 2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    started = time.monotonic()
    with core.writer.exclusive("test: after a killed inserter"):
        waited = time.monotonic() - started
    assert waited < 2 * LEASE_SECONDS + 5, f"waited {waited:.1f} s for a dead process"


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_killed_holders_gate_is_released_after_its_lease(shared: tuple[str, Core], tmp_path: Path) -> None:
    url, core = shared
    core.writer.write(one_event())  # registered as an inserter
    holder = _spawn("hold", 0, tmp_path / "unused.log", _env(url, tmp_path / "child"))
    done = threading.Event()
    writing = threading.Thread(target=lambda: (core.writer.write(one_event()), done.set()), daemon=True)
    try:
        writing.start()
        assert not done.wait(LEASE_SECONDS + 1), "an insert ran while another process held the gate"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert done.wait(2 * LEASE_SECONDS + 10), "the insert still waits after the holder died"


@pytest.mark.parametrize(
    ("dsn", "setting", "shared_gate"),
    [
        ("chdb:///tmp/x", None, False),  # one process per data folder: nothing to hold elsewhere
        ("http://clickhouse:8123", None, True),
        ("http://clickhouse:8123", False, False),
        ("chdb:///tmp/x", True, True),
    ],
)
def test_on_by_default_with_a_server_only(dsn: str, setting: bool | None, shared_gate: bool) -> None:
    settings = Settings(warehouse_dsn=dsn, insert_gate_across_processes=setting)
    assert settings.shares_insert_gate is shared_gate
