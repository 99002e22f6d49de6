"""The orphan sweep of `<data_dir>/tmp/exports` against real leases of the job runner, on SQLite and
on the real PostgreSQL (a loud skip outside CI when it does not answer, a failure with CI=true):
files of an attempt running under a live lease (in another process) are kept, everything no live
attempt will write again is deleted, counted and measured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete

from analytics_engine.exports.workspace import sweep_orphans
from analytics_engine.jobs.runner import JobRunner
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    yield request.getfixturevalue("postgres_url")


def runner(url: str, owner: str, lease_seconds: float) -> JobRunner:
    metadata = MetadataDB(url)
    metadata.migrate()
    job_runner = JobRunner(metadata, JobService(metadata), lease_seconds=lease_seconds, owner=owner)
    job_runner.register("export", lambda ctx: {}, max_attempts=2)
    return job_runner


def leave(root: Path, relative: str, size: int = 1000) -> Path:
    """A file as a writer leaves it (folders made as needed)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def swept_total() -> float:
    return REGISTRY.get_sample_value("analytics_export_orphans_swept_total") or 0.0


def test_sweep_keeps_live_attempts_and_removes_orphans(metadata_url: str, tmp_path: Path) -> None:
    root = tmp_path / "tmp" / "exports"
    alive = runner(metadata_url, "process-alive", lease_seconds=60)  # another process, running
    dead = runner(metadata_url, "process-dead", lease_seconds=0.2)  # a process that was killed

    live = alive.enqueue("export").id
    assert alive.claim() is not None  # attempt 1, lease live for a minute
    leave(root, f"{live}/a1/{live}.xlsx", 5000)
    leave(root, f"{live}/a1/xlsx-tmp/tmp1234", 3000)

    gave_up = dead.enqueue("export").id
    assert dead.claim() is not None  # attempt 1, then the process is killed
    time.sleep(0.3)
    assert alive.recover() == 1  # queued again
    assert dead.claim() is not None  # attempt 2 of 2, killed again
    time.sleep(0.3)
    assert alive.recover() == 1  # the give-up: failed, "stopped before it finished"
    assert alive.jobs.get(gave_up).state == "failed"
    leave(root, f"{gave_up}/a1/{gave_up}.parquet", 700)  # what both killed attempts left
    leave(root, f"{gave_up}/a2/{gave_up}.parquet", 900)
    leave(root, f"{gave_up}/a3/junk", 100)  # above its attempts, but an ended job never runs again

    expired = dead.enqueue("export").id
    assert dead.claim() is not None  # attempt 1; killed, its lease runs out, recovery has not run yet
    leave(root, f"{expired}/a1/{expired}.csv", 2000)
    time.sleep(0.3)

    queued = alive.enqueue("export").id  # not claimed yet: a folder numbered 1 is a claim after the read
    leave(root, f"{queued}/a1/{queued}.ndjson", 10)

    removed = alive.enqueue("export").id  # its record is deleted (DELETE /v1/exports/{id})
    leave(root, f"{removed}/a1/{removed}.json", 400)
    with alive.metadata.session() as session:
        session.execute(delete(Job).where(Job.id == removed))

    old_live = leave(root, f"{live}.xlsx-tmp/tmp9", 50)  # the layout before attempt folders
    leave(root, "job_unknown.xlsx", 60)

    before = swept_total()
    outcome = sweep_orphans(root, alive.metadata)
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == sorted(
        [
            f"{live}/a1/{live}.xlsx",
            f"{live}/a1/xlsx-tmp/tmp1234",
            f"{queued}/a1/{queued}.ndjson",
            str(old_live.relative_to(root)),
        ]
    )
    assert not (root / gave_up).exists() and not (root / removed).exists()
    # gave_up a1 + a2 + a3, expired a1, removed a1, job_unknown.xlsx
    assert outcome.removed == 6 and outcome.bytes == 2000 + 100 + 700 + 900 + 400 + 60
    assert outcome.kept == 3
    assert swept_total() - before == 6


def test_this_process_running_jobs_are_kept_whatever_the_lease(metadata_url: str, tmp_path: Path) -> None:
    root = tmp_path / "tmp" / "exports"
    slow = runner(metadata_url, "process-slow", lease_seconds=0.2)
    job = slow.enqueue("export").id
    assert slow.claim() is not None
    leave(root, f"{job}/a1/{job}.csv")
    time.sleep(0.3)  # its heartbeat is late: the lease has expired, but the handler still runs here
    assert sweep_orphans(root, slow.metadata, running_here={job}).removed == 0
    assert (root / job / "a1" / f"{job}.csv").exists()
    assert sweep_orphans(root, slow.metadata).removed == 1  # seen from another process: no live lease
    assert list(root.iterdir()) == []


def test_an_empty_or_missing_folder_reads_nothing(tmp_path: Path) -> None:
    metadata = MetadataDB(f"sqlite:///{tmp_path / 'meta.db'}")  # not migrated: a query would fail
    assert sweep_orphans(tmp_path / "missing", metadata).removed == 0
    (tmp_path / "empty").mkdir()
    assert sweep_orphans(tmp_path / "empty", metadata).removed == 0
