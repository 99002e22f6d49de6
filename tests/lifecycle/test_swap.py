"""Partitions rebuilt beside a table and swapped in (lifecycle/swap.py): the rows kept, the rows
filled, a partition left empty dropped (ClickHouse refuses REPLACE from an empty source), other
partitions untouched, no staging table left behind."""

from __future__ import annotations

from analytics_engine.lifecycle.swap import REASON, STAGE_PREFIX, drop_stale_stages, swap_partitions


def test_swap_keeps_fills_and_drops_empty_partitions(runtime) -> None:  # type: ignore[no-untyped-def]
    platform = runtime.warehouse.platform(REASON)
    table = platform.table("swap_probe")
    platform.command(f"DROP TABLE IF EXISTS {table}")
    platform.command(
        f"CREATE TABLE {table} (k String, d Date, n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (k, d)"
    )
    platform.command(
        f"INSERT INTO {table} VALUES ('a', '2026-01-05', 1), ('b', '2026-01-06', 2), ('a', '2026-02-01', 3), "
        "('c', '2026-03-01', 4)"
    )
    # Partition 202601: 'a' goes and 'z' comes; 202602: only 'a', which goes (dropped); 202603 untouched.
    swap_partitions(
        platform,
        table,
        ["202601", "202602"],
        "k != {gone:String}",
        ["INSERT INTO {stage} SELECT 'z', toDate('2026-01-07'), {n:UInt64}"],
        {"gone": "a", "n": 9},
    )
    rows = platform.query(f"SELECT k, toString(d), n FROM {table} ORDER BY d").rows
    assert [tuple(r) for r in rows] == [("b", "2026-01-06", 2), ("z", "2026-01-07", 9), ("c", "2026-03-01", 4)]
    left = platform.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String})",
        {"db": platform.database, "p": STAGE_PREFIX},
    ).scalar()
    assert left == 0
    # A staging table a killed run left behind goes at the next run.
    platform.command(f"CREATE TABLE {platform.table(STAGE_PREFIX + 'left_behind')} AS {table}")
    drop_stale_stages(platform)
    assert (
        platform.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String})",
            {"db": platform.database, "p": STAGE_PREFIX},
        ).scalar()
        == 0
    )
    platform.command(f"DROP TABLE IF EXISTS {table}")
