"""sqlglot's ClickHouse dialect, emitting query parameters the way the warehouse binds them.

sqlglot writes a ClickHouse placeholder as `{name: Type}`; the tenant scope looks for the exact text
`{tenant_id:String}`, so this dialect writes `{name:Type}`. Nothing else changes.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse


class GuardDialect(ClickHouse):
    class Generator(ClickHouse.Generator):  # type: ignore[misc,valid-type]  # a class attribute of sqlglot
        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            return "{" + expression.name + ":" + self.sql(expression, "kind") + "}"


def quote(name: str) -> str:
    """One of our own names (table, column, database) as a quoted ClickHouse identifier."""
    return exp.to_identifier(name, quoted=True).sql(dialect=GuardDialect)
