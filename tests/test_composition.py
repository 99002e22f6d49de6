"""The composition root (issue 16 item 4): services are typed attributes of the runtime, built in
one place; no string-keyed service locator (`runtime.component(...)`, `runtime.extras[...]`), no
`getattr(runtime, "<part>", None)` guard on a part the runtime always has; every router and hook is
listed once, in `api/app.py` `PARTS`."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import analytics_engine
from analytics_engine.api import app as app_module
from analytics_engine.api import routes
from analytics_engine.cohorts.service import CohortService
from analytics_engine.core import Core
from analytics_engine.dashboards.service import DashboardService
from analytics_engine.exports.service import ExportService
from analytics_engine.impact.service import ImpactService
from analytics_engine.jobs.hooks import start_job_runner, stop_job_runner
from analytics_engine.metrics.service import MetricService
from analytics_engine.reports.service import ReportService
from analytics_engine.runtime import Runtime
from analytics_engine.sync.service import SyncService

ROOT = Path(analytics_engine.__file__).parent
PARTS_OF_RUNTIME = {f.name for f in dataclasses.fields(Runtime)} | {"storage", "signer"}


def locator_uses(source: str, filename: str = "<src>") -> list[str]:
    """Every `.component(` call, `.extras` access and `getattr(<...runtime>, "<part>", ...)` on a
    part the runtime always has, as "line: text"."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr in {"component", "extras"}:
            found.append(f"{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in PARTS_OF_RUNTIME
            and "runtime" in ast.unparse(node.args[0])
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda item: int(item.split(":")[0]))


def test_the_guard_sees_a_locator() -> None:
    # The check itself can fail: each banned form is reported, plain attribute reads are not.
    source = (
        "a = runtime.component('metrics', build)\n"
        "b = runtime.extras['stream_hub']\n"
        "c = getattr(self.runtime, 'cache', None)\n"
        "d = runtime.metrics\n"
        "e = getattr(exc, 'message', None)\n"
    )
    assert [line.split(":")[0] for line in locator_uses(source)] == ["1", "2", "3"]


def test_no_module_uses_a_string_keyed_locator() -> None:
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in sorted(ROOT.rglob("*.py"))
        if (uses := locator_uses(path.read_text(), str(path)))
    }
    assert offenders == {}


def test_the_runtime_has_no_locator() -> None:
    assert not hasattr(Runtime, "component")
    assert "extras" not in PARTS_OF_RUNTIME


def test_services_are_typed_attributes_built_once(runtime: Runtime) -> None:
    expected = {
        "metrics": MetricService,
        "dashboards": DashboardService,
        "cohorts": CohortService,
        "impact": ImpactService,
        "sync": SyncService,
        "exports": ExportService,
        "reports": ReportService,
    }
    for name, kind in expected.items():
        assert isinstance(getattr(runtime, name), kind), name
        assert getattr(runtime, name) is getattr(runtime, name), name
    # One registry shared by dashboards and the metrics routes (its memo must be one).
    assert runtime.dashboards.metrics is runtime.metrics
    # Storage is built on first use and then kept.
    assert runtime.storage is runtime.storage
    assert runtime.signer is runtime.signer
    assert isinstance(runtime, Core)


def test_every_router_is_listed_once_in_parts() -> None:
    listed = [router for part in app_module.PARTS for router in part.routers]
    assert len(listed) == len({id(r) for r in listed})
    modules = {p.stem for p in Path(routes.__file__).parent.glob("*.py") if p.stem != "__init__"}
    included = {r.routes[0].endpoint.__module__.rsplit(".", 1)[-1] for r in listed if r.routes}
    assert modules <= included, modules - included
    assert listed == app_module.ROUTERS


def test_the_job_runner_starts_last_and_stops_first() -> None:
    assert app_module.STARTUP_HOOKS[-1] is start_job_runner
    assert app_module.SHUTDOWN_HOOKS[-1] is stop_job_runner  # stop hooks run in reverse: first
    starts = [part.start for part in app_module.PARTS if part.start]
    assert len(starts) == len(set(starts))
