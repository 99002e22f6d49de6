"""What any refusal on the query path says: never another tenant's id or data, the warehouse's
database name, or a path on the host (guard refusals, syntax errors and ClickHouse's own sql_error)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from analytics_engine.errors import AppError
from analytics_engine.query.service import explain_restricted_sql, run_restricted_sql
from tests.query.support import Pair, make_pair

pytestmark = pytest.mark.filterwarnings("ignore")

HOST_PATH = re.compile(r"(?<![\w:])/(?:[\w.@-]+/)+[\w.@-]*")  # /a/b or longer

QUERIES = [
    "SELECT count() FROM events WHERE toUInt64(distinct_id) = 1",
    "SELECT toUInt64(distinct_id) FROM events",
    "SELECT toDate(note) FROM donations",
    "SELECT count() FROM persons WHERE toInt32(distinct_id) > 0",
    "SELECT CAST(event AS Date) FROM events ORDER BY event DESC",
    "SELECT toUInt8(properties.plan) FROM events",
    "SELECT tenant_id FROM events",
    "SELECT * FROM system.tables",
    "SELECT * FROM file('/etc/passwd')",
    "SELECT * FROM nope",
    "SELECT * FROM events AS e JOIN persons AS p ON e.distinct_id = p.nope",
    "SELECT arrayElement([1], 5 - count()) FROM events",
    "SELECT intDiv(1, count() - count()) FROM events",
    "SELECT * FROM `default`.events",
    "SELECT FROM WHERE",
    "SELECT '/var/lib/clickhouse/' AS x, unknownFunction(1)",
]


@pytest.fixture(scope="module")
def pair(runtime: Any) -> Pair:
    return make_pair(runtime)


def forbidden(runtime: Any, other: Any, mark: str) -> list[str]:
    path = str(runtime.settings.warehouse_dsn).removeprefix("chdb://")
    return [other.tenant_id, mark, runtime.warehouse.database, path, str(runtime.settings.data_dir)]


@pytest.mark.parametrize("sql", QUERIES)
def test_messages_hold_nothing_of_another_tenant_or_the_host(runtime: Any, pair: Pair, sql: str) -> None:
    # both ways round: whichever tenant's rows sort first, an error quotes only the caller's values
    for who, other, mark in ((pair.a, pair.b, pair.mark_b), (pair.b, pair.a, pair.mark_a)):
        for call in (run_restricted_sql, explain_restricted_sql):
            try:
                call(runtime, who, sql)
            except AppError as exc:
                text = f"{exc.message} {exc.details}"
                for secret in forbidden(runtime, other, mark):
                    assert secret not in text, (sql, text)
                assert not HOST_PATH.search(text), (sql, text)


def test_paths_in_clickhouse_messages_are_cut() -> None:
    from analytics_engine.errors import WarehouseError
    from analytics_engine.query.service import _sql_error

    raw = WarehouseError(
        "Warehouse error: Code: 107. DB::Exception: Cannot open file /srv/data/wh/store/abc/data.bin, "
        "errno: 2, strerror: No such file or directory. (FILE_DOESNT_EXIST)",
        details={"clickhouse_code": 107},
    )
    message = _sql_error(raw, "analytics").message  # type: ignore[attr-defined]
    assert "/srv" not in message and "<path>" in message
