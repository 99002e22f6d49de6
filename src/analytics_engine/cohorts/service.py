"""Cohorts: definitions in the metadata database, membership versions in the warehouse.

Evaluation writes the members of a new version into `cohort_users` with one INSERT ... SELECT, then
(only when the insert has finished) publishes the version number in `cohorts.current_version`.
Readers resolve the published version first and read exactly that version, so they see either the
previous cohort or the new one, never half of one. Old versions are pruned, keeping a few so that a
query that resolved its version just before a publish still finds its rows.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from analytics_engine.cohorts.compiler import Compiler
from analytics_engine.cohorts.models import Cohort, CohortVersion
from analytics_engine.cohorts.schemas import (
    AnalysisRow,
    CohortAnalysis,
    CohortCreate,
    CohortKind,
    CohortPublic,
    CohortUpdate,
    CohortVersionPublic,
    EvaluationResult,
    Group,
    MembersPage,
    referenced_cohorts,
)
from analytics_engine.core import Core
from analytics_engine.errors import AppError, Conflict, InvalidInput, NotFound
from analytics_engine.jobs.context import JobCancelled, JobContext, JobFailed
from analytics_engine.metadata.models import utcnow
from analytics_engine.warehouse.client import render_settings
from analytics_engine.warehouse.scoped import TenantScope

log = structlog.get_logger(__name__)

EVALUATED_EVENT = "cohort.evaluated"
MAX_STATIC_IDS = 1_000_000
MAX_ID_LENGTH = 200
ANALYSIS_MAX_PERIODS = 52
ANALYSIS_MARKER = 65535  # period_index of the row that marks a version's analysis as complete


class CohortService:
    def __init__(self, runtime: Core) -> None:
        self.runtime = runtime
        self.warehouse = runtime.warehouse
        self.metadata = runtime.metadata
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, for bus events from threads
        self.insert_settings: dict[str, Any] = {}  # extra SETTINGS of the membership INSERT (tests, tuning)
        self.stopping = threading.Event()  # set at shutdown: a scheduled round stops between cohorts

    # --- definitions ---------------------------------------------------------------------------
    def create(self, tenant_id: str, body: CohortCreate) -> CohortPublic:
        if body.definition is not None:
            self._check_references(tenant_id, None, body.definition)
        with self.metadata.session() as session:
            self._check_name_free(session, tenant_id, body.name, None)
            cohort = Cohort(
                tenant_id=tenant_id,
                name=body.name,
                description=body.description,
                kind=body.kind.value,
                definition=body.definition.model_dump(mode="json") if body.definition else None,
                is_active=body.is_active,
                current_version=0,
            )
            session.add(cohort)
            session.flush()
            cohort_id = cohort.id
        if body.kind == CohortKind.static:
            self.replace_static(tenant_id, cohort_id, body.distinct_ids or [], trigger="create")
        return self.get(tenant_id, cohort_id)

    def get(self, tenant_id: str, cohort_id: str) -> CohortPublic:
        with self.metadata.session() as session:
            return CohortPublic.model_validate(self._cohort(session, tenant_id, cohort_id))

    def list(self, tenant_id: str, *, limit: int = 100, offset: int = 0) -> list[CohortPublic]:
        query = (
            (select(Cohort).where(Cohort.tenant_id == tenant_id).order_by(Cohort.created_at, Cohort.id))
            .limit(limit)
            .offset(offset)
        )
        with self.metadata.session() as session:
            return [CohortPublic.model_validate(c) for c in session.scalars(query)]

    def update(self, tenant_id: str, cohort_id: str, body: CohortUpdate) -> CohortPublic:
        current = self.get(tenant_id, cohort_id)
        if body.definition is not None:
            if current.kind == CohortKind.static:
                raise InvalidInput("A static cohort has no definition; send distinct_ids instead.")
            self._check_references(tenant_id, cohort_id, body.definition)
        if body.distinct_ids is not None and current.kind == CohortKind.dynamic:
            raise InvalidInput("distinct_ids can only replace the members of a static cohort.")
        with self.metadata.session() as session:
            cohort = self._cohort(session, tenant_id, cohort_id)
            if body.name is not None and body.name != cohort.name:
                self._check_name_free(session, tenant_id, body.name, cohort_id)
                cohort.name = body.name
            if "description" in body.model_fields_set:
                cohort.description = body.description
            if body.definition is not None:
                cohort.definition = body.definition.model_dump(mode="json")
            if body.is_active is not None:
                cohort.is_active = body.is_active
            cohort.updated_at = utcnow()
        if body.distinct_ids is not None:
            self.replace_static(tenant_id, cohort_id, body.distinct_ids, trigger="update")
        return self.get(tenant_id, cohort_id)

    def delete(self, tenant_id: str, cohort_id: str) -> None:
        with self.metadata.session() as session:
            cohort = self._cohort(session, tenant_id, cohort_id)
            users = [
                c.name
                for c in session.scalars(select(Cohort).where(Cohort.tenant_id == tenant_id))
                if c.id != cohort_id and c.definition and cohort_id in referenced_cohorts(Group(**c.definition))
            ]
            if users:
                raise Conflict(
                    f"Cohort {cohort_id!r} is used by other cohorts; change them first.",
                    details={"used_by": sorted(users)},
                )
            session.execute(delete(CohortVersion).where(CohortVersion.cohort_id == cohort_id))
            session.delete(cohort)
        for table in ("cohort_users", "cohort_analysis"):
            self._writer(tenant_id).command(
                f"DELETE FROM {self.warehouse.table(table)} WHERE tenant_id = {{tenant_id:String}} "
                "AND cohort_id = {cohort_id:String}",
                {"tenant_id": tenant_id, "cohort_id": cohort_id},
            )

    def versions(self, tenant_id: str, cohort_id: str, limit: int = 20) -> builtins.list[CohortVersionPublic]:
        with self.metadata.session() as session:
            self._cohort(session, tenant_id, cohort_id)
            rows = session.scalars(
                select(CohortVersion)
                .where(CohortVersion.cohort_id == cohort_id)
                .order_by(CohortVersion.version.desc())
                .limit(limit)
            )
            return [CohortVersionPublic.model_validate(v) for v in rows]

    # --- reading members -----------------------------------------------------------------------
    def published(self, tenant_id: str, cohort_id: str) -> tuple[CohortPublic, int]:
        """The cohort and its latest complete version; a dynamic cohort never evaluated is evaluated
        now (inline), so a reader always gets a whole version."""
        cohort = self.get(tenant_id, cohort_id)
        if cohort.current_version == 0:
            with self._lock(cohort_id):  # two first readers: one evaluation
                cohort = self.get(tenant_id, cohort_id)
                if cohort.current_version == 0:
                    self.evaluate(tenant_id, cohort_id, trigger="inline")
                    cohort = self.get(tenant_id, cohort_id)
        return cohort, cohort.current_version

    def members(self, tenant_id: str, cohort_id: str, *, limit: int = 100, offset: int = 0) -> MembersPage:
        _, version = self.published(tenant_id, cohort_id)
        result = self._scope(tenant_id).query(
            f"SELECT distinct_id FROM {self.warehouse.table('cohort_users')} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version = {version:UInt32} ORDER BY distinct_id "
            f"LIMIT {int(limit) + 1} OFFSET {int(offset)}",
            {"tenant_id": tenant_id, "cohort_id": cohort_id, "version": version},
        )
        ids = [row[0] for row in result.rows]
        return MembersPage(
            cohort_id=cohort_id,
            version=version,
            distinct_ids=ids[:limit],
            limit=limit,
            offset=offset,
            has_more=len(ids) > limit,
        )

    def count_version(self, tenant_id: str, cohort_id: str, version: int) -> int:
        sql = (
            f"SELECT count() FROM {self.warehouse.table('cohort_users')} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version = {version:UInt32}"
        )
        return int(self._scope(tenant_id).query(sql, {"cohort_id": cohort_id, "version": version}).scalar())

    def analysis(self, tenant_id: str, cohort_id: str) -> CohortAnalysis:
        """Retention by signup week of the latest version whose analysis is complete (the published
        version, or for a moment after a publish, the one before it)."""
        _, current = self.published(tenant_id, cohort_id)
        table = self.warehouse.table("cohort_analysis")
        scope = self._scope(tenant_id)
        params = {"cohort_id": cohort_id, "current": current, "marker": ANALYSIS_MARKER}
        version = scope.query(
            f"SELECT max(version) FROM {table} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version <= {current:UInt32} AND period_index = {marker:UInt16}",
            params,
        ).scalar()
        version = int(version or 0)
        sql = (
            f"SELECT toString(period_start), period_index, users FROM {table} "
            "WHERE tenant_id = {tenant_id:String} AND cohort_id = {cohort_id:String} "
            "AND version = {version:UInt32} AND period_index != {marker:UInt16} ORDER BY period_start, period_index"
        )
        rows = scope.query(sql, {**params, "version": version}).rows if version else []
        base = {start: users for start, index, users in rows if index == 0}
        return CohortAnalysis(
            cohort_id=cohort_id,
            version=version,
            membership_version=current,
            rows=[
                AnalysisRow(
                    period_start=start,
                    period_index=index,
                    users=users,
                    share=round(users / base[start], 4) if base.get(start) else 0.0,
                )
                for start, index, users in rows
            ],
        )

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(
        self,
        tenant_id: str,
        cohort_id: str,
        *,
        trigger: str = "api",
        job_id: str | None = None,
        as_of: datetime | None = None,
        checkpoint: Callable[[], None] | None = None,
        _stack: tuple[str, ...] = (),
    ) -> EvaluationResult:
        """Compute the members now, write them as a new version, publish it, emit the event.
        `checkpoint` (a job's cancel check) runs before each referenced cohort and before a version
        is allocated, so a cancelled evaluation leaves no version behind."""
        if checkpoint is not None:
            checkpoint()
        cohort = self.get(tenant_id, cohort_id)
        if cohort.kind == CohortKind.static:
            # A static cohort's members change only by upload; "evaluating" refreshes its analysis.
            with self._lock(cohort_id):
                version = self.get(tenant_id, cohort_id).current_version
                self._write_analysis(tenant_id, cohort_id, version)
            size = self.count_version(tenant_id, cohort_id, version) if version else 0
            result = EvaluationResult(
                cohort_id=cohort_id,
                version=version,
                previous_version=version,
                size=size,
                joined=0,
                left=0,
                duration_ms=0,
                trigger=trigger,
            )
            self.emit(tenant_id, cohort.name, result)
            return result
        definition = Group(**(cohort.definition or {}))
        for ref in sorted(referenced_cohorts(definition)):
            if ref in _stack:
                raise InvalidInput(f"Cohort definitions form a cycle: {' -> '.join((*_stack, ref))}.")
            referenced = self.get(tenant_id, ref)
            if referenced.current_version == 0:
                self.evaluate(
                    tenant_id, ref, trigger=trigger, as_of=as_of, checkpoint=checkpoint, _stack=(*_stack, cohort_id)
                )
        moment = as_of or datetime.now(UTC)
        compiler = Compiler(self.warehouse.table, tenant_id, moment, lambda ref: self._version_of(tenant_id, ref))
        members_sql = compiler.members_sql(definition)
        if checkpoint is not None:
            checkpoint()
        with self._lock(cohort_id):
            started = time.perf_counter()
            version, previous = self._allocate(cohort_id, trigger, job_id)
            try:
                params = {**compiler.params, "cohort_id": cohort_id, "version": version}
                self._writer(tenant_id).command(
                    f"INSERT INTO {self.warehouse.table('cohort_users')} (tenant_id, cohort_id, version, distinct_id) "
                    "SELECT {tenant_id:String}, {cohort_id:String}, {version:UInt32}, distinct_id "
                    f"FROM ({members_sql})" + render_settings(self.insert_settings),
                    params,
                )
                result = self._finish(tenant_id, cohort_id, version, previous, trigger, started)
            except Exception as exc:
                self._mark(cohort_id, version, "failed")
                log.warning("cohort.evaluation_failed", cohort_id=cohort_id, version=version, error=str(exc))
                raise
        self.emit(tenant_id, cohort.name, result)
        return result

    def replace_static(
        self, tenant_id: str, cohort_id: str, distinct_ids: Iterable[str], *, trigger: str
    ) -> EvaluationResult:
        """Write a static cohort's members (any ids, known or not) as a new version."""
        ids = clean_ids(distinct_ids)
        cohort = self.get(tenant_id, cohort_id)
        with self._lock(cohort_id):
            started = time.perf_counter()
            version, previous = self._allocate(cohort_id, trigger, None)
            try:
                table = self.warehouse.table("cohort_users")
                chunk = 100_000
                for i in range(0, len(ids), chunk):
                    body = b"\n".join(
                        orjson.dumps(
                            {"tenant_id": tenant_id, "cohort_id": cohort_id, "version": version, "distinct_id": d}
                        )
                        for d in ids[i : i + chunk]
                    )
                    columns = ["tenant_id", "cohort_id", "version", "distinct_id"]
                    self._writer(tenant_id).insert_json_rows(table, columns, body)
                result = self._finish(tenant_id, cohort_id, version, previous, trigger, started)
            except Exception:
                self._mark(cohort_id, version, "failed")
                raise
        self.emit(tenant_id, cohort.name, result)
        return result

    def evaluate_all(self, *, trigger: str = "schedule") -> builtins.list[EvaluationResult]:
        """Every active dynamic cohort of every tenant, referenced cohorts before those using them.
        Each gets a job row; one failing cohort does not stop the others."""
        with self.metadata.session() as session:
            cohorts = [
                (c.tenant_id, c.id, c.definition)
                for c in session.scalars(
                    select(Cohort).where(Cohort.kind == CohortKind.dynamic.value, Cohort.is_active.is_(True))
                )
            ]
        order = dependency_order(cohorts)
        results: builtins.list[EvaluationResult] = []
        for tenant_id, cohort_id in order:
            if self.stopping.is_set():
                log.info("cohort.schedule_interrupted", remaining=len(order) - len(results))
                break
            # Through the one runner, so a runner loop and this schedule never both run it.
            self.register_jobs()
            job = self.runtime.runner.enqueue(
                "cohort.evaluate",
                tenant_id=tenant_id,
                source=trigger,
                params={"cohort_id": cohort_id, "trigger": trigger},
            )
            done = self.runtime.runner.run_now(job.id, wait=True)
            if done.state == "succeeded":
                results.append(EvaluationResult.model_validate(done.result))
        return results

    def register_jobs(self) -> None:
        """Evaluations are `cohort.evaluate` jobs of the one runner (one attempt: a failed
        evaluation is reported, the next schedule tries again)."""
        if "cohort.evaluate" not in self.runtime.runner.handlers:
            self.runtime.runner.register("cohort.evaluate", self.handle_job, max_attempts=1)

    def handle_job(self, ctx: JobContext) -> dict[str, Any]:
        """The `cohort.evaluate` handler: returns the result or raises; the runner closes the job
        (state, result or error, lease cleared). A failure that is not an `AppError` (a warehouse
        error, say) becomes `JobFailed`: one attempt, its message as the job's error."""
        assert ctx.tenant_id is not None
        trigger = ctx.params.get("trigger", "api")
        cohort_id = ctx.params["cohort_id"]
        ctx.progress(0)  # a heartbeat, and a cancel asked before the start stops it here
        try:
            result = self.evaluate(
                ctx.tenant_id, cohort_id, trigger=trigger, job_id=ctx.job_id, checkpoint=ctx.check_cancelled
            )
        except (AppError, JobCancelled):
            raise
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            log.warning("cohort.job_failed", job_id=ctx.job_id, cohort_id=cohort_id, error=message)
            raise JobFailed(message) from exc
        # Published already: a cancel asked now cannot undo it, so the progress (rows = members) is
        # recorded without the cancel check (`ctx.progress` would raise) and the job succeeds.
        ctx.runner.report_progress(ctx, result.size, result.size, None)
        return dict(result.model_dump())

    # --- events --------------------------------------------------------------------------------
    def emit(self, tenant_id: str, name: str, result: EvaluationResult) -> None:
        """Publish `cohort.evaluated` (v1) from whatever thread evaluated."""
        data = {**result.model_dump(), "name": name, "evaluated_at": datetime.now(UTC).isoformat()}
        publish = self.runtime.bus.publish
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is not None:
                task = running.create_task(publish(EVALUATED_EVENT, data, tenant_id=tenant_id))
                task.add_done_callback(lambda t: t.exception())
            elif self.loop is not None and self.loop.is_running():
                future = asyncio.run_coroutine_threadsafe(
                    publish(EVALUATED_EVENT, data, tenant_id=tenant_id), self.loop
                )
                future.result(timeout=10)
            else:
                asyncio.run(publish(EVALUATED_EVENT, data, tenant_id=tenant_id))
        except Exception as exc:  # the cohort is published; a lost notification must not undo that
            log.warning("cohort.event_not_published", cohort_id=result.cohort_id, error=str(exc))

    # --- internals -----------------------------------------------------------------------------
    def _lock(self, cohort_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(cohort_id, threading.RLock())

    def _allocate(self, cohort_id: str, trigger: str, job_id: str | None) -> tuple[int, int]:
        """A new version row (`building`); returns (new version, published version)."""
        for _ in range(5):
            try:
                with self.metadata.session() as session:
                    cohort = session.get(Cohort, cohort_id)
                    if cohort is None:
                        raise NotFound(f"No cohort with id {cohort_id!r}.")
                    highest = session.scalar(
                        select(func.max(CohortVersion.version)).where(CohortVersion.cohort_id == cohort_id)
                    )
                    version = (highest or 0) + 1
                    session.add(
                        CohortVersion(
                            cohort_id=cohort_id,
                            version=version,
                            state="building",
                            trigger=trigger,
                            job_id=job_id,
                            started_at=utcnow(),
                        )
                    )
                    return version, cohort.current_version
            except IntegrityError:
                time.sleep(0.05)
        raise Conflict(f"Could not allocate a new version of cohort {cohort_id!r}; try again.")

    def _finish(
        self, tenant_id: str, cohort_id: str, version: int, previous: int, trigger: str, started: float
    ) -> EvaluationResult:
        size, joined, left = self._diff(tenant_id, cohort_id, version, previous)
        duration_ms = int((time.perf_counter() - started) * 1000)
        with self.metadata.session() as session:
            row = session.get(CohortVersion, (cohort_id, version))
            assert row is not None, "the version row is written before its members are evaluated"
            row.state, row.size, row.joined, row.left = "complete", size, joined, left
            row.duration_ms, row.finished_at = duration_ms, utcnow()
            cohort = session.get(Cohort, cohort_id)
            if cohort is not None and version > cohort.current_version:
                # Publishing: from this commit on, readers read the new version.
                cohort.current_version = version
                cohort.size = size
                cohort.last_evaluated_at = utcnow()
        # The retention analysis follows the publish (readers of members need not wait for it); its
        # reader shows the latest analysed version until this one is written.
        analysis_started = time.perf_counter()
        try:
            self._write_analysis(tenant_id, cohort_id, version)
        except Exception as exc:  # the members are published; the previous analysis stays readable
            log.warning("cohort.analysis_failed", cohort_id=cohort_id, version=version, error=str(exc))
        analysis_ms = int((time.perf_counter() - analysis_started) * 1000)
        self._prune(tenant_id, cohort_id, version)
        log.info(
            "cohort.evaluated", cohort_id=cohort_id, version=version, size=size, ms=duration_ms, analysis_ms=analysis_ms
        )
        return EvaluationResult(
            cohort_id=cohort_id,
            version=version,
            previous_version=previous,
            size=size,
            joined=joined,
            left=left,
            duration_ms=duration_ms,
            analysis_ms=analysis_ms,
            trigger=trigger,
        )

    def _diff(self, tenant_id: str, cohort_id: str, version: int, previous: int) -> tuple[int, int, int]:
        sql = (
            "SELECT countIf(in_new), countIf(in_new AND NOT in_old), countIf(in_old AND NOT in_new) FROM ("
            "SELECT distinct_id, max(version = {version:UInt32}) AS in_new, "
            "max(version = {previous:UInt32}) AS in_old "
            f"FROM {self.warehouse.table('cohort_users')} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version IN ({version:UInt32}, {previous:UInt32}) "
            "GROUP BY distinct_id)"
        )
        params = {"cohort_id": cohort_id, "version": version, "previous": previous}
        row = self._writer(tenant_id).query(sql, params).rows[0]
        return int(row[0]), int(row[1]), int(row[2])

    def _write_analysis(self, tenant_id: str, cohort_id: str, version: int) -> None:
        """Weekly retention of the members by signup week (week of first seen, tenant time zone)."""
        if not version:
            return
        table = self.warehouse.table
        params = {
            "tenant_id": tenant_id,
            "cohort_id": cohort_id,
            "version": version,
            "tz": self._timezone(tenant_id),
            "periods": ANALYSIS_MAX_PERIODS,
        }
        members = (
            f"SELECT distinct_id FROM {table('cohort_users')} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version = {version:UInt32}"
        )
        self._writer(tenant_id).command(
            f"DELETE FROM {table('cohort_analysis')} WHERE tenant_id = {{tenant_id:String}} "
            "AND cohort_id = {cohort_id:String} AND version = {version:UInt32}",
            params,
        )
        self._writer(tenant_id).command(
            f"INSERT INTO {table('cohort_analysis')} "
            "(tenant_id, cohort_id, version, period_start, period_index, users) "
            "WITH signup AS ("
            f"  SELECT distinct_id, toMonday(min(first_seen), {{tz:String}}) AS period_start FROM {table('persons')}"
            f"  WHERE tenant_id = {{tenant_id:String}} AND distinct_id IN ({members}) GROUP BY distinct_id) "
            "SELECT {tenant_id:String}, {cohort_id:String}, {version:UInt32}, s.period_start, "
            "  toUInt16(intDiv(dateDiff('day', s.period_start, toMonday(e.timestamp, {tz:String})), 7)) "
            "  AS period_index, "
            "  uniqExact(e.distinct_id) "
            f"FROM {table('events')} AS e INNER JOIN signup AS s ON e.distinct_id = s.distinct_id "
            f"WHERE e.tenant_id = {{tenant_id:String}} AND e.distinct_id IN ({members}) "
            # no member has events before the earliest signup week: skip older partitions
            "AND e.timestamp >= (SELECT toDateTime64(min(period_start), 3, {tz:String}) FROM signup) "
            "GROUP BY s.period_start, period_index HAVING period_index <= {periods:UInt16}",
            params,
        )
        # Written last: marks this version's analysis as complete for readers.
        self._writer(tenant_id).command(
            f"INSERT INTO {table('cohort_analysis')} "
            "(tenant_id, cohort_id, version, period_start, period_index, users) "
            "SELECT {tenant_id:String}, {cohort_id:String}, {version:UInt32}, toDate(0), {marker:UInt16}, 0",
            {**params, "marker": ANALYSIS_MARKER},
        )

    def _prune(self, tenant_id: str, cohort_id: str, version: int) -> None:
        keep = max(1, int(self.runtime.settings.cohort_versions_kept))
        with self.metadata.session() as session:
            old = list(
                session.scalars(
                    select(CohortVersion).where(
                        CohortVersion.cohort_id == cohort_id,
                        CohortVersion.version <= version - keep,
                        CohortVersion.state.in_(("complete", "failed")),
                    )
                )
            )
            if not old:
                return
            for row in old:
                row.state = "pruned"
        for table in ("cohort_users", "cohort_analysis"):
            self._writer(tenant_id).command(
                f"DELETE FROM {self.warehouse.table(table)} WHERE tenant_id = {{tenant_id:String}} "
                "AND cohort_id = {cohort_id:String} AND version <= {upto:UInt32}",
                {"tenant_id": tenant_id, "cohort_id": cohort_id, "upto": version - keep},
            )

    def _mark(self, cohort_id: str, version: int, state: str) -> None:
        with contextlib.suppress(Exception), self.metadata.session() as session:
            row = session.get(CohortVersion, (cohort_id, version))
            if row is not None:
                row.state, row.finished_at = state, utcnow()

    def _scope(self, tenant_id: str) -> TenantScope:
        return self.warehouse.for_tenant(tenant_id)

    def _writer(self, tenant_id: str) -> TenantScope:
        """Evaluation and clean-up writes: bound and recorded, never refused (a half-written
        version would be left behind)."""
        return self.warehouse.for_tenant(tenant_id, background=True)

    def _version_of(self, tenant_id: str, cohort_id: str) -> int:
        cohort = self.get(tenant_id, cohort_id)
        return cohort.current_version

    def _timezone(self, tenant_id: str) -> str:
        try:
            return self.runtime.tenants.get(tenant_id).timezone
        except Exception:
            return "UTC"

    @staticmethod
    def _cohort(session: Any, tenant_id: str, cohort_id: str) -> Cohort:
        cohort: Cohort | None = session.get(Cohort, cohort_id)
        if cohort is None or cohort.tenant_id != tenant_id:
            raise NotFound(f"No cohort with id {cohort_id!r}.")
        return cohort

    @staticmethod
    def _check_name_free(session: Any, tenant_id: str, name: str, cohort_id: str | None) -> None:
        existing = session.scalar(select(Cohort).where(Cohort.tenant_id == tenant_id, Cohort.name == name))
        if existing is not None and existing.id != cohort_id:
            raise Conflict(f"A cohort named {name!r} already exists.")

    def _check_references(self, tenant_id: str, cohort_id: str | None, definition: Group) -> None:
        """Every referenced cohort exists for this tenant, and no chain of references loops back."""
        with self.metadata.session() as session:
            graph = {
                c.id: referenced_cohorts(Group(**c.definition)) if c.definition else set()
                for c in session.scalars(select(Cohort).where(Cohort.tenant_id == tenant_id))
            }
        refs = referenced_cohorts(definition)
        unknown = sorted(r for r in refs if r not in graph)
        if unknown:
            raise InvalidInput(
                f"The definition refers to cohorts that do not exist: {', '.join(unknown)}.",
                code="unknown_cohort",
                details={"cohort_ids": unknown},
            )
        me = cohort_id or "(new cohort)"
        graph[me] = refs
        path = find_cycle(graph, me)
        if path:
            raise InvalidInput(
                f"The definition would make cohorts refer to each other in a cycle: {' -> '.join(path)}.",
                code="cohort_cycle",
                details={"cycle": path},
            )


def find_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start through references, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def dependency_order(cohorts: list[tuple[str, str, dict[str, Any] | None]]) -> list[tuple[str, str]]:
    """(tenant_id, cohort_id) with referenced cohorts first (cycles were refused at definition time)."""
    refs = {cid: referenced_cohorts(Group(**d)) if d else set() for _, cid, d in cohorts}
    tenants = {cid: tid for tid, cid, _ in cohorts}
    order: list[tuple[str, str]] = []
    done: set[str] = set()

    def visit(cid: str, trail: frozenset[str]) -> None:
        if cid in done or cid in trail or cid not in tenants:
            return
        for ref in sorted(refs.get(cid, ())):
            visit(ref, trail | {cid})
        done.add(cid)
        order.append((tenants[cid], cid))

    for _, cid, _ in cohorts:
        visit(cid, frozenset())
    return order


def clean_ids(distinct_ids: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in distinct_ids:
        value = str(raw).strip()
        if not value:
            continue
        if len(value) > MAX_ID_LENGTH:
            raise InvalidInput(f"A distinct_id is longer than {MAX_ID_LENGTH} characters: {value[:40]!r}...")
        seen[value] = None
        if len(seen) > MAX_STATIC_IDS:
            raise InvalidInput(f"A static cohort holds at most {MAX_STATIC_IDS} distinct_ids.")
    return list(seen)
