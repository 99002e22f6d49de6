"""The long-lived parts of one running service, built once from settings and shared by the API,
the CLI and background workers. Packages that need start-up or shutdown work register a hook."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from analytics_engine.budgets.service import BudgetService
from analytics_engine.bus.base import EventBus
from analytics_engine.bus.nats import build_bus
from analytics_engine.cache import Cache, build_cache, bump_data_version
from analytics_engine.config import Settings
from analytics_engine.ingest.validation import Limits
from analytics_engine.ingest.writer import EventWriter
from analytics_engine.jobs.runner import JobRunner
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.scheduler.core import Scheduler
from analytics_engine.tenants.service import TenantService
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

log = structlog.get_logger(__name__)

Hook = Callable[["Runtime"], Awaitable[None]]
T = TypeVar("T")
_COMPONENT_LOCK = threading.RLock()


@dataclass
class Runtime:
    settings: Settings
    warehouse: Warehouse
    metadata: MetadataDB
    tenants: TenantService
    jobs: JobService
    writer: EventWriter
    limits: Limits
    bus: EventBus
    scheduler: Scheduler
    cache: Cache
    budgets: BudgetService
    runner: JobRunner
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, migrate_schemas: bool = True) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        warehouse = Warehouse(
            str(settings.warehouse_dsn),
            settings.warehouse_database,
            pool_size=settings.warehouse_pool_size,
            query_timeout=settings.query_timeout_seconds,
        )
        metadata = MetadataDB(str(settings.metadata_url))
        if migrate_schemas:
            metadata.migrate()
            applied = migrate(warehouse, hot_retention_months=settings.hot_retention_months)
            if applied:
                log.info("warehouse.migrated", applied=applied)
        cache = build_cache(settings)
        jobs = JobService(metadata)
        budgets = BudgetService(metadata, settings)
        # The warehouse's tenant scopes (`warehouse.for_tenant`) apply these budgets.
        warehouse.budgets = budgets
        return cls(
            settings=settings,
            warehouse=warehouse,
            metadata=metadata,
            tenants=TenantService(metadata),
            jobs=jobs,
            # One runner per process: every kind of long work registers a handler on it.
            runner=JobRunner(
                metadata,
                jobs,
                lease_seconds=settings.export_stale_after_seconds,
                concurrency=settings.export_workers,
            ),
            writer=EventWriter(warehouse, on_inserted=lambda tenants: bump_data_version(cache, tenants)),
            limits=Limits.from_settings(settings),
            bus=build_bus(settings),
            scheduler=Scheduler(metadata),
            cache=cache,
            budgets=budgets,
        )

    def component(self, key: str, build: Callable[[], T]) -> T:
        """The runtime's one instance of a package's service, built on first use and kept in
        `extras` (one lock, so two threads never build two)."""
        with _COMPONENT_LOCK:
            found = self.extras.get(key)
            if found is None:
                found = self.extras[key] = build()
            return found  # type: ignore[return-value]

    def close(self) -> None:
        self.budgets.close()
        self.cache.close()
        self.warehouse.close()
        self.metadata.dispose()
