"""Cold reads: a query whose range starts before the hot window reads both tiers.

`events_source` gives what a query names instead of the `events` table: the tenant's hot rows and,
UNION ALL, the rows of its cold files of the months the range reaches (ClickHouse's `file` table
function over our own paths), with the same columns (`person_key` computed from `distinct_id`, as
the hot column is). None when the range stays hot or the tenant has no cold file in it, so the hot
path is unchanged. Rollups and pre-aggregations describe the hot tier only: a query reading cold data
is answered from raw rows (insights/base.py), and says so (`read_cold`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from analytics_engine.lifecycle.cold import COLD_COLUMNS, READ_SCHEMA, cold_files, local_path
from analytics_engine.lifecycle.window import cold_partition_limit, partition_of

if TYPE_CHECKING:
    from analytics_engine.core import Core

# Paths we build ourselves (storage root, tenant id, month numbers); checked all the same, since the
# glob is written into the SQL text (`file()` takes its path as a literal or a parameter, and the
# statements here travel with their own parameter sets).
_GLOB = re.compile(r"^[A-Za-z0-9_./{},-]+$")
# Named, not inferred: a file written since 2026-12-07 stores `properties` as plain JSON text (no
# JSON annotation), which the schema parses into a JSON column as the annotation did.
_SCHEMA = READ_SCHEMA.replace("'", "\\'")


def cold_glob(core: Core, tenant_id: str, months: tuple[int, int] | None = None) -> str | None:
    """One `file()` path naming the tenant's cold files (of these months; None: all), or None."""
    files = cold_files(core, tenant_id, months)
    if not files:
        return None
    paths = [local_path(core, tenant_id, entry.key) for entry in files]
    folder = {str(path.parent.resolve()) for path in paths}
    if len(folder) != 1:
        raise ValueError("cold files of one tenant live in one folder")
    names = ",".join(path.stem for path in paths)
    glob = f"{folder.pop()}/{{{names}}}.parquet" if len(paths) > 1 else str(paths[0].resolve())
    if not _GLOB.match(glob):
        raise ValueError(f"unexpected characters in a cold file path: {glob!r}")
    return glob


def events_source(core: Core, tenant_id: str, start: datetime, end: datetime) -> str | None:
    """The relation a query over [start, end) reads in place of `events`, or None for hot only."""
    if partition_of(start) >= cold_partition_limit(datetime.now(start.tzinfo), core.settings.hot_retention_months):
        return None
    glob = cold_glob(core, tenant_id, (partition_of(start), partition_of(end)))
    if glob is None:
        return None
    columns = ", ".join(COLD_COLUMNS)
    events = core.warehouse.table("events")
    return (
        f"(SELECT {columns}, person_key FROM {events} WHERE tenant_id = {{tenant_id:String}} UNION ALL "
        f"SELECT {columns}, cityHash64(distinct_id) AS person_key FROM file('{glob}', 'Parquet', '{_SCHEMA}') "
        "WHERE tenant_id = {tenant_id:String})"
    )
