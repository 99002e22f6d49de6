"""The lifecycle tests run on a hot tier of one month, so "old" events are a few weeks old."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, hot_retention_months=1)
