"""`analytics-engine export` in a child process (its own data folder: chDB allows one per process)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pyarrow.parquet as pq


def cli(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(tmp_path / "data"), "ANALYTICS_LOG_LEVEL": "warning"}
    env.pop("ANALYTICS_WAREHOUSE_DSN", None)
    env.pop("ANALYTICS_METADATA_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_export_command_writes_local_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    generated = cli(tmp_path, "generate", "--events", "2000", "--days", "30")
    assert generated.returncode == 0, generated.stderr
    result = cli(tmp_path, "export", "--tenant", "gen-1", "-o", str(tmp_path / "all.csv"))
    assert result.returncode == 0, result.stderr
    assert "wrote 2,000 rows" in result.stdout
    with (tmp_path / "all.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2000 and set(rows[0]) == {"timestamp", "event", "distinct_id", "event_id", "properties"}

    result = cli(
        tmp_path,
        "export",
        "--tenant",
        "gen-1",
        "-o",
        str(tmp_path / "p.parquet"),
        "-f",
        "parquet",
        "--events",
        "purchase",
        "--columns",
        "timestamp,distinct_id,properties.amount",
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "p.parquet")
    purchases = sum(1 for r in rows if r["event"] == "purchase")
    assert table.num_rows == purchases > 0
    assert table.column_names == ["timestamp", "distinct_id", "properties.amount"]

    bad = cli(tmp_path, "export", "--tenant", "gen-1", "-o", str(tmp_path / "x.csv"), "--columns", "nope")
    assert bad.returncode != 0 and "unknown column" in bad.stderr and "Traceback" not in bad.stderr
