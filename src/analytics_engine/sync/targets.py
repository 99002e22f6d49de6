"""Where synced rows land: a warehouse table of the source's own, or the events table.

Table target: `ReplacingMergeTree(_version, _is_deleted)` ordered by (tenant_id, primary key). A row
changed in PostgreSQL arrives again with a higher `_version` and replaces the old one at merge time;
a soft-deleted row arrives with `_is_deleted = 1`. No insert de-duplication by block hash: after a
crash the chunk in doubt is deleted and written again, and a remembered hash would drop the rewrite.
Read with `FINAL` (exact, hides deleted rows) or `argMax(column, _version)` grouped by the key.
Chunks are TabSeparated text straight from COPY.

Events target: rows go through `ingest.validation.validate_events` (the one validation path) with an
`event_id` derived from the source name and primary key, so writing a row twice is caught by the
writer's duplicate check; soft-deleted rows remove their event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from analytics_engine.errors import Conflict
from analytics_engine.ingest.validation import AcceptedEvent, Limits, validate_events
from analytics_engine.ingest.writer import EventWriter
from analytics_engine.lifecycle.derived import MUTATION, affected_by, rebuild
from analytics_engine.sync.postgres import ReadPlan, SourceColumn, SourceError
from analytics_engine.sync.spec import EventsTarget, SourceSpec, TableTarget
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.cluster import shard_local, table_ddl

# The staging table of a target's hard-delete check (`tombstone_missing`).
KEYS_SUFFIX = "__sync_keys"
SYNC_NAMESPACE = uuid.UUID("6f1c3a52-2b8e-4a51-9d0e-5b7f3c2a9e10")


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def comment_for(source: str) -> str:
    return f"analytics-engine sync source {source}"


# --- table target ----------------------------------------------------------------------------------
class TableWriter:
    """The warehouse table of one source."""

    def __init__(self, warehouse: Warehouse, spec: SourceSpec, columns: list[SourceColumn]) -> None:
        assert isinstance(spec.target, TableTarget)
        self.warehouse = warehouse
        # One table per source holds every tenant's rows: DDL, chunk inserts and checks are
        # platform work (named below); what reaches `events` goes through the tenant scope.
        self.platform = warehouse.platform(f"sync table target of source {spec.name}")
        self.spec = spec
        self.columns = [c for c in columns if c.name != "tenant_id"]
        self.by_name = {c.name: c for c in columns}
        self.name = spec.target.table
        self.qualified = warehouse.table(self.name)

    @property
    def insert_columns(self) -> list[str]:
        return ["tenant_id", *[c.name for c in self.columns], "_version", "_is_deleted"]

    def ddl(self) -> list[str]:
        """The target table's DDL: one statement on one node; on a cluster (ANALYTICS_CLICKHOUSE_CLUSTER)
        the shard-local replicated table and the Distributed table in front (warehouse/cluster.py,
        the migrations' own rewrite). No insert de-duplication by block hash (see the module doc):
        the window is 0 on one node and, replicated, on a cluster."""
        lines = ["    tenant_id LowCardinality(String)"]
        lines += [f"    {quote(c.name)} {c.ch_column_type}" for c in self.columns]
        lines += ["    `_version` UInt64", "    `_is_deleted` UInt8"]
        order = ", ".join(["tenant_id", *map(quote, self.spec.primary_key)])
        comment = comment_for(self.spec.name).replace("'", "")
        template = (
            f"CREATE TABLE IF NOT EXISTS {{db}}.{self.name}\n(\n" + ",\n".join(lines) + "\n)\n"
            "ENGINE = ReplacingMergeTree(_version, _is_deleted)\n"
            f"ORDER BY ({order})\n"
            "SETTINGS non_replicated_deduplication_window = 0\n"
            f"COMMENT '{comment}'"
        )
        return table_ddl(template, self.warehouse.database, self.warehouse.cluster)

    def keys_ddl(self, keys_name: str, structure: list[tuple[str, str]]) -> list[str]:
        """The staging table of `tombstone_missing` (the keys PostgreSQL holds), created like the
        target: a MergeTree on one node; on a cluster sharded by tenant like the target, so each
        shard compares its own rows with its own keys."""
        columns = ",\n".join(f"    {name if name == 'tenant_id' else quote(name)} {kind}" for name, kind in structure)
        order = ", ".join(name if name == "tenant_id" else quote(name) for name, _ in structure)
        template = (
            f"CREATE TABLE {{db}}.{keys_name}\n(\n{columns}\n)\n"
            f"ENGINE = MergeTree\nORDER BY ({order})\n"
            "SETTINGS non_replicated_deduplication_window = 0"
        )
        return table_ddl(template, self.warehouse.database, self.warehouse.cluster)

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """A statement on this source's tables (on a cluster, mutations and drops reach the
        shard-local tables)."""
        self.platform.command(sql, params, sharded=(self.name, f"{self.name}{KEYS_SUFFIX}"))

    def existing(self) -> tuple[str | None, dict[str, str]]:
        comment = self.platform.query(
            "SELECT comment FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            {"db": self.warehouse.database, "name": self.name},
        ).rows
        if not comment:
            return None, {}
        columns = self.platform.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {name:String}",
            {"db": self.warehouse.database, "name": self.name},
        ).rows
        return comment[0][0], dict(columns)

    def check(self) -> list[str]:
        """Refuse a table that belongs to something else or whose columns changed type; returns the
        source columns the table lacks (added to it by `ensure`)."""
        comment, existing = self.existing()
        if comment is None:
            return []
        if comment != comment_for(self.spec.name):
            raise Conflict(
                f"Warehouse table {self.name} exists and is not the table of sync source {self.spec.name!r}; "
                "choose another target table."
            )
        added = []
        for column in self.columns:
            current = existing.get(column.name)
            if current is None:
                added.append(column.name)
            elif current == f"Nullable({column.ch_type})":
                column.nullable = True  # added to the table after its first rows: NULL for those
            elif current != column.ch_column_type:
                raise SourceError(
                    f"Source {self.spec.name!r}: column {column.name} is now {column.ch_column_type} in the "
                    f"source but {current} in warehouse table {self.name}; drop the table and backfill again."
                )
        return added

    def ensure(self) -> None:
        added = self.check()
        for statement in self.ddl():
            self.platform.command(statement)
        for name in added:  # new source columns: nullable, so older rows read as NULL
            column = self.by_name[name]
            self.command(
                f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS {quote(name)} Nullable({column.ch_type})"
            )  # at the end: inserts name their columns
            column.nullable = True

    def drop(self) -> None:
        self.command(f"DROP TABLE IF EXISTS {self.qualified}")

    def insert(self, chunk: bytes) -> None:
        # On a cluster the insert returns once the shards hold the rows (the facade's setting).
        self.platform.insert_json_rows(
            self.qualified,
            self.insert_columns,
            chunk,
            # One chunk parsed by one thread: less CPU than parallel parsing on small machines.
            settings={"input_format_parallel_parsing": 0},
            fmt="TabSeparated",
        )

    def _order_predicate(self, cursor: list[str], names: list[str]) -> tuple[str, dict[str, Any]]:
        params = {f"c{n}": value for n, value in enumerate(cursor)}
        placeholders = ", ".join(
            f"{{c{n}:{self.by_name[name].ch_type if name != 'tenant_id' else 'String'}}}"
            for n, name in enumerate(names)
        )
        return f"({', '.join(map(quote, names))}) > ({placeholders})", params

    def remove_after(self, cursor: list[str] | None, order: list[str] | None = None) -> None:
        """Delete rows a run wrote past its last checkpoint (the chunk in doubt after a crash);
        `order`: the columns the cursor holds (default: cursor then key)."""
        comment, _ = self.existing()
        if comment is None:
            return
        if cursor is None:
            self.command(f"TRUNCATE TABLE {self.qualified}")
            return
        predicate, params = self._order_predicate(cursor, order or self.spec.order_columns())
        self.command(f"DELETE FROM {self.qualified} WHERE {predicate}", params)

    def tenants(self) -> set[str]:
        """The tenants with rows in this table."""
        rows = self.platform.query(f"SELECT DISTINCT tenant_id FROM {self.qualified}").rows
        return {str(row[0]) for row in rows}

    def tombstone_missing(self, keys: bytes) -> int:
        """Hard deletes: `keys` holds every (tenant_id, key...) PostgreSQL has now (COPY text). Live
        rows whose key is not among them get a tombstone: a newer version with `_is_deleted = 1`.
        Returns how many rows were tombstoned."""
        key_columns = ["tenant_id", *self.spec.primary_key]
        keys_name = f"{self.name}{KEYS_SUFFIX}"
        keys_table = self.warehouse.table(keys_name)
        structure = [(name, "String" if name == "tenant_id" else self.by_name[name].ch_type) for name in key_columns]
        self.command(f"DROP TABLE IF EXISTS {keys_table}")
        for statement in self.keys_ddl(keys_name, structure):
            self.platform.command(statement)
        try:
            if keys:
                self.platform.insert_json_rows(keys_table, key_columns, keys, fmt="TabSeparated")
            tuple_sql = "(" + ", ".join(map(quote, key_columns)) + ")"
            # On a cluster each shard reads its own keys (`*_local`, sharded like the target).
            keys_source = self.warehouse.table(shard_local(keys_name, self.warehouse.cluster))
            missing = (
                f"FROM {self.qualified} FINAL WHERE {tuple_sql} NOT IN (SELECT {tuple_sql[1:-1]} FROM {keys_source})"
            )
            count = int(self.platform.query(f"SELECT count() {missing}").scalar() or 0)
            if count:
                columns = ", ".join(map(quote, key_columns))
                self.command(
                    f"INSERT INTO {self.qualified} ({columns}, `_version`, `_is_deleted`) "
                    f"SELECT {columns}, `_version` + 1, 1 {missing}"
                )
            return count
        finally:
            self.command(f"DROP TABLE IF EXISTS {keys_table}")

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per tenant: live rows (FINAL), stored rows (versions awaiting merge included), and the
        key checksum `verify` compares with PostgreSQL."""
        comment, _ = self.existing()
        if comment is None:
            return {}
        key_sum = " + ".join(f"{_key_term(self.by_name[k])}" for k in self.spec.primary_key)
        final = self.platform.query(
            f"SELECT tenant_id, count(), toString(sum({key_sum})) FROM {self.qualified} FINAL GROUP BY tenant_id"
        ).rows
        stored = dict(self.platform.query(f"SELECT tenant_id, count() FROM {self.qualified} GROUP BY tenant_id").rows)
        return {
            tenant: {"rows": rows, "stored_rows": stored.get(tenant, 0), "key_checksum": checksum}
            for tenant, rows, checksum in final
        }


def _key_term(column: SourceColumn) -> str:
    """A per-row number both engines compute the same way: the key itself for integers, the length
    of its text otherwise."""
    if column.ch_type.startswith(("Int", "UInt")):
        return f"toInt128({quote(column.name)})"
    return f"toInt128(length(toString({quote(column.name)})))"


def pg_key_term(column: SourceColumn) -> str:
    name = '"' + column.name.replace('"', '""') + '"'
    if column.ch_type.startswith(("Int", "UInt")):
        return f"{name}::numeric"
    if column.pg_type == "uuid":
        return f"length({name}::text)"
    return f"octet_length({name}::text)"


# --- events target ---------------------------------------------------------------------------------
@dataclass
class EventsOutcome:
    written: int = 0
    rejected: int = 0
    deleted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list | str | int | float | bool):
        return value
    return str(value)


class EventsWriter:
    """Source rows -> events through the one validation path and the event writer."""

    def __init__(
        self, warehouse: Warehouse, writer: EventWriter, limits: Limits, spec: SourceSpec, plan: ReadPlan
    ) -> None:
        assert isinstance(spec.target, EventsTarget)
        self.warehouse = warehouse
        self.writer = writer
        self.limits = limits
        self.spec = spec
        self.target: EventsTarget = spec.target
        self.names = [c.name for c in plan.columns]
        mapped = set(self.target.mapped_columns()) | {spec.soft_delete_column}
        self.property_columns = self.target.properties or [n for n in self.names if n not in mapped]

    def event_id(self, row: dict[str, Any]) -> str:
        key = "|".join(str(row[k]) for k in self.spec.primary_key)
        return str(uuid.uuid5(SYNC_NAMESPACE, f"{self.spec.name}|{key}"))

    def is_deleted(self, row: dict[str, Any]) -> bool:
        column = self.spec.soft_delete_column
        if not column:
            return False
        value = row[column]
        return bool(value) if isinstance(value, bool) else value is not None

    def stored_ids(self, tenant: str, accepted: list[AcceptedEvent]) -> set[str]:
        """Which of these events are already in `events` (the timestamp range prunes partitions)."""
        low = min(item.timestamp_ms for item in accepted)
        high = max(item.timestamp_ms for item in accepted)
        result = self.warehouse.for_tenant(tenant, background=True).query(
            f"SELECT DISTINCT toString(event_id) FROM {self.warehouse.table('events')} "
            "WHERE tenant_id = {tenant_id:String} "
            "AND timestamp BETWEEN fromUnixTimestamp64Milli({low:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Milli({high:Int64}, 'UTC') AND event_id IN {ids:Array(UUID)}",
            {"low": low, "high": high, "ids": [item.event_id for item in accepted]},
        )
        return {row[0] for row in result.rows}

    def row_of(self, values: tuple[Any, ...]) -> tuple[str | None, dict[str, Any]]:
        """A `rows_select` row: its tenant and its source columns by name."""
        return values[0], dict(zip(self.names, values[1:], strict=True))

    def event_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """The event a (live) source row becomes, before validation."""
        target = self.target
        moment, user = row[target.timestamp], row[target.distinct_id]
        return {
            "event": target.event_name if target.event_name is not None else row[target.event_column],  # type: ignore[index]
            "distinct_id": user if user is None else str(user),
            "timestamp": moment.isoformat() if isinstance(moment, datetime) else moment,
            "event_id": self.event_id(row),
            "properties": {name: _jsonable(row[name]) for name in self.property_columns if row[name] is not None},
        }

    def write(self, rows: list[tuple[Any, ...]], *, check_duplicates: bool, request_id: str) -> EventsOutcome:
        """`rows`: tenant then the source columns. With `check_duplicates`, ids already stored are
        skipped (a chunk that may have been written before a crash, or a re-read changed row)."""
        by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        deletions: dict[str, list[str]] = defaultdict(list)
        for values in rows:
            tenant, row = self.row_of(values)
            if tenant is None:
                continue
            if self.is_deleted(row):
                deletions[tenant].append(self.event_id(row))
                continue
            by_tenant[tenant].append(self.event_of(row))
        outcome = EventsOutcome()
        for tenant, events in by_tenant.items():
            validated = validate_events(events, tenant, self.limits)
            accepted = validated.accepted
            if check_duplicates and accepted:
                stored = self.stored_ids(tenant, accepted)
                accepted = [item for item in accepted if item.event_id not in stored]
            for item in accepted:
                # Checked here against `events` itself (exact, any age), so the writer's recent-id
                # lookup is not needed; rows past a clean checkpoint cannot be stored yet.
                item.client_event_id = False
            rejected = [(item, "sync", request_id) for item in validated.rejected]
            outcome.written += self.writer.write(accepted, rejected)
            outcome.rejected += len(validated.rejected)
            for refused in validated.rejected:
                outcome.reasons[refused.reason] = outcome.reasons.get(refused.reason, 0) + 1
        if not check_duplicates:
            return outcome  # rows past a clean checkpoint: no event of theirs can be stored yet
        for tenant, ids in deletions.items():
            outcome.deleted += self.delete_events(tenant, ids)
        return outcome

    def delete_events(self, tenant: str, ids: list[str]) -> int:
        """Remove soft-deleted rows' events and everything derived from them: the duplicate-check
        ids, and the rollups and per-person tables of the buckets they touched, recomputed from what
        remains (lifecycle/derived.py); cached answers of the tenant are then not served again."""
        events_table = self.warehouse.table("events")
        match = "event_id IN {ids:Array(UUID)}"
        params = {"ids": ids}
        scope = self.warehouse.for_tenant(tenant, background=True)  # a sync job is never refused
        found = int(
            scope.query(
                f"SELECT count() FROM {events_table} WHERE tenant_id = {{tenant_id:String}} AND {match}", params
            ).scalar()
            or 0
        )
        if not found:
            return 0
        affected = affected_by(scope, match, params)
        for table in ("event_ids", "events"):
            scope.command(
                f"ALTER TABLE {self.warehouse.table(table)} DELETE WHERE tenant_id = {{tenant_id:String}} AND {match} "
                + MUTATION,
                params,
            )
        rebuild(scope, affected)
        if self.writer.on_inserted is not None:
            self.writer.on_inserted({tenant})
        return found
