"""What every benchmark shares: a throw-away server process, timing, and the result file."""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path("benchmarks/results")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # (host, port) for AF_INET
        return port


@dataclass
class ServerProcess:
    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def tenant_key(self, name: str, scopes: tuple[str, ...] = ("ingest", "read", "admin")) -> tuple[str, str]:
        """Create a tenant and a key; returns (tenant_id, key)."""
        with httpx.Client(base_url=self.url, headers=self.admin_headers(), timeout=30) as client:
            tenant = client.post("/v1/admin/tenants", json={"name": name}).raise_for_status().json()
            key = client.post(f"/v1/admin/tenants/{tenant['id']}/keys", json={"scopes": list(scopes)})
            return tenant["id"], key.raise_for_status().json()["key"]


@contextmanager
def server_process(extra_env: dict[str, str] | None = None, data_dir: Path | None = None) -> Iterator[ServerProcess]:
    """`analytics-engine serve` in a child process on a free port and its own data folder."""
    folder = data_dir or Path(tempfile.mkdtemp(prefix="ae-bench-"))
    port = free_port()
    admin_key = "adm_" + secrets.token_hex(8)
    env = {
        **os.environ,
        "ANALYTICS_DATA_DIR": str(folder),
        "ANALYTICS_ADMIN_KEY": admin_key,
        "ANALYTICS_PORT": str(port),
        "ANALYTICS_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    env.pop("ANALYTICS_WAREHOUSE_DSN", None) if "ANALYTICS_WAREHOUSE_DSN" not in (extra_env or {}) else None
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics_engine.cli.main", "serve"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, lambda: (folder / "server.log").read_text()[-2000:])
        yield ServerProcess(url, admin_key, folder, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_tail: Callable[[], str], timeout: float = 120
) -> None:
    """Until `serve` at `url` answers /readyz; its log's tail in the error if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_tail()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not become ready in {timeout:.0f} s")


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    document = {
        "benchmark": name,
        "at": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*[f"{cell:,.2f}" if isinstance(cell, float) else str(cell) for cell in row])
    Console().print(table)
