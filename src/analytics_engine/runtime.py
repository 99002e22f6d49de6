"""The composition root: the long-lived parts of one running service, built once from settings and
shared by the API, the CLI and background workers.

`Core` (core.py) holds the infrastructure; `Runtime` adds every package's service as a typed
attribute, all built here, in one place (`runtime.metrics`, `runtime.cohorts`...). A package's
router and its start/stop hooks are listed once, in `api/app.py` (`PARTS`). docs/architecture.md,
"Composition root", says how a new package plugs in.

Import direction: this module imports the packages' services; a package never imports this module
from a module this one imports (tests/test_import_graph.py). A service takes the `Core` it uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from analytics_engine.alerts.service import AlertService
from analytics_engine.annotations.service import AnnotationService
from analytics_engine.cohorts.service import CohortService
from analytics_engine.config import Settings
from analytics_engine.core import Core
from analytics_engine.dashboards.service import DashboardService
from analytics_engine.dashboards.stream import StreamHub
from analytics_engine.dashboards.warm import Warmer
from analytics_engine.embeds.service import EmbedService
from analytics_engine.exports.service import ExportService
from analytics_engine.groups.service import GroupService
from analytics_engine.impact.service import ImpactService
from analytics_engine.lifecycle.service import LifecycleService
from analytics_engine.materialized.service import MaterializedService
from analytics_engine.metrics.service import MetricService
from analytics_engine.observability.memory import MallocTrimmer
from analytics_engine.privacy.service import PrivacyService
from analytics_engine.reports.service import ReportService
from analytics_engine.streaming.consumer import NatsIngestConsumer
from analytics_engine.sync.service import SyncService
from analytics_engine.taxonomy.service import TaxonomyService

Hook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime(Core):
    # The packages' services: one each per process, built with the runtime (cheap constructors;
    # locks, memos and per-cohort state inside them must be shared, hence one each).
    metrics: MetricService = field(init=False, repr=False)
    dashboards: DashboardService = field(init=False, repr=False)
    cohorts: CohortService = field(init=False, repr=False)
    impact: ImpactService = field(init=False, repr=False)
    sync: SyncService = field(init=False, repr=False)
    exports: ExportService = field(init=False, repr=False)
    reports: ReportService = field(init=False, repr=False)
    materialized: MaterializedService = field(init=False, repr=False)
    alerts: AlertService = field(init=False, repr=False)
    privacy: PrivacyService = field(init=False, repr=False)
    lifecycle: LifecycleService = field(init=False, repr=False)
    taxonomy: TaxonomyService = field(init=False, repr=False)
    annotations: AnnotationService = field(init=False, repr=False)
    embeds: EmbedService = field(init=False, repr=False)
    groups: GroupService = field(init=False, repr=False)
    # Parts that live between a start hook and its stop hook (None outside `serve`, or once stopped;
    # a runtime shared by several apps in tests starts them again).
    stream_hub: StreamHub | None = field(default=None, init=False, repr=False)
    dashboard_warmer: Warmer | None = field(default=None, init=False, repr=False)
    dashboard_pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    ingest_consumer: NatsIngestConsumer | None = field(default=None, init=False, repr=False)
    cohort_tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)
    malloc_trimmer: MallocTrimmer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.metrics = MetricService(self.metadata)
        self.dashboards = DashboardService(self.metadata, self.metrics)
        self.cohorts = CohortService(self)
        self.impact = ImpactService(self)
        self.sync = SyncService(self)
        self.exports = ExportService(self)
        self.reports = ReportService(self)
        self.materialized = MaterializedService(self)
        self.alerts = AlertService(self)
        self.privacy = PrivacyService(self)
        self.lifecycle = LifecycleService(self)
        self.taxonomy = TaxonomyService(self)
        self.annotations = AnnotationService(self)
        self.embeds = EmbedService(self)
        self.groups = GroupService(self)

    @classmethod
    def build(cls, settings: Settings, *, migrate_schemas: bool = True) -> Runtime:
        return cls(**Core.parts(settings, migrate_schemas=migrate_schemas))
