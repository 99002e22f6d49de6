"""The cold tier: one Parquet file per tenant and month at `cold/events/YYYYMM.parquet` under the
tenant's storage prefix (local folder or S3), listed in `lifecycle_cold_files` with its row count
and checksum.

ClickHouse writes and reads the files itself (`INSERT INTO FUNCTION file(...)`, `file(...)`): our own
SQL over paths we build, never a caller's. The warehouse must see the files: with the embedded
warehouse (chDB) and local storage it reads them in place; with S3 storage a file is first copied to
`<data_dir>/cold-cache/` (a ClickHouse server needs that folder to be its own, or shared)."""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from analytics_engine.lifecycle.derived import UNLIMITED
from analytics_engine.lifecycle.models import ColdFile
from analytics_engine.lifecycle.stages import drop_orphaned_stages
from analytics_engine.storage.base import LocalStorage, object_path

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.warehouse.scoped import PlatformScope, TenantScope

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
# The same sum without `properties`: what the hot side computes in its own scan of `events` without
# turning every row's properties into JSON text (that text is made once, for the file, and its
# checksum taken from that same read: `write_checked`).
KEY_CHECKSUM = "lower(hex(sum(cityHash64(event_id, event, distinct_id, toUnixTimestamp64Milli(timestamp)))))"
# How readers name a cold file's columns: `properties` parsed into a JSON column whether the file
# stores it as JSON-annotated text (files written before 2026-12-07's change) or as plain text.
READ_SCHEMA = (
    "tenant_id String, event String, distinct_id String, timestamp DateTime64(3, 'UTC'), event_id UUID, "
    "received_at DateTime64(3, 'UTC'), properties JSON"
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


def file_figures_keyed(scope: TenantScope, path: Path) -> tuple[int, str, str]:
    """(rows, checksum, key checksum) of the tenant's rows in a Parquet file, in one read: the key
    checksum equals KEY_CHECKSUM of the same rows in `events`."""
    row = scope.query(
        f"SELECT {FILE_CHECKSUM}, {KEY_CHECKSUM} FROM file({{path:String}}, 'Parquet', {{schema:String}}) "
        "WHERE tenant_id = {tenant_id:String}",
        {"path": checked_path(path), "schema": FIGURES_SCHEMA},
        settings=UNLIMITED,
    ).rows[0]
    return int(row[0]), str(row[1]), str(row[2])


def write_checked(scope: TenantScope, source: str, where: str, params: dict[str, Any], target: Path) -> tuple[int, str]:
    """Rows of `source` for this tenant matching `where` written as Parquet at `target` (replaced if
    present), `properties` as its JSON text; returns (rows, checksum) of the rows as that same read
    passed them to the file (FILE_CHECKSUM's, so equal to the file's figures when it holds them all).

    One read and one JSON text per row serve both: the file is a `File(Parquet)` table over `target`
    and a materialized view on it sums each block the file receives into a small table. Before, the
    checksum was a scan of its own that turned every row's properties into text a second time (about
    as costly as the write). The tables are named after the target and after their holder (the owner
    of a lease on the target, metadata/leases.py, held while they exist), and dropped, whatever
    happens, at the end; a kill leaves them behind, dropped by the next run of any process once the
    lease expired (`drop_checked_stages`), never while their writer lives."""
    target.parent.mkdir(parents=True, exist_ok=True)
    leases = scope.warehouse.leases
    if leases is None:  # a warehouse without the metadata database: no other process to meet
        return _write_checked(scope, source, where, params, target, uuid.uuid4().hex[:16])
    with leases.hold([_lease_name(target)]) as held:
        return _write_checked(scope, source, where, params, target, held.owner)


def _write_checked(
    scope: TenantScope, source: str, where: str, params: dict[str, Any], target: Path, owner: str
) -> tuple[int, str]:
    target.unlink(missing_ok=True)
    platform = scope.warehouse.platform(STAGE_REASON)
    sink, sums, view = checked_stages(scope, target, owner)
    _drop_checked(platform, sink, sums, view)
    path = checked_path(target)  # plain characters only: written into the DDL as a literal
    try:
        platform.command(f"CREATE TABLE {sums} (rows UInt64, checksum UInt64) ENGINE = Memory")
        platform.command(f"CREATE TABLE {sink} ({FIGURES_SCHEMA}) ENGINE = File(Parquet, '{path}')")
        platform.command(
            f"CREATE MATERIALIZED VIEW {view} TO {sums} AS SELECT count() AS rows, "
            "sum(cityHash64(event_id, event, distinct_id, toUnixTimestamp64Milli(timestamp), properties)) AS checksum "
            f"FROM {sink}"
        )
        columns = ", ".join(c if c != "properties" else "toJSONString(properties) AS properties" for c in COLD_COLUMNS)
        scope.command(
            f"INSERT INTO {sink} SELECT {columns} FROM {source} WHERE tenant_id = {{tenant_id:String}} AND ({where}) "
            # One stream into the one file (the Parquet encoding itself still uses the cores).
            "SETTINGS engine_file_truncate_on_insert = 1, max_insert_threads = 1",
            params,
        )
        row = platform.query(f"SELECT sum(rows), lower(hex(sum(checksum))) FROM {sums}", settings=UNLIMITED).rows[0]
    finally:
        _drop_checked(platform, sink, sums, view)
    return int(row[0] or 0), str(row[1] or "0")


STAGE_REASON = "lifecycle: the tables writing and summing one cold file (named after the file)"
STAGE_PREFIX = "lifecycle_parquet_"


def _lease_name(target: Path) -> str:
    return "parquet:" + hashlib.sha1(str(target.resolve()).encode()).hexdigest()


def checked_stages(scope: TenantScope, target: Path, owner: str) -> tuple[str, str, str]:
    """The tables of `write_checked` for `target` held by `owner` (sink, sums, view): the owner is
    the name's last part, as for the swap's staging tables (lifecycle/swap.py)."""
    tag = format(zlib.crc32(str(target.resolve()).encode()), "08x")
    table = scope.warehouse.table
    return (
        table(f"{STAGE_PREFIX}{tag}_file_{owner}"),
        table(f"{STAGE_PREFIX}{tag}_sums_{owner}"),
        table(f"{STAGE_PREFIX}{tag}_mv_{owner}"),
    )


def _drop_checked(platform: PlatformScope, sink: str, sums: str, view: str) -> None:
    # The view first: it names the other two. Dropping a File table leaves its file alone.
    for name in (view, sink, sums):
        platform.command(f"DROP TABLE IF EXISTS {name}")


def drop_checked_stages(platform: PlatformScope) -> None:
    """The tables of `write_checked` a killed process left behind (lifecycle/stages.py)."""
    drop_orphaned_stages(platform, STAGE_PREFIX)


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
