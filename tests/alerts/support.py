"""Helpers shared by the alert tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from analytics_engine.alerts.models import AlertRule
from analytics_engine.metadata.models import Job, utcnow


def evaluate_due_now(runtime: Any, tenant_id: str) -> Job:
    """Make every rule of the tenant due, let the scheduler's tick enqueue its one evaluation job, and
    run that job here (not in the app's runner loop); it must succeed."""
    with runtime.metadata.session() as session:
        session.execute(
            update(AlertRule)
            .where(AlertRule.tenant_id == tenant_id)
            .values(next_evaluation_at=utcnow() - timedelta(seconds=1))
        )
    runtime.runner.paused = True
    try:
        jobs = runtime.alerts.tick()
        assert len(jobs) == 1
        job: Job = runtime.runner.run_now(jobs[0], wait=True)
    finally:
        runtime.runner.paused = False
    assert job.state == "succeeded", job
    return job
