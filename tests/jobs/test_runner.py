"""The one job runner: claims, leases, recovery, cancellation, retries, progress; on SQLite and on
the real PostgreSQL (127.0.0.1:5432, db `test`; a loud skip outside CI when it does not answer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.runner import JobRunner, backoff_delay
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job, utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    yield request.getfixturevalue("postgres_url")


def two_processes(url: str, lease_seconds: float = 30.0) -> tuple[JobRunner, JobRunner]:
    """Two runners with their own engines, as two processes sharing one metadata DB would have."""
    first = MetadataDB(url)
    first.migrate()
    second = MetadataDB(url)
    return (
        JobRunner(first, JobService(first), lease_seconds=lease_seconds, owner="process-a"),
        JobRunner(second, JobService(second), lease_seconds=lease_seconds, owner="process-b"),
    )


def test_claim_race_exactly_one_runner_wins(metadata_url: str) -> None:
    a, b = two_processes(metadata_url)
    for runner in (a, b):
        runner.register("demo", lambda ctx: {})
    for _ in range(15):
        job = a.enqueue("demo")
        barrier = threading.Barrier(2)
        won: dict[str, object] = {}

        def race(runner: JobRunner, barrier: threading.Barrier, won: dict[str, object]) -> None:
            barrier.wait()
            won[runner.owner] = runner.claim()

        threads = [threading.Thread(target=race, args=(r, barrier, won)) for r in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [ctx for ctx in won.values() if ctx is not None]
        assert len(winners) == 1, won
        assert a.jobs.get(job.id).state == "running" and a.jobs.get(job.id).attempts == 1


def test_expired_lease_is_requeued_then_failed_after_max_attempts(metadata_url: str) -> None:
    dead, fresh = two_processes(metadata_url, lease_seconds=0.2)
    for runner in (dead, fresh):
        runner.register("demo", lambda ctx: {}, max_attempts=2)
    job = dead.enqueue("demo")
    assert dead.claim() is not None  # then the process "dies": no heartbeat, no finish
    time.sleep(0.3)
    assert fresh.recover() == 1
    assert fresh.jobs.get(job.id).state == "queued"
    assert fresh.claim() is not None and fresh.jobs.get(job.id).attempts == 2
    time.sleep(0.3)
    assert dead.recover() == 1
    failed = dead.jobs.get(job.id)
    assert failed.state == "failed" and "stopped" in (failed.error or "")


def test_a_starting_process_never_touches_a_live_job(metadata_url: str) -> None:
    live, starting = two_processes(metadata_url, lease_seconds=0.6)
    started, release = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> dict[str, int]:
        started.set()
        release.wait(10)
        return {"ok": 1}

    live.register("demo", slow)
    starting.register("demo", slow)
    job = live.enqueue("demo")
    worker = threading.Thread(target=live.run_once)
    worker.start()
    assert started.wait(5)
    deadline = time.monotonic() + 1.5  # longer than the lease: only heartbeats keep it alive
    while time.monotonic() < deadline:
        assert starting.recover() == 0
        assert starting.claim() is None
        time.sleep(0.1)
    assert starting.jobs.get(job.id).state == "running"
    release.set()
    worker.join(5)
    assert live.jobs.get(job.id).state == "succeeded" and live.jobs.get(job.id).result == {"ok": 1}


def test_cancellation_stops_a_running_handler(metadata_url: str) -> None:
    runner, other = two_processes(metadata_url, lease_seconds=0.3)
    started = threading.Event()

    def loop(ctx: JobContext) -> None:
        started.set()
        for step in range(200):
            ctx.progress(step, 200)
            time.sleep(0.02)

    runner.register("demo", loop)
    job = runner.enqueue("demo")
    worker = threading.Thread(target=runner.run_once)
    worker.start()
    assert started.wait(5)
    other.jobs.cancel(job.id)  # from the other process, as the API would
    worker.join(5)
    done = runner.jobs.get(job.id)
    assert done.state == "cancelled" and done.rows_done < 199


def test_retry_with_backoff_then_failure(metadata_url: str) -> None:
    runner, _ = two_processes(metadata_url)
    calls: list[int] = []

    def flaky(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError(f"boom {ctx.attempt}")

    runner.register("demo", flaky, max_attempts=3, backoff_seconds=0.2)
    job = runner.enqueue("demo")
    before = utcnow()
    runner.run_once()
    first = runner.jobs.get(job.id)
    assert first.state == "queued" and first.error == "boom 1" and first.run_after is not None
    wait = first.run_after.replace(tzinfo=before.tzinfo) - before
    assert timedelta(seconds=0.15) <= wait <= timedelta(seconds=1)
    assert runner.run_once() is None  # not due yet: the backoff holds it back
    time.sleep(0.25)
    runner.run_once()
    second = runner.jobs.get(job.id)
    assert second.state == "queued" and second.error == "boom 2"
    assert backoff_delay(0.2, 2) == timedelta(seconds=0.4)  # doubled for the second retry
    time.sleep(0.45)
    runner.run_once()
    last = runner.jobs.get(job.id)
    assert calls == [1, 2, 3]
    assert last.state == "failed" and "boom 3" in (last.error or "") and last.attempts == 3


def test_finish_is_refused_once_the_lease_was_lost(metadata_url: str) -> None:
    runner, _ = two_processes(metadata_url)
    runner.register("demo", lambda ctx: {})
    job = runner.enqueue("demo")
    ctx = runner.claim()
    assert ctx is not None
    with runner.metadata.session() as session:  # another process recovered and re-claimed it
        session.execute(update(Job).where(Job.id == job.id).values(lease_owner="someone-else"))
    assert runner.heartbeat(ctx) is False
    runner.run_claimed(ctx)
    assert runner.jobs.get(job.id).state == "running"  # the other owner's job is left alone
