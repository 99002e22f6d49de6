"""Reports: CRUD, one run (compute sections -> PDF and XLSX -> storage -> email and webhooks ->
a recorded run), and their schedules in the one scheduler (`report:<id>`, cron in the report's or
the tenant's time zone; a slot missed while the service was down runs once at start)."""

from __future__ import annotations

import asyncio
import builtins
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select

from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.exports.integrations import Section, dashboard_sections, insight_section, metric_section
from analytics_engine.exports.workspace import attempt_workspace, report_temp_dir
from analytics_engine.jobs.context import JobContext, JobFailed
from analytics_engine.jobs.schemas import JobState
from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.net import OutgoingPolicy, check_url
from analytics_engine.reports.delivery import post_webhook, send_email
from analytics_engine.reports.figures import (
    compute_previous,
    describe_range,
    headline,
    previous_range,
    report_range,
)
from analytics_engine.reports.models import Report, ReportRun
from analytics_engine.reports.render import render_pdf, render_xlsx
from analytics_engine.reports.schemas import (
    Artifact,
    Delivery,
    ReportCreate,
    ReportPublic,
    ReportRunPublic,
    ReportUpdate,
)
from analytics_engine.scheduler.core import Cron
from analytics_engine.storage.base import content_type_for

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
JOB_KIND = "report"
CONTEXT_KEYS = ("date_from", "date_to", "cohort_id", "timezone", "interval")


def schedule_name(report_id: str) -> str:
    return f"report:{report_id}"


class ReportService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # --- CRUD -------------------------------------------------------------------------------------
    def _report(self, session: Any, tenant_id: str, report_id: str) -> Report:
        report: Report | None = session.get(Report, report_id)
        if report is None or report.tenant_id != tenant_id:
            raise NotFound(f"No report with id {report_id!r}.")
        return report

    def _public(self, report: Report) -> ReportPublic:
        public = ReportPublic.model_validate(report)
        public.next_run_at = self.runtime.scheduler.next_run(schedule_name(report.id))
        return public

    def _check_sources(self, tenant: Any, dashboard_id: str | None, queries: list[Any]) -> None:
        if dashboard_id:
            self.runtime.dashboards.get(tenant.tenant_id, dashboard_id)  # 404 if not this tenant's
        for item in queries:
            if item.type == "insight":
                from analytics_engine.insights.registry import parse_query

                parse_query(item.query)
            else:
                self.runtime.metrics.get(tenant.tenant_id, item.metric_id)

    def _check_webhooks(self, recipients: Any) -> None:
        """422 url_not_allowed for a webhook at an internal address (delivery checks again)."""
        policy = OutgoingPolicy.from_entries(self.runtime.settings.outgoing_allow)
        for hook in recipients.webhooks:
            check_url(hook.url, policy)

    def create(self, tenant: Any, body: ReportCreate) -> ReportPublic:
        self._check_sources(tenant, body.dashboard_id, body.queries)
        self._check_webhooks(body.recipients)
        with self.runtime.metadata.session() as session:
            report = Report(
                tenant_id=tenant.tenant_id,
                name=body.name,
                dashboard_id=body.dashboard_id,
                queries=[q.model_dump(mode="json") for q in body.queries],
                filters=body.filters,
                schedule=body.schedule,
                timezone=body.timezone,
                formats=list(dict.fromkeys(body.formats)),
                recipients=body.recipients.model_dump(mode="json"),
                webhook_secret="whsec_" + secrets.token_urlsafe(24),
                enabled=body.enabled,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            session.add(report)
            session.flush()
            self.schedule(report, tenant.timezone)
            return self._public(report)

    def list(self, tenant_id: str) -> list[ReportPublic]:
        with self.runtime.metadata.session() as session:
            query = select(Report).where(Report.tenant_id == tenant_id).order_by(Report.created_at)
            return [self._public(r) for r in session.scalars(query)]

    def get(self, tenant_id: str, report_id: str) -> ReportPublic:
        with self.runtime.metadata.session() as session:
            return self._public(self._report(session, tenant_id, report_id))

    def update(self, tenant: Any, report_id: str, body: ReportUpdate) -> ReportPublic:
        values = body.model_dump(exclude_unset=True)
        with self.runtime.metadata.session() as session:
            report = self._report(session, tenant.tenant_id, report_id)
            dashboard_id = values.get("dashboard_id", report.dashboard_id)
            queries = body.queries if body.queries is not None else None
            if "dashboard_id" in values or "queries" in values:
                query_list = queries if queries is not None else ([] if dashboard_id else None)
                if query_list is None:
                    from analytics_engine.reports.schemas import ReportQuery

                    query_list = [ReportQuery.model_validate(q) for q in report.queries]
                if bool(dashboard_id) == bool(query_list):
                    raise InvalidInput("A report has either dashboard_id or queries (one of them).")
                self._check_sources(tenant, dashboard_id, query_list)
                report.dashboard_id = dashboard_id
                report.queries = [q.model_dump(mode="json") for q in query_list]
            for key in ("name", "filters", "schedule", "timezone", "enabled"):
                if key in values:
                    setattr(report, key, values[key])
            if body.formats is not None:
                report.formats = list(dict.fromkeys(body.formats))
            if body.recipients is not None:
                self._check_webhooks(body.recipients)
                report.recipients = body.recipients.model_dump(mode="json")
            report.updated_at = utcnow()
            session.flush()
            self.schedule(report, tenant.timezone)
            return self._public(report)

    def delete(self, tenant_id: str, report_id: str) -> None:
        with self.runtime.metadata.session() as session:
            report = self._report(session, tenant_id, report_id)
            session.delete(report)
        self.runtime.scheduler.remove(schedule_name(report_id))

    def runs(self, tenant_id: str, report_id: str, limit: int = 50) -> builtins.list[ReportRunPublic]:
        with self.runtime.metadata.session() as session:
            self._report(session, tenant_id, report_id)
            query = (
                select(ReportRun)
                .where(ReportRun.report_id == report_id)
                .order_by(ReportRun.started_at.desc())
                .limit(limit)
            )
            return [ReportRunPublic.model_validate(r) for r in session.scalars(query)]

    def get_run(self, tenant_id: str, report_id: str, run_id: str) -> ReportRunPublic:
        with self.runtime.metadata.session() as session:
            run = session.get(ReportRun, run_id)
            if run is None or run.tenant_id != tenant_id or run.report_id != report_id:
                raise NotFound(f"No run with id {run_id!r}.")
            return ReportRunPublic.model_validate(run)

    # --- schedules -----------------------------------------------------------------------------------
    def schedule(self, report: Report, tenant_timezone: str) -> None:
        name = schedule_name(report.id)
        if not report.enabled or not report.schedule:
            self.runtime.scheduler.remove(name)
            return
        report_id = report.id
        trigger = Cron(report.schedule, report.timezone or tenant_timezone or "UTC")

        async def job() -> None:
            await asyncio.to_thread(self.run, report_id, "schedule")

        self.runtime.scheduler.add(name, trigger, job)

    def schedule_all(self) -> int:
        from analytics_engine.metadata.models import Tenant

        count = 0
        with self.runtime.metadata.session() as session:
            query = select(Report, Tenant.timezone).join(Tenant, Tenant.id == Report.tenant_id)
            for report, timezone in session.execute(query.where(Report.enabled.is_(True))):
                if report.schedule:
                    self.schedule(report, timezone)
                    count += 1
        return count

    # --- one run -------------------------------------------------------------------------------------
    def start_run(self, tenant_id: str, report_id: str, trigger: str) -> str:
        """The run row and its job (same id, kind `report`, visible at /v1/jobs), in one commit."""
        with self.runtime.metadata.session() as session:
            self._report(session, tenant_id, report_id)
            run = ReportRun(
                report_id=report_id,
                tenant_id=tenant_id,
                trigger=trigger,
                status="running",
                started_at=utcnow(),
                artifacts=[],
                deliveries=[],
            )
            session.add(run)
            session.flush()
            session.add(
                Job(
                    id=run.id,
                    kind=JOB_KIND,
                    tenant_id=tenant_id,
                    source=trigger,
                    params={"report_id": report_id, "trigger": trigger},
                    state=JobState.queued.value,
                    rows_done=0,
                    result={},
                    cancel_requested=False,
                    attempts=0,
                    max_attempts=1,  # a report may have been delivered before its process died
                    created_at=utcnow(),
                )
            )
            return run.id

    def run(self, report_id: str, trigger: str = "manual", run_id: str | None = None) -> ReportRunPublic:
        """Start a run (unless `run_id` is given) and run it here through the job runner; if another
        process already claimed it, answer its current state."""
        if run_id is None:
            with self.runtime.metadata.session() as session:
                report = session.get(Report, report_id)
                if report is None:
                    raise NotFound(f"No report with id {report_id!r}.")
                tenant_id = report.tenant_id
            run_id = self.start_run(tenant_id, report_id, trigger)
        self.runtime.runner.run_now(run_id, wait=True)
        with self.runtime.metadata.session() as session:
            return ReportRunPublic.model_validate(session.get(ReportRun, run_id))

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        """The `report` job handler: compute, render, store and deliver; the run row records every
        outcome, and a failed run fails its job."""
        report_id, run_id = ctx.params["report_id"], ctx.job_id
        with self.runtime.metadata.session() as session:
            report = session.get(Report, report_id)
            if report is None:
                raise JobFailed(f"No report with id {report_id!r}.")
            session.expunge(report)
        started = time.perf_counter()
        artifacts: list[Artifact] = []
        deliveries: list[Delivery] = []
        error = None
        # The attempt's own folder, removed on every way out; what a killed process left is removed
        # by the next attempt or by the sweep of temporary files (exports/workspace.py).
        with attempt_workspace(report_temp_dir(self.runtime.settings), run_id, ctx.attempt, "pdf") as workspace:
            workdir = workspace.folder
            try:
                from analytics_engine.exports.worker import tenant_context

                tenant = tenant_context(self.runtime, report.tenant_id)
                title, sections = self.sections(report, tenant)
                compute_previous(sections)  # each headline's change against the previous period
                timezone = (report.filters or {}).get("timezone") or report.timezone or tenant.timezone
                generated = datetime.now(UTC).astimezone(ZoneInfo(timezone))
                files = self.render_files(report, title, sections, generated, workdir, tenant.tenant_name)
                artifacts = self.store(report, run_id, files)
                deliveries = self.deliver(report, run_id, title, sections, generated, artifacts, files)
            except Exception as exc:
                log.exception("reports.failed", report_id=report_id, run_id=run_id)
                error = getattr(exc, "message", None) or str(exc)[:500] or type(exc).__name__
        if error:
            status = "failed"
        elif deliveries and not all(d.ok for d in deliveries):
            status = "partial"
        else:
            status = "succeeded"
        with self.runtime.metadata.session() as session:
            run = session.get(ReportRun, run_id)
            assert run is not None, "the run row is written before the run starts"
            run.status = status
            run.finished_at = utcnow()
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            run.artifacts = [a.model_dump(mode="json") for a in artifacts]
            run.deliveries = [d.model_dump(mode="json") for d in deliveries]
            run.error = error
            session.flush()
            public = ReportRunPublic.model_validate(run)
        log.info("reports.ran", report_id=report_id, run_id=run_id, status=status, ms=public.duration_ms)
        if error:
            raise JobFailed(error)
        return {"status": status, "artifacts": len(artifacts), "deliveries": len(deliveries)}

    def sections(self, report: Report, tenant: Any) -> tuple[str, builtins.list[Section]]:
        filters = dict(report.filters or {})
        if report.dashboard_id:
            name, sections = dashboard_sections(self.runtime, tenant, report.dashboard_id, filters)
            return f"{report.name}" if report.name else name, sections
        context = {k: filters[k] for k in CONTEXT_KEYS if filters.get(k)}
        if filters.get("properties"):
            context["filters"] = tuple(filters["properties"])
        sections = []
        for number, item in enumerate(report.queries, start=1):
            title = item.get("title") or f"Section {number}"
            try:
                if item.get("type") == "metric":
                    request = dict(item.get("query") or {})
                    if context.get("date_from") or context.get("date_to"):
                        request.setdefault(
                            "time_range", {"date_from": context.get("date_from"), "date_to": context.get("date_to")}
                        )
                    for key in ("timezone", "interval", "cohort_id"):
                        if context.get(key):
                            request.setdefault(key, context[key])
                    sections.append(metric_section(self.runtime, tenant, item["metric_id"], request, item.get("title")))
                else:
                    sections.append(insight_section(self.runtime, tenant, title, item["query"], context))
            except Exception as exc:
                message = getattr(exc, "message", None) or str(exc)
                sections.append(Section(title, "error", None, [], error=message[:300]))
        return report.name, sections

    def render_files(
        self,
        report: Report,
        title: str,
        sections: builtins.list[Section],
        generated: datetime,
        workdir: Path,
        tenant_name: str,
    ) -> dict[str, Path]:
        files: dict[str, Path] = {}
        stamp = generated.strftime("%Y-%m-%d")
        slug = "".join(ch if ch.isalnum() else "-" for ch in report.name.lower()).strip("-")[:60] or "report"
        if "pdf" in report.formats:
            files["pdf"] = workdir / f"{slug}-{stamp}.pdf"
            timezone = str(generated.tzinfo) if generated.tzinfo else "UTC"
            span = report_range(sections)
            period, comparison = "no data in range", ""
            if span is not None:
                period = describe_range(*span, timezone)
                before = describe_range(*previous_range(*span), timezone)
                comparison = f"Changes compare with the previous period of the same length, {before}."
            render_pdf(
                files["pdf"],
                title,
                f"{tenant_name} · {period}",
                sections,
                generated=generated,
                comparison=comparison,
                tenant=tenant_name,
                period=period,
            )
        if "xlsx" in report.formats:
            files["xlsx"] = workdir / f"{slug}-{stamp}.xlsx"
            render_xlsx(files["xlsx"], sections, tmpdir=workdir)
        return files

    def store(self, report: Report, run_id: str, files: dict[str, Path]) -> builtins.list[Artifact]:
        storage = self.runtime.storage
        settings = self.runtime.settings
        base = settings.public_url or f"http://{settings.host}:{settings.port}"
        artifacts = []
        for fmt, path in files.items():
            key = f"reports/{report.id}/{run_id}/{path.name}"
            copy = path.with_suffix(path.suffix + ".upload")
            shutil.copyfile(path, copy)  # the original stays for the email attachment
            size = storage.put_file(report.tenant_id, key, copy)
            url = storage.download_url(
                report.tenant_id,
                key,
                settings.report_link_ttl_seconds,
                base_url=base if storage.kind == "local" else "",
            )
            artifacts.append(Artifact(format=fmt, key=key, bytes=size, url=url))
        return artifacts

    def deliver(
        self,
        report: Report,
        run_id: str,
        title: str,
        sections: builtins.list[Section],
        generated: datetime,
        artifacts: builtins.list[Artifact],
        files: dict[str, Path],
    ) -> builtins.list[Delivery]:
        settings = self.runtime.settings
        recipients = report.recipients or {}
        lines = [f"{title}", f"Generated {generated:%Y-%m-%d %H:%M %Z}", ""]
        lines += [f"- {s.title}: {headline(s)}" for s in sections]
        lines += ["", "Files (links expire):"] + [f"- {a.format.upper()}: {a.url}" for a in artifacts]
        attachments = [(path.name, content_type_for(path.name), path) for path in files.values()]
        deliveries = send_email(
            settings,
            list(recipients.get("emails") or []),
            f"{title} — {generated:%Y-%m-%d}",
            "\n".join(lines),
            attachments,
        )
        payload = {
            "type": "report.delivered",
            "report_id": report.id,
            "run_id": run_id,
            "tenant_id": report.tenant_id,
            "name": title,
            "generated_at": generated.isoformat(),
            "sections": [
                {
                    "title": s.title,
                    "headline": headline(s),
                    "error": s.error,
                    "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows[:100]} for t in s.tables],
                }
                for s in sections
            ],
            "artifacts": [a.model_dump(mode="json") for a in artifacts],
        }
        for hook in recipients.get("webhooks") or []:
            deliveries.append(
                post_webhook(
                    hook["url"],
                    report.webhook_secret,
                    payload,
                    settings.report_webhook_timeout_seconds,
                    settings.outgoing_allow,
                )
            )
        return deliveries


async def start_report_schedules(runtime: Runtime) -> None:
    """STARTUP_HOOK: report runs are `report` jobs; every enabled report with a schedule joins the
    scheduler. A run whose job the runner has closed without a result (its lease expired, it was
    cancelled) is closed as failed; a run whose job is alive, in this process or another, is left
    alone."""
    service = runtime.reports
    runtime.runner.register(JOB_KIND, service.execute, max_attempts=1)

    def prepare() -> int:
        runtime.runner.recover()
        close_abandoned_runs(runtime.metadata)
        scheduled: int = service.schedule_all()
        return scheduled

    scheduled = await asyncio.to_thread(prepare)
    if scheduled:
        log.info("reports.scheduled", reports=scheduled)


def close_abandoned_runs(metadata: Any) -> int:
    """Runs still `running` whose job already ended as failed or cancelled (lease-based recovery
    decided that, never the mere start of a process)."""
    ended = (JobState.failed.value, JobState.cancelled.value)
    count = 0
    with metadata.session() as session:
        query = select(ReportRun, Job).join(Job, Job.id == ReportRun.id)
        for run, job in session.execute(query.where(ReportRun.status == "running", Job.state.in_(ended))):
            run.status = "failed"
            run.error = job.error or "The run was cancelled."
            run.finished_at = job.finished_at or utcnow()
            count += 1
    return count
