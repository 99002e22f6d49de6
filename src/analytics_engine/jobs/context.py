"""What a job handler receives: its job, its tenant, a progress reporter and the cancel check."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_engine.jobs.runner import JobRunner


class JobCancelled(Exception):
    """Raised inside a handler when its job was asked to stop (or its lease was lost)."""


class JobFailed(Exception):
    """Raised by a handler for a failure that another attempt cannot fix: no retry."""


@dataclass
class JobContext:
    job_id: str
    kind: str
    tenant_id: str | None
    params: dict[str, Any]
    attempt: int
    runner: JobRunner
    # Set by the heartbeat thread when a cancel was requested or another process took the lease.
    stop: threading.Event = field(default_factory=threading.Event)

    def cancelled(self) -> bool:
        return self.stop.is_set()

    def check_cancelled(self) -> None:
        if self.stop.is_set():
            raise JobCancelled(self.job_id)

    def progress(self, rows_done: int, rows_total: int | None = None, cursor: str | None = None) -> None:
        """Record progress (also a heartbeat); raises `JobCancelled` when the job should stop."""
        if not self.runner.report_progress(self, rows_done, rows_total, cursor):
            self.stop.set()
        self.check_cancelled()
