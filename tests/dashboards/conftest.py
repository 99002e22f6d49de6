"""Fixtures of the live-stream tests: a real uvicorn server on the module's settings and runtime."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.dashboards.live import LiveServer, live_server


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client
