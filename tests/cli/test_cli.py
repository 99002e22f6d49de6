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
        (("keys", "revoke", "tn_missing", "key_missing"), "No key"),
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
