"""`bench dashboards`: render latency of an 8-widget dashboard (cold, warm-uncached, cached) and SSE
fan-out (N open streams on one dashboard: time from an event's ingest to every client notified).

Baselines measured in the same run: for uncached renders, the sum of the eight widgets' own compute
times (what rendering them one after the other would cost: the ratio shows what concurrency buys);
for cached renders, a bare `GET /healthz` round trip (the HTTP floor); for the fan-out, the ingest
request's own latency (the acknowledgement the event landed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from analytics_engine.bench.common import print_table, server_process, write_result
from analytics_engine.dashboards.demo import DEMO_METRICS, demo_dashboard_spec


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def generate(folder: Path, events: int, days: int) -> None:
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(folder), "ANALYTICS_LOG_LEVEL": "warning"}
    env.pop("ANALYTICS_WAREHOUSE_DSN", None)
    env.pop("ANALYTICS_METADATA_URL", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics_engine.cli.main",
            "generate",
            "--tenants",
            "1",
            "--events",
            str(events),
            "--days",
            str(days),
        ],
        env=env,
        check=True,
    )


def make_dashboard(client: httpx.Client) -> str:
    ids = {}
    for body in DEMO_METRICS:
        created = client.post("/v1/metrics", json=body.model_dump(mode="json"))
        created.raise_for_status()
        ids[body.name] = created.json()["id"]
    spec = demo_dashboard_spec(ids).model_dump(mode="json")
    spec["widgets"].append(
        {
            "title": "Signups by country",
            "viz": "bar",
            "metric_id": ids["Signups"],
            "dimensions": ["country"],
            "layout": {"x": 0, "y": 12, "w": 12, "h": 4},
        }
    )
    created = client.post("/v1/dashboards", json=spec)
    created.raise_for_status()
    dashboard_id: str = created.json()["id"]
    return dashboard_id


def timed_get(client: httpx.Client, path: str, **params: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


async def fan_out(url: str, key: str, dashboard_id: str, streams: int, rounds: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    notified: list[list[float]] = [[] for _ in range(streams)]
    ready = [asyncio.Event() for _ in range(streams)]
    got = [asyncio.Event() for _ in range(streams)]

    async def reader(index: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", f"/v1/dashboards/{dashboard_id}/stream", headers=headers) as response:
            response.raise_for_status()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line == "":
                    if event == "snapshot":
                        ready[index].set()
                    elif event == "widget":
                        notified[index].append(time.perf_counter())
                        got[index].set()
                    event = ""

    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(60, read=None), limits=limits) as streams_client,
        httpx.AsyncClient(base_url=url, timeout=60) as poster,
    ):
        tasks = [asyncio.create_task(reader(i, streams_client)) for i in range(streams)]
        opened = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), timeout=180)
        open_seconds = time.perf_counter() - opened
        all_notified: list[float] = []
        ingest_ms: list[float] = []
        per_client: list[float] = []
        for number in range(rounds):
            for event in got:
                event.clear()
            marks = [len(n) for n in notified]
            started = time.perf_counter()
            response = await poster.post(
                "/v1/events", headers=headers, json=[{"event": "signup", "distinct_id": f"fanout-{number}"}]
            )
            response.raise_for_status()
            ingest_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in got)), timeout=60)
            firsts = [notified[i][marks[i]] for i in range(streams)]
            all_notified.append((max(firsts) - started) * 1000)
            per_client.extend((t - started) * 1000 for t in firsts)
            await asyncio.sleep(0.5)  # let follow-up refreshes settle
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": streams,
        "rounds": rounds,
        "open_all_seconds": round(open_seconds, 2),
        "all_notified_ms": all_notified,
        "client_notified_ms": per_client,
        "ingest_ms": ingest_ms,
    }


def run(events: int, days: int, renders: int, streams: int, rounds: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-dash-"))
    started = time.perf_counter()
    generate(folder, events, days)
    generate_seconds = time.perf_counter() - started
    env = {"ANALYTICS_STREAM_MAX_PER_TENANT": str(streams + 50), "ANALYTICS_STREAM_DEBOUNCE_MS": "50"}
    with server_process(extra_env=env, data_dir=folder) as server:
        with httpx.Client(base_url=server.url, headers=server.admin_headers(), timeout=120) as admin:
            tenant = next(t for t in admin.get("/v1/admin/tenants").json() if t["name"] == "gen-1")
            key = admin.post(f"/v1/admin/tenants/{tenant['id']}/keys", json={"scopes": ["ingest", "read", "admin"]})
            key = key.raise_for_status().json()["key"]
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
            dashboard_id = make_dashboard(client)
            path = f"/v1/dashboards/{dashboard_id}/render"
            cold_ms, cold = timed_get(client, path)
            errors = [w["error"] for w in cold["widgets"] if w["error"]]
            if errors:
                raise RuntimeError(f"widgets failed: {errors}")
            uncached, sequential = [], []
            for _ in range(renders):
                elapsed, body = timed_get(client, path, refresh="true")
                uncached.append(elapsed)
                sequential.append(sum(w["elapsed_ms"] for w in body["widgets"]))
            cached = [timed_get(client, path)[0] for _ in range(renders)]
            health = [timed_get(client, "/healthz")[0] for _ in range(renders)]
            widget_ms = {w["title"]: round(w["elapsed_ms"], 1) for w in body["widgets"]}
        sse = asyncio.run(fan_out(server.url, key, dashboard_id, streams, rounds))

    figures = {
        "render_cold_ms": round(cold_ms, 1),
        "render_uncached_p50_ms": round(pct(uncached, 50), 1),
        "render_uncached_p95_ms": round(pct(uncached, 95), 1),
        "sequential_widgets_p50_ms": round(pct(sequential, 50), 1),
        "sequential_widgets_p95_ms": round(pct(sequential, 95), 1),
        "render_cached_p50_ms": round(pct(cached, 50), 2),
        "render_cached_p95_ms": round(pct(cached, 95), 2),
        "healthz_p50_ms": round(pct(health, 50), 2),
        "healthz_p95_ms": round(pct(health, 95), 2),
        "fanout_all_notified_p50_ms": round(pct(sse["all_notified_ms"], 50), 1),
        "fanout_all_notified_p95_ms": round(pct(sse["all_notified_ms"], 95), 1),
        "fanout_client_p50_ms": round(pct(sse["client_notified_ms"], 50), 1),
        "ingest_ack_p95_ms": round(pct(sse["ingest_ms"], 95), 1),
    }
    ratios = {
        "uncached_vs_sequential_p95": round(
            figures["render_uncached_p95_ms"] / figures["sequential_widgets_p95_ms"], 3
        ),
        "cached_vs_healthz_p95": round(figures["render_cached_p95_ms"] / figures["healthz_p95_ms"], 3),
        "fanout_vs_ingest_ack_p95": round(figures["fanout_all_notified_p95_ms"] / figures["ingest_ack_p95_ms"], 3),
    }
    result = {
        "events": events,
        "days": days,
        "widgets": 8,
        "renders": renders,
        "streams": streams,
        "rounds": rounds,
        "generate_seconds": round(generate_seconds, 1),
        "figures": figures,
        "ratios": ratios,
        "widget_ms_last_uncached": widget_ms,
        "targets": {"render_uncached_p95_ms": 100, "render_cached_p95_ms": 10, "fanout_all_notified_p95_ms": 2000},
    }
    print_table(
        f"bench dashboards ({events:,} events, 8 widgets, {streams} streams)",
        ["measure", "p50 ms", "p95 ms", "baseline p95 ms", "ratio", "target p95"],
        [
            ["render cold (first, one sample)", figures["render_cold_ms"], "", "", "", ""],
            [
                "render warm, uncached (refresh=true)",
                figures["render_uncached_p50_ms"],
                figures["render_uncached_p95_ms"],
                figures["sequential_widgets_p95_ms"],
                ratios["uncached_vs_sequential_p95"],
                "< 100",
            ],
            [
                "render cached",
                figures["render_cached_p50_ms"],
                figures["render_cached_p95_ms"],
                figures["healthz_p95_ms"],
                ratios["cached_vs_healthz_p95"],
                "< 10",
            ],
            [
                f"ingest -> all {streams} streams notified",
                figures["fanout_all_notified_p50_ms"],
                figures["fanout_all_notified_p95_ms"],
                figures["ingest_ack_p95_ms"],
                ratios["fanout_vs_ingest_ack_p95"],
                "< 2000",
            ],
        ],
    )
    result["file"] = str(write_result("dashboards", result))
    return result
