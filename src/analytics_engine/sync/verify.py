"""`sync verify`: compare the VALUES a source holds with what the warehouse holds, per key range.

Counting rows and summing keys cannot see a row whose values changed without being copied again (a
version column that moved backwards, a transaction that committed after the overlap window): the
count and the keys are right, the values are stale. So verify hashes every synced column.

Table targets. Each live row (PostgreSQL: not soft-deleted; warehouse: `FINAL`, which hides deleted
rows) is rendered as one canonical text, the same bytes on both sides: per column `~` for NULL or
`<byte length>:<text>`, where the text is what sync sends, read back the way ClickHouse stores it
(booleans 0/1, timestamps `YYYY-MM-DD hh:mm:ss.uuuuuu` in UTC, decimals with all their scale
digits, floats as the hex of their IEEE bits, everything else as text). The row's hash is the first
64 bits of `md5(text)`, as a signed integer: PostgreSQL `('x' || left(md5(t), 16))::bit(64)::bigint`,
ClickHouse `reinterpretAsInt64(reverse(substring(MD5(t), 1, 8)))`. Per key range both sides return
`count` and the exact `sum` of those hashes; a range whose figures differ is split again (ranges
from PostgreSQL's percentiles of the first primary-key column, C collation for text so both engines
order keys alike) until it holds at most `LEAF_ROWS` rows, whose keys are then compared one by one.
Both sides are read once per level; PostgreSQL in one REPEATABLE READ snapshot.

Events targets. Events are facts (an update of a copied row keeps its event), so values are not
compared; what must hold is presence: every live source row that validation accepts has exactly one
event, and a soft-deleted row has none. Rows are read in primary-key order, in ranges of
`EVENTS_RANGE_ROWS`, and each range's expected event ids are counted in `events`.

Repair (`--repair`): table targets delete the differing leaf ranges from the warehouse and copy them
again from PostgreSQL (each row at its current version, so a stored version that is higher than the
source's no longer wins); events targets write the missing events and remove events of deleted rows.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from analytics_engine.ingest.validation import validate_events
from analytics_engine.sync import postgres
from analytics_engine.sync.postgres import ReadPlan, SourceColumn
from analytics_engine.sync.targets import EventsWriter, TableWriter, quote

RANGES_PER_LEVEL = 16
LEAF_ROWS = 2_000  # a differing range this small is compared key by key
MAX_DEPTH = 5  # 16^5 ranges: a 1M-row table reaches LEAF_ROWS at depth 3
KEY_LIST_LIMIT = 50_000  # rows read per side to list the keys of a range that cannot be split further
LISTED_RANGES = 50
LISTED_KEYS_PER_RANGE = 20
EVENTS_RANGE_ROWS = 20_000
# When much differs (a column added after the first copy, a table restored from an old backup), the
# drill-down stops splitting after this many sub-range comparisons and lists keys of this many
# ranges: the answer stays bounded and repair re-copies the larger ranges it reported.
SPLIT_BUDGET = 64
LISTED_RANGE_BUDGET = 32
REPAIR_CHUNK_ROWS = 100_000

_DECIMAL = re.compile(r"Decimal\(\d+, (\d+)\)")
_TENANT = "_verify_tenant"
# ClickHouse reads text keys bytewise; PostgreSQL must order and compare them the same way.
_BYTEWISE = sql.SQL(' COLLATE "C"')


# --- canonical text ------------------------------------------------------------------------------
def pg_text(column: SourceColumn) -> sql.Composable:
    """The column's value as text, rendered from what the COPY select sends (`column.expression`)."""
    value, kind = column.expression, column.ch_type
    if kind == "Bool":
        return sql.SQL("({})::text").format(value)  # the expression is already `col::int`
    if kind.startswith("DateTime64"):
        return sql.SQL("to_char({}, 'YYYY-MM-DD HH24:MI:SS.US')").format(value)
    if kind == "Date32":
        return sql.SQL("to_char({}, 'YYYY-MM-DD')").format(value)
    if kind == "Float64":
        return sql.SQL("encode(float8send(({})::float8), 'hex')").format(value)
    if kind == "Float32":
        return sql.SQL("encode(float4send(({})::float4), 'hex')").format(value)
    if column.pg_type == "bpchar":
        # COPY sends char(n) padded; a cast to text would strip the padding.
        return sql.SQL("format('%%s', {})").format(value)
    return sql.SQL("({})::text").format(value)


def ch_text(column: SourceColumn) -> str:
    """The same text from the value ClickHouse stored (NULL handled by the caller)."""
    value, kind = f"assumeNotNull({quote(column.name)})", column.ch_type
    if kind == "Bool":
        return f"toString(toUInt8({value}))"
    if kind in ("Float64", "Float32"):
        # The bits as an integer (reinterpretAsString would drop trailing zero bytes), 0-padded.
        bits, digits = ("UInt64", 16) if kind == "Float64" else ("UInt32", 8)
        return f"lower(leftPad(hex(reinterpretAs{bits}({value})), {digits}, '0'))"
    decimal = _DECIMAL.fullmatch(kind)
    if decimal:
        return f"toDecimalString({value}, {decimal.group(1)})"
    if kind == "String":
        return value
    return f"toString({value})"  # integers, UUID, Date32, DateTime64(6) (always six digits)


def pg_field(column: SourceColumn) -> sql.Composable:
    text = pg_text(column)
    return sql.SQL("CASE WHEN ({}) IS NULL THEN '~' ELSE octet_length({})::text || ':' || {} END").format(
        column.expression, text, text
    )


def ch_field(column: SourceColumn) -> str:
    text = ch_text(column)
    return f"if(isNull({quote(column.name)}), '~', concat(toString(length({text})), ':', {text}))"


def pg_hash(columns: list[SourceColumn]) -> sql.Composable:
    tenant = sql.SQL("CASE WHEN {t} IS NULL THEN '~' ELSE octet_length({t})::text || ':' || {t} END").format(
        t=sql.Identifier(_TENANT)
    )
    text = sql.SQL(" || ").join([tenant, *(pg_field(c) for c in columns)])
    return sql.SQL("('x' || left(md5({}), 16))::bit(64)::bigint").format(text)


def ch_hash(columns: list[SourceColumn]) -> str:
    tenant = "concat(toString(length(tenant_id)), ':', tenant_id)"
    text = ", ".join([tenant, *(ch_field(c) for c in columns)])
    return f"reinterpretAsInt64(reverse(substring(MD5(concat({text})), 1, 8)))"


# --- reports -------------------------------------------------------------------------------------
@dataclass
class KeyDifference:
    tenant_id: str
    key: str
    problem: str  # missing_in_warehouse | extra_in_warehouse | values_differ

    def public(self) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "key": self.key, "problem": self.problem}


@dataclass
class RangeDifference:
    low: Any  # inclusive; None: unbounded
    high: Any  # exclusive (events: inclusive, the range's last key); None: unbounded
    source_rows: int
    warehouse_rows: int
    keys: list[KeyDifference] = field(default_factory=list)
    keys_listed: bool = True
    detail: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "from": self.low,
            "to": self.high,
            "source_rows": self.source_rows,
            "warehouse_rows": self.warehouse_rows,
            **self.detail,
            "keys_listed": self.keys_listed,
            "differing_keys": len(self.keys),
            "sample_keys": [k.public() for k in self.keys[:LISTED_KEYS_PER_RANGE]],
        }


@dataclass
class ValuesReport:
    method: str
    ranges_compared: int = 0
    source_rows: int = 0
    warehouse_rows: int = 0
    differing: list[RangeDifference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def match(self) -> bool:
        return not self.differing

    def public(self) -> dict[str, Any]:
        keys = [k for r in self.differing for k in r.keys]
        return {
            "match": self.match,
            "method": self.method,
            "ranges_compared": self.ranges_compared,
            "source_rows": self.source_rows,
            "warehouse_rows": self.warehouse_rows,
            "differing_range_count": len(self.differing),
            "differing_key_count": len(keys),
            "differing_ranges": [r.public() for r in self.differing[:LISTED_RANGES]],
            "sample_keys": [k.public() for k in keys[:LISTED_KEYS_PER_RANGE]],
            "seconds": round(self.seconds, 3),
        }


# --- table targets -------------------------------------------------------------------------------
class TableComparison:
    """The value comparison of one table target (see the module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any], plan: ReadPlan, writer: TableWriter) -> None:
        self.conn, self.plan, self.writer = conn, plan, writer
        self.columns = writer.columns  # the synced source columns, in the table's order
        by_name = {c.name: c for c in plan.columns}
        self.key_columns = [by_name[k] for k in plan.spec.primary_key]
        first = self.key_columns[0]
        self.integer_key = first.ch_type.startswith(("Int", "UInt"))
        if self.integer_key:
            self.pg_key: sql.Composable = sql.Identifier(first.name)
            self.ch_key = quote(first.name)
        else:
            self.pg_key = sql.SQL("({}){}").format(pg_text(first), _BYTEWISE)
            self.ch_key = ch_text(first)
        self.ch_key_type = "Int64" if self.integer_key else "String"
        self.splits = self.listings = 0
        self.report = ValuesReport(
            method=f"md5 of every column's canonical text; sum and count per range of {first.name}, "
            f"{RANGES_PER_LEVEL} ranges per level, key by key below {LEAF_ROWS} rows"
        )

    # PostgreSQL: live rows with the tenant as a column, narrowed to a key range.
    def _pg_rows(self, low: Any, high: Any) -> tuple[sql.Composable, list[Any]]:
        tenant, params = self.plan.tenant_expression()
        conditions, filter_params = self.plan.filters(None, None)
        if self.plan.spec.soft_delete_column:
            conditions.append(sql.SQL("{} = 0").format(self.plan.deleted_expression()))
        range_conditions, range_params = self._pg_range(low, high)
        conditions += range_conditions
        query = sql.SQL("SELECT {} AS {}, src.* FROM {} AS src{}").format(
            tenant,
            sql.Identifier(_TENANT),
            postgres.relation(self.plan.spec),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
        )
        return query, params + filter_params + range_params

    def _pg_range(self, low: Any, high: Any) -> tuple[list[sql.Composable], list[Any]]:
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        cast = sql.SQL("bigint" if self.integer_key else "text")
        if low is not None:
            conditions.append(sql.SQL("{} >= %s::{}").format(self.pg_key, cast))
            params.append(low)
        if high is not None:
            conditions.append(sql.SQL("{} < %s::{}").format(self.pg_key, cast))
            params.append(high)
        return conditions, params

    def _ch_range(self, low: Any, high: Any) -> tuple[str, dict[str, Any]]:
        conditions, params = ["1"], {}
        if low is not None:
            conditions.append(f"{self.ch_key} >= {{low:{self.ch_key_type}}}")
            params["low"] = low
        if high is not None:
            conditions.append(f"{self.ch_key} < {{high:{self.ch_key_type}}}")
            params["high"] = high
        return " AND ".join(conditions), params

    def bounds(self, low: Any, high: Any) -> list[Any]:
        """Where to split [low, high): PostgreSQL's percentiles of the key, distinct, ascending."""
        rows, params = self._pg_rows(low, high)
        fractions = [n / RANGES_PER_LEVEL for n in range(1, RANGES_PER_LEVEL)]
        query = sql.SQL("SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY {}) FROM ({}) AS src").format(
            self.pg_key, rows
        )
        row = self.conn.execute(query, [fractions, *params]).fetchone()
        values = (row[0] if row else None) or []
        return sorted({v for v in values if v is not None and (low is None or v > low)})

    def pg_buckets(self, bounds: list[Any], low: Any, high: Any) -> dict[int, tuple[int, str]]:
        rows, params = self._pg_rows(low, high)
        array = sql.SQL("bigint[]" if self.integer_key else "text[]")
        bucket = sql.SQL("width_bucket({}, %s::{})").format(self.pg_key, array) if bounds else sql.SQL("0")
        query = sql.SQL("SELECT {} AS b, count(*), sum({})::text FROM ({}) AS src GROUP BY b").format(
            bucket, pg_hash(self.columns), rows
        )
        result = self.conn.execute(query, ([bounds] if bounds else []) + params).fetchall()
        return {int(b): (int(n), str(total)) for b, n, total in result}

    def ch_buckets(self, bounds: list[Any], low: Any, high: Any) -> dict[int, tuple[int, str]]:
        where, params = self._ch_range(low, high)
        bucket = f"arrayCount(x -> x <= {self.ch_key}, {{bounds:Array({self.ch_key_type})}})" if bounds else "0"
        rows = self.writer.platform.query(
            f"SELECT {bucket} AS b, count(), toString(sum(toInt128({ch_hash(self.columns)}))) "
            f"FROM {self.writer.qualified} FINAL WHERE {where} GROUP BY b",
            {**params, "bounds": bounds},
        ).rows
        return {int(b): (int(n), str(total)) for b, n, total in rows}

    def pg_keys(self, low: Any, high: Any) -> dict[tuple[str, str], int] | None:
        rows, params = self._pg_rows(low, high)
        key = sql.SQL(" || ', ' || ").join(pg_text(c) for c in self.key_columns)
        query = sql.SQL("SELECT {}, {}, {} FROM ({}) AS src LIMIT {}").format(
            sql.Identifier(_TENANT), key, pg_hash(self.columns), rows, sql.Literal(KEY_LIST_LIMIT + 1)
        )
        found = self.conn.execute(query, params).fetchall()
        if len(found) > KEY_LIST_LIMIT:
            return None
        return {(str(t), str(k)): int(h) for t, k, h in found}

    def ch_keys(self, low: Any, high: Any) -> dict[tuple[str, str], int] | None:
        where, params = self._ch_range(low, high)
        key = ", ".join(ch_text(c) for c in self.key_columns)
        key_text = f"concatWithSeparator(', ', {key})" if len(self.key_columns) > 1 else key
        found = self.writer.platform.query(
            f"SELECT tenant_id, {key_text}, {ch_hash(self.columns)} FROM {self.writer.qualified} FINAL "
            f"WHERE {where} LIMIT {KEY_LIST_LIMIT + 1}",
            params,
        ).rows
        if len(found) > KEY_LIST_LIMIT:
            return None
        return {(str(t), str(k)): int(h) for t, k, h in found}

    def key_differences(self, low: Any, high: Any) -> list[KeyDifference] | None:
        source, stored = self.pg_keys(low, high), self.ch_keys(low, high)
        if source is None or stored is None:
            return None
        found = []

        def order(item: tuple[str, str]) -> tuple[Any, ...]:
            tenant, key = item
            return (int(key), tenant) if self.integer_key and len(self.key_columns) == 1 else (key, tenant)

        for tenant, key in sorted(source.keys() | stored.keys(), key=order):
            want, have = source.get((tenant, key)), stored.get((tenant, key))
            if want == have:
                continue
            problem = (
                "missing_in_warehouse" if have is None else "extra_in_warehouse" if want is None else "values_differ"
            )
            found.append(KeyDifference(tenant, key, problem))
        return found

    def compare(self, low: Any = None, high: Any = None, depth: int = 0) -> None:
        bounds = self.bounds(low, high)
        source, stored = self.pg_buckets(bounds, low, high), self.ch_buckets(bounds, low, high)
        self.report.ranges_compared += len(bounds) + 1
        if depth == 0:
            self.report.source_rows = sum(n for n, _ in source.values())
            self.report.warehouse_rows = sum(n for n, _ in stored.values())
        edges = [low, *bounds, high]
        for bucket in sorted(source.keys() | stored.keys()):
            want, have = source.get(bucket, (0, "0")), stored.get(bucket, (0, "0"))
            if want == have:
                continue
            sub_low, sub_high = edges[bucket], edges[bucket + 1]
            rows = max(want[0], have[0])
            split = rows > LEAF_ROWS and depth + 1 < MAX_DEPTH and (sub_low, sub_high) != (low, high)
            if split and self.splits < SPLIT_BUDGET:
                self.splits += 1
                self.compare(sub_low, sub_high, depth + 1)
                continue
            keys = None
            if self.listings < LISTED_RANGE_BUDGET:
                self.listings += 1
                keys = self.key_differences(sub_low, sub_high)
            self.report.differing.append(
                RangeDifference(sub_low, sub_high, want[0], have[0], keys or [], keys_listed=keys is not None)
            )

    def run(self) -> ValuesReport:
        started = time.perf_counter()
        # One snapshot for every level: a row changing meanwhile cannot make two levels disagree.
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self.compare()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def repair(self, ranges: list[RangeDifference]) -> int:
        """Delete each differing range from the warehouse and copy it again from PostgreSQL, in
        chunks in key order; returns the rows copied. Every row of the range is copied (soft-deleted
        ones too, as tombstones), each at its current version; deleting first means a stale copy
        with a higher `_version` cannot win over it."""
        key_plan = ReadPlan(self.plan.spec, self.plan.columns, self.plan.kind, order=list(self.plan.spec.primary_key))
        positions = key_plan.order_positions_in_table_output()
        tenant, tenant_params = key_plan.tenant_expression()
        outputs = [tenant, *(c.expression for c in self.columns)]
        outputs += [key_plan.version_expression(), key_plan.deleted_expression()]
        copied = 0
        for diff in ranges:
            where, params = self._ch_range(diff.low, diff.high)
            self.writer.command(f"DELETE FROM {self.writer.qualified} WHERE {where}", params)
            after: list[str] | None = None
            while True:
                conditions, filter_params = key_plan.filters(after, None)
                range_conditions, range_params = self._pg_range(diff.low, diff.high)
                query = sql.SQL("SELECT {} FROM {} AS src WHERE {} ORDER BY {} LIMIT {}").format(
                    sql.SQL(", ").join(outputs),
                    postgres.relation(key_plan.spec),
                    sql.SQL(" AND ").join([sql.SQL("true"), *conditions, *range_conditions]),
                    key_plan.order_by(),
                    sql.Literal(REPAIR_CHUNK_ROWS),
                )
                body = postgres.copy_chunk(self.conn, query, tenant_params + filter_params + range_params)
                if not body:
                    break
                self.writer.insert(body)
                rows = body.count(b"\n")
                copied += rows
                if rows < REPAIR_CHUNK_ROWS:
                    break
                after = postgres.last_row_fields(body, positions)
        return copied


# --- events targets ------------------------------------------------------------------------------
@dataclass
class EventsRange:
    low: str
    high: str
    rows: list[tuple[Any, ...]]
    expected: dict[str, tuple[str, str]] = field(default_factory=dict)  # event id -> (tenant, key)
    deleted: dict[str, tuple[str, str]] = field(default_factory=dict)
    moments: dict[str, tuple[int, int]] = field(default_factory=dict)  # tenant -> expected timestamps (ms)


class EventsComparison:
    """Presence of one events target's rows in `events` (see the module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any], plan: ReadPlan, writer: EventsWriter) -> None:
        self.conn, self.plan, self.writer = conn, plan, writer
        self.spec = plan.spec
        self.plan.order = list(self.spec.primary_key)
        self.report = ValuesReport(
            method="presence: each live, valid source row has exactly one event (events are facts: "
            f"values are not compared); ranges of {EVENTS_RANGE_ROWS} rows in key order"
        )
        self.to_repair: list[EventsRange] = []
        self.tenants: dict[str, dict[str, int]] = defaultdict(lambda: {"source_rows": 0, "warehouse_rows": 0})

    def key_text(self, row: dict[str, Any]) -> str:
        return ", ".join(str(row[k]) for k in self.spec.primary_key)

    def ranges(self) -> Iterator[EventsRange]:
        names = [c.name for c in self.plan.columns]
        positions = [1 + names.index(k) for k in self.spec.primary_key]
        after: list[Any] | None = None
        while True:
            query, params = self.plan.rows_select(after, None, EVENTS_RANGE_ROWS)
            rows = list(postgres.iter_rows(self.conn, query, params))
            if not rows:
                return
            first = self.key_text(self.writer.row_of(rows[0])[1])
            last = self.key_text(self.writer.row_of(rows[-1])[1])
            yield EventsRange(first, last, rows)
            if len(rows) < EVENTS_RANGE_ROWS:
                return
            after = [rows[-1][p] for p in positions]

    def classify(self, part: EventsRange) -> None:
        live: dict[str, list[dict[str, Any]]] = defaultdict(list)
        keys: dict[str, str] = {}
        for values in part.rows:
            tenant, row = self.writer.row_of(values)
            if tenant is None:
                continue
            event_id = self.writer.event_id(row)
            keys[event_id] = self.key_text(row)
            if self.writer.is_deleted(row):
                part.deleted[event_id] = (tenant, keys[event_id])
            else:
                live[tenant].append(self.writer.event_of(row))
        for tenant, events in live.items():
            # Rows validation refuses are expected nowhere (an old row accepted when it was copied
            # may now be past the hot retention: its event is tolerated, not required).
            accepted = validate_events(events, tenant, self.writer.limits).accepted
            for item in accepted:
                part.expected[item.event_id] = (tenant, keys[item.event_id])
            if accepted:
                moments = [item.timestamp_ms for item in accepted]
                part.moments[tenant] = (min(moments), max(moments))

    def stored_counts(self, part: EventsRange) -> dict[str, int]:
        """How many times each expected or deleted id is stored (before merges: a duplicate counts)."""
        counts: dict[str, int] = {}
        for ids, bounds in ((part.expected, part.moments), (part.deleted, {})):
            by_tenant: dict[str, list[str]] = defaultdict(list)
            for event_id, (tenant, _) in ids.items():
                by_tenant[tenant].append(event_id)
            for tenant, tenant_ids in by_tenant.items():
                counts.update(self._count_ids(tenant, tenant_ids, bounds.get(tenant)))
        return counts

    def _count_ids(self, tenant: str, ids: list[str], moments: tuple[int, int] | None) -> dict[str, int]:
        # The timestamps of the expected events bound the partitions read; the bloom filter index
        # on event_id skips most granules inside them.
        window = (
            "AND timestamp BETWEEN fromUnixTimestamp64Milli({low:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Milli({high:Int64}, 'UTC') "
            if moments
            else ""
        )
        low, high = moments or (0, 0)
        rows = (
            self.writer.warehouse.for_tenant(tenant, background=True)
            .query(
                f"SELECT toString(event_id), count() FROM {self.writer.warehouse.table('events')} "
                f"WHERE tenant_id = {{tenant_id:String}} {window}AND event_id IN {{ids:Array(UUID)}} GROUP BY event_id",
                {"ids": ids, "low": low, "high": high},
            )
            .rows
        )
        return {str(i): int(n) for i, n in rows}

    def run(self) -> ValuesReport:
        started = time.perf_counter()
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            for part in self.ranges():
                self.report.ranges_compared += 1
                self.classify(part)
                counts = self.stored_counts(part)
                self.report.source_rows += len(part.expected)
                found = sum(counts.get(i, 0) for i in part.expected)
                self.report.warehouse_rows += found
                for event_id, (tenant, _) in part.expected.items():
                    self.tenants[tenant]["source_rows"] += 1
                    self.tenants[tenant]["warehouse_rows"] += counts.get(event_id, 0)
                keys: list[KeyDifference] = []
                detail = {"missing": 0, "duplicated": 0, "deleted_but_present": 0}
                for event_id, (tenant, key) in part.expected.items():
                    n = counts.get(event_id, 0)
                    if n != 1:
                        problem = "missing_in_warehouse" if n == 0 else "duplicated_in_warehouse"
                        detail["missing" if n == 0 else "duplicated"] += 1
                        keys.append(KeyDifference(tenant, key, problem))
                for event_id, (tenant, key) in part.deleted.items():
                    if counts.get(event_id, 0):
                        detail["deleted_but_present"] += 1
                        keys.append(KeyDifference(tenant, key, "deleted_in_source_but_present"))
                if keys:
                    self.report.differing.append(
                        RangeDifference(part.low, part.high, len(part.expected), found, keys, detail=detail)
                    )
                    self.to_repair.append(part)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def repair(self, request_id: str) -> int:
        """Write the missing events and delete those of soft-deleted rows (ids already stored are
        skipped by the writer's duplicate check); events stored twice are left to the table's merges."""
        written = 0
        for part in self.to_repair:
            outcome = self.writer.write(part.rows, check_duplicates=True, request_id=request_id)
            written += outcome.written + outcome.deleted
        return written
