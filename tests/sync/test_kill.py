"""Sync processes killed with SIGKILL at random instants, then run to the end.

Table target: the backfill of 1M rows killed at several points; the warehouse holds exactly the
source's rows (count and key checksum per tenant, no duplicate even before merges).

Events target: a backfill into `events` killed at several random instants (start-up, mid-read,
mid-insert, between the insert into `events` and its materialized views, mid-checkpoint), then
resumed, with the metadata on SQLite and on PostgreSQL: `events` holds exactly one event per source
row, and the id table and every table derived from `events` agree with it
(`ingest.consistency.check_derived`).

Each sync runs as a subprocess (`python -m analytics_engine.cli.main sync backfill ...`) with its
own data folder: chDB allows one data path per process, and this test process holds another. For
the same reason the warehouse is read afterwards by a subprocess too (`CHECK`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from analytics_engine.sync.targets import SYNC_NAMESPACE
from tests.sync.conftest import DSN

pytestmark = pytest.mark.postgres

ROWS = 1_000_000
CHUNK = 50_000


def cli_env(folder: Path, sources: Path, metadata_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env |= {
        "ANALYTICS_DATA_DIR": str(folder),
        "ANALYTICS_SYNC_SOURCES_FILE": str(sources),
        "ANALYTICS_LOG_LEVEL": "warning",
    }
    if metadata_url is not None:
        env["ANALYTICS_METADATA_URL"] = metadata_url
    return env


class Metadata:
    """The sync processes' metadata database (SQLite file or PostgreSQL schema), read by the test."""

    def __init__(self, folder: Path, url: str | None = None) -> None:
        self.file = None if url else folder / "meta.db"
        self.engine: Engine = create_engine(url or f"sqlite:///{self.file}")

    def copied(self) -> int:
        if self.file is not None and not self.file.exists():
            return 0  # the first process has not created it yet
        try:
            with self.engine.connect() as conn:
                row = conn.execute(text("SELECT rows_copied FROM sync_checkpoints")).fetchone()
        except Exception:  # not migrated yet, or locked for a moment
            return 0
        return int(row[0]) if row else 0

    def in_doubt(self) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT in_doubt FROM sync_checkpoints")).fetchone()
        return bool(row[0]) if row else False

    def job_states(self) -> list[str]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT state FROM analytics_jobs ORDER BY created_at"))]


def start(env: dict[str, str], source: str = "big") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "analytics_engine.cli.main", "sync", "backfill", source],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def kill_when(process: subprocess.Popen[bytes], metadata: Metadata, rows: int, extra_delay: float) -> int:
    """SIGKILL once `rows` are checkpointed (plus a random delay: mid-chunk, mid-insert...)."""
    deadline = time.monotonic() + 90
    while metadata.copied() < rows and process.poll() is None:
        assert time.monotonic() < deadline, "backfill made no progress"
        time.sleep(0.01)
    time.sleep(extra_delay)
    if process.poll() is not None:
        pytest.fail(f"backfill ended before it could be killed: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return metadata.copied()


def kill_during_start_up(env: dict[str, str], source: str, seconds: float) -> None:
    process = start(env, source)
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


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
    metadata = Metadata(folder)
    rng = random.Random(5)

    # Killed during start-up (no checkpoint yet), then at two random points mid-copy.
    kill_during_start_up(env, "big", rng.uniform(0.5, 1.5))
    seen = [metadata.copied()]
    for threshold in (CHUNK, ROWS // 2):
        seen.append(kill_when(start(env), metadata, threshold, rng.uniform(0.0, 0.3)))
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

    states = metadata.job_states()
    # The killed runs' jobs were marked failed by the next run; the last one succeeded.
    assert states[-1] == "succeeded" and "running" not in states, states


# --- events target -------------------------------------------------------------------------------
EVENT_ROWS = 60_000
EVENT_CHUNK = 3_000
EVENT_TENANTS = ("tn_kill_a", "tn_kill_b", "tn_kill_c")
KILLS = 4  # mid-copy, at random thresholds and random delays (plus one during start-up)

# Run in a fresh process on the sync's data folder: every derived table against `events`, and what
# `events` holds for the source.
CHECK = """
import json
from analytics_engine.config import get_settings
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.warehouse.client import Warehouse

settings = get_settings()
warehouse = Warehouse(str(settings.warehouse_dsn), settings.warehouse_database, pool_size=1)
events = warehouse.table("events")
mismatches = [m.describe() for m in check_derived(warehouse)]
stored = warehouse.query(
    f"SELECT tenant_id, count(), uniqExact(event_id), sum(toFloat64OrZero(toString(properties.hours))) "
    f"FROM {events} WHERE event = 'visit' GROUP BY tenant_id ORDER BY tenant_id"
).rows
ids = warehouse.query(f"SELECT toString(event_id) FROM {events} WHERE event = 'visit'").rows
print(json.dumps({
    "mismatches": mismatches,
    "tenants": {t: [int(n), int(u), float(h)] for t, n, u, h in stored},
    "ids": [row[0] for row in ids],
}))
"""


def journal_batches(folder: Path) -> int:
    return len(list((folder / "ingest-journal").glob("*.batch")))


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_url(request: pytest.FixtureRequest) -> str | None:
    """None: the default SQLite file in the data folder; else a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


def test_sigkill_of_a_sync_into_events_then_resume_stores_each_row_once_everywhere(pg, tmp_path, metadata_url):
    pg.execute(
        """CREATE TABLE {s}.visits (id bigint PRIMARY KEY, org text NOT NULL, visitor text NOT NULL,
           hours numeric(5,1) NOT NULL, kind text NOT NULL, started_at timestamptz NOT NULL,
           updated_at timestamptz NOT NULL)"""
    )
    pg.execute(
        """INSERT INTO {s}.visits SELECT g, (%s::text[])[1 + g %% 3], 'v-' || (g %% 5000), (g %% 40) / 4.0,
           CASE WHEN g %% 2 = 0 THEN 'mentoring' ELSE 'tutoring' END,
           now() - (g %% 200000) * interval '1 second', timestamptz '2026-01-01' + (g / 3) * interval '1 ms'
           FROM generate_series(1, %s) g""",
        (list(EVENT_TENANTS), EVENT_ROWS),
    )
    source = "visits"
    sources = tmp_path / "sync.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": source,
                        "dsn": DSN,
                        "table": pg.table("visits"),
                        "tenant_column": "org",
                        "cursor": "updated_at",
                        "chunk_rows": EVENT_CHUNK,
                        "target": {
                            "kind": "events",
                            "event_name": "visit",
                            "distinct_id": "visitor",
                            "timestamp": "started_at",
                            "properties": ["hours", "kind"],
                        },
                    }
                ]
            }
        )
    )
    folder = tmp_path / "data"
    env = cli_env(folder, sources, metadata_url)
    metadata = Metadata(folder, metadata_url)
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    note = f"seed {seed}, metadata {'postgresql' if metadata_url else 'sqlite'}"

    kill_during_start_up(env, source, rng.uniform(0.5, 2.0))
    thresholds = sorted(rng.sample(range(EVENT_CHUNK, int(EVENT_ROWS * 0.8), EVENT_CHUNK), KILLS))
    # A delay up to about one chunk's write: the kill lands anywhere in read, validate, insert into
    # `events`, the views' inserts, the checkpoint. What each kill left is recorded: the checkpoint
    # in doubt (killed between a chunk's start and its checkpoint) and batches left in the ingest
    # journal (killed inside the insert into `events` and its views).
    states = []
    for rows in thresholds:
        copied = kill_when(start(env, source), metadata, rows, rng.uniform(0.0, 0.6))
        states.append({"rows": copied, "in_doubt": metadata.in_doubt(), "journal": journal_batches(folder)})
    print(f"kills ({note}): {states}")
    seen = [state["rows"] for state in states]
    assert seen == sorted(seen) and seen[-1] < EVENT_ROWS, (states, note)

    final = start(env, source)
    output = final.communicate(timeout=300)[0].decode()
    assert final.returncode == 0, (output, note)
    jobs = metadata.job_states()
    assert jobs[-1] == "succeeded" and "running" not in jobs, (jobs, note)
    assert journal_batches(folder) == 0, note  # the final run replayed what the kills left

    checked = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, timeout=300)
    assert checked.returncode == 0, checked.stderr.decode()[-3000:]
    report = json.loads(checked.stdout.decode().strip().splitlines()[-1])

    # `events` holds exactly the source rows: every id once, nothing else, the values summed alike.
    expected = {str(uuid.uuid5(SYNC_NAMESPACE, f"{source}|{n}")) for n in range(1, EVENT_ROWS + 1)}
    assert len(report["ids"]) == EVENT_ROWS, (len(report["ids"]), note)
    assert set(report["ids"]) == expected, note
    by_tenant = pg.rows("SELECT org, count(*), sum(hours)::float8 FROM {s}.visits GROUP BY org ORDER BY org")
    assert report["tenants"] == {t: [n, n, pytest.approx(h)] for t, n, h in by_tenant}, note
    # The id table and every derived table agree with `events` (no loss, no duplicate, rollups = raw).
    assert report["mismatches"] == [], (report["mismatches"], states, note)

    verify = subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli.main", "sync", "verify", source],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout.decode()[-3000:] + verify.stderr.decode()[-2000:]
    assert json.loads(verify.stdout)["values"]["source_rows"] == EVENT_ROWS
