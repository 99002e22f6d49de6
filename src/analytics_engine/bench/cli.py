"""`bench cli`: start-up cost of the commands that do not touch the warehouse (issue 24: under 1 s).

Each command runs `repeat` times as a fresh process on a throw-away data folder; the figure is the
median wall time and the median CPU time (user + system of the child, which a busy machine inflates
far less than wall time). The same-run baseline is the bare interpreter importing typer, the floor of
any typer CLI; the ratio says how much of the time is ours.

Both ways Python can find the code are measured: with bytecode (a private `PYTHONPYCACHEPREFIX`
filled by the warm-up run, as after `uv pip install --compile-bytecode`, which scripts/bootstrap
does) and from source (no bytecode written or read, as in a venv installed without it and run under
PYTHONDONTWRITEBYTECODE=1: every import compiles its module again)."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics_engine.bench.common import print_table, write_result

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("version",),
    ("tenants", "list"),
    ("tenants", "list", "--json"),
    ("keys", "list", "bench-tenant"),
)
TARGET_SECONDS = 1.0


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _measure(argv: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    _timed(argv, env)  # warm the file cache and the .pyc files
    runs = [_timed(argv, env) for _ in range(repeat)]
    return {
        "wall_p50_s": round(statistics.median(w for w, _ in runs), 3),
        "cpu_p50_s": round(statistics.median(c for _, c in runs), 3),
    }


def _mode(env: dict[str, str], repeat: int) -> dict[str, Any]:
    cli = [sys.executable, "-m", "analytics_engine.cli.main"]
    baseline = _measure([sys.executable, "-c", "import typer"], env, repeat)
    measured = {" ".join(command): _measure([*cli, *command], env, repeat) for command in COMMANDS}
    return {
        "baseline_python_import_typer": baseline,
        "commands": {
            name: {**figures, "cpu_over_baseline": round(figures["cpu_p50_s"] / max(baseline["cpu_p50_s"], 1e-3), 2)}
            for name, figures in measured.items()
        },
    }


def run(repeat: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(folder), "ANALYTICS_METADATA_URL": f"sqlite:///{folder}/meta.db"}
    for name in ("ANALYTICS_WAREHOUSE_DSN", "ANALYTICS_WAREHOUSE_DATABASE", "PYTHONPYCACHEPREFIX"):
        env.pop(name, None)
    envs = {
        "bytecode": {
            **{k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
        },
        "source": {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(folder / "empty-pycache")},
    }
    try:
        subprocess.run(
            [sys.executable, "-m", "analytics_engine.cli.main", "tenants", "create", "bench-tenant"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        modes = {mode: _mode(mode_env, repeat) for mode, mode_env in envs.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "repeat": repeat,
        "target_s": TARGET_SECONDS,
        "load_average_1m": round(load[0], 2),
        "modes": modes,
    }
    rows: list[list[Any]] = []
    for mode, figures in modes.items():
        base = figures["baseline_python_import_typer"]
        rows.append([mode, "python -c 'import typer' (baseline)", base["wall_p50_s"], base["cpu_p50_s"], "1.00"])
        rows += [
            [mode, f"analytics-engine {name}", f["wall_p50_s"], f["cpu_p50_s"], f"{f['cpu_over_baseline']:.2f}"]
            for name, f in figures["commands"].items()
        ]
    print_table(
        f"bench cli (median of {repeat}; load average {load[0]:.1f} on {os.cpu_count()} cpus)",
        ["code from", "command", "wall (s)", "cpu (s)", "cpu / baseline"],
        rows,
    )
    result["file"] = str(write_result("cli", result))
    return result
