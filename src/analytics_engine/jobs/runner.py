"""The one job runner: handlers register by kind; runners in any number of processes claim queued
jobs atomically, hold a lease kept alive by a heartbeat, report progress, honour cancellation,
retry failures with exponential backoff and recover jobs whose lease expired (their process died).

Claiming is a compare-and-set, `UPDATE ... WHERE id = :id AND state = 'queued'`, so of two runners
that race for one job exactly one sees a changed row; on PostgreSQL the candidate rows are also read
`FOR UPDATE SKIP LOCKED` so runners do not queue behind each other. Recovery only touches `running`
jobs whose `lease_expires_at` has passed: a process that starts never fails another's live job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from analytics_engine.errors import AppError
from analytics_engine.jobs.context import JobCancelled, JobContext, JobFailed
from analytics_engine.jobs.schemas import FINAL_STATES, JobPublic, JobState
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.observability.metrics import JOBS_FINISHED

log = structlog.get_logger(__name__)

Handler = Callable[[JobContext], dict[str, Any] | None]
After = Callable[[JobPublic], Awaitable[None]]


@dataclass(frozen=True)
class Registration:
    kind: str
    handler: Handler
    max_attempts: int = 3
    backoff_seconds: float = 5.0  # the n-th retry waits backoff * 2**(n-1)
    after: After | None = None  # awaited in the event loop once a job of this kind finished


def backoff_delay(base_seconds: float, attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2*base, 4*base... capped at one hour."""
    return timedelta(seconds=min(3600.0, base_seconds * 2 ** max(0, attempts - 1)))


class JobRunner:
    def __init__(
        self,
        metadata: MetadataDB,
        jobs: JobService,
        *,
        lease_seconds: float = 30.0,
        concurrency: int = 2,
        poll_seconds: float = 1.0,
        owner: str | None = None,
    ) -> None:
        self.metadata, self.jobs = metadata, jobs
        self.lease_seconds, self.concurrency, self.poll_seconds = lease_seconds, concurrency, poll_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.handlers: dict[str, Registration] = {}
        self.paused = False  # while True, no new job is claimed (maintenance, tests)
        self.running: set[str] = set()
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._contexts: dict[str, JobContext] = {}

    # --- registration and enqueueing ---------------------------------------------------------------
    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 5.0,
        after: After | None = None,
    ) -> None:
        self.handlers[kind] = Registration(kind, handler, max_attempts, backoff_seconds, after)

    def enqueue(
        self,
        kind: str,
        *,
        tenant_id: str | None = None,
        params: dict[str, Any] | None = None,
        source: str | None = None,
        job_id: str | None = None,
    ) -> JobPublic:
        registration = self.handlers.get(kind)
        job = self.jobs.create(
            kind,
            tenant_id=tenant_id,
            source=source,
            params=params,
            job_id=job_id,
            max_attempts=registration.max_attempts if registration else 3,
        )
        self.wake()
        return job

    def wake(self) -> None:
        if self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._wake.set()

    # --- claiming ----------------------------------------------------------------------------------
    def _lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_seconds)

    def claim(self, kinds: list[str] | None = None, job_id: str | None = None) -> JobContext | None:
        """Take the oldest due queued job of a registered kind (or exactly `job_id`), or None."""
        kinds = kinds if kinds is not None else list(self.handlers)
        if not kinds:
            return None
        now = utcnow()
        query = (
            select(Job.id)
            .where(Job.state == JobState.queued.value, Job.kind.in_(kinds))
            .where(or_(Job.run_after.is_(None), Job.run_after <= now))
            .order_by(Job.created_at)
            .limit(5)
        )
        if job_id is not None:
            query = query.where(Job.id == job_id)
        if self.metadata.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.metadata.session() as session:
            for candidate in session.scalars(query).all():
                changed = changed_rows(
                    session,
                    update(Job)
                    .where(Job.id == candidate, Job.state == JobState.queued.value)
                    .values(
                        state=JobState.running.value,
                        attempts=Job.attempts + 1,
                        lease_owner=self.owner,
                        lease_expires_at=self._lease_until(),
                        heartbeat_at=now,
                        started_at=now,
                        finished_at=None,
                    )
                    .execution_options(synchronize_session=False),
                )
                if changed == 1:
                    job = session.get(Job, candidate)
                    assert job is not None
                    session.refresh(job)
                    return JobContext(job.id, job.kind, job.tenant_id, dict(job.params or {}), job.attempts, self)
        return None

    # --- while a job runs --------------------------------------------------------------------------
    def _mine(self, job_id: str) -> Any:
        return and_(Job.id == job_id, Job.state == JobState.running.value, Job.lease_owner == self.owner)

    def heartbeat(self, ctx: JobContext) -> bool:
        """Extend the lease; False when the job should stop (cancel asked, or the lease was lost)."""
        with self.metadata.session() as session:
            changed = changed_rows(
                session,
                update(Job)
                .where(self._mine(ctx.job_id))
                .values(heartbeat_at=utcnow(), lease_expires_at=self._lease_until())
                .execution_options(synchronize_session=False),
            )
            cancel = session.scalar(select(Job.cancel_requested).where(Job.id == ctx.job_id))
        return changed == 1 and not cancel

    def report_progress(self, ctx: JobContext, rows_done: int, rows_total: int | None, cursor: str | None) -> bool:
        values: dict[str, Any] = {
            "rows_done": rows_done,
            "heartbeat_at": utcnow(),
            "lease_expires_at": self._lease_until(),
        }
        if rows_total is not None:
            values["rows_total"] = rows_total
        if cursor is not None:
            values["cursor"] = cursor
        with self.metadata.session() as session:
            changed = changed_rows(
                session,
                update(Job).where(self._mine(ctx.job_id)).values(**values).execution_options(synchronize_session=False),
            )
            cancel = session.scalar(select(Job.cancel_requested).where(Job.id == ctx.job_id))
        return changed == 1 and not cancel

    def _finish(self, ctx: JobContext, **values: Any) -> bool:
        """Close the job only while this runner still holds it (a recovered job is not ours)."""
        values.setdefault("finished_at", utcnow())
        values.update(lease_owner=None, lease_expires_at=None)
        with self.metadata.session() as session:
            mine = bool(
                changed_rows(
                    session,
                    update(Job)
                    .where(self._mine(ctx.job_id))
                    .values(**values)
                    .execution_options(synchronize_session=False),
                )
            )
        if mine:
            state = values.get("state")
            if state == JobState.queued.value:
                outcome = "retried" if values.get("run_after") is not None else "requeued"
            else:
                outcome = str(state)
            JOBS_FINISHED.labels(ctx.kind, outcome).inc()
        return mine

    # --- one job -----------------------------------------------------------------------------------
    def run_claimed(self, ctx: JobContext) -> JobPublic:
        """Run a claimed job to its end: success, cancellation, a retry later, or failure."""
        registration = self.handlers.get(ctx.kind)
        if registration is None:  # claimed by id before its kind registered here
            self._finish(ctx, state=JobState.queued.value, attempts=Job.attempts - 1, finished_at=None)
            return self.jobs.get(ctx.job_id)
        stop_beat = threading.Event()

        def beat() -> None:
            while not stop_beat.wait(max(0.05, self.lease_seconds / 3)):
                with contextlib.suppress(Exception):
                    if not self.heartbeat(ctx):
                        ctx.stop.set()

        beater = threading.Thread(target=beat, name=f"heartbeat-{ctx.job_id}", daemon=True)
        beater.start()
        self.running.add(ctx.job_id)
        self._contexts[ctx.job_id] = ctx
        if self._stopping.is_set():
            ctx.stop.set()
        try:
            result = registration.handler(ctx)
            self._finish(ctx, state=JobState.succeeded.value, result=result or {}, error=None, run_after=None)
        except JobCancelled:
            if self._stopping.is_set() and not self._cancel_requested(ctx.job_id):
                # The service is stopping: back to the queue, not a used-up attempt.
                self._finish(ctx, state=JobState.queued.value, attempts=Job.attempts - 1, finished_at=None)
            else:
                self._finish(ctx, state=JobState.cancelled.value)
        except (JobFailed, AppError) as exc:
            self._finish(ctx, state=JobState.failed.value, error=_message(exc))
        except Exception as exc:
            log.exception("jobs.handler_failed", job_id=ctx.job_id, kind=ctx.kind, attempt=ctx.attempt)
            self._retry_or_fail(ctx, registration, _message(exc))
        finally:
            stop_beat.set()
            beater.join(timeout=5)
            self.running.discard(ctx.job_id)
            self._contexts.pop(ctx.job_id, None)
        return self.jobs.get(ctx.job_id)

    def _retry_or_fail(self, ctx: JobContext, registration: Registration, error: str) -> None:
        if ctx.attempt < registration.max_attempts:
            self._finish(
                ctx,
                state=JobState.queued.value,
                error=error,
                finished_at=None,
                run_after=utcnow() + backoff_delay(registration.backoff_seconds, ctx.attempt),
            )
        else:
            self._finish(ctx, state=JobState.failed.value, error=f"{error} (after {ctx.attempt} attempts)")

    def _cancel_requested(self, job_id: str) -> bool:
        with self.metadata.session() as session:
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def run_once(self, kinds: list[str] | None = None) -> JobPublic | None:
        ctx = self.claim(kinds)
        return None if ctx is None else self.run_claimed(ctx)

    def run_now(self, job_id: str, *, wait: bool = False, timeout: float = 3600.0) -> JobPublic:
        """Claim and run one given job in this thread (`wait=true` requests, the CLI, tests); if
        another runner already took it, answer its current status (with `wait`, its final one)."""
        kind = self.jobs.get(job_id).kind
        if kind not in self.handlers:
            raise RuntimeError(f"No handler registered for job kind {kind!r}.")
        ctx = self.claim(kinds=[kind], job_id=job_id)
        if ctx is not None:
            return self.run_claimed(ctx)
        job = self.jobs.get(job_id)
        deadline = time.monotonic() + timeout
        while wait and job.state not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(0.1)
            job = self.jobs.get(job_id)
        return job

    # --- recovery ----------------------------------------------------------------------------------
    def recover(self) -> int:
        """Jobs whose lease expired (their process died): queued again while attempts remain, else
        failed. A job with a live lease is never touched, whoever holds it."""
        now = utcnow()
        # Only leased rows: a job run outside the runner has no lease and is not judged here.
        expired = and_(Job.state == JobState.running.value, Job.lease_expires_at < now)
        with self.metadata.session() as session:
            requeued = changed_rows(
                session,
                update(Job)
                .where(expired, Job.attempts < Job.max_attempts, Job.cancel_requested.is_(False))
                .values(state=JobState.queued.value, lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False),
            )
            failed = changed_rows(
                session,
                update(Job)
                .where(expired)
                .values(
                    state=JobState.failed.value,
                    error="The process running this job stopped before it finished.",
                    finished_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False),
            )
        if requeued or failed:
            log.info("jobs.recovered", requeued=requeued, failed=failed)
        return int(requeued) + int(failed)

    # --- inside `serve` ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping.clear()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self.recover)
        for number in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"job-runner-{number}"))
        self._watcher = asyncio.create_task(self._watch(), name="job-recovery")

    async def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        for ctx in list(self._contexts.values()):
            ctx.stop.set()  # handlers stop at their next check; their jobs go back to the queue
        self.wake()
        # Only tasks of this event loop can be awaited here; a loop that has ended (an app that was
        # started on the same runtime and never stopped) took its tasks with it.
        loop = asyncio.get_running_loop()
        if self._watcher is not None and self._watcher.get_loop() is loop:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self._watcher = None
        mine = [task for task in self._tasks if task.get_loop() is loop]
        if mine:
            _, pending = await asyncio.wait(mine, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*mine, return_exceptions=True)
        self._tasks.clear()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(max(0.2, self.lease_seconds / 2))
            try:
                if await asyncio.to_thread(self.recover):
                    self.wake()
            except Exception as exc:  # the metadata DB may blink; try again next time
                log.warning("jobs.recover_failed", error=str(exc))

    async def _loop(self) -> None:
        assert self._wake is not None
        while not self._stopping.is_set():
            try:
                ctx = None if self.paused else await asyncio.to_thread(self.claim)
            except Exception as exc:
                log.warning("jobs.claim_failed", error=str(exc))
                ctx = None
            if ctx is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                continue
            job = await asyncio.to_thread(self.run_claimed, ctx)
            after = self.handlers[ctx.kind].after
            if after is not None:
                try:
                    await after(job)
                except Exception:
                    log.exception("jobs.after_failed", job_id=job.id, kind=job.kind)


def changed_rows(session: Session, statement: Update) -> int:
    """Rows an UPDATE changed: the compare-and-set's answer (1: this runner won)."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)


def _message(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:500]
