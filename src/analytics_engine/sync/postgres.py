"""The PostgreSQL side of sync: connecting with plain-words errors, describing a source's columns,
deriving ClickHouse types from PostgreSQL types, and reading rows in cursor order.

Every connection is read-only (`default_transaction_read_only`) and works in UTC, so a source query
cannot write and timestamps travel as UTC text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.postgres import types as pg_types

from analytics_engine.errors import InvalidInput
from analytics_engine.sync.spec import RESERVED_COLUMNS, EventsTarget, SourceSpec, redact_dsn


class SourceError(InvalidInput):
    """The source cannot be read as declared (connection, missing table or column, bad query)."""

    code = "sync_source_error"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:400] if text else type(exc).__name__


def where(spec: SourceSpec) -> str:
    parts = urlsplit(spec.dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{parts.path.lstrip('/') or '(default db)'}"


def connect(spec: SourceSpec) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(spec.dsn, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise SourceError(
            f"Source {spec.name!r}: cannot connect to PostgreSQL at {where(spec)} "
            f"({redact_dsn(spec.dsn)}): {_first_line(exc)}"
        ) from exc
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET default_transaction_read_only = on")
    return conn


def relation(spec: SourceSpec) -> sql.Composable:
    if spec.table:
        return sql.Identifier(*spec.table.split("."))
    assert spec.query is not None  # SourceSpec requires a table or a query
    # Every statement is run with a parameter list, so a literal % in the query must be doubled.
    return sql.SQL("({})").format(sql.SQL(spec.query.replace("%", "%%")))


@dataclass
class SourceColumn:
    """A source column and what it becomes in the warehouse."""

    name: str
    pg_type: str
    nullable: bool
    ch_type: str  # without Nullable()
    expression: sql.Composable  # how the COPY select renders it for ClickHouse's TabSeparated

    @property
    def ch_column_type(self) -> str:
        return f"Nullable({self.ch_type})" if self.nullable else self.ch_type


_SIMPLE = {
    "int2": "Int16",
    "int4": "Int32",
    "int8": "Int64",
    "oid": "UInt32",
    "float4": "Float32",
    "float8": "Float64",
    "text": "String",
    "varchar": "String",
    "bpchar": "String",
    "char": "String",
    "name": "String",
    "citext": "String",
    "uuid": "UUID",
    "date": "Date32",
    "timestamp": "DateTime64(6)",
    "json": "String",
    "jsonb": "String",
}
TIMESTAMP_TYPES = frozenset({"timestamp", "timestamptz"})
INTEGER_TYPES = frozenset({"int2", "int4", "int8", "oid"})


def derive_type(name: str, pg_type: str, precision: int | None, scale: int | None) -> tuple[str, sql.Composable]:
    """The ClickHouse type of a PostgreSQL column and the select expression that renders it as text
    ClickHouse reads exactly (booleans as 0/1, timestamptz as UTC without offset...)."""
    column = sql.Identifier(name)
    if pg_type == "bool":
        return "Bool", sql.SQL("{}::int").format(column)
    if pg_type == "timestamptz":
        return "DateTime64(6, 'UTC')", sql.SQL("{} AT TIME ZONE 'UTC'").format(column)
    if pg_type == "numeric":
        if precision and 0 < precision <= 76:
            return f"Decimal({precision}, {scale or 0})", column
        return "Decimal(38, 10)", sql.SQL("{}::numeric(38,10)").format(column)
    if pg_type in _SIMPLE:
        return _SIMPLE[pg_type], column
    # Anything else (time, interval, inet, bytea, arrays, enums, domains...) as its text form.
    return "String", sql.SQL("{}::text").format(column)


def describe(conn: psycopg.Connection[Any], spec: SourceSpec) -> list[SourceColumn]:
    """The source's columns; a missing table, a failing query or a missing column is a SourceError."""
    rel = relation(spec)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM {} AS src LIMIT 0").format(rel), [])
            described = list(cur.description or [])
    except psycopg.errors.UndefinedTable as exc:
        if spec.query:
            raise SourceError(f"Source {spec.name!r}: reading the query failed: {_first_line(exc)}") from exc
        raise SourceError(f"Source {spec.name!r}: table {spec.table} does not exist in {where(spec)}.") from exc
    except psycopg.Error as exc:
        what = f"table {spec.table}" if spec.table else "query"
        raise SourceError(f"Source {spec.name!r}: reading the {what} failed: {_first_line(exc)}") from exc
    not_null: set[str] = set()
    if spec.table:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attnotnull",
                (rel.as_string(conn),),
            )
            not_null = {row[0] for row in cur.fetchall()}
    names = [c.name for c in described]
    missing = [c for c in spec.required_columns() if c not in names]
    if missing:
        source = f"table {spec.table}" if spec.table else "the query"
        raise SourceError(
            f"Source {spec.name!r}: column(s) {', '.join(missing)} missing from {source} "
            f"(it has: {', '.join(names)[:300]})."
        )
    keys = set(spec.order_columns())
    columns = []
    for col in described:
        info = pg_types.get(col.type_code)
        pg_type = info.name if info else "unknown"
        ch_type, expression = derive_type(col.name, pg_type, col.precision, col.scale)
        nullable = col.name not in not_null and col.name not in keys
        columns.append(SourceColumn(col.name, pg_type, nullable, ch_type, expression))
    by_name = {c.name: c for c in columns}
    cursor = by_name[spec.cursor]
    if cursor.pg_type not in TIMESTAMP_TYPES | INTEGER_TYPES:
        raise SourceError(
            f"Source {spec.name!r}: cursor column {spec.cursor} is {cursor.pg_type}; it must be an integer "
            "(a monotonic id) or a timestamp (updated_at)."
        )
    if isinstance(spec.target, EventsTarget):
        ts = by_name[spec.target.timestamp]
        if ts.pg_type not in TIMESTAMP_TYPES:
            raise SourceError(f"Source {spec.name!r}: timestamp column {ts.name} is {ts.pg_type}, not a timestamp.")
    else:
        clashes = [c.name for c in columns if c.name in RESERVED_COLUMNS and c.name != spec.tenant_column]
        if clashes:
            raise SourceError(
                f"Source {spec.name!r}: column(s) {', '.join(clashes)} clash with columns the warehouse table "
                "adds (tenant_id, _version, _is_deleted); rename them in a query source."
            )
    return columns


def cursor_kind(spec: SourceSpec, columns: list[SourceColumn]) -> str:
    if spec.cursor_kind:
        return spec.cursor_kind
    cursor = next(c for c in columns if c.name == spec.cursor)
    return "updated_at" if cursor.pg_type in TIMESTAMP_TYPES else "id"


# --- reading -------------------------------------------------------------------------------------
@dataclass
class ReadPlan:
    """How to select the rows of one source: the output expressions and the filters."""

    spec: SourceSpec
    columns: list[SourceColumn]
    kind: str  # id | updated_at
    # The row order of this read: (cursor, key) normally; the key alone for the first copy of an
    # updated_at source (the primary key index, the table's physical order, no updated_at index needed).
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.order:
            self.order = self.spec.order_columns()

    def tenant_expression(self) -> tuple[sql.Composable, list[Any]]:
        spec = self.spec
        if spec.tenant_id is not None:
            return sql.SQL("%s::text"), [spec.tenant_id]
        column = sql.Identifier(spec.tenant_column)  # type: ignore[arg-type]
        if not spec.tenant_map:
            return sql.SQL("{}::text").format(column), []
        cases, params = [], []
        for value, tenant in spec.tenant_map.items():
            cases.append(sql.SQL("WHEN %s THEN %s"))
            params += [value, tenant]
        return sql.SQL("CASE {}::text {} END").format(column, sql.SQL(" ").join(cases)), params

    def version_expression(self) -> sql.Composable:
        cursor = next(c for c in self.columns if c.name == self.spec.cursor)
        column = sql.Identifier(cursor.name)
        if self.kind != "updated_at":
            return sql.SQL("0")
        if cursor.pg_type in TIMESTAMP_TYPES:
            return sql.SQL("greatest((extract(epoch FROM {}) * 1000000)::bigint, 0)").format(column)
        return sql.SQL("greatest({}::bigint, 0)").format(column)

    def deleted_expression(self) -> sql.Composable:
        name = self.spec.soft_delete_column
        if not name:
            return sql.SQL("0")
        column = next(c for c in self.columns if c.name == name)
        if column.pg_type == "bool":
            return sql.SQL("coalesce({}, false)::int").format(sql.Identifier(name))
        return sql.SQL("({} IS NOT NULL)::int").format(sql.Identifier(name))

    def filters(self, after: list[str] | None, since: str | None) -> tuple[list[sql.Composable], list[Any]]:
        """`after`: the last row read (cursor and key), strictly greater; `since`: cursor >= value."""
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        spec = self.spec
        if spec.tenant_map:
            conditions.append(sql.SQL("{}::text = ANY(%s)").format(sql.Identifier(spec.tenant_column)))  # type: ignore[arg-type]
            params.append(list(spec.tenant_map))
        order = self.order
        if after is not None:
            conditions.append(
                sql.SQL("({}) > ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, order)), sql.SQL(", ").join([sql.SQL("%s")] * len(order))
                )
            )
            params += after
        elif since is not None:
            conditions.append(sql.SQL("{} >= %s").format(sql.Identifier(spec.cursor)))
            params.append(since)
        return conditions, params

    def order_by(self) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.order))

    def table_select(self, after: list[str] | None, since: str | None, limit: int) -> tuple[sql.Composed, list[Any]]:
        """tenant_id, every source column, _version, _is_deleted: the warehouse table's column order."""
        tenant, params = self.tenant_expression()
        outputs = [tenant] + [c.expression for c in self.columns if c.name != "tenant_id"]
        outputs += [self.version_expression(), self.deleted_expression()]
        conditions, filter_params = self.filters(after, since)
        query = sql.SQL("SELECT {} FROM {} AS src{} ORDER BY {} LIMIT {}").format(
            sql.SQL(", ").join(outputs),
            relation(self.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
            self.order_by(),
            sql.Literal(int(limit)),
        )
        return query, params + filter_params

    def keys_select(self) -> tuple[sql.Composed, list[Any]]:
        """tenant_id and the primary key of every row that is not soft-deleted (reconciliation)."""
        tenant, params = self.tenant_expression()
        conditions, filter_params = self.filters(None, None)
        if self.spec.soft_delete_column:
            conditions.append(sql.SQL("{} = 0").format(self.deleted_expression()))
        by_name = {c.name: c for c in self.columns}
        query = sql.SQL("SELECT {}, {} FROM {} AS src{}").format(
            tenant,
            sql.SQL(", ").join(by_name[k].expression for k in self.spec.primary_key),
            relation(self.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
        )
        return query, params + filter_params

    def rows_select(self, after: list[str] | None, since: str | None, limit: int) -> tuple[sql.Composed, list[Any]]:
        """tenant then every source column, as Python values (the events target)."""
        tenant, params = self.tenant_expression()
        conditions, filter_params = self.filters(after, since)
        query = sql.SQL("SELECT {}, src.* FROM {} AS src{} ORDER BY {} LIMIT {}").format(
            tenant,
            relation(self.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
            self.order_by(),
            sql.Literal(int(limit)),
        )
        return query, params + filter_params

    def high_water(self, conn: psycopg.Connection[Any]) -> list[str] | None:
        """The last row in (cursor, key) order now, as text: where incremental sync starts after a
        first copy made in key order (rows changed meanwhile lie past it and are read again)."""
        order = self.spec.order_columns()
        by_name = {c.name: c for c in self.columns}
        conditions, params = self.filters(None, None)
        query = sql.SQL("SELECT {} FROM {} AS src{} ORDER BY {} LIMIT 1").format(
            # The same text COPY gives (timestamptz as UTC without offset), so cursors compare alike.
            sql.SQL(", ").join(sql.SQL("({})::text").format(by_name[c].expression) for c in order),
            relation(self.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
            sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in order),
        )
        row = conn.execute(query, params).fetchone()
        return None if row is None else list(row)

    def count(self, conn: psycopg.Connection[Any], after: list[str] | None, since: str | None) -> int:
        conditions, params = self.filters(after, since)
        query = sql.SQL("SELECT count(*) FROM {} AS src{}").format(
            relation(self.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
        )
        row = conn.execute(query, params).fetchone()
        return 0 if row is None else int(row[0])  # count(*) always returns one row

    def order_positions_in_table_output(self) -> list[int]:
        """Where the cursor and key columns sit in `table_select`'s output (after tenant_id)."""
        names = [c.name for c in self.columns if c.name != "tenant_id"]
        return [1 + names.index(name) if name != "tenant_id" else 0 for name in self.order]


def copy_chunk(conn: psycopg.Connection[Any], query: sql.Composable, params: list[Any]) -> bytes:
    """One chunk as PostgreSQL's COPY text (tab-separated, `\\N` for NULL): ClickHouse's TabSeparated."""
    buffer = bytearray()
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(query), params) as copy:
        for data in copy:
            buffer += data
    return bytes(buffer)


_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def unescape_copy_text(field: str) -> str:
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        char = field[i]
        if char == "\\" and i + 1 < len(field):
            out.append(_UNESCAPE.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def last_row_fields(chunk: bytes, positions: list[int]) -> list[str]:
    """The cursor and key values of the chunk's last row, as PostgreSQL literals."""
    body = chunk.rstrip(b"\n")
    line = body[body.rfind(b"\n") + 1 :].decode()
    fields = line.split("\t")
    return [unescape_copy_text(fields[p]) for p in positions]


def iter_rows(conn: psycopg.Connection[Any], query: sql.Composed, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        yield from cur
