"""The DDL and mutation bookkeeping of materialized columns on `events`.

Cross-tenant platform work by nature (one shared column serves several tenants, and a backfill
rewrites every part of the table), hence `warehouse.platform(...)`; no tenant data is read or
returned here, only the table's schema and the progress of its mutations."""

from __future__ import annotations

from dataclasses import dataclass

from analytics_engine.materialized.columns import ValueType, add_column_sql
from analytics_engine.warehouse.client import Warehouse

REASON = "materialized properties: DDL and backfill of a column of events shared by tenants"


@dataclass(frozen=True)
class Backfill:
    """The state of the newest `MATERIALIZE COLUMN` of one column (system.mutations)."""

    found: bool
    done: bool
    parts_to_do: int
    fail_reason: str


class ColumnDDL:
    def __init__(self, warehouse: Warehouse) -> None:
        self.scope = warehouse.platform(REASON)
        self.events = warehouse.table("events")
        self.database = warehouse.database

    def add(self, path: str, value_type: ValueType) -> None:
        self.scope.command(add_column_sql(self.events, path, value_type))

    def exists(self, column: str) -> bool:
        sql = (
            "SELECT count() FROM system.columns WHERE database = {db:String} AND table = 'events' AND name = {c:String}"
        )
        return bool(self.scope.query(sql, {"db": self.database, "c": column}).scalar())

    def columns(self) -> set[str]:
        sql = "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'events'"
        return {row[0] for row in self.scope.query(sql, {"db": self.database}).rows}

    def parts(self) -> int:
        sql = "SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'events' AND active"
        return int(self.scope.query(sql, {"db": self.database}).scalar() or 0)

    def materialize(self, column: str) -> None:
        """Start rewriting existing parts with the column's values (asynchronous mutation)."""
        self.scope.command(f"ALTER TABLE {self.events} MATERIALIZE COLUMN `{column}` SETTINGS mutations_sync = 0")

    def backfill(self, column: str) -> Backfill:
        sql = (
            "SELECT is_done, parts_to_do, latest_fail_reason FROM system.mutations "
            "WHERE database = {db:String} AND table = 'events' AND position(command, {cmd:String}) > 0 "
            "ORDER BY create_time DESC, mutation_id DESC LIMIT 1"
        )
        rows = self.scope.query(sql, {"db": self.database, "cmd": f"MATERIALIZE COLUMN {column}"}).rows
        if not rows:
            return Backfill(found=False, done=False, parts_to_do=0, fail_reason="")
        is_done, parts_to_do, fail_reason = rows[0]
        reason = str(fail_reason or "")
        return Backfill(found=True, done=bool(is_done), parts_to_do=int(parts_to_do), fail_reason=reason)

    def kill_backfill(self, column: str) -> None:
        self.scope.command(
            "KILL MUTATION WHERE database = {db:String} AND table = 'events' AND position(command, {cmd:String}) > 0",
            {"db": self.database, "cmd": f"MATERIALIZE COLUMN {column}"},
        )

    def drop(self, column: str) -> None:
        self.scope.command(f"ALTER TABLE {self.events} DROP COLUMN IF EXISTS `{column}`")
