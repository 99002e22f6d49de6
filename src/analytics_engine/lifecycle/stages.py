"""Staging tables a killed process left behind. The swaps (lifecycle/swap.py) and the cold file's
writer (lifecycle/cold.py) name their staging tables `<prefix>..._<holder>`, the holder holding a named
lease while they exist (metadata/leases.py); a table whose holder holds no live lease is an orphan."""

from __future__ import annotations

from analytics_engine.lifecycle.derived import UNLIMITED
from analytics_engine.warehouse.scoped import PlatformScope


def drop_orphaned_stages(platform: PlatformScope, prefix: str) -> None:
    """Drop the tables starting with `prefix` whose holder (the name's last part) holds no live lease;
    another process's live writer renews its lease, so its tables stay. Materialized views first: they
    name the other tables. Names without an owner (older versions) go too."""
    names = platform.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {prefix:String}) "
        "ORDER BY position(name, '_mv') > 0 DESC",
        {"db": platform.database, "prefix": prefix},
        settings=UNLIMITED,
    ).rows
    leases = platform.warehouse.leases
    live = leases.live_owners() if leases is not None else set()
    for (name,) in names:
        if str(name).rsplit("_", 1)[-1] not in live:
            platform.command(f"DROP TABLE IF EXISTS {platform.table(str(name))}")
