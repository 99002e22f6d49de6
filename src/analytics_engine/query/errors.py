"""The two ways a tenant's SQL is turned away before it runs, both 400 with a position."""

from __future__ import annotations

from typing import Any

from analytics_engine.errors import BadRequest


def position(line: int | None, column: int | None, offset: int | None) -> dict[str, int] | None:
    """Where in the submitted text (1-based line and column, 0-based character offset); None if unknown."""
    if line is None and offset is None:
        return None
    return {"line": line or 1, "column": column or 1, "offset": offset if offset is not None else 0}


class SqlNotAllowed(BadRequest):
    """The SQL parses but uses something the guard does not allow (a table, a function, a clause)."""

    code = "sql_not_allowed"

    def __init__(self, reason: str, where: dict[str, int] | None = None) -> None:
        details: dict[str, Any] = {"reason": reason, "position": where}
        super().__init__(f"This SQL is not allowed: {reason}", details=details)
        self.reason = reason


class SqlSyntaxError(BadRequest):
    """The SQL could not be parsed."""

    code = "sql_syntax_error"

    def __init__(self, message: str, where: dict[str, int] | None = None) -> None:
        super().__init__(f"SQL syntax error: {message}", details={"position": where})
