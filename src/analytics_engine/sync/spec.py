"""What a sync source is: a PostgreSQL table or query, how rows map to tenants, how far to read
(the cursor), and where the rows go (the events table or a warehouse table of their own).

Sources are declared in a YAML file (`ANALYTICS_SYNC_SOURCES_FILE`) or through the admin API; both
use this model. Column and table names are checked here and always quoted as identifiers later.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analytics_engine.errors import MAX_FIELD_ERRORS, InvalidInput, field_errors, summarize

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A PostgreSQL identifier as people write them: plain names, optionally schema-qualified.
PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# Columns the warehouse table adds; a source column may not use these names.
RESERVED_COLUMNS = frozenset({"tenant_id", "_version", "_is_deleted"})
# Tables of the service itself (and the prefix of every other package's tables) are not targets.
RESERVED_TABLES = frozenset({"events", "rejected_events", "schema_migrations"})


def _pg_column(value: str) -> str:
    if not PG_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain PostgreSQL column name (letters, digits, _ and $)")
    return value


class EventsTarget(BaseModel):
    """Each source row becomes one event: a fixed name or a column for `event`, columns for
    `distinct_id` and `timestamp`, and the listed columns (default: all others) as properties."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["events"] = "events"
    event_name: str | None = Field(None, description="The event name every row gets, e.g. `donation_made`.")
    event_column: str | None = Field(None, description="...or the column holding each row's event name.")
    distinct_id: str = Field(description="Column holding the user id (`distinct_id`).")
    timestamp: str = Field(description="Column holding the event time (timestamp or timestamptz).")
    properties: list[str] | None = Field(
        None, description="Columns copied into `properties` (default: every column not mapped above)."
    )

    @field_validator("event_column", "distinct_id", "timestamp")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        return None if value is None else _pg_column(value)

    @field_validator("properties")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_pg_column(v) for v in value]

    @model_validator(mode="after")
    def _one_name(self) -> EventsTarget:
        if (self.event_name is None) == (self.event_column is None):
            raise ValueError("give exactly one of event_name (a fixed name) or event_column")
        if self.event_name is not None and not self.event_name.strip():
            raise ValueError("event_name must not be empty")
        return self

    def mapped_columns(self) -> list[str]:
        return [c for c in (self.event_column, self.distinct_id, self.timestamp) if c]


class TableTarget(BaseModel):
    """Rows land in a warehouse table of their own whose schema is derived from PostgreSQL's types."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["table"] = "table"
    table: str = Field(description="Warehouse table name (lower case letters, digits, _).")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        # `*_local` are the shard-local tables on a cluster (warehouse/cluster.py).
        if not TABLE_NAME.fullmatch(value) or value in RESERVED_TABLES or value.endswith("_local"):
            raise ValueError(
                f"{value!r} cannot be a sync table: use lower case letters, digits and _ (not one of "
                f"{', '.join(sorted(RESERVED_TABLES))}, and not ending in _local)"
            )
        return value


Target = Annotated[EventsTarget | TableTarget, Field(discriminator="kind")]


class SourceSpec(BaseModel):
    """One sync source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique name (lower case letters, digits, - and _).")
    dsn: str = Field(description="PostgreSQL connection URL, e.g. `postgresql://user:pass@host:5432/db`.")
    table: str | None = Field(None, description="`schema.table` or `table` to copy...")
    query: str | None = Field(None, description="...or a SELECT whose rows are copied (run read-only).")
    tenant_column: str | None = Field(None, description="Column telling each row's tenant...")
    tenant_id: str | None = Field(None, description="...or the one tenant every row belongs to.")
    tenant_map: dict[str, str] | None = Field(
        None,
        description="Values of tenant_column -> tenant ids; rows whose value is not listed are not copied. "
        "Without it, the column holds tenant ids.",
    )
    primary_key: list[str] = Field(["id"], min_length=1, description="Columns identifying a row.")
    cursor: str = Field(description="Column read in order: a monotonic id, or `updated_at` for mutable rows.")
    cursor_kind: Literal["id", "updated_at"] | None = Field(
        None, description="`id` (append-only) or `updated_at` (rows change); default: from the column's type."
    )
    soft_delete_column: str | None = Field(
        None, description="Column set (non-null, or true) when a row is deleted; needs an updated_at cursor."
    )
    target: Target
    chunk_rows: int | None = Field(None, ge=100, le=5_000_000, description="Rows per chunk (default setting).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError("name must be lower case letters, digits, - or _, starting with a letter")
        return value

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("dsn must be a postgresql:// URL")
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split(".")
        if len(parts) > 2 or not all(PG_NAME.fullmatch(p) for p in parts):
            raise ValueError(f"table {value!r} must be `table` or `schema.table` with plain names")
        return value

    @field_validator("tenant_column", "cursor", "soft_delete_column")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        return None if value is None else _pg_column(value)

    @field_validator("primary_key")
    @classmethod
    def _key(cls, value: list[str]) -> list[str]:
        return [_pg_column(v) for v in value]

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.query is not None and not self.query.lstrip().lower().startswith(("select", "with")):
            raise ValueError("query must be a SELECT (or WITH ... SELECT)")
        if (self.tenant_column is None) == (self.tenant_id is None):
            raise ValueError("give exactly one of tenant_column or tenant_id")
        if self.tenant_map is not None and self.tenant_column is None:
            raise ValueError("tenant_map needs tenant_column")
        if self.soft_delete_column and self.cursor_kind == "id":
            raise ValueError(
                "soft deletes need an updated_at cursor: with an id cursor, rows behind it are never read again"
            )
        return self

    # --- derived --------------------------------------------------------------------------------
    def order_columns(self) -> list[str]:
        """The cursor then the key: a total order, so rows sharing a cursor value are never skipped."""
        return [self.cursor, *[c for c in self.primary_key if c != self.cursor]]

    def required_columns(self) -> list[str]:
        columns = [*self.order_columns()]
        if self.tenant_column:
            columns.append(self.tenant_column)
        if self.soft_delete_column:
            columns.append(self.soft_delete_column)
        if isinstance(self.target, EventsTarget):
            columns += self.target.mapped_columns() + list(self.target.properties or [])
        return list(dict.fromkeys(columns))

    def tenants(self) -> frozenset[str] | None:
        """The tenants whose rows this source can copy: the one `tenant_id` or `tenant_map`'s tenant
        ids; None when the tenant column holds tenant ids itself (any tenant)."""
        if self.tenant_id is not None:
            return frozenset({self.tenant_id})
        if self.tenant_map is not None:
            return frozenset(self.tenant_map.values())
        return None

    def public(self) -> dict[str, Any]:
        """The spec with the DSN's password hidden (for API answers, logs and job params)."""
        data = self.model_dump(mode="json")
        data["dsn"] = redact_dsn(self.dsn)
        return data


def redact_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def validation_message(exc: ValidationError) -> str:
    return summarize(field_errors(exc.errors()), "source", limit=MAX_FIELD_ERRORS)


def parse_spec(data: Any, where: str = "source") -> SourceSpec:
    try:
        return SourceSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_validation(
            f"Invalid sync source ({where}): {validation_message(exc)}", exc.errors(), source=where
        ) from exc


def load_sources_file(path: Path) -> list[SourceSpec]:
    """Sources of a YAML file: `sources: [ {name: ..., dsn: ..., ...}, ... ]` (or a bare list)."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidInput(f"The sync sources file {path} does not exist.") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The sync sources file {path} is not valid YAML: {exc}") from exc
    if document is None:
        return []
    items = document.get("sources", []) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise InvalidInput(f"The sync sources file {path} must hold a list under `sources:`.")
    specs = [parse_spec(item, f"{path.name} item {n + 1}") for n, item in enumerate(items)]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"The sync sources file {path} names a source twice: {', '.join(duplicates)}.")
    tables = [s.target.table for s in specs if isinstance(s.target, TableTarget)]
    shared = sorted({t for t in tables if tables.count(t) > 1})
    if shared:
        raise InvalidInput(f"The sync sources file {path} has several sources writing table(s) {', '.join(shared)}.")
    return specs
