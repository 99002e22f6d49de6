"""Background warming of the dashboards' widget cache, so that a first visit is answered from it.

Inside `serve` (started and stopped with the stream hub, `live.py`), one thread renders every
dashboard of a tenant (`render_dashboard`, the same path as a visit: same cache keys, one computation
per widget however many ask) when the service starts (every tenant: the demo loaded by
`serve --demo` included) and after an ingest burst (`ingest.batch.committed` on the bus: the new
events changed the tenant's data version, so every cached answer missed). A burst is followed: the
warm runs `WARM_DEBOUNCE_SECONDS` after the last batch, and at most once every
`dashboard_warm_min_interval_seconds` per tenant, so steady ingest costs one warm per interval, and
only of the dashboards someone opened in the last `VIEWED_WITHIN_SECONDS` (the start-up warm, with no
such memory yet, takes every dashboard). Warming runs the tenant's queries like a visit does: they
count towards its budgets (`query_seconds_per_day`).

Nothing here claims freshness: a warmed answer is an ordinary cache entry keyed by the data version it
was computed at; what a visit sees while a warm runs is the widget's last known answer, marked
`stale` with its `computed_at` (render.py)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import structlog

from analytics_engine.dashboards.render import render_dashboard
from analytics_engine.tenants.schemas import Scope
from analytics_engine.tenants.service import TenantContext

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
INGEST_EVENT = "ingest.batch.committed"
WARM_DEBOUNCE_SECONDS = 2.0
MAX_DASHBOARDS_PER_TENANT = 20
VIEWED_WITHIN_SECONDS = 24 * 3600
ALL = "*"


def warm_tenant(runtime: Runtime, tenant_id: str, only: set[str] | None = None) -> int:
    """Render each of the tenant's dashboards (up to `MAX_DASHBOARDS_PER_TENANT`; with `only`, those
    of them) into the widget cache; returns how many widgets were answered."""
    tenant = runtime.tenants.get(tenant_id)
    context = TenantContext(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        timezone=tenant.timezone,
        scopes=frozenset({Scope.read.value}),
        key_id="dashboard-warmer",
    )
    widgets = 0
    summaries = [d for d in runtime.dashboards.list(tenant_id) if only is None or d.id in only]
    for summary in summaries[:MAX_DASHBOARDS_PER_TENANT]:
        dashboard = runtime.dashboards.get_for_render(tenant_id, summary.id)
        widgets += len(render_dashboard(runtime, context, dashboard).widgets)
    return widgets


class Warmer:
    """Runs `warm_tenant` on a daemon thread when due (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.min_interval = float(runtime.settings.dashboard_warm_min_interval_seconds)
        self._due: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._viewed: dict[tuple[str, str], float] = {}
        self._wake = threading.Condition()
        self._stopped = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self.warms = 0

    def start(self) -> None:
        self._unsubscribe = self.runtime.bus.subscribe(INGEST_EVENT, self._on_ingest)
        self._thread = threading.Thread(target=self._run, name="dashboard-warmer", daemon=True)
        self._thread.start()
        self.schedule(ALL)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    async def _on_ingest(self, event: Any) -> None:
        if event.tenant_id:
            self.schedule(event.tenant_id, delay=WARM_DEBOUNCE_SECONDS)

    def schedule(self, tenant_id: str, delay: float = 0.0) -> None:
        """Warm `tenant_id` (or every tenant: `ALL`) in `delay` seconds, pushed back by later calls
        (debounce) but never sooner than the interval after its last warm."""
        now = time.monotonic()
        due = max(now + delay, self._last.get(tenant_id, -1e9) + self.min_interval)
        with self._wake:
            self._due[tenant_id] = due
            self._wake.notify_all()

    def viewed(self, tenant_id: str, dashboard_id: str) -> None:
        """A dashboard was rendered for a visitor: warm it after the tenant's ingest bursts."""
        self._viewed[(tenant_id, dashboard_id)] = time.monotonic()

    def _recently_viewed(self, tenant_id: str) -> set[str]:
        since = time.monotonic() - VIEWED_WITHIN_SECONDS
        for key, at in list(self._viewed.items()):
            if at < since:
                self._viewed.pop(key, None)
        return {dashboard for (tenant, dashboard) in list(self._viewed) if tenant == tenant_id}

    def idle(self) -> bool:
        """Nothing due and nothing running (tests and the bench wait for it)."""
        with self._wake:
            return not self._due and not self._busy

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped:
                    now = time.monotonic()
                    ready = [t for t, due in self._due.items() if due <= now]
                    if ready:
                        tenant_id = ready[0]
                        del self._due[tenant_id]
                        self._busy = True
                        break
                    timeout = min(self._due.values()) - now if self._due else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
            try:
                self._warm(tenant_id)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _warm(self, tenant_id: str) -> None:
        started = time.perf_counter()
        everything = tenant_id == ALL
        tenants = [t.id for t in self.runtime.tenants.list()] if everything else [tenant_id]
        widgets = 0
        for tenant in tenants:
            if self._stopped:
                return
            self._last[tenant] = time.monotonic()
            only = None if everything else self._recently_viewed(tenant)
            if only is not None and not only:
                continue
            try:
                widgets += warm_tenant(self.runtime, tenant, only)
            except Exception as exc:  # a tenant gone or a metadata hiccup: the next burst tries again
                log.warning("dashboard.warm_failed", tenant_id=tenant, error=str(exc))
        self.warms += 1
        log.info(
            "dashboard.warmed",
            tenants=len(tenants),
            widgets=widgets,
            seconds=round(time.perf_counter() - started, 3),
        )
