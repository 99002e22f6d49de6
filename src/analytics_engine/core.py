"""The infrastructure of one running service (settings, warehouse, metadata, bus, cache, jobs...),
built once from settings. The packages' services (`runtime.Runtime`) are built on top of it.

This module sits below every feature package: services take a `Core` (typed) for the shared parts
they use, and `runtime.py` (the composition root) imports the services, never the reverse."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from analytics_engine.budgets.service import BudgetService
from analytics_engine.bus.base import EventBus
from analytics_engine.bus.nats import build_bus
from analytics_engine.cache import Cache, build_cache, bump_data_version
from analytics_engine.config import Settings
from analytics_engine.ingest.id_filter import IdFilter
from analytics_engine.ingest.journal import IngestJournal
from analytics_engine.ingest.validation import Limits
from analytics_engine.ingest.writer import EventWriter
from analytics_engine.jobs.runner import JobRunner
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.leases import Leases
from analytics_engine.privacy.suppression import suppressed
from analytics_engine.scheduler.core import Scheduler
from analytics_engine.storage.base import Storage, build_storage
from analytics_engine.storage.signing import UrlSigner, load_signing_key
from analytics_engine.tenants.service import TenantService
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

log = structlog.get_logger(__name__)


def id_filter_for(settings: Settings) -> IdFilter | None:
    """The writer's id filter: only with the embedded warehouse, whose data folder one process opens
    (with a ClickHouse server other replicas insert too, so every id is looked up)."""
    if not settings.uses_embedded_warehouse or settings.ingest_id_filter_max_ids <= 0:
        return None
    return IdFilter(settings.ingest_id_filter_max_ids)


@dataclass
class Core:
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
    # Storage and the URL signer are built on first use: the signer may write its key file, and an
    # S3 client is only wanted by the processes that export or report.
    _storage: Storage | None = field(default=None, init=False, repr=False)
    _signer: UrlSigner | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @staticmethod
    def parts(settings: Settings, *, migrate_schemas: bool = True) -> dict[str, Any]:
        """The keyword arguments of a `Core` (or of a subclass) built from settings."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        warehouse = Warehouse(
            str(settings.warehouse_dsn),
            settings.warehouse_database,
            pool_size=settings.warehouse_pool_size,
            query_timeout=settings.query_timeout_seconds,
            cluster=settings.clickhouse_cluster,
            engine_options=settings.embedded_engine_options if settings.uses_embedded_warehouse else None,
        )
        metadata = MetadataDB(str(settings.metadata_url))
        if migrate_schemas:
            metadata.migrate()
            applied = migrate(warehouse, hot_retention_months=settings.hot_retention_months)
            if applied:
                log.info("warehouse.migrated", applied=applied)
        cache = build_cache(settings)
        # Swaps of shared derived partitions are serialized across processes (lifecycle/swap.py), and
        # so are the holds of inserts when several processes insert (ingest/shared_gate.py).
        leases = Leases(metadata, lease_seconds=settings.swap_lease_seconds)
        writer = EventWriter(
            warehouse,
            on_inserted=lambda tenants: bump_data_version(cache, tenants),
            journal=IngestJournal(settings.journal_folder),
            shared_gate_leases=leases if settings.shares_insert_gate else None,
            id_filter=id_filter_for(settings),
        )
        # Before anything is accepted: batches a crash left half-derived are completed first.
        writer.replay_journal()
        jobs = JobService(metadata)
        budgets = BudgetService(metadata, settings)
        # The warehouse's tenant scopes (`warehouse.for_tenant`) apply these budgets.
        warehouse.budgets = budgets
        warehouse.leases = leases
        return {
            "settings": settings,
            "warehouse": warehouse,
            "metadata": metadata,
            "tenants": TenantService(metadata),
            "jobs": jobs,
            # One runner per process: every kind of long work registers a handler on it.
            "runner": JobRunner(
                metadata,
                jobs,
                lease_seconds=settings.export_stale_after_seconds,
                concurrency=settings.export_workers,
            ),
            "writer": writer,
            # Ingest refuses the ids erased with suppression on every path (privacy/suppression.py).
            "limits": Limits.from_settings(settings, partial(suppressed, metadata)),
            "bus": build_bus(settings),
            "scheduler": Scheduler(metadata),
            "cache": cache,
            "budgets": budgets,
        }

    @property
    def storage(self) -> Storage:
        """Object storage (exports, report files), built on first use (one lock, so two threads
        never build two)."""
        with self._lock:
            if self._storage is None:
                self._storage = build_storage(self.settings)
            return self._storage

    @property
    def signer(self) -> UrlSigner:
        """The signer of download links (`/v1/files/...`), built on first use."""
        with self._lock:
            if self._signer is None:
                self._signer = UrlSigner(load_signing_key(self.settings.storage_signing_key, self.settings.data_dir))
            return self._signer

    def close(self) -> None:
        self.writer.close()
        self.budgets.close()
        self.cache.close()
        self.warehouse.close()
        self.metadata.dispose()
