"""`bench exports`: export throughput and peak memory (RSS) of the export worker, CSV and Parquet,
against ClickHouse writing the same rows itself (`SELECT ... INTO OUTFILE ... FORMAT CSVWithNames /
Parquet`) in the same run. Each step runs in its own child process (chDB: one data path per
process), so the peak RSS of each step is its own (`ru_maxrss` of the child).

Steps: prepare (N synthetic events via INSERT ... SELECT FROM numbers()), then per format the
ClickHouse baseline and the real worker path (a job row, claim, `run_job`: count, stream, write,
move into storage).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_engine.config import Settings
    from analytics_engine.runtime import Runtime

TENANT = "bench-exports"
FORMATS = ("csv", "parquet")


def _settings(data_dir: Path) -> Settings:
    from analytics_engine.config import Settings

    return Settings(data_dir=data_dir, log_json=False, log_level="warning", export_workers=1)


def _runtime(data_dir: Path) -> Runtime:
    from analytics_engine.runtime import Runtime

    return Runtime.build(_settings(data_dir))


def step_prepare(data_dir: Path, rows: int) -> dict[str, Any]:
    from analytics_engine.tenants.schemas import TenantCreate

    rt = _runtime(data_dir)
    tenant = rt.tenants.find_by_name(TENANT) or rt.tenants.create(TenantCreate(name=TENANT))
    started = time.perf_counter()
    chunk = 2_000_000
    for offset in range(0, rows, chunk):
        rt.warehouse.command(
            f"""INSERT INTO {rt.warehouse.table("events")}
                (tenant_id, event, distinct_id, timestamp, event_id, properties)
            SELECT {{tenant:String}}, ['pageview', 'signup', 'purchase', 'feature_used'][number % 4 + 1],
                   concat('user-', toString(number % 200000)),
                   toDateTime64('2026-06-01 00:00:00', 3, 'UTC') - toIntervalSecond(number % 20000000),
                   generateUUIDv4(),
                   concat('{{"plan":"', ['free', 'pro', 'team'][number % 3 + 1], '","amount":',
                          toString(number % 997), ',"path":"/page/', toString(number % 113), '"}}')
            FROM numbers({{offset:UInt64}}, {{count:UInt64}})""",
            {"tenant": tenant.id, "offset": offset, "count": min(chunk, rows - offset)},
        )
    elapsed = time.perf_counter() - started
    rt.close()
    return {"tenant_id": tenant.id, "rows": rows, "seconds": elapsed}


def step_baseline(data_dir: Path, tenant_id: str, fmt: str, out: Path) -> dict[str, Any]:
    """ClickHouse formats and writes the same SELECT the worker runs (benchmark only: a file
    path on the server side is never reachable from a tenant request)."""
    from analytics_engine.exports.schemas import EventsSource
    from analytics_engine.exports.sources import events_plan

    rt = _runtime(data_dir)
    plan = events_plan(EventsSource(), default_end=None)
    # the worker's text path for CSV; its block path (epoch-ms timestamps) for Parquet
    sql = plan.select(rt.warehouse.table("events"), block=fmt == "parquet")
    clickhouse_format = "CSVWithNames" if fmt == "csv" else "Parquet"
    escaped = str(out).replace("\\", "\\\\").replace("'", "\\'")
    started = time.perf_counter()
    rt.warehouse.command(
        f"{sql} INTO OUTFILE '{escaped}' TRUNCATE FORMAT {clickhouse_format}",
        {**plan.params, "tenant_id": tenant_id},
    )
    elapsed = time.perf_counter() - started
    rows = int(rt.warehouse.query(f"SELECT count() FROM {rt.warehouse.table('events')}").scalar())
    rt.close()
    return {"seconds": elapsed, "rows": rows, "bytes": out.stat().st_size}


def step_export(data_dir: Path, tenant_id: str, fmt: str) -> dict[str, Any]:
    from analytics_engine.exports.schemas import ExportCreate
    from analytics_engine.exports.worker import register_exports, tenant_context

    rt = _runtime(data_dir)
    service = rt.exports
    accepted = service.create(
        tenant_context(rt, tenant_id), ExportCreate.model_validate({"source": {"type": "events"}, "format": fmt})
    )
    # Exports run on the job runner now (issue 16 item 3): claim and run this one job here.
    register_exports(rt)
    started = time.perf_counter()
    job = rt.runner.run_now(accepted.id)
    elapsed = time.perf_counter() - started
    rt.close()
    if job.state.value != "succeeded":
        raise RuntimeError(f"export failed: {job.error}")
    return {"seconds": elapsed, "rows": job.result["rows"], "bytes": job.result["bytes"]}


def _child(step: str, **kwargs: Any) -> dict[str, Any]:
    """Run one step in a child process; returns its JSON answer plus its peak RSS in MB."""
    args = json.dumps({key: str(value) if isinstance(value, Path) else value for key, value in kwargs.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "analytics_engine.bench.exports", step, args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ANALYTICS_LOG_LEVEL": "warning"},
    )
    _, status, usage = os.wait4(process.pid, 0)
    stdout = process.stdout.read().decode() if process.stdout else ""
    stderr = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"bench step {step} failed:\n{stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    answer["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
    return answer


def run(rows: int, formats: tuple[str, ...] = FORMATS, data_dir: Path | None = None) -> dict[str, Any]:
    """With `data_dir`, the generated events are kept there and reused by the next run of the same
    size (generating 10M events takes minutes on a small machine)."""
    from analytics_engine.bench.common import print_table, write_result

    folder = Path(tempfile.mkdtemp(prefix="ae-bench-exports-"))
    data = data_dir or folder / "data"
    marker = data / f"bench-exports-{rows}.json"
    if marker.exists():
        prepared = json.loads(marker.read_text())
        print(f"reusing {rows:,} events in {data}", flush=True)
    else:
        prepared = _child("prepare", data_dir=data, rows=rows)
        print(f"prepared {rows:,} events in {prepared['seconds']:.1f}s", flush=True)
        if data_dir:
            marker.write_text(json.dumps(prepared))
    results = []
    table = []
    for fmt in formats:
        baseline = _child(
            "baseline", data_dir=data, tenant_id=prepared["tenant_id"], fmt=fmt, out=folder / f"base.{fmt}"
        )
        (folder / f"base.{fmt}").unlink(missing_ok=True)
        ours = _child("export", data_dir=data, tenant_id=prepared["tenant_id"], fmt=fmt)
        if ours["rows"] != rows:
            raise RuntimeError(f"{fmt}: exported {ours['rows']} rows, expected {rows}")
        ratio = baseline["seconds"] / ours["seconds"]
        entry = {
            "format": fmt,
            "rows": rows,
            "export_seconds": round(ours["seconds"], 3),
            "export_rows_per_second": round(rows / ours["seconds"]),
            "export_peak_rss_mb": ours["peak_rss_mb"],
            "export_bytes": ours["bytes"],
            "baseline_seconds": round(baseline["seconds"], 3),
            "baseline_rows_per_second": round(rows / baseline["seconds"]),
            "baseline_peak_rss_mb": baseline["peak_rss_mb"],
            "baseline_bytes": baseline["bytes"],
            "ratio": round(ratio, 3),
            "target_ratio": 0.5,
            "target_peak_rss_mb": 500,
            "meets_targets": ratio >= 0.5 and ours["peak_rss_mb"] < 500,
        }
        results.append(entry)
        table.append(
            [
                fmt,
                f"{entry['export_rows_per_second']:,}",
                f"{entry['baseline_rows_per_second']:,}",
                entry["ratio"],
                entry["export_peak_rss_mb"],
                entry["baseline_peak_rss_mb"],
                "yes" if entry["meets_targets"] else "NO",
            ]
        )
    print_table(
        f"exports of {rows:,} events (worker vs ClickHouse INTO OUTFILE, same run)",
        [
            "format",
            "worker rows/s",
            "ClickHouse rows/s",
            "ratio",
            "worker peak RSS MB",
            "baseline peak RSS MB",
            "targets (>=0.5, <500 MB)",
        ],
        table,
    )
    path = write_result("exports", {"rows": rows, "results": results, "load_average": os.getloadavg()})
    print(f"result: {path}")
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return {"rows": rows, "results": results}


def main() -> None:
    step, raw = sys.argv[1], json.loads(sys.argv[2])
    if "data_dir" in raw:
        raw["data_dir"] = Path(raw["data_dir"])
    if "out" in raw:
        raw["out"] = Path(raw["out"])
    steps: dict[str, Callable[..., dict[str, Any]]] = {
        "prepare": step_prepare,
        "baseline": step_baseline,
        "export": step_export,
    }
    answer = steps[step](**raw)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
