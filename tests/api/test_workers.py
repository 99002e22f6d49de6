"""`serve --workers N` refuses settings whose state would not be shared between the processes."""

from __future__ import annotations

import pytest

from analytics_engine.api.workers import shared_state_problems
from analytics_engine.config import Settings

SHARED = {
    "warehouse_dsn": "http://clickhouse:8123",
    "metadata_url": "postgresql://postgres@127.0.0.1:5432/test",
    "cache_url": "redis://127.0.0.1:6379/0",
    "bus_url": "nats://127.0.0.1:4222",
}


def test_every_piece_shared_runs_workers(tmp_path):
    assert shared_state_problems(Settings(data_dir=tmp_path, **SHARED)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "local", "named"),
    [
        ("warehouse_dsn", "chdb:///tmp/wh", "ANALYTICS_WAREHOUSE_DSN"),
        ("metadata_url", "sqlite:////tmp/meta.db", "ANALYTICS_METADATA_URL"),
        ("cache_url", None, "ANALYTICS_CACHE_URL"),
        ("bus_url", None, "ANALYTICS_BUS_URL"),
    ],
)
def test_each_process_local_piece_is_named(tmp_path, setting, local, named):
    problems = shared_state_problems(Settings(data_dir=tmp_path, **{**SHARED, setting: local}))  # type: ignore[arg-type]
    assert len(problems) == 1 and named in problems[0]


def test_the_embedded_defaults_name_all_four(tmp_path):
    assert len(shared_state_problems(Settings(data_dir=tmp_path))) == 4
