"""The standalone worker as operators run it (`python -m analytics_engine.cli.main ingest nats`), in
child processes with their own data folder, against the real NATS server: killed with SIGKILL at the
worst moments and restarted, every published event is in the warehouse exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantService
from tests.streaming.support import consumer_info, publish, tenant_events

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "analytics_engine.cli.main"]


def worker_env(data_dir: Path, names: dict[str, str], **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ANALYTICS_") and key != "CRASH_AFTER_INSERTS"
    }
    env.update(
        {
            "ANALYTICS_DATA_DIR": str(data_dir),
            "ANALYTICS_NATS_STREAM": names.get("stream", "UNUSED"),
            "ANALYTICS_NATS_SUBJECTS": names.get("subjects", "unused.>"),
            "ANALYTICS_NATS_CONSUMER": "worker",
            "ANALYTICS_NATS_ACK_WAIT_SECONDS": "3",
            "ANALYTICS_NATS_RETRY_MAX_SECONDS": "1",
            "ANALYTICS_LOG_JSON": "false",
            **extra,
        }
    )
    return env


def make_tenant(data_dir: Path) -> str:
    metadata = MetadataDB(f"sqlite:///{data_dir / 'meta.db'}")
    metadata.migrate()
    tenant_id = TenantService(metadata).create(TenantCreate(name="firehose")).id
    metadata.dispose()
    return tenant_id


def warehouse_contents(data_dir: Path, names: dict[str, str], tenant_id: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, str(HERE / "count_events.py"), tenant_id],
        env=worker_env(data_dir, names),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_batch_and_after_insert_then_restart_keeps_each_event_once(tmp_path, nats_names):
    tenant_id = make_tenant(tmp_path)
    stream, subject = nats_names["stream"], nats_names["subject"]
    plain = tenant_events(tenant_id, 100, "plain")  # ids derived from the stream sequence
    with_ids = tenant_events(tenant_id, 100, "client_id")
    for i, body in enumerate(with_ids):
        body["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
    by_msg_id = tenant_events(tenant_id, 50, "msg_id")
    bodies = [*plain, b"poison-1", *with_ids, *by_msg_id]
    msg_ids = [None] * 201 + [f"order-{i}" for i in range(50)]
    asyncio.run(publish(stream, subject, bodies, msg_ids=msg_ids))

    # 1. Dies right after its second insert returned, before acknowledging that batch.
    crashed = subprocess.run(
        [sys.executable, str(HERE / "crash_worker.py"), "2", "ingest", "nats", "--batch-max-events", "100"],
        env=worker_env(tmp_path, nats_names),
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]

    # 2. More events arrive; a fresh worker gathers a batch that cannot close yet (big, 60 s)...
    asyncio.run(publish(stream, subject, [*tenant_events(tenant_id, 150, "later"), b"poison-2"]))
    worker = subprocess.Popen(
        [*CLI, "ingest", "nats", "--batch-max-events", "5000", "--batch-max-seconds", "60"],
        env=worker_env(tmp_path, nats_names),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # ...holding every message not yet acknowledged (the redelivered ones come after ack_wait).
        def holding_everything() -> bool:
            info = asyncio.run(consumer_info(stream, "worker"))
            return info.num_pending == 0 and info.num_ack_pending >= 252 - 100 and info.num_redelivered > 0

        wait_for(holding_everything, 60, "the worker to hold the open batch")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL

    # 3. Restarted: drains every redelivery and exits once nothing is pending or unacknowledged.
    drained = subprocess.run(
        [*CLI, "ingest", "nats", "--until-idle", "--batch-max-seconds", "0.5"],
        env=worker_env(tmp_path, nats_names),
        capture_output=True,
        timeout=180,
    )
    assert drained.returncode == 0, drained.stderr.decode()[-3000:]
    summary = json.loads(drained.stdout.decode().strip().splitlines()[-1])
    assert summary["last_error"] is None

    stored = warehouse_contents(tmp_path, nats_names, tenant_id)
    assert stored["count"] == stored["unique"] == 400  # 100 + 100 + 50 + 150: each exactly once
    assert {f"00000000-0000-4000-8000-{i:012d}" for i in range(100)} <= set(stored["ids"])
    # Both poison messages are recorded with their reason (possibly twice: once per delivery that
    # reached an insert), and neither blocked the stream.
    reasons = {request_id: reason for request_id, reason in stored["rejected"]}
    assert len(reasons) == 2 and all(r.startswith("malformed JSON") for r in reasons.values())
    info = asyncio.run(consumer_info(stream, "worker"))
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


def test_worker_waits_for_nats_and_refuses_a_busy_warehouse_cleanly(tmp_path):
    env = worker_env(tmp_path, {}, ANALYTICS_NATS_URL="nats://127.0.0.1:1")
    first = subprocess.Popen([*CLI, "ingest", "nats"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(4)
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""  # waiting, not exiting
        # The first worker holds the embedded warehouse: a second one says so and exits (no traceback).
        second = subprocess.run([*CLI, "ingest", "nats"], env=env, capture_output=True, timeout=60)
        assert second.returncode == 1
        message = " ".join(second.stderr.decode().split())  # the console wraps long lines
        assert "in use by another process" in message and "ANALYTICS_NATS_INGEST=true" in message
        assert "Traceback" not in message
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    log = " ".join(err.decode().split())
    assert first.returncode == 0, log[-2000:]
    assert "NATS is not reachable at nats://127.0.0.1:1" in log and "retrying in" in log
    assert "Traceback" not in log
    assert json.loads(out.decode().strip().splitlines()[-1])["events"] == 0
