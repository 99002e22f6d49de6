"""The lifecycle tests run on a hot tier of one month, so "old" events are a few weeks old."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    # No scheduled tiering inside the app (its first run is at start-up): the tests run the job
    # themselves, and a run of the app's own racing theirs drops staging tables under it.
    return build_settings(
        tmp_path_factory.mktemp("data"), warehouse_path, hot_retention_months=1, lifecycle_interval_seconds=0
    )
