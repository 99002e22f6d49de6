"""The demo dataset: three tenants with a year of real-looking events and ready API keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analytics_engine.dashboards.demo import create_demo_dashboard
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.impact import load_impact_demo, load_impact_peers
from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import KeyCreate, Scope, TenantCreate


@dataclass(frozen=True)
class DemoTenant:
    name: str
    timezone: str
    events: int
    seed: int


DEMO_TENANTS = (
    DemoTenant("Acme Learning", "Europe/Oslo", 160_000, 11),
    DemoTenant("Globex Volunteers", "America/New_York", 100_000, 23),
    DemoTenant("Initech Foundation", "Asia/Kolkata", 60_000, 37),
)
# A whole year, so that any month a question names ("Why is retention dropping in June?", docs/ai.md)
# lies inside the data with the month before it, whatever the day the demo is loaded.
DEMO_DAYS = 365


def keys_file(runtime: Runtime) -> Path:
    return runtime.settings.data_dir / "demo-keys.json"


def demo_loaded(runtime: Runtime) -> bool:
    return keys_file(runtime).exists()


def load_demo(
    runtime: Runtime,
    *,
    scale: float = 1.0,
    on_start: Callable[[str, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, dict[str, str]]:
    """Create (or reuse) the demo tenants, give each a key and load its events; returns
    {tenant name: {"tenant_id", "key"}} and writes it to `<data_dir>/demo-keys.json`."""
    keys: dict[str, dict[str, str]] = {}
    for spec in DEMO_TENANTS:
        tenant = runtime.tenants.find_by_name(spec.name) or runtime.tenants.create(
            TenantCreate(name=spec.name, timezone=spec.timezone)
        )
        key = runtime.tenants.create_key(
            tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin], name="demo")
        )
        events = max(1, int(spec.events * scale))
        if on_start:
            on_start(spec.name, events)
        load_events(
            runtime.warehouse,
            tenant.id,
            generate_events(GeneratorSpec(events=events, days=DEMO_DAYS, seed=spec.seed, june_safari_churn=True)),
            on_progress,
        )
        create_demo_dashboard(runtime, tenant.id)  # the "Product overview" dashboard (/ui/)
        load_impact_demo(runtime, tenant.id, spec.name, scale=scale)
        keys[spec.name] = {"tenant_id": tenant.id, "key": key.key}
    load_impact_peers(runtime, scale=scale)  # benchmark-only opted-in peers (see datagen/impact.py)
    keys_file(runtime).write_text(json.dumps(keys, indent=2))
    return keys
