"""Cluster DDL from the same migrations (issue 26, docs/runbook.md "A ClickHouse cluster").

With `ANALYTICS_CLICKHOUSE_CLUSTER` set, `migrate()` passes every statement of every migration through
`cluster_statements()`, which rewrites it for a sharded, replicated cluster while the rest of the
code keeps the table names it always used:

- `CREATE TABLE {db}.t (...) ENGINE = XMergeTree ...` becomes two statements, both `ON CLUSTER`:
  `{db}.t_local` with `ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/{table}',
  '{replica}')` (the server's own macros), and `{db}.t` as a `Distributed` table in front of it,
  sharded by tenant: `cityHash64(tenant_id)` (a table without `tenant_id` by its first sort column).
  Readers and writers keep using `{db}.t`; a tenant's rows all live on one shard.
- `non_replicated_deduplication_window = N` becomes `replicated_deduplication_window = N`: the
  writer's `insert_deduplication_token` (passed through the Distributed table to the shard) makes a
  retried batch land once, in `*_local` and in every table a view feeds from it.
- `CREATE MATERIALIZED VIEW {db}.v TO {db}.t AS SELECT ... FROM {db}.s` is created on every shard
  (`ON CLUSTER`), reading `{db}.s_local` and writing `{db}.t_local`: each shard keeps its own derived
  rows from the inserts it receives, which is right because both sides shard by the same key.
- `INSERT INTO {db}.t SELECT ... FROM {db}.s` (backfills) stays on the Distributed tables, with
  `distributed_foreground_insert = 1` so the migration is complete when the statement returns.
- `ALTER TABLE {db}.t` column changes go to `t_local` and to `t` (the Distributed table must know
  the column); every other action (settings, TTL, MATERIALIZE, mutations) goes to `t_local` only.
- `DROP TABLE` drops both; `DROP VIEW` drops the view; both `ON CLUSTER ... SYNC`, so a table of
  the same name can be created again on the same ZooKeeper path.

A statement the rewriter does not recognise raises `ClusterDDLError` (a new migration must be
expressible on a cluster; tests/warehouse/test_cluster_ddl.py renders every migration both ways and
compares them with golden files). The single-node text is the migration itself, unchanged.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from analytics_engine.warehouse.sql_files import migration_files, split_statements

LOCAL_SUFFIX = "_local"
# The server's macros: {shard} and {replica} from its <macros> config, {database} and {table} built in.
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
# schema_migrations is one log for the whole cluster: one path for every shard.
CLUSTER_WIDE_PATH = "/clickhouse/tables/all/{database}/{table}"
_NAME = r"\{db\}\.(\w+)"
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?" + _NAME + r"\s*\(", re.S)
_CREATE_VIEW = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?" + _NAME + r"\s+TO\s+" + _NAME + r"\s+AS\s+(.*)$", re.S
)
_INSERT = re.compile(r"^INSERT\s+INTO\s+" + _NAME + r"\b(.*)$", re.S)
_DROP = re.compile(r"^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?" + _NAME + r"\s*$", re.S)
_ALTER = re.compile(r"^ALTER\s+TABLE\s+" + _NAME + r"\s+(.*)$", re.S)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)(\s*\(([^()]*)\))?")
_COLUMN_ACTION = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.I)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+\(?\s*(\w+)")


class ClusterDDLError(ValueError):
    """A migration statement with no known cluster form."""


@dataclass(frozen=True)
class ClusterLayout:
    """Where the tables go: the cluster name (from the servers' `remote_servers`)."""

    cluster: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", self.cluster):
            raise ClusterDDLError(f"not a cluster name: {self.cluster!r}")

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER '{self.cluster}'"


def _columns_block(statement: str, start: int) -> tuple[str, int]:
    """The text between the parenthesis at `start - 1` and its match, and the index after it."""
    depth = 1
    index = start
    while depth and index < len(statement):
        char = statement[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        index += 1
    if depth:
        raise ClusterDDLError("unbalanced parentheses in CREATE TABLE")
    return statement[start : index - 1], index


def sharding_key(columns: str, tail: str) -> str:
    """cityHash64(tenant_id) for tenant tables, else the first sort column's hash."""
    if re.search(r"^\s*tenant_id\s", columns, re.M):
        return "cityHash64(tenant_id)"
    order = _ORDER_BY.search(tail)
    if order is None:
        raise ClusterDDLError("a table without tenant_id needs an ORDER BY to shard by")
    return f"cityHash64({order.group(1)})"


def _replicated_settings(text: str) -> str:
    return re.sub(r"\bnon_replicated_deduplication_window\b", "replicated_deduplication_window", text)


def _create_table(match: re.Match[str], statement: str, layout: ClusterLayout, known: set[str]) -> list[str]:
    if_not_exists = match.group(1) or ""
    name = match.group(2)
    columns, after = _columns_block(statement, match.end())
    tail = statement[after:]
    engine = _ENGINE.search(tail)
    if engine is None:
        raise ClusterDDLError(f"{name}: only *MergeTree tables have a cluster form")
    args = (engine.group(3) or "").strip()
    replicated_args = f"'{REPLICA_PATH}', '{{replica}}'" + (f", {args}" if args else "")
    tail = tail[: engine.start()] + f"ENGINE = Replicated{engine.group(1)}({replicated_args})" + tail[engine.end() :]
    tail = _replicated_settings(tail)
    known.add(name)
    local = name + LOCAL_SUFFIX
    key = sharding_key(columns, tail)
    return [
        f"CREATE TABLE {if_not_exists}{{db}}.{local} {layout.on_cluster}\n({columns}){tail}",
        f"CREATE TABLE {if_not_exists}{{db}}.{name} {layout.on_cluster} AS {{db}}.{local}\n"
        f"ENGINE = Distributed('{layout.cluster}', {{db_name}}, '{local}', {key})",
    ]


def _localize(text: str, known: set[str]) -> str:
    """Point `{db}.t` references of known tables at their shard-local tables."""
    return re.sub(_NAME, lambda m: "{db}." + m.group(1) + (LOCAL_SUFFIX if m.group(1) in known else ""), text)


def cluster_statements(statement: str, layout: ClusterLayout, known: set[str]) -> list[str]:
    """The cluster form of one migration statement (with `{db}` still a placeholder). `known` holds
    the tables created so far (updated here): their references inside views become `*_local`."""
    lines = statement.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)  # leading comments (split_statements keeps those after a blank line)
    text = "\n".join(lines)
    if match := _CREATE_TABLE.match(text):
        return _create_table(match, text, layout, known)
    if match := _CREATE_VIEW.match(text):
        if_not_exists, view, target, body = match.group(1) or "", match.group(2), match.group(3), match.group(4)
        if target not in known:
            raise ClusterDDLError(f"view {view} writes {target}, which no migration created")
        return [
            f"CREATE MATERIALIZED VIEW {if_not_exists}{{db}}.{view} {layout.on_cluster} "
            f"TO {{db}}.{target}{LOCAL_SUFFIX} AS {_localize(body, known)}"
        ]
    if match := _INSERT.match(text):
        return [f"{text}\nSETTINGS distributed_foreground_insert = 1"]
    if match := _DROP.match(text):
        kind, if_exists, name = match.group(1), match.group(2) or "", match.group(3)
        if kind == "VIEW":
            return [f"DROP VIEW {if_exists}{{db}}.{name} {layout.on_cluster} SYNC"]
        known.discard(name)
        return [
            f"DROP TABLE {if_exists}{{db}}.{name} {layout.on_cluster} SYNC",
            f"DROP TABLE {if_exists}{{db}}.{name}{LOCAL_SUFFIX} {layout.on_cluster} SYNC",
        ]
    if match := _ALTER.match(text):
        name, action = match.group(1), match.group(2)
        if name not in known:
            raise ClusterDDLError(f"ALTER of {name}, which no migration created")
        local = f"ALTER TABLE {{db}}.{name}{LOCAL_SUFFIX} {layout.on_cluster} {_replicated_settings(action)}"
        if _COLUMN_ACTION.match(action):
            return [local, f"ALTER TABLE {{db}}.{name} {layout.on_cluster} {action}"]
        return [local]
    raise ClusterDDLError(f"no cluster form for: {text.splitlines()[0][:120]}")


def schema_migrations_ddl(layout: ClusterLayout | None) -> str:
    """The migration log: a plain MergeTree, or on a cluster one replicated table every node reads."""
    columns = "(id String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))"
    if layout is None:
        return f"CREATE TABLE IF NOT EXISTS {{db}}.schema_migrations {columns} ENGINE = MergeTree ORDER BY id"
    return (
        f"CREATE TABLE IF NOT EXISTS {{db}}.schema_migrations {layout.on_cluster} {columns} "
        f"ENGINE = ReplicatedMergeTree('{CLUSTER_WIDE_PATH}', '{{replica}}') ORDER BY id"
    )


def migration_statements(cluster: str | None) -> list[tuple[str, list[str]]]:
    """Every migration as (id, statements with `{db}` placeholders), single-node or for `cluster`."""
    layout = ClusterLayout(cluster) if cluster else None
    known: set[str] = set()
    out: list[tuple[str, list[str]]] = []
    for migration_id, text in migration_files():
        statements = split_statements(text)
        if layout is not None:
            try:
                statements = [s for statement in statements for s in cluster_statements(statement, layout, known)]
            except ClusterDDLError as exc:
                raise ClusterDDLError(f"{migration_id}: {exc}") from exc
        out.append((migration_id, statements))
    return out


def render(statement: str, database: str, hot_retention_months: int = 13) -> str:
    """Fill the placeholders: `{db}` (quoted name), `{db_name}` (string literal), the TTL months."""
    return (
        statement.replace("{db}", f"`{database}`")
        .replace("{db_name}", "'" + database.replace("\\", "\\\\").replace("'", "\\'") + "'")
        .replace("{hot_retention_months}", str(int(hot_retention_months)))
    )


def render_ddl(database: str, cluster: str | None, hot_retention_months: int = 13) -> str:
    """The whole DDL as one script (what `analytics-engine warehouse-ddl` prints; the golden files)."""
    lines = [f"-- Analytics Engine warehouse DDL, {'cluster ' + cluster if cluster else 'single node'}"]
    database_ddl = f"CREATE DATABASE IF NOT EXISTS `{database}`" + (f" ON CLUSTER '{cluster}'" if cluster else "")
    lines += [database_ddl + ";", ""]
    layout = ClusterLayout(cluster) if cluster else None
    lines += [render(schema_migrations_ddl(layout), database) + ";", ""]
    for migration_id, statements in migration_statements(cluster):
        lines.append(f"-- migration {migration_id}")
        for statement in statements:
            lines += [render(statement, database, hot_retention_months) + ";", ""]
    return "\n".join(lines)


@functools.cache
def cluster_tables() -> frozenset[str]:
    """The tables the migrations leave (each a Distributed table in front of `*_local` on a cluster)."""
    known: set[str] = set()
    layout = ClusterLayout("c")
    for _, text in migration_files():
        for statement in split_statements(text):
            cluster_statements(statement, layout, known)
    return frozenset(known)


def table_ddl(statement: str, database: str, cluster: str | None) -> list[str]:
    """A table the service creates while running (sync targets and their staging tables), written
    like a migration's `CREATE TABLE {db}.t (...) ENGINE = XMergeTree ...`, in the form every table
    takes: on one node the statement itself; on a cluster `t_local ON CLUSTER` as
    `ReplicatedXMergeTree` with a `Distributed` table `t` in front, sharded by tenant (the same
    rewrite as the migrations, `cluster_statements`). A table comment goes to both tables, so the
    service's checks of `system.tables` read the same on either."""
    if not cluster:
        return [render(statement, database)]
    statements = cluster_statements(statement, ClusterLayout(cluster), set())
    comment = re.search(r"\bCOMMENT\s+'[^'\\]*'\s*$", statement)
    if comment is not None:
        statements[1] += "\n" + comment.group(0).strip()
    return [render(s, database) for s in statements]


def shard_local(table: str, cluster: str | None) -> str:
    """The name a query running on each shard reads for a table sharded like the one it scans
    (`t_local` on a cluster, `t` on one node): an `IN (SELECT ... FROM t_local)` under a query of a
    Distributed table then reads the shard's own rows, which hold the same tenants."""
    return table + LOCAL_SUFFIX if cluster else table


_RUNTIME = re.compile(
    r"^\s*(ALTER\s+TABLE|DELETE\s+FROM|TRUNCATE\s+TABLE|DROP\s+TABLE(?:\s+IF\s+EXISTS)?)\s+`([^`]+)`\.`(\w+)`(\s+.*)?$",
    re.S | re.I,
)


def cluster_command(sql: str, database: str, cluster: str, tables: frozenset[str]) -> list[str]:
    """The cluster form of a statement the service runs while serving (the facade's `command()`):
    mutations of our tables (`ALTER TABLE`, lightweight `DELETE FROM`, `TRUNCATE`) cannot run on a
    Distributed table, so they go to `*_local ON CLUSTER`; a column change also reaches the
    Distributed table; `DROP TABLE` drops both. `tables`: the migrations' tables, and the ones the
    service created with `table_ddl` (the caller names those). Anything else (DDL of other tables,
    INSERT) is returned as is."""
    match = _RUNTIME.match(sql)
    if match is None or match.group(2) != database or match.group(3) not in tables:
        return [sql]
    verb, name, rest = " ".join(match.group(1).upper().split()), match.group(3), (match.group(4) or "").strip()
    on_cluster = ClusterLayout(cluster).on_cluster
    if verb.startswith("DROP TABLE"):  # the Distributed table and the shard-local one
        return [f"{verb} `{database}`.`{table}` {on_cluster} SYNC" for table in (name, name + LOCAL_SUFFIX)]
    local = f"{verb} `{database}`.`{name}{LOCAL_SUFFIX}` {on_cluster} {rest}"
    if verb == "ALTER TABLE" and _COLUMN_ACTION.match(rest):
        return [local, f"ALTER TABLE `{database}`.`{name}` {on_cluster} {rest}"]
    return [local]
