"""Several `analytics-engine serve` processes on this machine sharing PostgreSQL (metadata), Redis
(cache, budgets) and NATS (bus), each with its own chDB data folder (chDB is one process per folder:
replicas answering from one warehouse need a ClickHouse server DSN)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "replicas-admin-key"


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def metric(self, name: str) -> float:
        """The sum of a Prometheus sample over its labels, from this replica's /metrics."""
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replica_env(folder: Path, metadata_url: str, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            "ANALYTICS_DATA_DIR": str(folder),
            "ANALYTICS_METADATA_URL": metadata_url,
            "ANALYTICS_CACHE_URL": "redis://127.0.0.1:6379/0",
            "ANALYTICS_BUS_URL": "nats://127.0.0.1:4222",
            "ANALYTICS_ADMIN_KEY": ADMIN,
            "ANALYTICS_PORT": str(port),
            "ANALYTICS_STREAM_TOKEN_SECRET": "replicas-share-this-secret",
            "ANALYTICS_LOG_JSON": "false",
            "ANALYTICS_LOG_LEVEL": "warning",
        }
    )
    env.update(extra)
    return env


def start_replica(
    folder: Path, metadata_url: str, name: str, serve_args: tuple[str, ...] = (), **extra: str
) -> Replica:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from analytics_engine.cli.main import app; app()",
                "serve",
                "--port",
                str(port),
                *serve_args,
            ],
            env=replica_env(folder, metadata_url, port, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return Replica(name, url, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{name} did not start: {log.read_text()[-3000:]}")


def stop_replica(replica: Replica) -> None:
    if replica.process.poll() is None:
        replica.process.terminate()
        try:
            replica.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait(timeout=10)


@contextmanager
def replicas(base: Path, metadata_url: str, count: int, **extra: str) -> Iterator[list[Replica]]:
    """`count` serve processes; the first migrates the metadata database, the others start after it."""
    started: list[Replica] = []
    try:
        for number in range(count):
            started.append(start_replica(base / f"replica-{number}", metadata_url, f"replica-{number}", **extra))
        yield started
    finally:
        for replica in started:
            stop_replica(replica)


def make_tenant(replica: Replica) -> tuple[str, dict[str, str]]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    tenant = httpx.post(
        f"{replica.url}/v1/admin/tenants", json={"name": f"rep-{uuid.uuid4().hex[:6]}"}, headers=admin, timeout=30
    )
    tenant.raise_for_status()
    tenant_id = tenant.json()["id"]
    key = httpx.post(
        f"{replica.url}/v1/admin/tenants/{tenant_id}/keys",
        json={"scopes": ["ingest", "read", "admin"]},
        headers=admin,
        timeout=30,
    )
    key.raise_for_status()
    return tenant_id, {"Authorization": f"Bearer {key.json()['key']}"}
