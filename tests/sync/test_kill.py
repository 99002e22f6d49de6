"""The backfill of 1M rows killed with SIGKILL at several points, then run to the end: the warehouse
holds exactly the source's rows (count and key checksum per tenant, no duplicate even before merges).

The backfill runs as a subprocess (`python -m analytics_engine.cli.main sync backfill ...`) with its
own data folder: chDB allows one data path per process, and this test process holds another."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.sync.conftest import DSN

pytestmark = pytest.mark.postgres

ROWS = 1_000_000
CHUNK = 50_000


def cli_env(folder: Path, sources: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env |= {
        "ANALYTICS_DATA_DIR": str(folder),
        "ANALYTICS_SYNC_SOURCES_FILE": str(sources),
        "ANALYTICS_LOG_LEVEL": "warning",
    }
    return env


def copied(folder: Path) -> int:
    try:
        with sqlite3.connect(folder / "meta.db", timeout=5) as db:
            row = db.execute("SELECT rows_copied FROM sync_checkpoints").fetchone()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "analytics_engine.cli.main", "sync", "backfill", "big"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def kill_when(process: subprocess.Popen[bytes], folder: Path, rows: int, extra_delay: float) -> int:
    """SIGKILL once `rows` are checkpointed (plus a random delay: mid-chunk, mid-insert...)."""
    deadline = time.monotonic() + 90
    while copied(folder) < rows and process.poll() is None:
        assert time.monotonic() < deadline, "backfill made no progress"
        time.sleep(0.01)
    time.sleep(extra_delay)
    if process.poll() is not None:
        pytest.fail(f"backfill ended before it could be killed: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return copied(folder)


def test_sigkill_at_any_point_then_resume_gives_exactly_the_source(pg, tmp_path):
    pg.execute(
        """CREATE TABLE {s}.big (id bigint PRIMARY KEY, org_id text NOT NULL, user_id text NOT NULL,
           amount numeric(12,2), note text, updated_at timestamptz NOT NULL, deleted_at timestamptz)"""
    )
    pg.execute(
        """INSERT INTO {s}.big SELECT g, 'org-' || mod(g, 4), 'u-' || mod(g, 1000), mod(g, 997) / 3.0, 'n' || g,
           timestamptz '2026-01-01' + (g / 3) * interval '1 ms', NULL FROM generate_series(1, %s) g""",
        (ROWS,),
    )  # three rows share each updated_at: chunk edges fall inside runs of equal cursors
    pg.execute("CREATE INDEX ON {s}.big (updated_at, id)")
    pg.execute("ANALYZE {s}.big")
    sources = tmp_path / "sync.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "big",
                        "dsn": DSN,
                        "table": pg.table("big"),
                        "tenant_column": "org_id",
                        "cursor": "updated_at",
                        "soft_delete_column": "deleted_at",
                        "chunk_rows": CHUNK,
                        "target": {"kind": "table", "table": "big"},
                    }
                ]
            }
        )
    )
    folder = tmp_path / "data"
    env = cli_env(folder, sources)
    rng = random.Random(5)

    # Killed during start-up (no checkpoint yet), then at two random points mid-copy.
    process = start(env)
    time.sleep(rng.uniform(0.5, 1.5))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    seen = [copied(folder)]
    for threshold in (CHUNK, ROWS // 2):
        seen.append(kill_when(start(env), folder, threshold, rng.uniform(0.0, 0.3)))
    assert 0 < seen[1] < seen[2] < ROWS, seen

    final = start(env)
    output = final.communicate(timeout=300)[0].decode()
    assert final.returncode == 0, output
    assert "1,000,000" not in output.split("rows in")[0]  # resumed: fewer rows than the whole table

    verify = subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli.main", "sync", "verify", "big"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    report = json.loads(verify.stdout)
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()
    assert report["match"] is True
    totals = {t["tenant_id"]: t for t in report["tenants"]}
    assert set(totals) == {"org-0", "org-1", "org-2", "org-3"}
    assert sum(t["warehouse_rows"] for t in totals.values()) == ROWS
    for tenant in totals.values():
        assert tenant["warehouse_stored_rows"] == tenant["warehouse_rows"] == tenant["source_rows"]
        assert tenant["warehouse_checksum"] == tenant["source_checksum"]

    with sqlite3.connect(folder / "meta.db") as db:
        states = [row[0] for row in db.execute("SELECT state FROM analytics_jobs ORDER BY created_at")]
    # The killed runs' jobs were marked failed by the next run; the last one succeeded.
    assert states[-1] == "succeeded" and "running" not in states, states
