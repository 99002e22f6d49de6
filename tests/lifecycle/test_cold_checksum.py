"""The cold file and its checksum from one read (`write_checked`): properties are turned into JSON
text once, for the file, and the checksum of every row's whole content comes from that same read.
It must equal the checksum the hot rows had before (`CHECKSUM`, `toJSONString` of each row), the
file's own figures read back, and cold reads must see the same properties as hot ones: for empty
properties, unicode, nulls, nested objects, arrays, numbers that look like strings. (A key repeated
in a payload never gets this far: the request's JSON parser keeps one.) A file that does not match
is refused and the month stays hot; a killed writer's tables are dropped by the next run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.lifecycle import tiering as tiering_module
from analytics_engine.lifecycle.cold import (
    CHECKSUM,
    READ_SCHEMA,
    STAGE_PREFIX,
    cold_files,
    drop_checked_stages,
    file_figures,
    file_figures_keyed,
    work_dir,
    write_checked,
)
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.lifecycle.window import hot_window_start

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)
PROPERTIES: list[dict[str, Any]] = [
    {},
    {"plan": "pro", "n": 1},
    {"name": "Zoë ☃ 日本語 🚀", "quote": 'say "hi"\\n', "tab": "a\tb"},
    {"missing": None, "flag": False, "zero": 0},
    {"deep": {"x": {"y": [1, 2, 3]}, "z": "w"}},
    {"list": ["a", "b"], "mixed": [1, "1", None], "empty_list": [], "empty_object": {}},
    {"looks_numeric": "10", "numeric": 10, "float": 1.5, "big": 2**62},
]


def _write(runtime, tenant_id: str, raw: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    outcome = validate_events(raw, tenant_id, OLD)
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)


def _old_month(runtime) -> tuple[datetime, int]:  # type: ignore[no-untyped-def]
    start = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months) - timedelta(days=20)
    return start, start.year * 100 + start.month


@pytest.mark.parametrize("properties", PROPERTIES, ids=lambda p: ",".join(p) or "empty")
def test_one_read_checksum_equals_the_hot_checksum_and_the_file(runtime, new_tenant, properties) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    start, month = _old_month(runtime)
    raw = [
        {
            "event": "view",
            "distinct_id": f"p{i % 3}",
            "timestamp": (start + timedelta(hours=i)).isoformat(),
            "properties": properties,
        }
        for i in range(5)
    ]
    _write(runtime, tenant.id, raw)
    scope = runtime.warehouse.for_tenant(tenant.id)
    events = runtime.warehouse.table("events")
    where = "toYYYYMM(timestamp) = {m:UInt32}"
    hot = scope.query(
        f"SELECT {CHECKSUM} FROM {events} WHERE tenant_id = {{tenant_id:String}} AND {where}", {"m": month}
    ).rows[0]
    target = work_dir(runtime) / f"{tenant.id}-checksum.parquet"
    read = write_checked(scope, events, where, {"m": month}, target)
    assert read == (int(hot[0]), str(hot[1])) and read[0] == 5
    assert file_figures(scope, target) == read
    assert file_figures_keyed(scope, target)[:2] == read
    # Cold reads (named schema) give the properties back as the hot rows hold them.
    text = "toJSONString(properties)"
    cold = scope.query(
        f"SELECT event_id, {text} FROM file({{p:String}}, 'Parquet', {{s:String}}) "
        "WHERE tenant_id = {tenant_id:String} ORDER BY event_id",
        {"p": str(target), "s": READ_SCHEMA},
    ).rows
    hot_rows = scope.query(
        f"SELECT event_id, {text} FROM {events} WHERE tenant_id = {{tenant_id:String}} AND {where} ORDER BY event_id",
        {"m": month},
    ).rows
    assert cold == hot_rows
    assert not [name for name in _tables(runtime) if name.startswith(STAGE_PREFIX)]


def _tables(runtime) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        str(r[0])
        for r in runtime.warehouse.platform("test")
        .query("SELECT name FROM system.tables WHERE database = {db:String}", {"db": runtime.warehouse.database})
        .rows
    ]


def test_a_file_not_matching_its_read_is_refused_and_the_month_stays_hot(runtime, new_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    start, month = _old_month(runtime)
    _write(
        runtime,
        tenant.id,
        [{"event": "view", "distinct_id": "x", "timestamp": start.isoformat(), "properties": {"a": 1}}],
    )
    real = tiering_module.write_checked

    def off_by_one(*args: Any, **kwargs: Any) -> tuple[int, str]:
        rows, checksum = real(*args, **kwargs)
        return rows, format((int(checksum, 16) + 1) % (1 << 64), "x")  # the read saw other content

    monkeypatch.setattr(tiering_module, "write_checked", off_by_one)
    with pytest.raises(RuntimeError, match="hot kept"):
        Tiering(runtime).run()
    scope = runtime.warehouse.for_tenant(tenant.id)
    hot = scope.query(
        f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{tenant_id:String}}"
    ).scalar()
    assert hot == 1 and not [f for f in cold_files(runtime, tenant.id) if f.month == month]
    monkeypatch.undo()
    Tiering(runtime).run()
    assert [f.rows for f in cold_files(runtime, tenant.id) if f.month == month] == [1]


def test_a_killed_writers_tables_are_dropped(runtime) -> None:  # type: ignore[no-untyped-def]
    platform = runtime.warehouse.platform("test")
    table = runtime.warehouse.table
    path = (work_dir(runtime) / "left-behind.parquet").resolve()
    platform.command(f"CREATE TABLE {table(STAGE_PREFIX + 'dead_sums')} (rows UInt64, checksum UInt64) ENGINE = Memory")
    platform.command(f"CREATE TABLE {table(STAGE_PREFIX + 'dead')} (x String) ENGINE = File(Parquet, '{path}')")
    platform.command(
        f"CREATE MATERIALIZED VIEW {table(STAGE_PREFIX + 'dead_mv')} TO {table(STAGE_PREFIX + 'dead_sums')} "
        f"AS SELECT count() AS rows, sum(cityHash64(x)) AS checksum FROM {table(STAGE_PREFIX + 'dead')}"
    )
    drop_checked_stages(platform)
    assert not [name for name in _tables(runtime) if name.startswith(STAGE_PREFIX)]


def test_months_are_done_only_after_the_cold_rows_deletes(runtime, new_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The cold rows' deletes run on through the gated round: one failing leaves the months
    `dropped` (the next run deletes again and finishes), never `done` with cold rows left."""
    from analytics_engine.lifecycle.models import TieredMonth

    tenant = new_tenant()
    # A month no other test of this module tiers (a month `done` is not taken again).
    start = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months) - timedelta(days=50)
    month = start.year * 100 + start.month
    _write(
        runtime,
        tenant.id,
        [{"event": "view", "distinct_id": "q", "timestamp": start.isoformat(), "properties": {"only_cold": 1}}],
    )
    real = Tiering.cold_row_deletes

    def failing(self: Tiering, *args: Any, **kwargs: Any) -> list[Any]:
        def boom() -> None:
            raise RuntimeError("delete failed")

        return [*real(self, *args, **kwargs), boom]

    monkeypatch.setattr(Tiering, "cold_row_deletes", failing)
    with pytest.raises(RuntimeError, match="delete failed"):
        Tiering(runtime).run()
    with runtime.metadata.session() as session:
        state = session.get(TieredMonth, month)
        assert state is not None and state.state == "dropped"
    monkeypatch.undo()
    Tiering(runtime).run()
    with runtime.metadata.session() as session:
        state = session.get(TieredMonth, month)
        assert state is not None and state.state == "done"
    left = (
        runtime.warehouse.for_tenant(tenant.id)
        .query(
            f"SELECT count() FROM {runtime.warehouse.table('person_properties')} "
            "WHERE tenant_id = {tenant_id:String} AND distinct_id = 'q'"
        )
        .scalar()
    )
    assert left == 0


def test_another_runs_cleanup_leaves_a_live_writers_tables(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    """A run starting in another process (here: another thread, the same leases) drops the writer
    tables a killed process left behind, but not those of a writer still writing: they are named
    after their holder, whose lease lives while it writes."""
    tenant = new_tenant()
    start, month = _old_month(runtime)
    raw = [
        {"event": "view", "distinct_id": f"w{i}", "timestamp": (start + timedelta(hours=i)).isoformat()}
        for i in range(6)
    ]
    _write(runtime, tenant.id, raw)
    scope = runtime.warehouse.for_tenant(tenant.id)
    platform = runtime.warehouse.platform("test")
    events = runtime.warehouse.table("events")
    # A slow source (0.4 s a row of the tenant's): the write is still running when the other run
    # cleans up.
    source = f"(SELECT * FROM {events} PREWHERE tenant_id = {{tenant_id:String}} WHERE sleepEachRow(0.4) = 0)"
    where = "toYYYYMM(timestamp) = {m:UInt32}"
    target = work_dir(runtime) / f"{tenant.id}-live-writer.parquet"
    # A killed writer's table (its holder's lease gone) beside it.
    dead = runtime.warehouse.table(f"{STAGE_PREFIX}00000000_sums_0123456789abcdef")
    platform.command(f"CREATE TABLE {dead} (rows UInt64, checksum UInt64) ENGINE = Memory")
    result: list[Any] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            result.append(write_checked(scope, source, where, {"m": month}, target))
        except BaseException as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len([n for n in _tables(runtime) if n.startswith(STAGE_PREFIX)]) < 4:
        time.sleep(0.05)
    live = [n for n in _tables(runtime) if n.startswith(STAGE_PREFIX) and n != dead.rsplit(".", 1)[-1].strip("`")]
    assert len(live) == 3 and writer.is_alive()
    drop_checked_stages(platform)
    assert sorted(n for n in _tables(runtime) if n.startswith(STAGE_PREFIX)) == sorted(live)
    writer.join(timeout=60)
    assert not errors and result == [file_figures(scope, target)] and result[0][0] == 6
    assert not [name for name in _tables(runtime) if name.startswith(STAGE_PREFIX)]
