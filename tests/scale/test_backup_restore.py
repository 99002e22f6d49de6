"""Backup and restore as docs/runbook.md describes them, run for real (issue 26):
- chDB: stop the process, archive the data folder (`tar`), unpack it elsewhere, open it: every event
  and every derived row is back;
- PostgreSQL: `pg_dump -Fc` of the metadata schema, `pg_restore` into a scratch database: the
  tenant rows and the Alembic version are back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Tenant
from tests.support.postgres import BASE_URL

HELPER = Path(__file__).with_name("chdb_folder.py")
ROOT = Path(__file__).resolve().parents[2]


def _chdb(*args: str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, str(HELPER), *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_chdb_folder_backed_up_with_tar_restores_every_row(tmp_path: Path):
    live, restored = tmp_path / "warehouse", tmp_path / "restored"
    tenant_id = f"tn_bk_{uuid.uuid4().hex[:6]}"
    written = _chdb("write", str(live), tenant_id, "500")
    assert written == {"events": 500, "metrics_daily": 500, "persons": 9, "mismatches": 0}
    archive = tmp_path / "warehouse.tar.gz"
    subprocess.run(["tar", "-C", str(live), "-czf", str(archive), "."], check=True)  # the process has stopped
    restored.mkdir()
    subprocess.run(["tar", "-C", str(restored), "-xzf", str(archive)], check=True)
    shutil.rmtree(live)  # the original is gone: only the backup is left
    assert _chdb("count", str(restored), tenant_id) == written


@pytest.mark.postgres
def test_the_postgresql_metadata_restores_into_a_scratch_database(postgres_url: str):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("SKIPPED LOUDLY: pg_dump/pg_restore are not installed (apt-get install postgresql-client)")
    metadata = MetadataDB(postgres_url)
    metadata.migrate()
    name = f"backup-{uuid.uuid4().hex[:8]}"
    with metadata.session() as session:
        session.add(Tenant(name=name, timezone="Europe/Oslo"))
    schema = postgres_url.rsplit("%3D", 1)[1]
    with metadata.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    metadata.dispose()

    dump = Path(f"/tmp/{schema}.dump")
    scratch = f"ae_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    try:
        subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-n", schema, "-Fc", "-f", str(dump)],
            check=True,
            timeout=120,
        )
        subprocess.run(
            ["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "-d", scratch, "--no-owner", str(dump)],
            check=True,
            timeout=120,
        )
        restored = create_engine(BASE_URL.rsplit("/", 1)[0] + f"/{scratch}")
        with restored.connect() as conn:
            row = conn.execute(text(f'SELECT timezone FROM "{schema}".tenants WHERE name = :n'), {"n": name}).one()
            assert row.timezone == "Europe/Oslo"
            again = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalars().all()
            assert sorted(again) == sorted(version)
        restored.dispose()
    finally:
        dump.unlink(missing_ok=True)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()
