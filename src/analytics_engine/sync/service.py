"""Sync as the rest of the service sees it: declare and list sources, start a run as a job of the
one job runner (`sync.backfill`, `sync.run`, `sync.reconcile`; run here for the CLI and the
schedule, in a thread of its own for the API), verify a source against PostgreSQL, and the schedule
that syncs every source on an interval."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from datetime import UTC, timedelta
from typing import Any, Protocol

import structlog
from psycopg import sql

from analytics_engine.config import Settings
from analytics_engine.core import Core
from analytics_engine.errors import Conflict
from analytics_engine.jobs.context import JobCancelled, JobContext, JobFailed
from analytics_engine.jobs.schemas import JobPublic, JobState
from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.scheduler.core import Every
from analytics_engine.sync import postgres
from analytics_engine.sync.engine import Progress, SourceRun, cursor_text, describe_error, read_order
from analytics_engine.sync.registry import SourceRegistry
from analytics_engine.sync.spec import SourceSpec, TableTarget
from analytics_engine.sync.targets import EventsWriter, TableWriter, pg_key_term
from analytics_engine.sync.verify import EventsComparison, TableComparison

log = structlog.get_logger(__name__)

KINDS = {"backfill": "sync.backfill", "sync": "sync.run", "reconcile": "sync.reconcile"}
# A running job of another host whose heartbeat is older than this is taken as dead.
STALE_AFTER = timedelta(minutes=10)
# A run whose process died is queued again by the runner's lease recovery this many times in all.
MAX_ATTEMPTS = 3


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SyncService:
    def __init__(self, runtime: Core) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.registry = SourceRegistry(runtime.metadata, runtime.settings.sync_sources_file)
        self._active: set[str] = set()  # sources with a run in this process
        self._lock = threading.Lock()
        # Per job run here: the caller's progress display and after-write hook (CLI, tests).
        self._observers: dict[str, tuple[Progress | None, Any]] = {}
        self.register_jobs()

    # --- sources --------------------------------------------------------------------------------
    def describe_source(self, spec: SourceSpec, origin: str) -> dict[str, Any]:
        checkpoint = self.registry.checkpoint(spec.name)
        last = self._jobs_of(spec.name, limit=1)
        return {
            "name": spec.name,
            "origin": origin,
            "spec": spec.public(),
            "checkpoint": checkpoint.public(),
            "last_job": last[0].model_dump(mode="json") if last else None,
        }

    def list_sources(self) -> list[dict[str, Any]]:
        return [self.describe_source(spec, origin) for spec, origin in self.registry.all()]

    def get_source(self, name: str) -> dict[str, Any]:
        return self.describe_source(*self.registry.get(name))

    def create_source(self, spec: SourceSpec) -> dict[str, Any]:
        self.registry.create(spec)
        self.schedule(spec.name)
        return self.describe_source(spec, "api")

    def delete_source(self, name: str) -> None:
        self._refuse_if_running(name)
        self.registry.delete(name)
        self.runtime.scheduler.remove(f"sync:{name}")

    def check_source(self, name: str) -> dict[str, Any]:
        """Connect, describe and derive the warehouse schema without writing anything."""
        spec, _ = self.registry.get(name)
        conn = postgres.connect(spec)
        try:
            columns = postgres.describe(conn, spec)
            kind = postgres.cursor_kind(spec, columns)
            plan = postgres.ReadPlan(spec, columns, kind)
            rows = plan.count(conn, None, None)
        finally:
            conn.close()
        answer: dict[str, Any] = {
            "name": name,
            "cursor_kind": kind,
            "source_rows": rows,
            "columns": [
                {"name": c.name, "postgres_type": c.pg_type, "warehouse_type": c.ch_column_type} for c in columns
            ],
        }
        if isinstance(spec.target, TableTarget):
            writer = TableWriter(self.runtime.warehouse, spec, columns)
            writer.check()
            answer["warehouse_table"] = spec.target.table
            answer["ddl"] = ";\n\n".join(writer.ddl())
        return answer

    # --- runs -----------------------------------------------------------------------------------
    def _jobs_of(self, name: str, *, state: str | None = None, limit: int = 20) -> list[JobPublic]:
        jobs = []
        for kind in KINDS.values():
            jobs += [j for j in self.runtime.jobs.list(kind=kind, state=state, limit=200) if j.source == name]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        return jobs[:limit]

    def _live_jobs(self, name: str) -> list[JobPublic]:
        """The source's queued and running jobs, after closing those whose process is gone: a lease
        that expired is the runner's to judge (`recover`: queued again while attempts remain, else
        failed); a lease held by a process of this host that no longer exists (SIGKILL, OOM) is
        failed at once, and the next run resumes from the checkpoint."""
        self.runtime.runner.recover()
        live = []
        for state in (JobState.running.value, JobState.queued.value):
            for job in self._jobs_of(name, state=state, limit=50):
                if state == JobState.running.value and self._dead(job):
                    self.runtime.jobs.fail(
                        job.id,
                        "The process running this job stopped before it finished (killed or crashed); the "
                        "next run resumes from the last checkpoint.",
                    )
                    continue
                if state == JobState.queued.value and self._enqueuer_dead(job):
                    # Enqueued by a process killed before it claimed the job (the CLI): nobody waits for it.
                    self.runtime.jobs.fail(job.id, "The process that started this job stopped before it ran.")
                    continue
                live.append(job)
        return live

    def _dead(self, job: JobPublic) -> bool:
        with self.runtime.metadata.session() as session:
            row = session.get(Job, job.id)
            owner = row.lease_owner if row is not None else None
        if owner is None:  # a run from before the job runner: judged by the pid it recorded
            beat = job.started_at or job.created_at
            return self._enqueuer_dead(job) or beat.replace(tzinfo=beat.tzinfo or UTC) < utcnow() - STALE_AFTER
        host, _, rest = owner.partition(":")  # the runner's owner: "host:pid:nonce"
        pid = rest.split(":", 1)[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False  # another host's: its lease decides (runner.recover)
        if int(pid) == os.getpid():
            # This process's: dead when neither its runner nor a caller of `execute` holds it any
            # more (the handler thread ended without closing the job).
            return job.id not in self.runtime.runner.running and job.id not in self._observers
        return not _alive(int(pid))

    @staticmethod
    def _enqueuer_dead(job: JobPublic) -> bool:
        pid, host = job.params.get("pid"), job.params.get("host")
        return host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and not _alive(pid)

    def _refuse_if_running(self, name: str) -> None:
        """One run per source at a time (see `_live_jobs` for runs whose process died)."""
        for job in self._live_jobs(name):
            raise Conflict(f"Sync source {name!r} is already being copied by job {job.id} ({job.state}).")

    def start(self, name: str, mode: str = "sync", *, restart: bool = False) -> JobPublic:
        """Enqueue the run's job on the one job runner (validating the source name); a queued job
        of the same run (one the runner put back after its process died) is taken instead."""
        spec, _ = self.registry.get(name)
        with self._lock:
            if name in self._active:
                raise Conflict(f"Sync source {name!r} is already being copied by this process.")
            for job in self._live_jobs(name):
                same = job.kind == KINDS[mode] and bool(job.params.get("restart")) == restart
                if job.state == JobState.queued.value and same:
                    return job
                if self._first_run_is_the_backfill(name, mode, restart, job):
                    return job
                raise Conflict(f"Sync source {name!r} is already being copied by job {job.id} ({job.state}).")
            return self.runtime.runner.enqueue(
                KINDS[mode],
                tenant_id=spec.tenant_id,
                source=name,
                params={"mode": mode, "restart": restart, "pid": os.getpid(), "host": socket.gethostname()},
            )

    def _first_run_is_the_backfill(self, name: str, mode: str, restart: bool, job: JobPublic) -> bool:
        """A backfill asked for while the source's first sync runs: that sync is the backfill (a source
        never backfilled is backfilled by its first run), so the caller gets its job, not a 409."""
        return (
            mode == "backfill"
            and not restart
            and job.kind == KINDS["sync"]
            and not self.registry.checkpoint(name).backfill_done
        )

    def register_jobs(self) -> None:
        """Runs are jobs of the one runner. A run that fails is not retried (the next one resumes
        from the checkpoint); a run whose process died is queued again by the runner's lease
        recovery while attempts remain, and resumes from the checkpoint."""
        for kind in KINDS.values():
            if kind not in self.runtime.runner.handlers:
                self.runtime.runner.register(kind, self.handle_job, max_attempts=MAX_ATTEMPTS)

    def execute(self, job_id: str, *, progress: Progress | None = None, after_write: Any = None) -> JobPublic:
        """Run a queued job here through the runner and wait for its end (if a runner loop took
        it first, wait for that one); the job row says how it went (never raises for a failed run)."""
        self._observers[job_id] = (progress, after_write)
        try:
            return self.runtime.runner.run_now(job_id, wait=True)
        finally:
            self._observers.pop(job_id, None)

    def handle_job(self, ctx: JobContext) -> dict[str, Any]:
        """The handler of the three sync kinds: progress and cancellation through the context."""
        name = self.runtime.jobs.get(ctx.job_id).source or ""
        progress, after_write = self._observers.get(ctx.job_id, (None, None))
        with self._lock:
            self._active.add(name)
        try:
            return self._execute(ctx, name, progress, after_write)
        finally:
            with self._lock:
                self._active.discard(name)

    def _execute(self, ctx: JobContext, name: str, progress: Progress | None, after_write: Any) -> dict[str, Any]:
        job_id = ctx.job_id

        def report(done: int, total: int | None, cursor: list[str] | None) -> None:
            ctx.progress(done, total, cursor_text(cursor))  # raises JobCancelled when asked to stop
            if progress:
                progress(done, total, cursor)

        try:
            spec, _ = self.registry.get(name)
            run = SourceRun(
                spec,
                warehouse=self.runtime.warehouse,
                writer=self.runtime.writer,
                limits=self.runtime.limits,
                registry=self.registry,
                chunk_rows=self.settings.sync_chunk_rows,
                overlap_seconds=self.settings.sync_overlap_seconds,
                job_id=job_id,
                progress=report,
                after_write=after_write,
            )
            if ctx.params.get("mode") == "reconcile":
                result = run.reconcile()
                log.info("sync.reconciled", source=name, job=job_id, **result)
                return result
            # Only the first attempt empties the target: a recovered attempt resumes the restart.
            if ctx.params.get("restart") and ctx.attempt == 1:
                self._restart(run)
            outcome = run.run()
        except JobCancelled:
            log.info("sync.cancelled", source=name, job=job_id)
            self._settle(name)
            raise
        except Exception as exc:
            message = describe_error(exc)
            log.warning("sync.failed", source=name, job=job_id, error=message)
            self._settle(name)
            raise JobFailed(message) from exc
        log.info("sync.done", source=name, job=job_id, rows=outcome.rows, seconds=round(outcome.seconds, 2))
        return outcome.as_result()

    def _restart(self, run: SourceRun) -> None:
        """`backfill --restart`: empty the target and forget the checkpoint (validated first)."""
        conn, _, target = run.prepare()
        conn.close()
        if isinstance(target, TableWriter):
            target.remove_after(None)
        self.registry.reset_checkpoint(run.spec.name)

    def _settle(self, name: str) -> None:
        """After a failed or cancelled run: remove a chunk written past the checkpoint now, so the
        warehouse holds exactly what the checkpoint says (best effort; the next run does it anyway)."""
        try:
            spec, _ = self.registry.get(name)
            checkpoint = self.registry.checkpoint(name)
            if not checkpoint.in_doubt or not isinstance(spec.target, TableTarget):
                return
            conn = postgres.connect(spec)
            try:
                columns = postgres.describe(conn, spec)
            finally:
                conn.close()
            order = read_order(spec, postgres.cursor_kind(spec, columns), checkpoint)
            TableWriter(self.runtime.warehouse, spec, columns).remove_after(checkpoint.cursor, order)
            self.registry.save_checkpoint(name, in_doubt=False)
        except Exception as exc:  # the next run cleans up instead
            log.warning("sync.settle_failed", source=name, error=str(exc))

    def run(
        self, name: str, mode: str = "sync", *, restart: bool = False, progress: Progress | None = None
    ) -> JobPublic:
        return self.execute(self.start(name, mode, restart=restart).id, progress=progress)

    def run_in_background(self, name: str, mode: str = "sync", *, restart: bool = False) -> JobPublic:
        """For the API: the queued job now; the runner runs it at once in a thread of its own (a
        runner loop that claims it first runs it instead). Progress at /v1/jobs/{id}."""
        job = self.start(name, mode, restart=restart)
        threading.Thread(target=self.execute, args=(job.id,), name=f"sync:{name}", daemon=True).start()
        return job

    # --- verification ---------------------------------------------------------------------------
    def verify(self, name: str, *, repair: bool = False) -> dict[str, Any]:
        """PostgreSQL against the warehouse: the values of every synced column per key range (table
        targets; `sync/verify.py`) or the presence of every row's event (events targets), plus, for
        tables, rows and a key checksum per tenant. `repair`: copy the differing ranges again, then
        verify once more (refused while a run of the source is going)."""
        spec, _ = self.registry.get(name)
        if not repair:
            return self._verify(spec, repair=False)
        with self._lock:
            if name in self._active:
                raise Conflict(f"Sync source {name!r} is being copied by this process; repair after the run.")
            self._refuse_if_running(name)
            self._active.add(name)
        try:
            return self._verify(spec, repair=True)
        finally:
            with self._lock:
                self._active.discard(name)

    def _verify(self, spec: SourceSpec, *, repair: bool) -> dict[str, Any]:
        conn = postgres.connect(spec)
        try:
            columns = postgres.describe(conn, spec)
            plan = postgres.ReadPlan(spec, columns, postgres.cursor_kind(spec, columns))
            if isinstance(spec.target, TableTarget):
                return self._verify_table(conn, spec, plan, repair=repair)
            return self._verify_events(conn, plan, repair=repair)
        finally:
            conn.close()

    def _verify_events(self, conn: Any, plan: postgres.ReadPlan, *, repair: bool) -> dict[str, Any]:
        def compare() -> EventsComparison:
            writer = EventsWriter(self.runtime.warehouse, self.runtime.writer, self.runtime.limits, plan.spec, plan)
            comparison = EventsComparison(conn, plan, writer)
            comparison.run()
            return comparison

        comparison = compare()
        answer: dict[str, Any] = {"source": plan.spec.name, "target": "events"}
        if repair:
            before = comparison.report
            written = comparison.repair(request_id=f"sync-verify-repair:{plan.spec.name}") if before.differing else 0
            comparison = compare() if before.differing else comparison
            answer["repair"] = {"ranges": len(before.differing), "events_written_or_deleted": written}
            answer["before_repair"] = before.public()
        tenants = [
            {"tenant_id": tenant, **figures, "match": figures["source_rows"] == figures["warehouse_rows"]}
            for tenant, figures in sorted(comparison.tenants.items())
        ]
        answer |= {"match": comparison.report.match, "values": comparison.report.public(), "tenants": tenants}
        return answer

    def _verify_table(self, conn: Any, spec: SourceSpec, plan: postgres.ReadPlan, *, repair: bool) -> dict[str, Any]:
        writer = TableWriter(self.runtime.warehouse, spec, plan.columns)
        missing_columns = writer.check()
        answer: dict[str, Any] = {"source": spec.name, "target": "table"}
        if writer.existing()[0] is None or missing_columns:
            reason = (
                f"warehouse table {writer.name} does not exist yet"
                if not missing_columns
                else f"column(s) {', '.join(missing_columns)} are not in warehouse table {writer.name} yet"
            )
            tenants = self._tenant_figures(conn, spec, plan, {})
            source_rows = sum(t["source_rows"] for t in tenants)
            values = {"match": source_rows == 0, "error": f"{reason}: run `sync run` (or backfill) first"}
            return answer | {"match": source_rows == 0, "values": values, "tenants": tenants}
        comparison = TableComparison(conn, plan, writer).run()
        if repair:
            before = comparison
            copied = 0
            if before.differing:
                copied = TableComparison(conn, plan, writer).repair(before.differing)
                comparison = TableComparison(conn, plan, writer).run()
            answer["repair"] = {"ranges": len(before.differing), "rows_copied": copied}
            answer["before_repair"] = before.public()
        tenants = self._tenant_figures(conn, spec, plan, writer.stats())
        match = comparison.match and all(t["match"] for t in tenants)
        return answer | {"match": match, "values": comparison.public(), "tenants": tenants}

    @staticmethod
    def _tenant_figures(
        conn: Any, spec: SourceSpec, plan: postgres.ReadPlan, warehouse: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Per tenant: live rows and the key checksum in PostgreSQL against the warehouse (FINAL)."""
        by_name = {c.name: c for c in plan.columns}
        tenant, params = plan.tenant_expression()
        conditions, filter_params = plan.filters(None, None)
        if spec.soft_delete_column:
            conditions.append(sql.SQL("NOT ({}::bool)").format(plan.deleted_expression()))
        key_sum = " + ".join(pg_key_term(by_name[k]) for k in spec.primary_key)
        query = sql.SQL("SELECT {} AS tenant, count(*), sum({})::text FROM {} AS src{} GROUP BY 1").format(
            tenant,
            sql.SQL(key_sum),
            postgres.relation(spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
        )
        source = {
            row[0]: {"rows": row[1], "key_checksum": row[2]}
            for row in conn.execute(query, params + filter_params).fetchall()
        }
        tenants = []
        for tenant_id in sorted(set(source) | set(warehouse)):
            want, have = source.get(tenant_id, {}), warehouse.get(tenant_id, {})
            tenants.append(
                {
                    "tenant_id": tenant_id,
                    "source_rows": want.get("rows", 0),
                    "warehouse_rows": have.get("rows", 0),
                    "warehouse_stored_rows": have.get("stored_rows", 0),
                    "source_checksum": want.get("key_checksum"),
                    "warehouse_checksum": have.get("key_checksum"),
                    "match": want.get("rows", 0) == have.get("rows", 0)
                    and str(want.get("key_checksum")) == str(have.get("key_checksum")),
                }
            )
        return tenants

    # --- schedule -------------------------------------------------------------------------------
    def schedule(self, name: str) -> None:
        if not self.settings.sync_schedule:
            return

        async def tick() -> None:
            try:
                job = await asyncio.to_thread(self.run, name, "sync")
                log.info("sync.scheduled_run", source=name, job=job.id, state=job.state)
            except Conflict as exc:  # a run started by hand is still going
                log.info("sync.skipped", source=name, reason=exc.message)

        self.runtime.scheduler.add(f"sync:{name}", Every(seconds=self.settings.sync_interval_seconds), tick)

    def schedule_all(self) -> list[str]:
        names = [spec.name for spec, _ in self.registry.all()]
        for name in names:
            self.schedule(name)
        return names


class WithSync(Protocol):
    """What the start hook reads of the runtime (`runtime.Runtime` builds this module's service, so
    the hook names the parts it uses instead of importing it)."""

    settings: Settings
    sync: SyncService


async def start_sync_schedule(runtime: WithSync) -> None:
    """STARTUP_HOOK of `serve`: one `sync:<source>` schedule per declared source."""
    service = runtime.sync
    try:
        names = await asyncio.to_thread(service.schedule_all)
    except Exception as exc:  # a broken sources file must not stop the service
        log.error("sync.schedule_failed", error=describe_error(exc))
        return
    if names:
        log.info("sync.scheduled", sources=names, every_seconds=runtime.settings.sync_interval_seconds)
