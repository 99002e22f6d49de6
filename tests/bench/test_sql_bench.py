"""`bench sql`: the guard of the 2 KB query is timed against sqlglot parsing it, and the query is
one a tenant may run (the guard accepts it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics_engine.bench import common
from analytics_engine.bench.sql import QUERY, run
from analytics_engine.cli.main import app
from analytics_engine.query.catalogue import build_catalogue
from analytics_engine.query.guard import guard


def test_the_query_is_about_2_kb_and_accepted() -> None:
    assert 1900 <= len(QUERY.strip()) <= 2200
    guarded = guard(QUERY.strip(), build_catalogue("bench", {}))
    assert set(guarded.tables) == {"events", "persons", "person_properties", "cohort_users"}


def test_run_writes_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    result = run(iterations=10, warmup=1)
    assert result["guard_p50_ms"] > 0 and result["parse_p50_ms"] > 0
    assert result["guard_over_parse"] >= 1
    assert Path(result["file"]).exists()


def test_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    outcome = CliRunner().invoke(app, ["bench", "sql", "--iterations", "10"])
    assert outcome.exit_code == 0, outcome.output
    assert "guard" in outcome.output
