"""The cold tier: one Parquet file per tenant and month at `cold/events/YYYYMM.parquet` under the
tenant's storage prefix (local folder or S3), listed in `lifecycle_cold_files` with its row count
and checksum.

ClickHouse writes and reads the files itself (`INSERT INTO FUNCTION file(...)`, `file(...)`): our own
SQL over paths we build, never a caller's. The warehouse must see the files: with the embedded
warehouse (chDB) and local storage it reads them in place; with S3 storage a file is first copied to
`<data_dir>/cold-cache/` (a ClickHouse server needs that folder to be its own, or shared)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from analytics_engine.lifecycle.derived import UNLIMITED
from analytics_engine.lifecycle.models import ColdFile
from analytics_engine.storage.base import LocalStorage, object_path

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.warehouse.scoped import TenantScope

# What a cold row holds: the columns of `events` a query reads (materialized columns are not kept;
# `person_key` is computed again on read).
COLD_COLUMNS = ("tenant_id", "event", "distinct_id", "timestamp", "event_id", "received_at", "properties")
# Order-independent: the sum (mod 2^64) of a hash of every row's whole content.
CHECKSUM = (
    "count(), lower(hex(sum(cityHash64(event_id, event, distinct_id, toUnixTimestamp64Milli(timestamp), "
    "toJSONString(properties)))))"
)
# The columns of a cold file as its figures read them: `properties` as the JSON text it is stored as,
# which is `toJSONString(properties)` of the hot row (same checksum) without parsing it into a JSON
# column and serialising it again (that round trip was ~50x the cost of the rest of the read).
FIGURES_SCHEMA = (
    "tenant_id String, event String, distinct_id String, timestamp DateTime64(3, 'UTC'), event_id UUID, "
    "received_at DateTime64(3, 'UTC'), properties String"
)
FILE_CHECKSUM = (
    "count(), lower(hex(sum(cityHash64(event_id, event, distinct_id, toUnixTimestamp64Milli(timestamp), properties))))"
)
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")


def cold_key(month: int) -> str:
    return f"cold/events/{month}.parquet"


def work_dir(core: Core) -> Path:
    folder = core.settings.data_dir / "tmp" / "lifecycle"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checked_path(path: Path) -> str:
    """A file path for ClickHouse's `file()`: absolute and plain (bound as a parameter anyway)."""
    text = str(path.resolve())
    if not _SAFE_PATH.match(text):
        raise ValueError(f"unexpected characters in a cold file path: {text!r}")
    return text


def local_path(core: Core, tenant_id: str, key: str) -> Path:
    """Where the warehouse can read the object: in place for local storage, else a cached copy."""
    storage = core.storage
    if isinstance(storage, LocalStorage):
        return storage.root / object_path(tenant_id, key)
    target = core.settings.data_dir / "cold-cache" / object_path(tenant_id, key)
    info = storage.info(tenant_id, key)
    if target.exists() and info is not None and target.stat().st_size == info.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with partial.open("wb") as handle:
        for chunk in storage.open(tenant_id, key):
            handle.write(chunk)
    partial.replace(target)
    return target


def cold_files(core: Core, tenant_id: str, months: tuple[int, int] | None = None) -> list[ColdFile]:
    """The tenant's cold files, oldest first; with `months` (first, last YYYYMM) only those."""
    with core.metadata.session() as session:
        query = select(ColdFile).where(ColdFile.tenant_id == tenant_id).order_by(ColdFile.month)
        if months is not None:
            query = query.where(ColdFile.month >= months[0], ColdFile.month <= months[1])
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def file_figures(
    scope: TenantScope, path: Path, where: str = "1", params: dict[str, Any] | None = None
) -> tuple[int, str]:
    """(rows, checksum) of the tenant's rows in a Parquet file matching `where` (over FIGURES_SCHEMA:
    `properties` is JSON text there); the checksum equals CHECKSUM of the same rows in `events`."""
    row = scope.query(
        f"SELECT {FILE_CHECKSUM} FROM file({{path:String}}, 'Parquet', {{schema:String}}) "
        f"WHERE tenant_id = {{tenant_id:String}} AND ({where})",
        {"path": checked_path(path), "schema": FIGURES_SCHEMA, **(params or {})},
        settings=UNLIMITED,
    ).rows[0]
    return int(row[0]), str(row[1])


def write_parquet(scope: TenantScope, source: str, where: str, params: dict[str, Any], target: Path) -> None:
    """Rows of `source` (a table or a `file(...)` expression) for this tenant matching `where`, as
    Parquet at `target` (replaced if present)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    scope.command(
        f"INSERT INTO FUNCTION file({{target:String}}, 'Parquet') SELECT {', '.join(COLD_COLUMNS)} FROM {source} "
        # In the order read: a tenant's month is one row group at most sizes, so sorting would buy
        # no skipping on read and cost as much as the write itself.
        f"WHERE tenant_id = {{tenant_id:String}} AND ({where}) SETTINGS engine_file_truncate_on_insert = 1",
        {"target": checked_path(target), **params},
    )


def replace_cold_file(core: Core, tenant_id: str, month: int, local: Path, rows: int, checksum: str) -> None:
    """Store a rewritten month file over the old one and record its figures."""
    key = cold_key(month)
    size = local.stat().st_size
    if isinstance(core.storage, LocalStorage):
        core.storage.put_file(tenant_id, key, local)
    else:
        keep = core.settings.data_dir / "cold-cache" / object_path(tenant_id, key)
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, keep)
        core.storage.put_file(tenant_id, key, local)
    with core.metadata.session() as session:
        entry = session.get(ColdFile, (tenant_id, month))
        if entry is not None:
            entry.rows, entry.checksum, entry.bytes = rows, checksum, size
            entry.rewritten_at = datetime.now(UTC)
