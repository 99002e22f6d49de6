"""Stateless API replicas (issue 26), with real PostgreSQL, Redis and NATS and several processes.

What is proven here, on one machine:
- each job is claimed once: three processes run the job runner (the class `serve` runs) on one
  PostgreSQL metadata database; every job runs once, on one of them;
- each schedule slot runs once: the same three processes run the scheduler with one probe
  schedule; the slots are a whole interval apart, not three times as many;
- tenant concurrency budgets are counted across replicas: two BudgetServices (two replicas) share
  Redis; a slot held by one refuses the other;
- SSE across replicas (test_serve_replicas.py): three `serve` processes; an SSE client on one
  replica is refreshed by ingest on another, through the NATS bus.
What needs a ClickHouse server (docs/runbook.md): several replicas answering from one warehouse.
Here each `serve` has its own chDB folder (chDB is one process per folder), so the warehouse is not
what these tests prove.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from analytics_engine.budgets.service import BudgetService
from analytics_engine.config import Settings
from analytics_engine.errors import BudgetExceeded
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job
from tests.support.services import REDIS, require_service

pytestmark = pytest.mark.postgres
WORKER = Path(__file__).with_name("replica_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    return env


def test_jobs_are_claimed_once_and_schedule_slots_run_once_across_three_processes(postgres_url: str):
    metadata = MetadataDB(postgres_url)
    metadata.migrate()
    with metadata.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scale_probe_runs (owner text, what text, at timestamptz)"))
    jobs = JobService(metadata)
    ids = [jobs.create("scale.probe", max_attempts=1).id for _ in range(60)]
    seconds, interval = 8.0, 1.0
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), postgres_url, f"replica-{n}", str(seconds), str(interval)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    try:
        time.sleep(seconds / 2)
        ids += [jobs.create("scale.probe", max_attempts=1).id for _ in range(30)]  # while they run
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    with metadata.engine.begin() as conn:
        runs = conn.execute(text("SELECT owner, what, at FROM scale_probe_runs ORDER BY at")).all()
    job_runs = [(owner, what.removeprefix("job:")) for owner, what, _ in runs if what.startswith("job:")]
    assert sorted(job_id for _, job_id in job_runs) == sorted(ids), "every job ran exactly once"
    print("jobs per replica:", {o: sum(1 for w, _ in job_runs if w == o) for o in {w for w, _ in job_runs}})
    with metadata.session() as session:
        rows = session.query(Job).filter(Job.id.in_(ids)).all()
        assert {(row.state, row.attempts) for row in rows} == {("succeeded", 1)}
        ran_by = {row.id: (row.result or {}).get("ran_by") for row in rows}
    assert ran_by == {job_id: owner for owner, job_id in job_runs}

    # Three replicas, one run per slot: at most one run per interval (without the claim: about three).
    # The recorded times are when each run started its work, which a loaded machine delays, so the
    # count is the proof, not the spacing of the times.
    slots = [at for _, what, at in runs if what == "schedule"]
    assert 3 <= len(slots) <= seconds / interval + 2, slots
    metadata.dispose()


def test_tenant_concurrency_is_counted_across_replicas_in_redis(postgres_url: str, tmp_path: Path):
    require_service("Redis", REDIS)
    settings = Settings(
        data_dir=tmp_path,
        metadata_url=postgres_url,
        cache_url="redis://127.0.0.1:6379/0",
        budget_max_concurrent_queries=2,
    )  # type: ignore[call-arg]
    metadata = MetadataDB(postgres_url)
    metadata.migrate()
    replica_a, replica_b = BudgetService(metadata, settings), BudgetService(metadata, settings)
    tenant_id = f"tn_{uuid.uuid4().hex[:10]}"
    try:
        assert replica_a.shared is not None
        with replica_a.admit(tenant_id), replica_b.admit(tenant_id):
            assert replica_a.running(tenant_id) == replica_b.running(tenant_id) == 2
            for replica in (replica_a, replica_b):
                with pytest.raises(BudgetExceeded) as refused, replica.admit(tenant_id):
                    pass
                assert refused.value.details["limit"] == "max_concurrent_queries"
                assert refused.value.details["running"] == 2
            assert replica_b.usage(tenant_id).usage.running == 2
        assert replica_a.running(tenant_id) == 0  # released on exit
        with replica_b.admit(tenant_id):
            assert replica_a.running(tenant_id) == 1
    finally:
        replica_a.close()
        replica_b.close()
        metadata.dispose()


def test_a_lapsed_slot_of_a_dead_replica_frees_itself(tmp_path: Path):
    require_service("Redis", REDIS)
    from analytics_engine.budgets.shared import SharedSlots

    slots = SharedSlots("redis://127.0.0.1:6379/0")
    tenant_id = f"tn_{uuid.uuid4().hex[:10]}"
    try:
        assert slots.acquire(tenant_id, "dead-replica", 1, 0.3) == (True, 1)
        assert slots.acquire(tenant_id, "live", 1, 5) == (False, 1)
        time.sleep(0.5)
        assert slots.acquire(tenant_id, "live", 1, 5) == (True, 1)
        slots.release(tenant_id, "live")
        assert slots.running(tenant_id) == 0
    finally:
        slots.close()
