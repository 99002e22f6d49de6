"""`analytics-engine sync ...`: sources from a YAML file, backfill with a progress bar, list,
verify, clean one-line errors; a busy embedded warehouse is refused in plain words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from analytics_engine.cli.main import app
from analytics_engine.config import get_settings
from tests.sync.conftest import DSN, donations_table, unique

pytestmark = pytest.mark.postgres

runner = CliRunner()


@pytest.fixture
def sources_file(tmp_path, pg, monkeypatch, settings):
    for name in ("data_dir", "warehouse_dsn", "warehouse_database", "metadata_url"):
        monkeypatch.setenv(f"ANALYTICS_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("ANALYTICS_SYNC_SCHEDULE", "false")
    name = unique("yaml")
    path = tmp_path / "sync.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": name,
                        "dsn": DSN,
                        "table": donations_table(pg, rows=250),
                        "tenant_column": "org_id",
                        "cursor": "updated_at",
                        "soft_delete_column": "deleted_at",
                        "target": {"kind": "table", "table": name},
                    }
                ]
            }
        )
    )
    # `sync --sources-file` sets this variable in the process: monkeypatch records it as unset now,
    # so it is removed again after the test.
    monkeypatch.setenv("ANALYTICS_SYNC_SOURCES_FILE", str(path))
    get_settings.cache_clear()
    yield path, name
    get_settings.cache_clear()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_backfill_list_verify_run(sources_file):
    path, name = sources_file
    listed = invoke("sync", "--sources-file", str(path), "list", "--json")
    assert listed.exit_code == 0, listed.output
    entry = next(s for s in json.loads(listed.output) if s["name"] == name)
    assert entry["origin"] == "file" and entry["rows_copied"] == 0 and entry["last_job"] is None

    backfill = invoke("sync", "--sources-file", str(path), "backfill", name)
    assert backfill.exit_code == 0, backfill.output
    assert f"{name}: 250 rows in" in backfill.output

    verify = invoke("sync", "--sources-file", str(path), "verify", name)
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.output)["match"] is True

    run = invoke("sync", "--sources-file", str(path), "run", name)
    assert run.exit_code == 0, run.output
    entry = next(s for s in json.loads(invoke("sync", "list", "--json").output) if s["name"] == name)
    assert entry["backfill_done"] is True and entry["last_job"]["state"] == "succeeded"


def test_verify_exits_1_on_stale_values_and_repair_mends_them(sources_file, pg):
    path, name = sources_file
    assert invoke("sync", "--sources-file", str(path), "backfill", name).exit_code == 0
    # Changed without moving updated_at: no sync reads it again.
    pg.execute("UPDATE {s}.donations SET amount = amount + 1 WHERE id IN (7, 8)")
    stale = invoke("sync", "--sources-file", str(path), "verify", name)
    assert stale.exit_code == 1, stale.output
    line = " ".join(stale.output.split())  # the console wraps long lines
    assert "key ranges differ, 2 key(s) found, e.g. 7 (values_differ), 8 (values_differ)" in line
    assert "`sync verify --repair` copies them again" in line
    repaired = invoke("sync", "--sources-file", str(path), "verify", name, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repair: 1 range(s) copied again" in repaired.output


def test_errors_are_one_line(sources_file):
    path, _ = sources_file
    missing = invoke("sync", "--sources-file", str(path), "backfill", "no-such-source")
    assert missing.exit_code == 1 and "No sync source named 'no-such-source'" in missing.output
    broken = path.parent / "broken.yaml"
    broken.write_text("sources:\n  - name: x\n    dsn: mysql://nope\n")
    bad = invoke("sync", "--sources-file", str(broken), "list")
    assert bad.exit_code == 1 and "Invalid sync source (broken.yaml item 1)" in bad.output
    assert "Traceback" not in bad.output + missing.output


def test_busy_embedded_warehouse_is_refused(tmp_path):
    """While another process (serve) holds the chDB folder, sync says so and stops."""
    folder = tmp_path / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, clickhouse_connect; "
            f"client = clickhouse_connect.get_client(dsn='chdb://{folder / 'warehouse'}'); client.query('SELECT 1'); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ready"  # type: ignore[union-attr]
        (tmp_path / "sync.yaml").write_text("sources: []\n")
        env = {"ANALYTICS_DATA_DIR": str(folder), "ANALYTICS_SYNC_SOURCES_FILE": str(tmp_path / "sync.yaml")}
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "analytics_engine.cli.main", "sync", "run"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}, **env},
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 1
        message = " ".join(result.stderr.decode().split())  # rich wraps long lines
        assert "is in use by another process (is `analytics-engine serve` running" in message, message
        assert time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()
