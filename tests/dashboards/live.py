"""A real uvicorn server in a thread, serving the module's runtime (for SSE and browser tests)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.support.factories import TenantHandle, make_tenant


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    httpx.get(f"{url}/healthz", timeout=5).raise_for_status()
    try:
        yield LiveServer(url, server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def live_tenant(http: httpx.Client, prefix: str) -> TenantHandle:
    """A new tenant with a key, made through the live server."""
    return make_tenant(http, {"Authorization": f"Bearer {ADMIN_KEY}"}, f"{prefix}-{uuid.uuid4().hex[:8]}")  # type: ignore[arg-type]
