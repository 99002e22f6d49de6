"""Kill tests: `analytics-engine lifecycle run` and an erasure are SIGKILLed at random instants and run
again until they finish. Nothing may be lost or duplicated: every tenant's rows (hot and cold
together) keep their count and checksum, no old month stays hot, derived tables agree with events;
the erased person is gone from hot, cold and stored files while everyone else's rows are intact;
running the erasure once more is harmless. Every inspection runs in a child process (chDB). Run with
-s to see where each kill landed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

KILLS = 4
ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "ANALYTICS_DATA_DIR": str(data_dir),
        "ANALYTICS_ADMIN_KEY": "kill-test",
        "ANALYTICS_HOT_RETENTION_MONTHS": "1",
        "ANALYTICS_EXPORT_STALE_AFTER_SECONDS": "1",
        "ANALYTICS_LOG_LEVEL": "warning",
        "ANALYTICS_LOG_JSON": "false",
    }


def _step(data_dir: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.lifecycle.crash_steps", *args],
        env=_env(data_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _last_json(stdout: str) -> Any:
    lines = [line for line in stdout.splitlines() if line.startswith(("{", "["))]
    return json.loads(lines[-1]) if lines else None


def _cli(data_dir: Path, *args: str, kill_after: float | None = None) -> subprocess.CompletedProcess[str] | None:
    command = [sys.executable, "-m", "analytics_engine.cli.main", *args]
    process = subprocess.Popen(
        command, env=_env(data_dir), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if kill_after is None:
        out, err = process.communicate(timeout=300)
        return subprocess.CompletedProcess(command, process.returncode, out, err)
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        print(f"  killed {' '.join(args)} after {kill_after:.2f}s")
        return None
    print(f"  {' '.join(args)} finished before its kill at {kill_after:.2f}s")
    process.communicate()
    return None


@pytest.mark.timeout(1800)
def test_tiering_and_erasure_survive_sigkill(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "22")))
    data_dir = tmp_path / "data"
    prepared = _step(data_dir, "prepare")
    tenants: list[str] = prepared["tenants"]
    original = prepared["figures"]

    for _ in range(KILLS):
        _cli(data_dir, "lifecycle", "run", kill_after=rng.uniform(1.5, 6.0))
    finished = _cli(data_dir, "lifecycle", "run")
    assert finished is not None and finished.returncode == 0, finished.stderr[-3000:]
    state = _step(data_dir, "check", *tenants)
    assert state["figures"] == original  # nothing lost, nothing twice, hot and cold together
    assert state["hot_old"] == {t: 0 for t in tenants}
    assert all(state["cold_months"][t] for t in tenants)
    assert state["mismatches"] == [] and state["staging_tables"] == 0

    erase = ("privacy", "erase", "--tenant", tenants[0], "--distinct-id", "p3")
    _cli(data_dir, *erase, kill_after=rng.uniform(2.0, 5.0))
    for _ in range(KILLS - 1):
        _cli(data_dir, "privacy", "resume", kill_after=rng.uniform(1.5, 5.0))
    resumed = _cli(data_dir, "privacy", "resume")
    assert resumed is not None and resumed.returncode == 0, resumed.stderr[-3000:]
    if not _last_json(resumed.stdout):
        # The first kill came before the erasure was recorded: ask again.
        again = _cli(data_dir, *erase)
        assert again is not None and again.returncode == 0, again.stderr[-3000:]
    state = _step(data_dir, "check", *tenants)
    assert state["p3"][tenants[0]][0] == 0
    assert state["p3"][tenants[1]][0] > 0  # the other tenant's p3 is not this person
    rows, total = original[tenants[0]]
    p3_rows, p3_total = prepared["p3"][tenants[0]]
    assert state["without_p3"][tenants[0]] == [
        rows - p3_rows,
        format((int(total, 16) - int(p3_total, 16)) % 2**64, "x"),
    ]
    assert state["figures"][tenants[1]] == original[tenants[1]]
    assert state["mismatches"] == []
    assert state["export"] == "distinct_id,n\np4,2\n"
    # Once more: harmless, and it finds nothing.
    twice = _cli(data_dir, *erase)
    assert twice is not None and twice.returncode == 0, twice.stderr[-3000:]
    receipt = _last_json(twice.stdout)["receipt"]
    assert {e["store"]: e for e in receipt["stores"]}["events"]["rows_before"] == 0
    assert _step(data_dir, "check", *tenants)["figures"] == state["figures"]
