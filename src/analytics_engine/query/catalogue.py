"""The tables a tenant's SQL may name, and the trusted SELECT that stands in for each.

Every table here is a view of one warehouse table restricted to the caller's rows: the guard replaces
`FROM events` with `FROM (SELECT event, distinct_id, ... FROM db.events WHERE tenant_id =
{tenant_id:String}) AS events`, so the tenant column is not visible at all and a LEFT JOIN keeps its
meaning. The stand-in SELECTs are written here from our own names only (never user text) and parsed
once; the tenant is bound as a query parameter by the warehouse's tenant scope.

Tables: `events`, `persons` (first and last seen, event count), `person_properties` (latest value of
each property), `cohort_users` (membership per cohort version), the rollups `metrics_daily` (per event
and hour) and `metrics_monthly` (per event and day), and every synced table (sync sources with a table
target, found by the comment sync puts on them; `_version` and `_is_deleted` are hidden and read with
FINAL, so each row appears once in its latest version and deleted rows do not appear).

A tenant's catalogue (`Catalogue.for_tenant`) holds only the synced tables that can hold that tenant's
rows: those whose source names the tenant (`tenant_id`, or a value of `tenant_map`), and, when the
source's tenant column holds tenant ids itself (or the source is not declared any more), those that do
hold rows of the tenant. Another tenant's sync table is not named anywhere: the guard refuses it exactly
like a table that does not exist, and `/v1/query/tables` does not list it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from analytics_engine.query.dialect import emit, parse, quote

if TYPE_CHECKING:
    from analytics_engine.warehouse.client import Warehouse

TENANT_COLUMN = "tenant_id"
SYNC_COMMENT_PREFIX = "analytics-engine sync source "
HIDDEN_SYNC_COLUMNS = frozenset({TENANT_COLUMN, "_version", "_is_deleted"})
# How long a warehouse's synced-table list is reused before system.tables is read again.
CATALOGUE_TTL_SECONDS = 30.0
# Tenant views kept per catalogue (each with its own guard memo); past this they start over.
MAX_TENANT_VIEWS = 1_000


@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class TenantTable:
    """One table as a tenant sees it: its columns and the trusted SELECT standing in for it."""

    name: str
    description: str
    columns: tuple[TableColumn, ...]
    source_sql: str  # our own text, with {tenant_id:String}
    select: exp.Query = field(compare=False, repr=False)
    trusted_sql: str = field(compare=False, repr=False)  # `select` as the guard emits it

    @classmethod
    def build(cls, name: str, description: str, columns: tuple[TableColumn, ...], source_sql: str) -> TenantTable:
        [parsed] = parse(source_sql)
        assert isinstance(parsed, exp.Query)
        return cls(name, description, columns, source_sql, parsed, emit(parsed.copy()))


# Tenants a sync source names ({source: tenant ids}); None: its tenant column holds tenant ids, so
# whichever tenants have rows in its table.
DeclaredTenants = Mapping[str, frozenset[str] | None]


@dataclass(frozen=True)
class Catalogue:
    database: str
    tables: Mapping[str, TenantTable]
    # Synced tables -> the tenants whose catalogue holds them (None: not filtered, the warehouse-wide
    # catalogue that only the tenant views below are made from).
    owners: Mapping[str, frozenset[str]] | None = field(default=None, compare=False, repr=False)
    # The guard's answers for this catalogue, by SQL text (query/guard.py; a saved query that a
    # dashboard renders again is not checked again). Bounded; dropped with the catalogue.
    guarded: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _views: dict[str, Catalogue] = field(default_factory=dict, compare=False, repr=False)

    def get(self, name: str) -> TenantTable | None:
        return self.tables.get(name)

    def for_tenant(self, tenant_id: str) -> Catalogue:
        """The tables `tenant_id` may name: the built-in ones and the synced tables that can hold its
        rows (made once per catalogue and tenant)."""
        if self.owners is None:
            return self
        view = self._views.get(tenant_id)
        if view is None:
            owners = self.owners
            tables = {
                name: table for name, table in self.tables.items() if name not in owners or tenant_id in owners[name]
            }
            view = Catalogue(self.database, tables)
            if len(self._views) >= MAX_TENANT_VIEWS:
                self._views.clear()
            self._views[tenant_id] = view
        return view

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "name": table.name,
                "description": table.description,
                "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in table.columns],
            }
            for table in self.tables.values()
        ]


def _where() -> str:
    return f"{quote(TENANT_COLUMN)} = {{tenant_id:String}}"


def builtin_tables(database: str) -> list[TenantTable]:
    db = quote(database)

    def t(name: str) -> str:
        return f"{db}.{quote(name)}"

    events_columns = (
        TableColumn("event", "String", "Event name."),
        TableColumn("distinct_id", "String", "The user's id."),
        TableColumn("timestamp", "DateTime64(3, 'UTC')", "When it happened (UTC)."),
        TableColumn("event_id", "UUID", "The event's id."),
        TableColumn("received_at", "DateTime64(3, 'UTC')", "When the service received it."),
        TableColumn("properties", "JSON", "Event properties: `properties.plan`, `properties.amount.:Float64`."),
        TableColumn("person_key", "UInt64", "64-bit hash of distinct_id (fast to group and join by)."),
    )
    names = ", ".join(quote(c.name) for c in events_columns)
    events = TenantTable.build(
        "events", "One row per event.", events_columns, f"SELECT {names} FROM {t('events')} WHERE {_where()}"
    )
    persons = TenantTable.build(
        "persons",
        "One row per person (distinct_id) seen in events.",
        (
            TableColumn("distinct_id", "String"),
            TableColumn("first_seen", "DateTime64(3, 'UTC')"),
            TableColumn("last_seen", "DateTime64(3, 'UTC')"),
            TableColumn("event_count", "UInt64"),
        ),
        "SELECT distinct_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen, "
        f"sum(event_count) AS event_count FROM {t('persons')} WHERE {_where()} GROUP BY distinct_id",
    )
    person_properties = TenantTable.build(
        "person_properties",
        "The latest value of each property of each person (as text).",
        (TableColumn("distinct_id", "String"), TableColumn("key", "String"), TableColumn("value", "String")),
        "SELECT distinct_id, key, argMaxMerge(value) AS value "
        f"FROM {t('person_properties')} WHERE {_where()} GROUP BY distinct_id, key",
    )
    cohort_users = TenantTable.build(
        "cohort_users",
        "Cohort membership: one row per person in each evaluated version of a cohort.",
        (TableColumn("cohort_id", "String"), TableColumn("version", "UInt32"), TableColumn("distinct_id", "String")),
        f"SELECT cohort_id, version, distinct_id FROM {t('cohort_users')} WHERE {_where()}",
    )
    rollup_columns = (
        TableColumn("event", "String"),
        TableColumn("events", "UInt64", "Events in the bucket."),
        TableColumn("users", "UInt64", "Unique users in the bucket (approximate; do not add across buckets)."),
    )
    metrics_daily = TenantTable.build(
        "metrics_daily",
        "Rollup: events and unique users per event and hour (UTC).",
        (rollup_columns[0], TableColumn("hour", "DateTime('UTC')"), *rollup_columns[1:]),
        "SELECT event, hour, sum(events) AS events, uniqCombinedMerge(14)(users) AS users "
        f"FROM {t('metrics_daily')} WHERE {_where()} GROUP BY event, hour",
    )
    metrics_monthly = TenantTable.build(
        "metrics_monthly",
        "Rollup: events and unique users per event and day (UTC).",
        (rollup_columns[0], TableColumn("day", "Date"), *rollup_columns[1:]),
        "SELECT event, day, sum(events) AS events, uniqCombinedMerge(14)(users) AS users "
        f"FROM {t('metrics_monthly')} WHERE {_where()} GROUP BY event, day",
    )
    return [events, persons, person_properties, cohort_users, metrics_daily, metrics_monthly]


def synced_table(database: str, name: str, source: str, columns: list[tuple[str, str]]) -> TenantTable:
    visible = tuple(TableColumn(n, ty) for n, ty in columns if n not in HIDDEN_SYNC_COLUMNS)
    names = ", ".join(quote(c.name) for c in visible)
    return TenantTable.build(
        name,
        f"Synced from PostgreSQL (sync source {source}).",
        visible,
        f"SELECT {names} FROM {quote(database)}.{quote(name)} FINAL WHERE {_where()}",
    )


def build_catalogue(
    database: str,
    synced: Mapping[str, tuple[str, list[tuple[str, str]]]] | None = None,
    owners: Mapping[str, frozenset[str]] | None = None,
) -> Catalogue:
    """The catalogue from the built-in tables and `synced` ({table: (source, [(column, type)])});
    a synced table never replaces a built-in one of the same name. With `owners` ({synced table:
    tenant ids}) each tenant's view (`for_tenant`) holds only its own synced tables; a synced table
    missing from `owners` is in no tenant's view."""
    tables = {table.name: table for table in builtin_tables(database)}
    synced_names: list[str] = []
    for name, (source, columns) in sorted((synced or {}).items()):
        if name in tables or TENANT_COLUMN not in {c for c, _ in columns}:
            continue
        tables[name] = synced_table(database, name, source, columns)
        synced_names.append(name)
    if owners is None:
        return Catalogue(database, tables)
    return Catalogue(database, tables, {name: owners.get(name, frozenset()) for name in synced_names})


class CatalogueCache:
    """The catalogue of one warehouse, read again every CATALOGUE_TTL_SECONDS (new synced tables)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Catalogue]] = {}

    def get(self, warehouse: Warehouse, declared: Callable[[], DeclaredTenants] | None = None) -> Catalogue:
        """The warehouse-wide catalogue; `declared` gives the tenants each sync source names (read
        when the catalogue is read again). Callers use `.for_tenant(...)` of the answer."""
        key = f"{warehouse.dsn}|{warehouse.database}"
        now = time.monotonic()
        with self._lock:
            hit = self._cached.get(key)
        if hit and hit[0] > now:
            return hit[1]
        synced = read_synced_tables(warehouse)
        owners = table_owners(warehouse, synced, declared() if declared is not None else {})
        catalogue = build_catalogue(warehouse.database, synced, owners)
        with self._lock:
            self._cached[key] = (now + CATALOGUE_TTL_SECONDS, catalogue)
        return catalogue

    def clear(self) -> None:
        with self._lock:
            self._cached.clear()


def read_synced_tables(warehouse: Warehouse) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """{table: (sync source, [(column, type)])} of the synced tables in the warehouse's database."""
    platform = warehouse.platform("restricted SQL: the schema of synced tables")
    rows = platform.query(
        "SELECT t.name, t.comment, c.name, c.type FROM system.tables AS t "
        "INNER JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = {db:String} AND startsWith(t.comment, {prefix:String}) "
        "ORDER BY t.name, c.position",
        {"db": warehouse.database, "prefix": SYNC_COMMENT_PREFIX},
    ).rows
    out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for table, comment, column, column_type in rows:
        source = str(comment).removeprefix(SYNC_COMMENT_PREFIX)
        out.setdefault(str(table), (source, []))[1].append((str(column), str(column_type)))
    return out


def table_owners(
    warehouse: Warehouse, synced: Mapping[str, tuple[str, list[tuple[str, str]]]], declared: DeclaredTenants
) -> dict[str, frozenset[str]]:
    """{synced table: the tenants that may see it}: the tenants its source names, or (the source's
    tenant column holds tenant ids, or the source is not declared) the tenants with rows in it."""
    owners: dict[str, frozenset[str]] = {}
    data_rule: list[str] = []
    for table, (source, _) in synced.items():
        named = declared.get(source)
        if named is None:
            data_rule.append(table)
        else:
            owners[table] = named
    if data_rule:
        platform = warehouse.platform("restricted SQL: which tenants hold rows in synced tables")
        for table in sorted(data_rule):
            rows = platform.query(
                f"SELECT DISTINCT {quote(TENANT_COLUMN)} FROM {quote(warehouse.database)}.{quote(table)}"
            ).rows
            owners[table] = frozenset(str(row[0]) for row in rows)
    return owners


CATALOGUES = CatalogueCache()
