"""`bench backfill`: `sync backfill` of a generated PostgreSQL table against ClickHouse reading the
same table itself (`INSERT INTO ... SELECT * FROM postgresql(...)`) in the same run."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import yaml

from analytics_engine.bench.common import print_table, write_result
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime


def make_table(dsn: str, schema: str, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"""CREATE TABLE {schema}.donations (
                id bigint PRIMARY KEY, org_id text NOT NULL, user_id text NOT NULL, amount numeric(12,2),
                currency varchar(3), note text, is_recurring boolean, created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, deleted_at timestamptz, meta jsonb)"""
        )
        conn.execute(
            f"""INSERT INTO {schema}.donations SELECT g, 'org-' || mod(g, 20), 'u-' || mod(g, 50000),
                mod(g, 1000) / 7.0, 'EUR', 'note ' || g, mod(g, 3) = 0,
                timestamptz '2026-01-01' + g * interval '10 ms', timestamptz '2026-01-01' + g * interval '10 ms',
                NULL, jsonb_build_object('campaign', mod(g, 10))
                FROM generate_series(1, %s) g""",
            (rows,),
        )
        conn.execute(f"CREATE INDEX ON {schema}.donations (updated_at, id)")
        conn.execute(f"VACUUM ANALYZE {schema}.donations")
    return time.perf_counter() - started


def table_function(dsn: str, schema: str, table: str) -> str:
    """`postgresql(...)` for the same table (the DSN is the bench's own, not user input)."""
    parts = urlsplit(dsn)

    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    host = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
    database = parts.path.lstrip("/") or "postgres"
    args = [host, database, table, parts.username or "postgres", parts.password or "", schema]
    return "postgresql(" + ", ".join(map(quoted, args)) + ")"


def run(rows: int, dsn: str, chunk_rows: int, cursor: str, keep: bool, repeat: int = 1) -> dict[str, Any]:
    schema = f"bench_backfill_{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-backfill-"))
    print(f"generating {rows:,} rows in PostgreSQL ({schema}.donations)...")
    generate_seconds = make_table(dsn, schema, rows)
    sources = folder / "sync.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "bench",
                        "dsn": dsn,
                        "table": f"{schema}.donations",
                        "tenant_column": "org_id",
                        "cursor": cursor,
                        "soft_delete_column": "deleted_at" if cursor == "updated_at" else None,
                        "chunk_rows": chunk_rows,
                        "target": {"kind": "table", "table": "donations"},
                    }
                ]
            }
        )
    )
    settings = Settings(
        data_dir=folder, sync_sources_file=sources, sync_schedule=False, log_level="warning", log_json=False
    )
    runtime = Runtime.build(settings)
    try:
        warehouse = runtime.warehouse
        service = runtime.sync
        baseline_table = warehouse.table("baseline_donations")
        source = table_function(dsn, schema, "donations")
        baseline_runs, sync_runs = [], []
        for attempt in range(repeat):
            # Baseline: ClickHouse reads PostgreSQL itself, no chunks, checkpoints or jobs.
            warehouse.command(f"DROP TABLE IF EXISTS {baseline_table}")
            warehouse.command(
                f"CREATE TABLE {baseline_table} ENGINE = MergeTree ORDER BY (org_id, id) "
                f"AS SELECT * FROM {source} LIMIT 0"
            )
            started = time.perf_counter()
            warehouse.command(f"INSERT INTO {baseline_table} SELECT * FROM {source}")
            baseline_runs.append(time.perf_counter() - started)
            assert warehouse.query(f"SELECT count() FROM {baseline_table}").scalar() == rows

            started = time.perf_counter()
            job = service.run("bench", "backfill", restart=attempt > 0)
            sync_runs.append(time.perf_counter() - started)
            if job.state != "succeeded":
                raise RuntimeError(f"backfill {job.state}: {job.error}")
            report = service.verify("bench")
            if not report["match"]:
                raise RuntimeError(f"backfill does not match the source: {report}")
        # Best of the runs on each side: the machine is shared, the minimum is the least disturbed.
        sync_seconds, baseline_seconds = min(sync_runs), min(baseline_runs)
    finally:
        runtime.close()
        if not keep:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    sync_rate, baseline_rate = rows / sync_seconds, rows / baseline_seconds
    result = {
        "rows": rows,
        "chunk_rows": chunk_rows,
        "cursor": cursor,
        "generate_seconds": round(generate_seconds, 2),
        "sync_backfill_seconds": round(sync_seconds, 3),
        "sync_backfill_rows_per_second": round(sync_rate),
        "baseline_insert_select_postgresql_seconds": round(baseline_seconds, 3),
        "baseline_rows_per_second": round(baseline_rate),
        "ratio": round(sync_rate / baseline_rate, 3),
        "verified": True,
        "repeat": repeat,
        "sync_runs_seconds": [round(x, 3) for x in sync_runs],
        "baseline_runs_seconds": [round(x, 3) for x in baseline_runs],
        "targets": {"ratio": 0.5},
    }
    print_table(
        "bench backfill",
        ["path", "seconds", "rows/s"],
        [
            [f"sync backfill (COPY -> TabSeparated, {chunk_rows:,}-row chunks, checkpoints)", sync_seconds, sync_rate],
            ["INSERT INTO ... SELECT * FROM postgresql(...) (baseline)", baseline_seconds, baseline_rate],
            ["ratio sync / baseline", "", sync_rate / baseline_rate],
        ],
    )
    result["file"] = str(write_result("backfill", result))
    return result
