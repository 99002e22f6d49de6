"""Temporary export files: every way out of the handler removes its attempt folder (success, a
retried error, the give-up after the last attempt, a cancel, a request error), a new attempt removes
what a killed earlier attempt left, and the start-up of `serve` sweeps orphans and schedules the
sweep. The sweep's rules against real leases: tests/exports/test_orphan_sweep.py."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.exports.service import KIND
from analytics_engine.exports.worker import register_exports
from analytics_engine.exports.workspace import export_temp_dir
from analytics_engine.metadata.models import Job
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate
from tests.exports.helpers import fill_events

ROWS = 3_000


@pytest.fixture(scope="module")
def tenant_id(runtime: Runtime) -> str:
    tenant = runtime.tenants.create(TenantCreate(name="temp-cleanup"))
    fill_events(runtime, tenant.id, ROWS)
    register_exports(runtime)  # run_now below runs jobs in the test's thread; no loops run
    return tenant.id


class StoreProbe:
    """Wraps `storage.put_file`: records what the attempt folder held when the file was stored,
    then stores it, or raises while `failures` remain (a storage outage)."""

    def __init__(self, runtime: Runtime, failures: int = 0) -> None:
        self.runtime, self.failures = runtime, failures
        self.seen: list[list[str]] = []
        self._put = runtime.storage.put_file

    def __call__(self, tenant_id: str, key: str, path: Path) -> int:
        job_folder = path.parent.parent
        self.seen.append(sorted(str(p.relative_to(job_folder)) for p in job_folder.rglob("*")))
        if self.failures:
            self.failures -= 1
            raise OSError("storage unavailable")
        return self._put(tenant_id, key, path)


def enqueue(runtime: Runtime, tenant_id: str, fmt: str = "xlsx", source: dict[str, Any] | None = None) -> str:
    params = {"format": fmt, "source": source or {"type": "events"}}
    return runtime.runner.enqueue(KIND, tenant_id=tenant_id, params=params).id


def make_due(runtime: Runtime, job_id: str) -> None:
    """Skip the retry backoff."""
    with runtime.metadata.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(run_after=None))


def temp_entries(runtime: Runtime) -> list[str]:
    root = export_temp_dir(runtime.settings)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def probe(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreProbe]:
    store = StoreProbe(runtime)
    monkeypatch.setattr(runtime.storage, "put_file", store)
    yield store


def test_success_removes_the_attempt_folder(runtime: Runtime, tenant_id: str, probe: StoreProbe) -> None:
    job_id = enqueue(runtime, tenant_id)
    job = runtime.runner.run_now(job_id)
    assert job.state == "succeeded" and job.result["rows"] == ROWS
    assert f"a1/{job_id}.xlsx" in probe.seen[0] and "a1/xlsx-tmp" in probe.seen[0]
    assert temp_entries(runtime) == []
    stored = b"".join(runtime.storage.open(tenant_id, job.result["key"]))
    assert openpyxl.load_workbook(io.BytesIO(stored), read_only=True).active.max_row == ROWS + 1


def test_retry_then_give_up_leave_nothing(runtime: Runtime, tenant_id: str, probe: StoreProbe) -> None:
    probe.failures = 3  # every attempt fails while storing: retried twice, then given up
    job_id = enqueue(runtime, tenant_id, "csv")
    for attempt in (1, 2, 3):
        job = runtime.runner.run_now(job_id)
        assert job.attempts == attempt and "storage unavailable" in (job.error or "")
        assert f"a{attempt}/{job_id}.csv" in probe.seen[-1]
        assert temp_entries(runtime) == [], attempt
        if attempt < 3:
            assert job.state == "queued"
            make_due(runtime, job_id)
    assert job.state == "failed" and "(after 3 attempts)" in (job.error or "")


def test_cancel_and_request_error_leave_nothing(runtime: Runtime, tenant_id: str, probe: StoreProbe) -> None:
    job_id = enqueue(runtime, tenant_id)
    ctx = runtime.runner.claim(job_id=job_id)
    assert ctx is not None
    runtime.jobs.cancel(job_id)  # asked while running: the handler stops at its first progress
    assert runtime.runner.run_claimed(ctx).state == "cancelled"
    assert probe.seen == [] and temp_entries(runtime) == []

    missing = enqueue(runtime, tenant_id, source={"type": "dashboard", "dashboard_id": "dsh_missing"})
    failed = runtime.runner.run_now(missing)
    assert failed.state == "failed" and failed.attempts == 1  # a request error: no retry
    assert temp_entries(runtime) == []


def test_a_new_attempt_removes_what_a_killed_one_left(runtime: Runtime, tenant_id: str, probe: StoreProbe) -> None:
    job_id = enqueue(runtime, tenant_id, "ndjson")
    killed = export_temp_dir(runtime.settings) / job_id / "a1"
    (killed / "xlsx-tmp").mkdir(parents=True)
    (killed / f"{job_id}.ndjson").write_bytes(b'{"partial":' * 1000)
    with runtime.metadata.session() as session:  # as recovery leaves a killed first attempt
        session.execute(update(Job).where(Job.id == job_id).values(attempts=1))
    job = runtime.runner.run_now(job_id)
    assert job.state == "succeeded" and job.attempts == 2
    assert not any(entry.startswith("a1") for entry in probe.seen[0]), probe.seen
    assert temp_entries(runtime) == []


def test_serve_start_sweeps_orphans_and_schedules_the_sweep(
    settings: Settings, runtime: Runtime, tenant_id: str
) -> None:
    root = export_temp_dir(settings)
    gone = enqueue(runtime, tenant_id)
    with runtime.metadata.session() as session:  # attempt 1 was killed and recovery queued it again
        session.execute(update(Job).where(Job.id == gone).values(attempts=1))
    runtime.jobs.cancel(gone)  # then it was cancelled while queued: nothing runs it again
    (root / gone / "a1" / "xlsx-tmp").mkdir(parents=True)
    (root / gone / "a1" / "xlsx-tmp" / "tmpabc").write_bytes(b"x" * 4096)
    (root / "job_deadbeef.xlsx-tmp").mkdir(parents=True)  # the layout before attempt folders
    (root / "job_deadbeef.xlsx").write_bytes(b"x" * 100)
    with TestClient(create_app(settings, runtime)):
        assert temp_entries(runtime) == []
        assert "exports:sweep" in runtime.scheduler.names()
