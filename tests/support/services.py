"""Real services for tests: reachable, or a loud skip outside CI and a failure inside it."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
NATS = ("127.0.0.1", 4222)
RESTART_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no",
    "NATS": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 "
    "-p 4222 -js -sd /var/lib/nats-server",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(address: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, address: tuple[str, int]) -> None:
    """Skip (outside CI) or fail (CI=true) when a service the test needs does not answer."""
    if reachable(address):
        return
    message = (
        f"{name} is not reachable at {address[0]}:{address[1]}. "
        f"Start it with: {RESTART_HINTS.get(name, 'see the env page')}"
    )
    if in_ci():
        pytest.fail(f"CI=true and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")
