"""Measures the web page on the demo data (docs/ui.md has the figures):

- first dashboard paint: navigation start → every widget of "Product overview" drawn with an answer
  (fresh, or its last known one labelled with its age: `firstPaintMs`), for a signed-in visitor (key in
  sessionStorage); also the first widget drawn with data (`firstWidgetMs`) and every widget fresh
  (`freshPaintMs`). Cold visits, each in a new context of the running browser (its very first page,
  the browser's processes starting, is a warm-up outside the figures): (a) the service just started,
  widget and insight caches empty, without its background warm (`dashboard_warm` off: the server
  computes every widget on the visit), (b) the service restarted, caches emptied, warm on: the visit
  arrives while the warm computes, (c) the next first visit, once the start-up warm is done, (d) the
  first visit right after new events arrived (every answer misses: last known answers, then fresh
  ones). Then warm
  visits (median, each in a new browser context: nothing in its HTTP cache) and a repeat visit in the
  same browser (reloads);
- the size of the assets sent, gzip-compressed as the server sends them;
- click-to-chart in the builder: "Run" clicked for a trend not computed before → its chart drawn.

Run: PYTHONPATH=src .venv/bin/python benchmarks/ui_bench.py [--events 160000] [--runs 7]
Same-run A/B against another commit: export it (`git archive <commit> | tar -x -C /tmp/base`) and run
this file with PYTHONPATH=/tmp/base/src (before the warm existed, b-d are plain first visits).
Uses Debian's /usr/bin/chromium through Playwright (no browser download), a temporary data folder and a
free port; the demo tenant is "Acme Learning"'s size (160,000 events over 200 days) by default."""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.dashboards.demo import create_demo_dashboard
from analytics_engine.datagen.demo import DEMO_DAYS
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import KeyCreate, Scope, TenantCreate

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# every widget drawn fresh (a page before the stale-while-revalidate marks only sets firstPaintMs, when
# every widget is drawn: the bench also runs against it for a same-run A/B)
DRAWN = (
    "document.body.dataset.freshPaintMs !== undefined || (document.body.dataset.firstPaintMs !== undefined"
    " && document.body.dataset.firstWidgetMs === undefined)"
)
STATIC = Path(__file__).resolve().parents[1] / "src" / "analytics_engine" / "ui" / "static"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def asset_sizes() -> dict[str, dict[str, int]]:
    """Every asset the dashboard page loads, raw and gzip-compressed (level 6, as the server sends it)."""
    files = [
        "index.html",
        "app.css",
        "vendor/chart-4.6.1.umd.min.js",
        *[f"js/{p.name}" for p in (STATIC / "js").glob("*.js")],
    ]
    return {
        name: {"raw": len(data), "gzip": len(gzip.compress(data, compresslevel=6))}
        for name in sorted(files)
        for data in [(STATIC / name).read_bytes()]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=160_000)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    settings = Settings(
        data_dir=folder / "data",
        warehouse_dsn=f"chdb://{folder / 'warehouse'}",
        admin_key="bench-admin",
        log_json=False,
    )  # type: ignore[call-arg]
    runtime = Runtime.build(settings)
    tenant = runtime.tenants.create(TenantCreate(name="Acme Learning", timezone="Europe/Oslo"))
    key = runtime.tenants.create_key(tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin])).key
    started = time.perf_counter()
    load_events(
        runtime.warehouse, tenant.id, generate_events(GeneratorSpec(events=options.events, days=DEMO_DAYS, seed=11))
    )
    dashboard = create_demo_dashboard(runtime, tenant.id)
    print(f"loaded {options.events} events in {time.perf_counter() - started:.1f} s")

    def serve(warm: bool) -> tuple[uvicorn.Server, threading.Thread, str]:
        """A server on the runtime, its widget and insight caches emptied first (a restarted service)."""
        runtime.cache.delete_prefix(f"{tenant.id}:")
        if "dashboard_warm" in type(runtime.settings).model_fields:  # (absent before the warm: A/B runs)
            runtime.settings.dashboard_warm = warm
        port = _port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, runtime), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        return server, thread, f"http://127.0.0.1:{port}"

    def stop(server: uvicorn.Server, thread: threading.Thread) -> None:
        server.should_exit = True
        thread.join(timeout=30)

    result: dict[str, Any] = {"events": options.events, "assets": asset_sizes()}
    result["assets_total"] = {k: sum(a[k] for a in result["assets"].values()) for k in ("raw", "gzip")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)

        def visit(url: str) -> dict[str, float]:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
            page = context.new_page()
            page.goto(f"{url}/ui/#/d/{dashboard.id}")
            page.wait_for_function(DRAWN, timeout=60_000)
            marks = page.evaluate(
                "({first_widget: +(document.body.dataset.firstWidgetMs || document.body.dataset.firstPaintMs),"
                " paint: +document.body.dataset.firstPaintMs,"
                " fresh: +(document.body.dataset.freshPaintMs || document.body.dataset.firstPaintMs),"
                " stale: document.querySelectorAll('.widget[data-state=stale]').length})"
            )
            context.close()
            return marks

        cold: dict[str, Any] = {}
        server, thread, url = serve(warm=False)
        # the browser's own first page (its processes starting: ~0.7 s here) is not the dashboard's
        warmup = browser.new_context()
        warmup.new_page().goto(f"{url}/healthz")
        warmup.close()
        cold["a_no_warm"] = visit(url)
        stop(server, thread)
        server, thread, url = serve(warm=True)
        cold["b_at_start_warm_running"] = visit(url)
        warmer = getattr(runtime, "dashboard_warmer", None)
        while warmer is not None and not warmer.idle():
            time.sleep(0.05)
        cold["c_after_start_warm"] = visit(url)
        headers = {"Authorization": f"Bearer {key}"}
        sent = httpx.post(
            f"{url}/v1/events",
            headers=headers,
            json=[
                {"event": "pageview", "distinct_id": f"bench-{i}", "properties": {"plan": "free"}} for i in range(20)
            ],
        )
        sent.raise_for_status()
        time.sleep(0.2)  # committed (group commit waits a few ms): the data version moved on
        cold["d_after_new_events"] = visit(url)
        result["cold_paint_ms"] = cold
        print(json.dumps(cold, indent=2))
        while warmer is not None and not warmer.idle():
            time.sleep(0.05)
        names = [e["name"] for e in httpx.get(f"{url}/v1/taxonomy", headers=headers).json()["events"]]

        paints, renders = [], []
        for run in range(options.runs):
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
            page = context.new_page()
            sent: list[int] = []
            page.on(
                "response",
                lambda r, s=sent: s.append(int(r.headers.get("content-length") or 0)) if "/ui/" in r.url else None,
            )
            page.goto(f"{url}/ui/#/d/{dashboard.id}")
            page.wait_for_function(DRAWN, timeout=60_000)
            paints.append(
                float(page.evaluate("document.body.dataset.freshPaintMs || document.body.dataset.firstPaintMs"))
            )
            renders.append(
                float(
                    page.evaluate(
                        "performance.getEntriesByType('resource').find(e => e.name.includes('/render')).duration"
                    )
                )
            )
            if run == 0:
                result["ui_bytes_sent_first_visit"] = sum(sent)
                # where the cold visit's time went: the document, DOMContentLoaded, each asset and API call
                # (start → end, ms after navigation start)
                result["cold_timeline_ms"] = page.evaluate(
                    """() => Object.fromEntries([
                        ['dom_content_loaded',
                         [0, Math.round(performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd)]],
                        ['document', [0, Math.round(performance.getEntriesByType('navigation')[0].responseEnd)]],
                        ...performance.getEntriesByType('resource')
                          .map((e) => [new URL(e.name).pathname.replace(/dsh_[0-9a-f]+/, '{id}'),
                                       [Math.round(e.startTime), Math.round(e.responseEnd)]])])"""
                )
            context.close()
        # a repeat visit in the same browser: modules and stylesheet from its HTTP cache (content-hash URLs)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
        page = context.new_page()
        page.goto(f"{url}/ui/#/d/{dashboard.id}")
        page.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
        repeats, repeat_bytes = [], []
        for _ in range(3):
            page.reload()
            page.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
            repeats.append(float(page.evaluate("document.body.dataset.firstPaintMs")))
            repeat_bytes.append(
                int(
                    page.evaluate(
                        "performance.getEntriesByType('navigation')[0].transferSize + performance"
                        ".getEntriesByType('resource').filter((e) => e.name.includes('/ui/'))"
                        ".reduce((a, e) => a + e.transferSize, 0)"
                    )
                )
            )
        context.close()
        result["repeat_visit"] = {"paint_median_ms": statistics.median(repeats), "ui_bytes": repeat_bytes}
        result["first_paint_ms"] = {
            "first_visit": paints[0],
            "warm_median": statistics.median(paints[1:]),
            "all": paints,
        }
        result["render_api_ms"] = {"first_visit": renders[0], "warm_median": statistics.median(renders[1:])}

        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
        page = context.new_page()
        page.goto(f"{url}/ui/#/insight")
        page.wait_for_selector("#b-chart canvas", timeout=60_000)
        clicks, in_page = [], []
        for event in names[:8]:
            for math in ("total", "unique_users"):
                if event == names[0] and math == "total":
                    continue  # the builder's first chart: already computed
                page.fill("#b-form .s-event", event)
                page.select_option("#b-form .s-math", math)  # "Run" at once: a query never computed before
                runs = int(page.evaluate("document.body.dataset.builderRuns || '0'"))
                started = time.perf_counter()
                page.click("#b-run")
                page.wait_for_function(f"Number(document.body.dataset.builderRuns) > {runs}", timeout=60_000)
                clicks.append((time.perf_counter() - started) * 1000)
                in_page.append(float(page.evaluate("document.body.dataset.builderMs")))
        result["click_to_chart_ms"] = {
            "median": statistics.median(clicks),
            "max": max(clicks),
            "in_page_median": statistics.median(in_page),
            "runs": len(clicks),
        }
        browser.close()
    stop(server, thread)
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "ui_bench.json"
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
