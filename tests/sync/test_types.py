"""The warehouse schema derived from PostgreSQL types, and values that survive the trip exactly
(COPY text read by ClickHouse as TabSeparated: escapes, NULLs, booleans, time zones)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from analytics_engine.sync.spec import SourceSpec
from tests.sync.conftest import DSN, unique

pytestmark = pytest.mark.postgres


def test_types_and_values_round_trip(pg, service):
    pg.execute(
        """CREATE TABLE {s}.kinds (
            id int PRIMARY KEY, org text NOT NULL, flag boolean, small int2, big int8, ratio float8,
            exact numeric, money numeric(10,3), code uuid, day date, naive timestamp, stamp timestamptz NOT NULL,
            doc jsonb, label varchar(80), span interval, tags text[], raw bytea)"""
    )
    tricky = "tab\there\nnewline \\ backslash ünïcödé 'quote' \"dq\""
    pg.execute(
        """INSERT INTO {s}.kinds VALUES
           (1, 'tn_a', true, -3, 9007199254740993, 0.5, 12345.678901, 1.005, %s, '2024-02-29',
            '2024-01-01 10:00:00.123456', '2024-06-01 12:00:00+02', '{"a": [1, 2], "b": "x"}', %s,
            '1 day 2 hours', ARRAY['a', 'b c'], '\\x00ff'),
           (2, 'tn_a', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-06-01 00:00:00+00', NULL, '',
            NULL, NULL, NULL)""",
        (str(uuid.UUID(int=5)), tricky),
    )
    spec = SourceSpec.model_validate(
        {
            "name": unique("kinds"),
            "dsn": DSN,
            "table": pg.table("kinds"),
            "tenant_column": "org",
            "cursor": "id",
            "target": {"kind": "table", "table": unique("kinds")},
        }
    )
    service.registry.create(spec)
    check = service.check_source(spec.name)
    types = {c["name"]: c["warehouse_type"] for c in check["columns"]}
    assert types == {
        "id": "Int32",
        "org": "String",
        "flag": "Nullable(Bool)",
        "small": "Nullable(Int16)",
        "big": "Nullable(Int64)",
        "ratio": "Nullable(Float64)",
        "exact": "Nullable(Decimal(38, 10))",
        "money": "Nullable(Decimal(10, 3))",
        "code": "Nullable(UUID)",
        "day": "Nullable(Date32)",
        "naive": "Nullable(DateTime64(6))",
        "stamp": "DateTime64(6, 'UTC')",
        "doc": "Nullable(String)",
        "label": "Nullable(String)",
        "span": "Nullable(String)",
        "tags": "Nullable(String)",
        "raw": "Nullable(String)",
    }
    assert check["cursor_kind"] == "id"
    job = service.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    warehouse = service.runtime.warehouse
    rows = warehouse.query(
        "SELECT tenant_id, flag, small, big, ratio, exact, money, code, day, naive, toString(stamp), doc, label, "
        f"span, tags, raw FROM {warehouse.table(spec.target.table)} FINAL ORDER BY id"
    ).rows
    assert rows[0] == (
        "tn_a",
        True,
        -3,
        9007199254740993,
        0.5,
        Decimal("12345.6789010000"),
        Decimal("1.005"),
        uuid.UUID(int=5),
        date(2024, 2, 29),
        datetime(2024, 1, 1, 10, 0, 0, 123456),
        "2024-06-01 10:00:00.000000",
        '{"a": [1, 2], "b": "x"}',
        tricky,
        "1 day 02:00:00",
        '{a,"b c"}',
        "\\x00ff",
    )
    assert rows[1] == (
        "tn_a",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "2024-06-01 00:00:00.000000",
        None,
        "",
        None,
        None,
        None,
    )
