from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from analytics_engine.cli.main import app
from analytics_engine.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, settings):
    for name in ("data_dir", "warehouse_dsn", "warehouse_database", "metadata_url"):
        monkeypatch.setenv(f"ANALYTICS_{name.upper()}", str(getattr(settings, name)))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_tenants_and_keys(cli_env):
    created = invoke("tenants", "create", "cli-tenant", "--timezone", "Europe/Oslo")
    assert created.exit_code == 0, created.output
    tenant = json.loads(created.output)
    assert tenant["timezone"] == "Europe/Oslo"
    assert "cli-tenant" in invoke("tenants", "list").output
    key = json.loads(invoke("keys", "create", tenant["id"], "--scope", "read").output)
    assert key["scopes"] == ["read"] and key["key"].startswith("ae_")
    assert key["prefix"] in invoke("keys", "list", tenant["id"]).output
    revoked = invoke("keys", "revoke", tenant["id"], key["id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenants", "create", "x", "--timezone", "Nowhere/Land"), "unknown IANA time zone"),
        (("keys", "create", "tn_missing"), "No tenant"),
        (("keys", "revoke", "tn_missing", "key_missing"), "No tenant"),
    ],
)
def test_errors_are_one_line_and_non_zero(cli_env, args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_generate_fills_tenants(cli_env, runtime):
    result = invoke("generate", "--tenants", "2", "--events", "3000", "--days", "30")
    assert result.exit_code == 0, result.output
    ids = [runtime.tenants.find_by_name(f"gen-{n}").id for n in (1, 2)]
    counts = runtime.warehouse.query(
        f"SELECT tenant_id, count() FROM {runtime.warehouse.table('events')} "
        "WHERE tenant_id IN {ids:Array(String)} GROUP BY tenant_id",
        {"ids": ids},
    ).rows
    assert sorted(count for _, count in counts) == [1500, 1500]


def test_serve_refuses_without_admin_key(cli_env, monkeypatch):
    monkeypatch.delenv("ANALYTICS_ADMIN_KEY", raising=False)
    result = invoke("serve")
    assert result.exit_code != 0
    assert "ANALYTICS_ADMIN_KEY" in result.output


def test_serve_with_workers_refuses_the_embedded_defaults(cli_env):
    result = invoke("serve", "--workers", "2")
    assert result.exit_code != 0
    assert "--workers 2" in result.output and "chDB" in result.output and "ANALYTICS_CACHE_URL" in result.output


def test_ingest_verify_reports_consistency_and_exits_1_on_a_difference(cli_env, runtime, tmp_path, monkeypatch):
    from analytics_engine.ingest.validation import Limits, validate_events
    from tests.support.factories import events

    runtime.writer.write(validate_events(events("verified", 30, users=4), "tn_cli_verify", Limits()).accepted)
    clean = invoke("ingest", "verify", "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["consistent"] is True

    runtime.warehouse.command(
        f"INSERT INTO {runtime.warehouse.table('metrics_daily')} (tenant_id, event, hour, events) "
        "VALUES ('tn_cli_verify', 'verified', toStartOfHour(now()), 2)"
    )
    skewed = invoke("ingest", "verify")
    assert skewed.exit_code == 1
    assert "tn_cli_verify: metrics_daily events = 32, events say 30" in skewed.output

    monkeypatch.setenv("ANALYTICS_WAREHOUSE_DATABASE", "never_migrated")
    get_settings.cache_clear()
    empty = invoke("ingest", "verify")
    assert empty.exit_code == 0 and "no events table yet" in empty.output


def test_keys_take_a_tenant_name_and_lists_print_json_with_whole_ids(cli_env):
    tenant = json.loads(invoke("tenants", "create", "named-tenant").output)
    key = json.loads(invoke("keys", "create", "named-tenant", "--scope", "ingest").output)
    assert key["tenant_id"] == tenant["id"]
    listed = json.loads(invoke("keys", "list", "named-tenant", "--json").output)
    assert [k["id"] for k in listed] == [key["id"]] and listed[0]["scopes"] == "ingest"
    tenants = json.loads(invoke("tenants", "list", "--json").output)
    assert {"id": tenant["id"], "name": "named-tenant"}.items() <= next(
        t for t in tenants if t["name"] == "named-tenant"
    ).items()
    # Not a terminal: plain tab-separated lines, the whole id on its tenant's line.
    plain = invoke("tenants", "list").output.splitlines()
    assert plain[0].split("\t") == ["id", "name", "timezone", "created"]
    assert f"{tenant['id']}\tnamed-tenant\tUTC" in "\n".join(plain)
    assert invoke("keys", "revoke", "named-tenant", key["id"]).exit_code == 0
    missing = invoke("keys", "list", "no-such-tenant")
    assert missing.exit_code == 1 and "No tenant with id or name 'no-such-tenant'" in missing.output


def test_a_table_on_a_narrow_terminal_never_cuts_an_id(monkeypatch):
    from rich.console import Console

    from analytics_engine.cli import common

    monkeypatch.setattr(common, "out", Console(force_terminal=True, width=40, record=True))
    long_id = "tn_" + "0123456789abcdef" * 2
    common.print_rows(("id", "name"), [(long_id, "Acme Learning With A Long Name")], as_json=False)
    assert long_id in common.out.export_text()


def test_a_busy_embedded_warehouse_gives_one_clear_line_and_no_engine_output(cli_env, runtime, settings):
    """This process holds the chDB folder (the `runtime` fixture), as `serve` would."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "ANALYTICS_WAREHOUSE_DSN": settings.warehouse_dsn,
        "ANALYTICS_DATA_DIR": str(settings.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli.main", "generate", "--events", "10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    assert "is in use by another process" in done.stderr
    assert "DB::Exception" not in done.stderr + done.stdout
    assert "Code: 76" not in done.stderr + done.stdout
