"""The guard: outside `warehouse/`, nothing calls the raw client or builds a scope by hand.

Tenant data is reached through `warehouse.for_tenant(tenant)`; cross-tenant platform work through
`warehouse.platform(reason)`, and only from the files listed in PLATFORM_USERS. A new exception
means editing this file, which is the point: `grep -rn "\\.platform(" src` lists them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import analytics_engine

PACKAGE = Path(analytics_engine.__file__).parent
RAW_METHODS = {"query", "command", "stream_rows", "insert_json_rows", "connection"}
SCOPE_CLASSES = {"TenantScope", "PlatformScope"}
# Whole packages that are tools over the raw warehouse, not features: they measure the engine
# itself or generate data for it, and never answer a tenant.
RAW_ALLOWED = {
    "bench": "benchmarks time the raw warehouse against the scoped paths",
    "datagen": "generated data is bulk-loaded for a tenant being created",
}
# Files that take the named unscoped entry, each for a reason given at the call site.
PLATFORM_USERS = {
    "impact/benchmarks.py",  # peer-group aggregates across tenants
    "ingest/consistency.py",  # operator's check of every derived table against events, all tenants
    "ingest/writer.py",  # mixed-tenant ingest batches, limited by ingest limits
    "lifecycle/cold.py",  # DDL of the tables writing and summing one cold file (its rows: the tenant scope)
    "lifecycle/derived.py",  # the columns the property rollup's view reads (system.tables, no rows)
    "lifecycle/tiered_taxonomy.py",  # the taxonomy's one partition holds every tenant's rows (swapped whole)
    "lifecycle/tiering.py",  # month partitions of events are shared by every tenant
    "materialized/rollup.py",  # the property rollup: its view, backfill and swaps hold every tenant's rows
    "materialized/warehouse.py",  # DDL and backfill of event columns shared by tenants
    "observability/memory.py",  # admin memory diagnostics: the engine's system.metrics (no tenant rows)
    "personids/allocator.py",  # the ingest writer's person ids: mixed-tenant batches under the ingest limits
    "personids/erasure.py",  # person_hours' month partitions hold every tenant's rows (swapped whole)
    "query/catalogue.py",  # restricted SQL: names and columns of synced tables (system tables, no rows)
    "privacy/eraser.py",  # the catalogue: which sync tables (shared by tenants) have text columns
    "sync/targets.py",  # one table per sync source holding every tenant's rows
    "tenants/purge.py",  # admin erasure of a deleted tenant
}


def _is_warehouse(node: ast.expr) -> bool:
    """`warehouse`, `wh`, or anything ending in `.warehouse` (self.warehouse, runtime.warehouse)."""
    if isinstance(node, ast.Name):
        return node.id in {"warehouse", "wh"}
    return isinstance(node, ast.Attribute) and node.attr == "warehouse"


def violations(source: str) -> list[str]:
    """Raw client calls and hand-built scopes in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in RAW_METHODS and _is_warehouse(func.value):
            found.append(f"line {node.lineno}: raw warehouse.{func.attr}()")
        if isinstance(func, ast.Name) and func.id in SCOPE_CLASSES:
            found.append(f"line {node.lineno}: {func.id}(...) built by hand")
    return found


def platform_calls(source: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "platform"
        and _is_warehouse(node.func.value)
    ]


def _modules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("warehouse/"):
            continue
        out.append((relative, path.read_text()))
    return out


def test_no_module_outside_the_warehouse_calls_the_raw_client() -> None:
    offenders = {
        relative: found
        for relative, source in _modules()
        if relative.split("/")[0] not in RAW_ALLOWED and (found := violations(source))
    }
    assert offenders == {}, (
        "call warehouse.for_tenant(tenant) for tenant data, or warehouse.platform(reason) for "
        f"cross-tenant work (and list the file in PLATFORM_USERS): {offenders}"
    )


def test_platform_exceptions_are_exactly_the_listed_ones() -> None:
    users = {relative for relative, source in _modules() if platform_calls(source)}
    users = {u for u in users if u.split("/")[0] not in RAW_ALLOWED}
    assert users == PLATFORM_USERS


def test_the_guard_sees_each_kind_of_bypass() -> None:
    """The checker is not vacuous: each way around the policy is reported."""
    source = (
        "def f(runtime, warehouse, self):\n"
        "    runtime.warehouse.query('SELECT 1')\n"
        "    warehouse.command('DROP TABLE x')\n"
        "    self.warehouse.insert_json_rows('t', [], b'')\n"
        "    wh.stream_rows('SELECT 1')\n"
        "    with self.warehouse.connection() as c: pass\n"
        "    TenantScope(warehouse, 't')\n"
        "    runtime.warehouse.for_tenant('t').query('SELECT {tenant_id:String}')\n"
        "    warehouse.platform('why').query('SELECT 1')\n"
    )
    assert len(violations(source)) == 6
    assert platform_calls(source) == [9]
