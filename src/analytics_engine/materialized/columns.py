"""Pure naming and SQL of materialized property columns (no I/O).

A column is shared by every tenant that materializes the same property path with the same type, so
`events` grows one column per (path, type), never one per tenant. Its name is deterministic
(`mp_s_<sanitised path>_<hash>` for strings, `mp_n_...` for numbers) and its value is an expression
over `properties` that ClickHouse computes at every insert (`MATERIALIZED`): the column is part of
the events row, so it is exactly as durable and exactly-once as the event itself.

The expressions are the ones filters and breakdowns compile to on JSON (insights/filters.py), so
reading the column gives the same answer:
- string: NULL where the property is unset (or null, or an object), else `toString(<prop>)`; then
  `ifNull(column, '')` is `string_expr(path)` and `column IS NULL` is `<prop> IS NULL`;
- number: `number_expr(path)` itself (JSON numbers and text that reads as a number; NULL otherwise).
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from analytics_engine.insights.filters import number_expr
from analytics_engine.properties import check_property_path, property_expr

ValueType = Literal["string", "number"]
VALUE_TYPES: tuple[ValueType, ...] = ("string", "number")
_PREFIX: dict[str, str] = {"string": "mp_s_", "number": "mp_n_"}
COLUMN_PREFIXES = tuple(_PREFIX.values())
# LowCardinality: hot string properties (plan, country, source) have few values; dictionary-encoded
# comparisons and GROUP BY are what make filters on them cheap.
_TYPES: dict[str, str] = {"string": "LowCardinality(Nullable(String))", "number": "Nullable(Float64)"}
_NAME_PART = re.compile(r"[^a-z0-9]+")


def column_name(path: str, value_type: ValueType) -> str:
    """`mp_s_utm_source_1a2b3c4d`: readable, and unique per (path, type) through the hash (paths are
    case-sensitive and may hold `$` and `-`, which the readable part drops)."""
    check_property_path(path)
    readable = _NAME_PART.sub("_", path.lower()).strip("_")[:40] or "p"
    digest = hashlib.sha1(f"{value_type}:{path}".encode()).hexdigest()[:8]
    return f"{_PREFIX[value_type]}{readable}_{digest}"


def column_type(value_type: ValueType) -> str:
    return _TYPES[value_type]


def column_expression(path: str, value_type: ValueType) -> str:
    """What ClickHouse computes for the column at insert and backfill (see the module docstring)."""
    if value_type == "number":
        return number_expr(path)
    prop = property_expr(path)
    return f"if({prop} IS NULL, NULL, toString({prop}))"


def add_column_sql(table: str, path: str, value_type: ValueType) -> str:
    """DDL for one column. The path is validated (no backtick can appear), the name is ours."""
    name = column_name(path, value_type)
    return (
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS `{name}` {column_type(value_type)} "
        f"MATERIALIZED {column_expression(path, value_type)}"
    )
