"""Materialized properties: a tenant's hot event properties as typed columns of `events`.

- `create` links the tenant to the shared column of (path, type), adding it to the metadata (and,
  through a `materialized.backfill` job of the one runner, to `events`: `ADD COLUMN IF NOT EXISTS ...
  MATERIALIZED <expr>`, then `MATERIALIZE COLUMN` for the existing parts, followed in
  system.mutations). Until that job has finished the column is not read: answers come from the JSON
  properties, with the same numbers.
- `delete` unlinks the tenant; the last unlink marks the column `dropping` and a `materialized.drop`
  job removes it from `events` once no process can still be reading it (`materialized_refresh_seconds`).
- `ready_columns` is what insights read before compiling SQL (insights/base.py), kept per tenant for
  `materialized_refresh_seconds`.
- `suggestions` ranks the properties the tenant's dashboards and metrics use (usage.py);
  `apply_suggestions` materializes those used at least `min_uses` times, within the caps (auto mode:
  a scheduled pass over every tenant when `ANALYTICS_MATERIALIZED_AUTO` is on).

Caps: `materialized_max_per_tenant` links per tenant and `materialized_max_columns` columns in all;
past either, `InvalidInput` (HTTP 422) with the limit in its details. A full service refuses every
new link, even to a column another tenant made: accepting those would reveal which they are.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.jobs.context import JobCancelled, JobContext, JobFailed
from analytics_engine.jobs.schemas import FINAL_STATES, JobState
from analytics_engine.materialized.columns import ValueType, column_name
from analytics_engine.materialized.models import MaterializedColumn, MaterializedProperty
from analytics_engine.materialized.rollup import STRING_COLUMN, PropertyRollup
from analytics_engine.materialized.schemas import (
    ApplySuggestionsResult,
    MaterializedPropertyCreate,
    MaterializedPropertyList,
    MaterializedPropertyPublic,
    Suggestion,
    SuggestionList,
)
from analytics_engine.materialized.usage import tenant_uses
from analytics_engine.materialized.warehouse import ColumnDDL
from analytics_engine.metadata.models import utcnow

if TYPE_CHECKING:
    from analytics_engine.core import Core

log = structlog.get_logger(__name__)

BACKFILL_JOB = "materialized.backfill"
DROP_JOB = "materialized.drop"
LIMIT_CODE = "materialized_limit"
# How often the backfill job reads system.mutations (and reports progress, which is its heartbeat).
POLL_SECONDS = 0.5
SUGGESTIONS_SHOWN = 50


class MaterializedService:
    def __init__(self, core: Core) -> None:
        self.settings = core.settings
        self.metadata = core.metadata
        self.runner = core.runner
        self.jobs = core.jobs
        self.ddl = ColumnDDL(core.warehouse)
        # The property rollup (materialized/rollup.py): its view follows the string columns of
        # `events`, and a column's backfill computes its rows before the column is `ready`.
        self.rollup = PropertyRollup(core.warehouse, core.writer.exclusive)
        # One change at a time in this process: a create and the drop of the same column must not
        # interleave (the drop re-checks links under this lock before it removes the column).
        self._lock = threading.Lock()
        self._ready: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}

    # --- jobs ----------------------------------------------------------------------------------------
    def register_jobs(self) -> None:
        # One attempt each: a failed backfill shows as `failed` and a new create asks again.
        if BACKFILL_JOB not in self.runner.handlers:
            self.runner.register(BACKFILL_JOB, self.backfill_job, max_attempts=1)
        if DROP_JOB not in self.runner.handlers:
            self.runner.register(DROP_JOB, self.drop_job, max_attempts=3, backoff_seconds=5.0)

    def backfill_job(self, ctx: JobContext) -> dict[str, Any]:
        name, generation = str(ctx.params["column"]), int(ctx.params["generation"])
        with self.metadata.session() as session:
            column = session.get(MaterializedColumn, name)
            if column is None or column.generation != generation or column.state != "backfilling":
                return {"column": name, "skipped": "superseded or removed"}
            path, value_type = column.path, column.value_type
        # Not in the rollup's view yet: whether it joins is decided once the column is filled (below).
        self.ddl.add(path, value_type)  # type: ignore[arg-type]
        total = self.ddl.parts()
        started = time.monotonic()
        self.ddl.materialize(name)
        try:
            while True:
                state = self.ddl.backfill(name)
                if state.fail_reason:
                    self.ddl.kill_backfill(name)
                    raise JobFailed(f"the backfill of {name} failed: {state.fail_reason[:500]}")
                if state.found and state.done:
                    break
                ctx.progress(max(total - state.parts_to_do, 0), total, cursor=name)
                time.sleep(POLL_SECONDS)
        except JobCancelled:
            self.ddl.kill_backfill(name)
            raise
        if not self.ddl.exists(name):
            raise JobFailed(f"column {name} was removed from events during its backfill")
        rollup = self.roll_up(name)
        with self._lock, self.metadata.session() as session:
            column = session.get(MaterializedColumn, name)
            if column is None or column.generation != generation or column.state != "backfilling":
                return {"column": name, "skipped": "superseded or removed"}
            column.state, column.ready_at, column.error = "ready", utcnow(), None
        self._forget()
        seconds = round(time.monotonic() - started, 3)
        log.info("materialized.ready", column=name, path=path, parts=total, seconds=seconds)
        ctx.progress(total, total, cursor=name)
        return {"column": name, "parts": total, "seconds": seconds, "rollup": rollup}

    def roll_up(self, name: str) -> dict[str, Any] | None:
        """Issue 18 bound: a filled string column joins the property rollup's view (every tenant's
        inserts pay for it) only within `property_rollup_max_columns` columns, first come, and when it
        has at most `property_rollup_max_values` distinct values in one (tenant, event, UTC hour) of the
        stored events; then its rollup rows are backfilled. A column left out stays materialized (its
        trends read it from `events`, same answers). A failure leaves it the same way, not failed."""
        if not STRING_COLUMN.match(name):
            return None
        try:
            values = self.rollup.max_values(name)
        except Exception as exc:
            return self._left_out(name, "backfill_failed", f"the rollup backfill failed: {str(exc)[:300]}")
        limit, cap = self.settings.property_rollup_max_values, self.settings.property_rollup_max_columns
        with self._lock, self.metadata.session() as session:
            if session.get(MaterializedColumn, name) is None:
                return {"skipped": "removed"}
            taken = session.scalar(
                select(func.count())
                .select_from(MaterializedColumn)
                .where(MaterializedColumn.rollup == "rolled_up", MaterializedColumn.name != name)
            )
            admit = values <= limit and (taken or 0) < cap
            if admit:  # the slot is taken before the backfill: a concurrent decision sees it
                _set_rollup(session, name, "rolled_up", None)
        if values > limit:
            # The figure is not shown: the column is shared, it may come from another tenant's events.
            return self._left_out(
                name,
                "too_many_values",
                f"more distinct values in one event and hour than the rollup takes ({limit}, "
                "ANALYTICS_PROPERTY_ROLLUP_MAX_VALUES)",
                values,
            )
        if not admit:
            return self._left_out(
                name,
                "column_cap",
                f"the service rolls up at most {cap} properties (ANALYTICS_PROPERTY_ROLLUP_MAX_COLUMNS), "
                "taken by earlier ones",
                values,
            )
        try:
            self.rollup.sync_view(self._admitted())  # from now on every insert feeds its rows
            if name in self.rollup.covered(ttl_seconds=0):  # made before this bound, already complete
                return {"rolled_up": True, "max_values": values}
            return {"rolled_up": True, "max_values": values, **self.rollup.backfill(name)}
        except Exception as exc:  # the column is still right; only the pre-aggregation is missing
            return self._left_out(name, "backfill_failed", f"the rollup backfill failed: {str(exc)[:300]}")

    def _left_out(self, name: str, reason: str, message: str, values: int | None = None) -> dict[str, Any]:
        """Record why the column is not rolled up and take it out of the view (and its rows, if any)."""
        with self._lock, self.metadata.session() as session:
            if session.get(MaterializedColumn, name) is not None:
                _set_rollup(session, name, reason, message)
        log.warning("materialized.rollup_left_out", column=name, reason=reason, max_values=values, message=message)
        try:
            in_view = name in (self.rollup.view_columns() or [])
            self.rollup.sync_view(self._admitted(), without=[name])
            if in_view or name in self.rollup.covered(ttl_seconds=0):
                self.rollup.forget(name)
        except Exception as exc:  # the next start-up syncs the view again
            log.warning("materialized.rollup_view_failed", column=name, error=str(exc)[:500])
        return {"rolled_up": False, "reason": reason, "max_values": values}

    def _admitted(self) -> list[str]:
        """The columns the rollup's view reads: those holding one of its slots."""
        with self.metadata.session() as session:
            return sorted(
                session.scalars(select(MaterializedColumn.name).where(MaterializedColumn.rollup == "rolled_up"))
            )

    def cover_ready_columns(self) -> list[str]:
        """At start-up: the view reads the admitted columns; every ready string column not decided yet
        (made before the bound) or left out by the cap or a failed backfill is tried again, oldest
        first (a slot freed by a drop goes to the next in line), and an admitted column not covered
        yet is backfilled. `too_many_values` is not measured again. Returns the columns tried."""
        with self.metadata.session() as session:
            ready = list(
                session.execute(
                    select(MaterializedColumn.name, MaterializedColumn.rollup)
                    .where(MaterializedColumn.state == "ready")
                    .order_by(MaterializedColumn.ready_at, MaterializedColumn.created_at, MaterializedColumn.name)
                )
            )
        try:
            self.rollup.sync_view(self._admitted() + [n for n, r in ready if r is None])
            covered = self.rollup.covered(ttl_seconds=0)
        except Exception as exc:  # served from `events` meanwhile; the next start tries again
            log.warning("materialized.rollup_view_failed", error=str(exc)[:500])
            return []
        todo = [
            name
            for name, rollup in ready
            if STRING_COLUMN.match(name)
            and (rollup in (None, "column_cap", "backfill_failed") or (rollup == "rolled_up" and name not in covered))
        ]
        for name in todo:
            self.roll_up(name)
        self.report_grown()
        return todo

    def report_grown(self) -> dict[str, int]:
        """Rolled-up columns over the cardinality gate now (measured once at their backfill): logged
        for the operator, not acted on (taking one out would change which trends are fast)."""
        try:
            grown = self.rollup.grown(self.settings.property_rollup_max_values)
        except Exception as exc:
            log.warning("materialized.rollup_grown_check_failed", error=str(exc)[:500])
            return {}
        for name, values in grown.items():
            log.warning(
                "materialized.rollup_grown",
                column=name,
                max_values=values,
                limit=self.settings.property_rollup_max_values,
            )
        return grown

    def drop_job(self, ctx: JobContext) -> dict[str, Any]:
        name = str(ctx.params["column"])
        # Processes keep a tenant's ready columns this long: wait until none can still read it.
        deadline = time.monotonic() + self.settings.materialized_refresh_seconds
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
        with self._lock:
            with self.metadata.session() as session:
                column = session.get(MaterializedColumn, name)
                if column is None or column.state != "dropping" or _links(session, name) > 0:
                    return {"column": name, "dropped": False}
                session.delete(column)
            self.ddl.kill_backfill(name)
            # The view first: a view naming a dropped column would fail every insert into `events`.
            self.rollup.sync_view(self._admitted(), without=[name])
            self.ddl.drop(name)
            self.rollup.forget(name)
        log.info("materialized.dropped", column=name)
        return {"column": name, "dropped": True}

    # --- tenant API ----------------------------------------------------------------------------------
    def list(self, tenant_id: str) -> MaterializedPropertyList:
        with self.metadata.session() as session:
            items = [self._public(session, link) for link in _tenant_links(session, tenant_id)]
        return MaterializedPropertyList(items=items, limit=self.settings.materialized_max_per_tenant)

    def get(self, tenant_id: str, property_id: str) -> MaterializedPropertyPublic:
        with self.metadata.session() as session:
            return self._public(session, _link(session, tenant_id, property_id))

    def create(
        self, tenant_id: str, body: MaterializedPropertyCreate, *, source: str = "manual", wait: bool = False
    ) -> MaterializedPropertyPublic:
        """Link the tenant to the column of (path, type); start its backfill when it is not ready
        (a new column, one being dropped, or one whose last backfill failed). Idempotent."""
        self.register_jobs()
        name = column_name(body.path, body.type)
        with self._lock:
            with self.metadata.session() as session:
                link = session.scalars(
                    select(MaterializedProperty).where(
                        MaterializedProperty.tenant_id == tenant_id,
                        MaterializedProperty.path == body.path,
                        MaterializedProperty.value_type == body.type,
                    )
                ).first()
                if link is None:
                    self._check_tenant_cap(session, tenant_id)
                    # Checked for every new link, not only for a new column: otherwise a full service
                    # accepting some properties would tell a tenant which ones others materialized.
                    self._check_column_cap(session)
                column = session.get(MaterializedColumn, name)
                if column is None:
                    column = MaterializedColumn(
                        name=name, path=body.path, value_type=body.type, state="backfilling", generation=0
                    )
                    session.add(column)
                needs_backfill = column.state == "dropping" or self._backfill_gone(column)
                if link is None:
                    link = MaterializedProperty(
                        tenant_id=tenant_id, path=body.path, value_type=body.type, column_name=name, source=source
                    )
                    session.add(link)
                if needs_backfill:
                    column.state, column.error, column.ready_at, column.job_id = "backfilling", None, None, None
                    column.generation = (column.generation or 0) + 1
                session.flush()
                link_id, generation = link.id, column.generation
            job_id = None
            if needs_backfill:
                # Enqueued after the commit above (the job reads the column row), in this lock.
                job_id = self.runner.enqueue(
                    BACKFILL_JOB,
                    tenant_id=tenant_id,
                    params={"column": name, "generation": generation, "path": body.path},
                    source=name,
                ).id
                self._set_job(name, generation, job_id)
        self._forget()
        if wait and job_id is not None:
            self.runner.run_now(job_id, wait=True)
        return self.get(tenant_id, link_id)

    def delete(self, tenant_id: str, property_id: str) -> None:
        """Unlink the tenant; when no tenant uses the column any more, a job drops it from `events`."""
        self.register_jobs()
        with self._lock:
            with self.metadata.session() as session:
                link = _link(session, tenant_id, property_id)
                name = link.column_name
                session.delete(link)
                session.flush()
                column = session.get(MaterializedColumn, name)
                drop = column is not None and _links(session, name) == 0
                if column is not None and drop:
                    column.state, column.job_id = "dropping", None
                    column.generation += 1  # a running backfill cannot mark it ready any more
                generation = column.generation if column is not None else 0
            if drop:
                job_id = self.runner.enqueue(DROP_JOB, tenant_id=tenant_id, params={"column": name}, source=name).id
                self._set_job(name, generation, job_id)
        self._forget()

    # --- what insights read --------------------------------------------------------------------------
    def ready_columns(self, tenant_id: str) -> dict[tuple[str, str], str]:
        """(path, type) -> column for this tenant's properties whose backfill finished."""
        now = time.monotonic()
        cached = self._ready.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.metadata.session() as session:
            rows = session.execute(
                select(MaterializedProperty.path, MaterializedProperty.value_type, MaterializedColumn.name)
                .join(MaterializedColumn, MaterializedColumn.name == MaterializedProperty.column_name)
                .where(MaterializedProperty.tenant_id == tenant_id, MaterializedColumn.state == "ready")
            ).all()
        columns = {(path, value_type): name for path, value_type, name in rows}
        self._ready[tenant_id] = (now + self.settings.materialized_refresh_seconds, columns)
        return columns

    def _set_job(self, name: str, generation: int, job_id: str) -> None:
        with self.metadata.session() as session:
            column = session.get(MaterializedColumn, name)
            if column is not None and column.generation == generation:
                column.job_id = job_id

    def _forget(self) -> None:
        self._ready.clear()

    # --- suggestions ---------------------------------------------------------------------------------
    def suggestions(self, tenant_id: str) -> SuggestionList:
        with self.metadata.session() as session:
            uses = tenant_uses(session, tenant_id)
            linked = {(link.path, link.value_type) for link in _tenant_links(session, tenant_id)}
        return SuggestionList(
            items=_ranked(uses, linked)[:SUGGESTIONS_SHOWN],
            auto=self.settings.materialized_auto,
            min_uses=self.settings.materialized_auto_min_uses,
        )

    def apply_suggestions(
        self, tenant_id: str, *, min_uses: int | None = None, source: str = "auto"
    ) -> ApplySuggestionsResult:
        """Materialize every suggestion used at least `min_uses` times, most used first; those a cap
        leaves out are returned as skipped (never an error: this runs unattended in auto mode)."""
        floor = self.settings.materialized_auto_min_uses if min_uses is None else min_uses
        result = ApplySuggestionsResult(created=[])
        for suggestion in self.suggestions(tenant_id).items:
            if suggestion.materialized or suggestion.uses < floor:
                continue
            try:
                body = MaterializedPropertyCreate(path=suggestion.path, type=suggestion.type)
                result.created.append(self.create(tenant_id, body, source=source))
            except InvalidInput as exc:
                if exc.code != LIMIT_CODE:
                    raise
                result.skipped.append(suggestion)
        return result

    def auto_pass(self) -> int:
        """Auto mode: apply every tenant's suggestions; the number of properties materialized."""
        from analytics_engine.dashboards.models import Widget
        from analytics_engine.metrics.models import Metric

        with self.metadata.session() as session:
            tenants = set(session.scalars(select(Widget.tenant_id).distinct()))
            tenants |= {t for t in session.scalars(select(Metric.tenant_id).distinct()) if t is not None}
        created = 0
        for tenant_id in sorted(tenants):
            result = self.apply_suggestions(tenant_id)
            created += len(result.created)
            if result.created or result.skipped:
                log.info(
                    "materialized.auto",
                    tenant_id=tenant_id,
                    created=[p.path for p in result.created],
                    skipped=[s.path for s in result.skipped],
                )
        return created

    # --- helpers -------------------------------------------------------------------------------------
    def _check_tenant_cap(self, session: Session, tenant_id: str) -> None:
        used = session.scalar(
            select(func.count()).select_from(MaterializedProperty).where(MaterializedProperty.tenant_id == tenant_id)
        )
        limit = self.settings.materialized_max_per_tenant
        if (used or 0) >= limit:
            raise InvalidInput(
                f"This tenant already has {used} materialized properties, the most allowed ({limit}); "
                "delete one before adding another.",
                code=LIMIT_CODE,
                details={"limit": limit, "used": used, "scope": "tenant"},
            )

    def _check_column_cap(self, session: Session) -> None:
        used = session.scalar(select(func.count()).select_from(MaterializedColumn))
        limit = self.settings.materialized_max_columns
        if (used or 0) >= limit:
            # Nothing about other tenants (no count of their columns): only that the service is full.
            raise InvalidInput(
                f"The service keeps the most materialized columns it allows ({limit}, for all tenants); "
                "ask the operator to raise ANALYTICS_MATERIALIZED_MAX_COLUMNS.",
                code=LIMIT_CODE,
                details={"limit": limit, "scope": "service"},
            )

    def _backfill_gone(self, column: MaterializedColumn) -> bool:
        """True when the column is not ready and no backfill job of it is queued or running."""
        if column.state == "ready":
            return False
        if column.job_id is None:
            return True
        try:
            return self.jobs.get(column.job_id).state in FINAL_STATES
        except NotFound:
            return True

    def _public(self, session: Session, link: MaterializedProperty) -> MaterializedPropertyPublic:
        column = session.get(MaterializedColumn, link.column_name)
        state, error, job_id = "backfilling", None, None
        ready_at = None
        if column is not None:
            state, error, job_id, ready_at = column.state, column.error, column.job_id, column.ready_at
            if state == "backfilling" and job_id is not None:
                try:
                    job = self.jobs.get(job_id)
                except NotFound:
                    job = None
                if job is None or (job.state in FINAL_STATES and job.state != JobState.succeeded):
                    state, error = "failed", (job.error if job else "the backfill job is gone")
        return MaterializedPropertyPublic(
            id=link.id,
            path=link.path,
            type=link.value_type,  # type: ignore[arg-type]
            column=link.column_name,
            state=state,  # type: ignore[arg-type]
            job_id=job_id,
            error=error,
            **_rollup_fields(column, link.value_type),
            source="auto" if link.source == "auto" else "manual",
            created_at=link.created_at,
            ready_at=ready_at,
        )


def _rollup_fields(column: MaterializedColumn | None, value_type: str) -> dict[str, Any]:
    """`rolled_up`, `rollup_reason` and `rollup_message` of the API answer."""
    if value_type != "string":
        return {"rolled_up": False, "rollup_reason": "not_string", "rollup_message": "only string properties are"}
    decision = column.rollup if column is not None else None
    if decision == "rolled_up":
        return {"rolled_up": True, "rollup_reason": None, "rollup_message": None}
    if decision is None:
        message = "decided when the column's backfill finishes"
        return {"rolled_up": False, "rollup_reason": "pending", "rollup_message": message}
    detail = column.rollup_detail if column is not None else None
    return {"rolled_up": False, "rollup_reason": decision, "rollup_message": detail}


def _set_rollup(session: Session, name: str, rollup: str, detail: str | None) -> None:
    column = session.get(MaterializedColumn, name)
    if column is not None:
        column.rollup, column.rollup_detail = rollup, detail


def _tenant_links(session: Session, tenant_id: str) -> list[MaterializedProperty]:
    return list(
        session.scalars(
            select(MaterializedProperty)
            .where(MaterializedProperty.tenant_id == tenant_id)
            .order_by(MaterializedProperty.created_at, MaterializedProperty.id)
        )
    )


def _link(session: Session, tenant_id: str, property_id: str) -> MaterializedProperty:
    link = session.get(MaterializedProperty, property_id)
    if link is None or link.tenant_id != tenant_id:
        raise NotFound(f"materialized property {property_id} not found")
    return link


def _links(session: Session, column: str) -> int:
    count = session.scalar(
        select(func.count()).select_from(MaterializedProperty).where(MaterializedProperty.column_name == column)
    )
    return int(count or 0)


def _ranked(uses: Counter[tuple[str, ValueType]], linked: set[tuple[str, str]]) -> list[Suggestion]:
    ordered = sorted(uses.items(), key=lambda item: (-item[1], item[0][0], item[0][1]))
    return [
        Suggestion(path=path, type=value_type, uses=count, materialized=(path, value_type) in linked)
        for (path, value_type), count in ordered
    ]
