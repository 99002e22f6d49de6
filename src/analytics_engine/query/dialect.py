"""sqlglot's ClickHouse dialect, reading SQL and writing it back with query parameters the way the
warehouse binds them.

sqlglot writes a ClickHouse placeholder as `{name: Type}`; the tenant scope looks for the exact text
`{tenant_id:String}`, so each generator we make writes `{name:Type}`. This is done on the generator
instance (its dispatch table), not by subclassing: with sqlglot's compiled build (sqlglotc, 3-4x faster
parsing) its classes cannot be subclassed from Python. Nothing else changes.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse

CLICKHOUSE = ClickHouse()


def _placeholder_sql(generator: Any, expression: exp.Placeholder) -> str:
    return "{" + expression.name + ":" + generator.sql(expression, "kind") + "}"


def parse(sql: str) -> list[exp.Expr | None]:
    """Every statement of `sql` (ClickHouse dialect); raises sqlglot's errors."""
    return CLICKHOUSE.parse(sql)


def emit(node: exp.Expr) -> str:
    """ClickHouse text of a tree we no longer need (the generator may change the tree it is given),
    without comments, parameters written as `{name:Type}`."""
    generator = CLICKHOUSE.generator(comments=False)
    generator._dispatch = {**generator._dispatch, exp.Placeholder: _placeholder_sql}
    return str(generator.generate(node, copy=False))


def quote(name: str) -> str:
    """One of our own names (table, column, database) as a quoted ClickHouse identifier."""
    return emit(exp.to_identifier(name, quoted=True))
