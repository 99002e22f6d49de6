"""A worker killed in the middle of an export (SIGKILL of `serve`) does not leave the job running:
after a restart the job is found stale, queued again and run to the end."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import httpx

from analytics_engine.bench.common import server_process

ROWS = 50_000


def _events(start: int, count: int) -> list[dict]:
    base = datetime.now(UTC) - timedelta(days=2)
    return [
        {
            "event": "pageview",
            "distinct_id": f"u{i % 500}",
            "timestamp": (base + timedelta(seconds=i)).isoformat(),
            "properties": {"n": i, "path": f"/p/{i % 97}"},
        }
        for i in range(start, start + count)
    ]


def test_killed_worker_job_is_rerun_after_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"ANALYTICS_EXPORT_WORKERS": "1", "ANALYTICS_EXPORT_STALE_AFTER_SECONDS": "2"}
    with server_process(env, data_dir=tmp_path) as server:
        _, key = server.tenant_key("killed-worker")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            for start in range(0, ROWS, 10_000):
                http.post("/v1/events", json=_events(start, 10_000)).raise_for_status()
            export_id = (
                http.post("/v1/exports", json={"source": {"type": "events"}, "format": "xlsx"})
                .raise_for_status()
                .json()["id"]
            )
            deadline = time.monotonic() + 60
            while http.get(f"/v1/exports/{export_id}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
        server.process.send_signal(signal.SIGKILL)  # no shutdown hook runs: the job stays "running"
        server.process.wait(timeout=30)
    with (
        server_process(env, data_dir=tmp_path) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
    ):
        deadline = time.monotonic() + 120
        while True:
            status = http.get(f"/v1/exports/{export_id}").json()
            if status["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "succeeded", status
        assert status["rows_written"] == ROWS
        job = httpx.get(f"{server.url}/v1/admin/jobs/{export_id}", headers=server.admin_headers()).json()
        assert job["attempts"] == 2  # killed once, then run again to the end
        assert http.get(status["download_url"]).status_code == 200
