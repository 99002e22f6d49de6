"""Impact measurement service: computes SROI and VIS for a tenant (through its vocabulary and the
formula version in force), records each result with its formula version, announces changed figures
on the bus, dry-runs new formula versions, and refreshes and serves cross-tenant benchmarks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select

from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.impact import benchmarks as bm
from analytics_engine.impact.formulas import SroiDefinition, VisDefinition
from analytics_engine.impact.inputs import (
    SroiData,
    VisData,
    Vocabulary,
    Window,
    list_programmes,
    read_sroi_data,
    read_vis_data,
    vocabulary_from,
)
from analytics_engine.impact.models import ImpactResult, ImpactVocabulary
from analytics_engine.impact.registry import FormulaCreate, FormulaRegistry
from analytics_engine.impact.sroi import compute_sroi
from analytics_engine.impact.vis import aggregate_vis, compute_vis, months_in
from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.schemas import JobState
from analytics_engine.metadata.models import Tenant, utcnow
from analytics_engine.warehouse.scoped import TenantScope

if TYPE_CHECKING:
    from analytics_engine.core import Core

log = structlog.get_logger(__name__)
MAX_PERIOD_DAYS = 3_660
EARLIEST, LATEST = date(1970, 1, 1), date(2299, 12, 30)  # inside DateTime64's range
DRY_RUN_DAYS = 90
DRY_RUN_MAX_SCOPES = 500
MOVE_THRESHOLD = 0.20
BENCHMARKS_JOB = "impact.benchmarks_refresh"
_IN_REQUEST: ContextVar[bool] = ContextVar("impact_in_request", default=False)


def make_window(start: date | None, end: date | None, programme: str | None, *, default_days: int = 365) -> Window:
    """[start, end] as whole UTC days (end inclusive); default: the last `default_days` days up to today."""
    end_day = end or datetime.now(UTC).date()
    start_day = start or end_day - timedelta(days=default_days - 1)
    if start_day > end_day:
        raise InvalidInput("'start' must not be after 'end'.")
    if start_day < EARLIEST or end_day > LATEST:
        raise InvalidInput(f"Dates must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}.")
    if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(f"A period may span at most {MAX_PERIOD_DAYS} days.")
    return Window(
        datetime.combine(start_day, time(), UTC),
        datetime.combine(end_day + timedelta(days=1), time(), UTC),
        programme or None,
    )


class ImpactService:
    def __init__(self, runtime: Core) -> None:
        self.runtime = runtime
        self.registry = FormulaRegistry(runtime.metadata)
        self.rng = random.Random()
        self.loop: asyncio.AbstractEventLoop | None = None  # serve's loop, for events from job threads
        self.register_jobs()

    # --- tenant profile and vocabulary ------------------------------------------------------------
    def tenant(self, tenant_id: str) -> dict[str, Any]:
        with self.runtime.metadata.session() as session:
            row = session.get(Tenant, tenant_id)
            if row is None:
                raise NotFound(f"No tenant with id {tenant_id!r}.")
            return {
                "industry": row.industry,
                "region": row.region,
                "size": row.size_band,
                "opt_in": bool(row.data_sharing_opt_in),
            }

    def vocabulary(self, tenant_id: str) -> Vocabulary:
        with self.runtime.metadata.session() as session:
            row = session.get(ImpactVocabulary, tenant_id)
            return vocabulary_from(row.mapping if row else None)

    def set_vocabulary(self, tenant_id: str, mapping: dict[str, Any]) -> Vocabulary:
        try:
            vocab = vocabulary_from(mapping)
        except ValidationError as exc:
            raise InvalidInput.from_validation("Invalid vocabulary.", exc.errors()) from exc
        with self.runtime.metadata.session() as session:
            row = session.get(ImpactVocabulary, tenant_id)
            if row is None:
                session.add(ImpactVocabulary(tenant_id=tenant_id, mapping=vocab.model_dump(), updated_at=utcnow()))
            else:
                row.mapping = vocab.model_dump()
                row.updated_at = utcnow()
        return vocab

    def scope(self, tenant_id: str) -> TenantScope:
        """Tenant requests run under the tenant's budget gate; background work (the refresh) is
        never refused, though its usage is recorded like any other."""
        return self.runtime.warehouse.for_tenant(tenant_id, background=not _IN_REQUEST.get())

    def read_sroi(self, tenant_id: str, window: Window, *, min_gain: float = 0.0) -> SroiData:
        return read_sroi_data(self.scope(tenant_id), self.vocabulary(tenant_id), window, min_gain=min_gain)

    def read_vis(self, tenant_id: str, window: Window) -> VisData:
        return read_vis_data(self.scope(tenant_id), self.vocabulary(tenant_id), window)

    def programmes(self, tenant_id: str, window: Window) -> list[str]:
        return list_programmes(self.scope(tenant_id), self.vocabulary(tenant_id), window)

    @contextmanager
    def admitted(self, tenant_id: str) -> Iterator[None]:
        """A tenant's request passes its budget gate (429 when used up); background work does not."""
        token = _IN_REQUEST.set(True)
        try:
            with self.runtime.warehouse.for_tenant(tenant_id).admitted():
                yield
        finally:
            _IN_REQUEST.reset(token)

    # --- computation ---------------------------------------------------------------------------
    @staticmethod
    def volunteers_of(data: VisData, window: Window, version: int, spec: VisDefinition) -> list[dict[str, Any]]:
        months = months_in(window.days)
        scored = [compute_vis(a, months, spec, version=version) for a in data.volunteer_activities()]
        return sorted(scored, key=lambda v: (-v["score"], v["volunteer_id"]))

    def evaluate(
        self, kind: str, tenant_id: str, window: Window, version: int, spec: SroiDefinition | VisDefinition
    ) -> dict[str, Any]:
        """Read the tenant's inputs and compute `kind` under the given formula version."""
        if isinstance(spec, SroiDefinition):
            data = self.read_sroi(tenant_id, window, min_gain=spec.min_gain)
            sector = (self.tenant(tenant_id)["industry"] or "").strip().lower() or None
            return compute_sroi(
                data.inputs(sector),
                spec,
                version=version,
                hourly_value=self.runtime.settings.impact_volunteer_hour_value,
            )
        volunteers = self.volunteers_of(self.read_vis(tenant_id, window), window, version, spec)
        return aggregate_vis(volunteers, spec, version=version)

    def compute(self, kind: str, tenant_id: str, window: Window, version: int | None = None) -> dict[str, Any]:
        number, spec = self.registry.get(kind, version)
        return self.evaluate(kind, tenant_id, window, number, spec)

    # --- results ---------------------------------------------------------------------------------
    def record(
        self, tenant_id: str, kind: str, window: Window, result: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        """Store the result (unless identical to the latest of the same scope); returns its id and a
        change notice when the figure differs from the previous one of that tenant and scope. The
        scope is tenant, kind, programme and period length (so a rolling "last 365 days" compares
        with yesterday's, and requests for periods of other lengths do not flap)."""
        value = result["ratio"] if kind == "sroi" else result["score"]
        length = window.end - window.start
        with self.runtime.metadata.session() as session:
            recent = session.scalars(
                select(ImpactResult)
                .where(
                    ImpactResult.tenant_id == tenant_id,
                    ImpactResult.kind == kind,
                    ImpactResult.programme.is_(None)
                    if window.programme is None
                    else ImpactResult.programme == window.programme,
                )
                .order_by(ImpactResult.computed_at.desc())
                .limit(50)
            ).all()
            previous = next((r for r in recent if _aware(r.period_end) - _aware(r.period_start) == length), None)
            same_scope = (
                previous is not None
                and _same_period(previous, window)
                and (previous.formula_version == result["formula_version"])
            )
            if same_scope and previous is not None and previous.value == value:
                return previous.id, None
            row = ImpactResult(
                tenant_id=tenant_id,
                kind=kind,
                programme=window.programme,
                period_start=window.start,
                period_end=window.end,
                value=value,
                formula_version=result["formula_version"],
                result=result,
                computed_at=utcnow(),
            )
            session.add(row)
            session.flush()
            change = None
            if previous is None or previous.value != value:
                change = {
                    "result_id": row.id,
                    "programme": window.programme,
                    "period_start": window.start.isoformat(),
                    "period_end": window.end.isoformat(),
                    "previous": None if previous is None else previous.value,
                    "value": value,
                    "band": result["band"],
                    "formula_version": result["formula_version"],
                }
            return row.id, change

    def _compute_admitted(self, kind: str, tenant_id: str, window: Window, version: int | None) -> dict[str, Any]:
        with self.admitted(tenant_id):
            return self.compute(kind, tenant_id, window, version)

    async def calculate(
        self,
        kind: str,
        tenant_id: str,
        window: Window,
        *,
        version: int | None = None,
        breakdown: bool = False,
        request: bool = True,
    ) -> dict[str, Any]:
        """Compute, record and announce a tenant's SROI or VIS; the API's entry point (`request`:
        through the tenant's budget gate; the scheduled refresh passes False)."""
        compute = self._compute_admitted if request else self.compute
        result = await asyncio.to_thread(compute, kind, tenant_id, window, version)
        result_id, change = await asyncio.to_thread(self.record, tenant_id, kind, window, result)
        if change:
            await self.runtime.bus.publish(f"impact.{kind}_updated", change, tenant_id=tenant_id)
        answer = {"result_id": result_id, **self._period(window), **result}
        if kind == "vis" and breakdown:
            answer["programmes"] = await asyncio.to_thread(self._programme_vis_admitted, tenant_id, window, version)
        elif kind == "vis":
            answer.pop("breakdown", None)
        return answer

    def _programme_vis_admitted(self, tenant_id: str, window: Window, version: int | None) -> list[dict[str, Any]]:
        with self.admitted(tenant_id):
            return self._programme_vis(tenant_id, window, version)

    def _programme_vis(self, tenant_id: str, window: Window, version: int | None) -> list[dict[str, Any]]:
        number, spec = self.registry.get("vis", version)
        out = []
        for programme in self.programmes(tenant_id, window):
            scoped = Window(window.start, window.end, programme)
            result = self.evaluate("vis", tenant_id, scoped, number, spec)
            out.append(
                {
                    "programme": programme,
                    "score": result["score"],
                    "band": result["band"],
                    "volunteers": result["volunteers"],
                }
            )
        return out

    @staticmethod
    def _period(window: Window) -> dict[str, Any]:
        return {
            "period": {
                "start": window.start.date().isoformat(),
                "end": (window.end - timedelta(days=1)).date().isoformat(),
            },
            "programme": window.programme,
        }

    def volunteers(
        self, tenant_id: str, window: Window, *, version: int | None, limit: int, offset: int
    ) -> dict[str, Any]:
        number, spec = self.registry.get("vis", version)
        with self.admitted(tenant_id):
            data = self.read_vis(tenant_id, window)
        ranked = self.volunteers_of(data, window, number, spec)  # type: ignore[arg-type]
        page = [{"rank": offset + i + 1, **v} for i, v in enumerate(ranked[offset : offset + limit])]
        return {
            **self._period(window),
            "formula_version": number,
            "total": len(ranked),
            "limit": limit,
            "offset": offset,
            "volunteers": page,
        }

    def get_result(self, tenant_id: str, result_id: str) -> dict[str, Any]:
        with self.runtime.metadata.session() as session:
            row = session.get(ImpactResult, result_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound(f"No impact result with id {result_id!r}.")
            return _result_public(row)

    def list_results(self, tenant_id: str, kind: str | None, limit: int) -> list[dict[str, Any]]:
        with self.runtime.metadata.session() as session:
            query = select(ImpactResult).where(ImpactResult.tenant_id == tenant_id)
            if kind:
                query = query.where(ImpactResult.kind == kind)
            rows = session.scalars(query.order_by(ImpactResult.computed_at.desc()).limit(limit)).all()
            return [{k: v for k, v in _result_public(r).items() if k != "result"} for r in rows]

    # --- formula versions ------------------------------------------------------------------------
    def dry_run(self, body: FormulaCreate) -> dict[str, Any]:
        """Recompute the results recorded in the last 90 days under their own version and the
        proposed one; report how many move by more than 20%."""
        new_spec = body.parsed()
        since = utcnow() - timedelta(days=DRY_RUN_DAYS)
        with self.runtime.metadata.session() as session:
            rows = session.scalars(
                select(ImpactResult)
                .where(ImpactResult.kind == body.kind, ImpactResult.computed_at >= since)
                .order_by(ImpactResult.computed_at.desc())
            ).all()
            scopes: dict[tuple[str, str | None, datetime, datetime], int] = {}
            for r in rows:
                key = (r.tenant_id, r.programme, _aware(r.period_start), _aware(r.period_end))
                scopes.setdefault(key, r.formula_version)
        compared, moved, changes = 0, 0, []
        for (tenant_id, programme, start, end), old_version in list(scopes.items())[:DRY_RUN_MAX_SCOPES]:
            window = Window(start, end, programme)
            _, old_spec = self.registry.get(body.kind, old_version)
            field = "ratio" if body.kind == "sroi" else "score"
            old = self.evaluate(body.kind, tenant_id, window, old_version, old_spec)[field]
            new = self.evaluate(body.kind, tenant_id, window, 0, new_spec)[field]
            compared += 1
            change = _relative_change(old, new)
            is_moved = change is None or abs(change) > MOVE_THRESHOLD
            if old is None and new is None:
                is_moved = False
            moved += int(is_moved)
            changes.append(
                {
                    "tenant_id": tenant_id,
                    "programme": programme,
                    "period_start": start.date().isoformat(),
                    "old_version": old_version,
                    "old": old,
                    "new": new,
                    "relative_change": None if change is None else round(change, 4),
                    "moved": is_moved,
                }
            )
        return {
            "dry_run": True,
            "kind": body.kind,
            "proposed_version": self.registry.next_version(body.kind),
            "days": DRY_RUN_DAYS,
            "threshold": MOVE_THRESHOLD,
            "results_compared": compared,
            "moved_over_threshold": moved,
            "scopes_skipped": max(0, len(scopes) - DRY_RUN_MAX_SCOPES),
            "changes": sorted(changes, key=lambda c: -abs(c["relative_change"] or 0))[:100],
        }

    # --- benchmarks ------------------------------------------------------------------------------
    def _opted_in(self) -> list[tuple[str, dict[str, str | None]]]:
        with self.runtime.metadata.session() as session:
            rows = session.scalars(select(Tenant).where(Tenant.data_sharing_opt_in.is_(True))).all()
            return [
                (t.id, {"industry": _norm(t.industry), "region": _norm(t.region), "size": _norm(t.size_band)})
                for t in rows
            ]

    async def refresh_benchmarks(self) -> dict[str, Any]:
        """Recompute every opted-in tenant's SROI and VIS and write a new benchmarks refresh: an
        `impact.benchmarks_refresh` job of the one runner, run here in a worker thread (a runner
        loop that claims it first runs it instead); the answer is the job's summary."""
        self.loop = asyncio.get_running_loop()
        self.register_jobs()
        tenants = await asyncio.to_thread(self._opted_in)
        if not tenants:
            return {"job_id": None, "tenants": 0, "groups": 0, "suppressed": 0}
        runner = self.runtime.runner
        job = await asyncio.to_thread(runner.enqueue, BENCHMARKS_JOB, source="impact")
        done = await asyncio.to_thread(runner.run_now, job.id, wait=True)
        if done.state == JobState.cancelled:
            return {"job_id": job.id, "tenants": len(tenants), "cancelled": True}
        if done.state != JobState.succeeded:
            raise RuntimeError(f"The benchmarks refresh (job {job.id}) ended {done.state}: {done.error}")
        return {"job_id": job.id, **done.result}

    def register_jobs(self) -> None:
        """One attempt: a failed refresh is reported, and the next scheduled one tries again."""
        if BENCHMARKS_JOB not in self.runtime.runner.handlers:
            self.runtime.runner.register(BENCHMARKS_JOB, self.refresh_job, max_attempts=1)

    def refresh_job(self, ctx: JobContext) -> dict[str, Any]:
        """The `impact.benchmarks_refresh` handler (a runner thread): one step of progress per
        tenant; a cancel stops it before the next tenant and nothing of this refresh is written."""
        settings = self.runtime.settings
        tenants = self._opted_in()
        ctx.progress(0, len(tenants))
        window = make_window(None, None, None, default_days=settings.impact_benchmark_window_days)
        members = []
        for done, (tenant_id, attributes) in enumerate(tenants, start=1):
            ctx.check_cancelled()
            values = {}
            for kind in ("sroi", "vis"):
                result = self.compute(kind, tenant_id, window, None)
                _, change = self.record(tenant_id, kind, window, result)
                if change:
                    self._publish(f"impact.{kind}_updated", change, tenant_id)
                values[kind] = result["ratio"] if kind == "sroi" else result["score"]
            members.append(bm.Member(tenant_id, attributes, values))
            ctx.progress(done, len(tenants))
        ctx.check_cancelled()
        groups, member_rows = bm.build_rows(
            members,
            k=settings.impact_benchmark_k,
            epsilon=settings.impact_benchmark_epsilon,
            rng=self.rng,
            refreshed_at=utcnow(),
        )
        bm.write_rows(self.runtime.warehouse, groups, member_rows)
        return {"tenants": len(tenants), "groups": len(groups), "suppressed": sum(1 for g in groups if g["suppressed"])}

    def _publish(self, event: str, data: dict[str, Any], tenant_id: str) -> None:
        """Publish from the handler's thread: on the service's event loop when one runs (the bus
        belongs to it), else in a loop of its own (the CLI, benchmarks)."""
        publish = self.runtime.bus.publish
        try:
            if self.loop is not None and self.loop.is_running():
                asyncio.run_coroutine_threadsafe(publish(event, data, tenant_id=tenant_id), self.loop).result(10)
            else:
                asyncio.run(publish(event, data, tenant_id=tenant_id))
        except Exception as exc:  # the result is recorded; a lost notification must not undo that
            log.warning("impact.event_not_published", event=event, tenant_id=tenant_id, error=str(exc))

    def benchmark(self, tenant_id: str, metric: str, compare_with: str) -> dict[str, Any]:
        profile = self.tenant(tenant_id)
        group = _norm(profile[compare_with])
        answer: dict[str, Any] = {
            "metric": metric,
            "compare_with": compare_with,
            "group": group,
            "current_group": None,
            "suppressed": True,
            "reason": None,
            "peer_tenants": None,
            "k": self.runtime.settings.impact_benchmark_k,
            "value": None,
            "percentile_rank": None,
            "p10": None,
            "p25": None,
            "p50": None,
            "p75": None,
            "p90": None,
            "mean": None,
            "epsilon": None,
            "refreshed_at": None,
        }
        if not profile["opt_in"]:
            answer["reason"] = "this tenant has not opted in to data sharing; only opted-in tenants see benchmarks"
            return answer
        row = bm.read_benchmark(self.runtime.warehouse, tenant_id, metric, compare_with, group)
        if row is None:
            answer["reason"] = (
                f"this tenant has no {compare_with} set"
                if group is None
                else "no benchmark refresh has covered this peer group yet"
            )
            return answer
        # The group the tenant's figure was computed in; its current group only when it differs.
        answer.update(group=row["group_value"], current_group=None if group == row["group_value"] else group)
        answer.update(epsilon=row["epsilon"], refreshed_at=_aware(row["refreshed_at"]))
        if row["own"] is not None:
            answer["value"] = row["own"]["value"]
        if row["suppressed"]:
            # Below k: nothing about the group, not even its size (peer_tenants stays null), whether
            # or not the asking tenant has a figure in it.
            answer["reason"] = row["reason"]
            return answer
        answer["peer_tenants"] = row["tenants"]
        if row["own"] is None:
            answer["reason"] = "this tenant had no figure at the last refresh"
            return answer
        answer.update(
            suppressed=False,
            percentile_rank=row["own"]["percentile_rank"],
            **{name: _round(row[name]) for name in ("p10", "p25", "p50", "p75", "p90", "mean")},
        )
        return answer


def _norm(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _same_period(row: ImpactResult, window: Window) -> bool:
    return _aware(row.period_start) == window.start and _aware(row.period_end) == window.end


def _relative_change(old: float | None, new: float | None) -> float | None:
    if old is None or new is None:
        return None
    if old == 0:
        return 0.0 if new == 0 else None  # from zero: counted as moved
    return (new - old) / abs(old)


def _result_public(row: ImpactResult) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "programme": row.programme,
        "period": {
            "start": _aware(row.period_start).date().isoformat(),
            "end": (_aware(row.period_end) - timedelta(days=1)).date().isoformat(),
        },
        "value": row.value,
        "formula_version": row.formula_version,
        "computed_at": _aware(row.computed_at),
        "result": row.result,
    }
