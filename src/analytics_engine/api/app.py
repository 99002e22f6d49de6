"""The FastAPI application: gathers the routers, installs error handlers and middleware, and
starts/stops the runtime (warehouse, metadata, group commit, background hooks) in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Depends, FastAPI

from analytics_engine import __version__
from analytics_engine.alerts.lifecycle import start_alerts, stop_alerts
from analytics_engine.api.content_type import JsonByDefault
from analytics_engine.api.deps import single_query_values
from analytics_engine.api.errors import install_error_handlers
from analytics_engine.api.middleware import RequestContext
from analytics_engine.api.openapi import install as install_openapi
from analytics_engine.api.routes import admin_debug as debug_routes
from analytics_engine.api.routes import admin_ingest as ingest_routes
from analytics_engine.api.routes import admin_lifecycle as lifecycle_routes
from analytics_engine.api.routes import admin_sync, admin_tenants, budgets, cohorts, events, health, jobs, persons
from analytics_engine.api.routes import ai as ai_routes
from analytics_engine.api.routes import alerts as alert_routes
from analytics_engine.api.routes import annotations as annotation_routes
from analytics_engine.api.routes import dashboards as dashboard_routes
from analytics_engine.api.routes import embeds as embed_routes
from analytics_engine.api.routes import exports as export_routes
from analytics_engine.api.routes import files as file_routes
from analytics_engine.api.routes import forecasts as forecast_routes
from analytics_engine.api.routes import groups as group_routes
from analytics_engine.api.routes import materialized as materialized_routes
from analytics_engine.api.routes import metrics as metric_routes
from analytics_engine.api.routes import privacy as privacy_routes
from analytics_engine.api.routes import query as query_routes
from analytics_engine.api.routes import reports as report_routes
from analytics_engine.api.routes import taxonomy as taxonomy_routes
from analytics_engine.api.routes import ui as ui_routes
from analytics_engine.api.routes.impact import router as impact_router
from analytics_engine.api.routes.insights import router as insights_router
from analytics_engine.cohorts.lifecycle import start_cohorts, stop_cohorts
from analytics_engine.config import Settings, get_settings
from analytics_engine.dashboards.live import start_hub, stop_hub
from analytics_engine.exports.worker import start_export_workers
from analytics_engine.impact.schedule import start_impact
from analytics_engine.ingest.group_commit import GroupCommitter, publish_commits
from analytics_engine.jobs.hooks import start_job_runner, stop_job_runner
from analytics_engine.lifecycle.service import start_lifecycle
from analytics_engine.materialized.lifecycle import start_materialized
from analytics_engine.privacy.hooks import start_privacy
from analytics_engine.reports.service import start_report_schedules
from analytics_engine.runtime import Hook, Runtime
from analytics_engine.streaming.service import start_streaming, stop_streaming
from analytics_engine.sync.service import start_sync_schedule

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Part:
    """One package as the app sees it: its routers, and its hooks run in `serve`'s lifespan."""

    routers: tuple[APIRouter, ...] = ()
    start: Hook | None = None
    stop: Hook | None = None


# The one list of packages: routers are included in this order; start hooks run in this order after
# the runtime is up and before the first request, stop hooks in reverse order at shutdown. A new
# package adds one line here (its service goes on `Runtime`, runtime.py). docs/architecture.md,
# "Composition root".
PARTS: list[Part] = [
    Part((health.router,)),
    Part((admin_tenants.router,)),
    Part((events.router,)),
    Part((jobs.router,)),
    Part((budgets.router,)),
    Part((cohorts.router,), start=start_cohorts, stop=stop_cohorts),
    Part((persons.router,)),
    Part((admin_sync.router,), start=start_sync_schedule),
    Part((metric_routes.router,)),
    Part((dashboard_routes.router,), start=start_hub, stop=stop_hub),
    Part((ui_routes.router,)),
    Part((export_routes.router, file_routes.router), start=start_export_workers),
    Part((report_routes.router,), start=start_report_schedules),
    Part((impact_router,), start=start_impact),
    Part((insights_router,)),
    Part((materialized_routes.router,), start=start_materialized),
    Part((forecast_routes.router,)),
    Part((query_routes.router,)),  # restricted ad-hoc SQL (docs/sql.md)
    Part((taxonomy_routes.router,)),
    # Streaming ingest from NATS: the admin status route; in serve, the bus connection and the consumer.
    Part((ingest_routes.router,), start=start_streaming, stop=stop_streaming),
    # Alert rules: evaluation jobs on a spread schedule, notifications on the bus, webhooks, email.
    Part((alert_routes.router,), start=start_alerts, stop=stop_alerts),
    # Erasure (privacy/) and retention tiers (lifecycle/): their jobs, routes and the tiering schedule.
    Part((privacy_routes.router,), start=start_privacy),
    Part((lifecycle_routes.router,), start=start_lifecycle),
    # Annotations on time charts (docs/annotations.md).
    Part((annotation_routes.router,)),
    # Embed tokens and the read-only /embed/ page (docs/embedding.md).
    Part((embed_routes.router, embed_routes.page_router)),
    Part((ai_routes.router,)),  # AI insights: explain, ask, answers (docs/ai.md)
    # Groups (docs/groups.md): the groups list; insights aggregate by a group via their query.
    Part((group_routes.router,)),
    # Memory diagnostics and the periodic malloc_trim (docs/runbook.md "Memory").
    Part((debug_routes.router,), start=debug_routes.start_memory, stop=debug_routes.stop_memory),
    # The one job runner starts after every package registered its handlers and stops first.
    Part(start=start_job_runner, stop=stop_job_runner),
]
ROUTERS: list[APIRouter] = [router for part in PARTS for router in part.routers]
STARTUP_HOOKS: list[Hook] = [part.start for part in PARTS if part.start is not None]
SHUTDOWN_HOOKS: list[Hook] = [part.stop for part in PARTS if part.stop is not None]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings)
        committer = GroupCommitter(
            rt.writer,
            max_events=settings.ingest_batch_max_events,
            max_wait_ms=settings.ingest_batch_max_wait_ms,
            max_insert_events=settings.ingest_max_insert_events,
            max_concurrent_inserts=settings.ingest_max_concurrent_inserts,
            gather_checks=settings.ingest_gather_checks,
            on_commit=publish_commits(rt.bus),
        )
        committer.start()
        app.state.runtime = rt
        app.state.committer = committer
        for hook in STARTUP_HOOKS:
            await hook(rt)
        rt.scheduler.start()
        log.info("service.started", warehouse=rt.warehouse.dsn, database=rt.warehouse.database)
        try:
            yield
        finally:
            await rt.scheduler.stop()
            for hook in reversed(SHUTDOWN_HOOKS):
                await hook(rt)
            await committer.close()
            await rt.bus.close()
            if runtime is None:
                rt.close()
            log.info("service.stopped")

    app = FastAPI(
        title="Analytics Engine",
        version=__version__,
        description="Multi-tenant analytics and impact measurement on ClickHouse. Tenant routes under "
        "`/v1/` take `Authorization: Bearer <tenant key>`; `/v1/admin/` routes take the platform admin key.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(single_query_values)],
    )
    install_openapi(app)
    install_error_handlers(app)
    app.add_middleware(JsonByDefault)

    # Outermost: every request, the error envelopes included, runs with its request id (api/middleware.py).
    app.add_middleware(RequestContext)

    for router in ROUTERS:
        app.include_router(router)
    return app
