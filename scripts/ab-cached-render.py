"""Same-run A/B of a cached dashboard render through HTTP: the server process's CPU per request.

    .venv/bin/python scripts/ab-cached-render.py <commit> [--rounds 3] [--requests 500]
        [--data-dir /work/benchdata/...] [--events 100000]

`bench dashboards`' data (`ensure_data`, generated once into `--data-dir`), its dashboard rendered
through a real `analytics-engine serve` (uvicorn) by one sequential httpx client. Each round starts a
server for `<commit>` (a temporary worktree, through PYTHONPATH, same .venv) and one for the working
tree, alternating, each in its turn under the bench lock (/tmp/analytics-bench.lock). Per server: 30
warm-up renders, then `--requests` cached renders and as many `GET /healthz`; for each, the wall time
per request (client side) and the server's process CPU per request (utime + stime from /proc, less the
idle CPU measured over 2 s before). The cached answers of both sides are compared with their volatile
fields (render and compute times, freshness) removed and floats to 12 digits: they must be equal.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from analytics_engine.bench.common import server_process
from analytics_engine.bench.dashboards import ensure_data, pct, tenant_key

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
VOLATILE = {"rendered_at", "elapsed_ms", "computed_at", "fresh_as_of", "sql_ms", "total_ms"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, float):  # each server computes the widgets anew: ClickHouse's float sums
        return float(f"{value:.12g}")  # may differ in the last bits with the order of the additions
    return value


def timed(client: httpx.Client, pid: int, path: str, count: int, idle_rate: float) -> dict[str, float]:
    walls = []
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        walls.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    return {
        "wall_p50_ms": round(pct(walls, 50), 2),
        "wall_p95_ms": round(pct(walls, 95), 2),
        "cpu_ms_per_request": round((cpu - idle_rate * wall) / count * 1000, 3),
        "cpu_ms_per_request_raw": round(cpu / count * 1000, 3),
    }


def measure(src: Path, folder: Path, requests: int, dashboard_id: str) -> dict[str, Any]:
    path = f"/v1/dashboards/{dashboard_id}/render"
    with open("/tmp/analytics-bench.lock", "w") as lock:  # held for the server's life
        fcntl.flock(lock, fcntl.LOCK_EX)
        with server_process(extra_env={"PYTHONPATH": str(src)}, data_dir=folder) as server:
            key = tenant_key(server)
            pid = server.process.pid
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
                for _ in range(30):
                    answer = client.get(path).raise_for_status().json()
                if not all(w["cached"] for w in answer["widgets"]) or any(w["error"] for w in answer["widgets"]):
                    raise RuntimeError(f"not a cached render: {answer}")
                cpu, t0 = cpu_seconds(pid), time.perf_counter()
                time.sleep(2)
                idle_rate = (cpu_seconds(pid) - cpu) / (time.perf_counter() - t0)
                render = timed(client, pid, path, requests, idle_rate)
                health = timed(client, pid, "/healthz", requests, idle_rate)
                headers = client.get(path, headers={"X-Request-ID": "ab-check"}).headers
    return {
        "render": render,
        "healthz": health,
        "idle_cpu_ms_per_s": round(idle_rate * 1000, 1),
        "answer": stable(answer),
        "request_id_echoed": headers.get("x-request-id") == "ab-check",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="ae-ab-cached-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = ensure_data(folder, args.events, args.days)
    old = Path(tempfile.mkdtemp(prefix="ab-cached-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(old), args.commit], cwd=ROOT, check=True)
    rows = []
    try:
        for round_ in range(1, args.rounds + 1):
            answers = {}
            for side, src in (("before", old / "src"), ("after", ROOT / "src")):
                result = measure(src, folder, args.requests, data["dashboard_id"])
                answers[side] = result.pop("answer")
                load = Path("/proc/loadavg").read_text().split()[:3]
                row = {"round": round_, "side": side, "load": " ".join(load), **result}
                rows.append(row)
                print(json.dumps(row), flush=True)
            same = answers["before"] == answers["after"]
            print(json.dumps({"round": round_, "same_answer": same}), flush=True)
            if not same:
                for side, answer in answers.items():
                    (folder / f"ab-answer-{side}.json").write_text(json.dumps(answer, indent=1, sort_keys=True))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    for side in ("before", "after"):
        mine = [r for r in rows if r["side"] == side]
        render = [r["render"]["cpu_ms_per_request"] for r in mine]
        health = [r["healthz"]["cpu_ms_per_request"] for r in mine]
        print(f"{side}: CPU ms per request by round: render {render}, healthz {health}")


if __name__ == "__main__":
    main()
