"""`bench soak`: everything at once for N minutes against one `serve` (issue 26).

Load, all concurrent: HTTP ingest (1,000-event bodies) and NATS ingest (100-event JetStream messages,
the consumer inside `serve`) splitting `--rate` events/s; dashboard renders; SSE clients on the
dashboard; insight exports; alert evaluations; one PostgreSQL sync backfill. Measured: p95 of each
operation, errors (target 0), the server's resident memory (growth over the last half under 10%),
and nothing lost: after the load, every acknowledged event is counted once (`events` holds exactly
the acknowledged events, each `event_id` once) and every derived table agrees with `events`
(`ingest/consistency.py` `check_derived`, run on the warehouse folder once `serve` stopped).

Same-run baseline: each operation's p95 on the idle server before the load; the ratio is the
loaded p95 over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson

from analytics_engine.bench.common import print_table, server_process, write_result
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.ingest.validation import new_event_ids

NATS_URL = "nats://127.0.0.1:4222"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
HTTP_BODY_EVENTS = 1000
NATS_MESSAGE_EVENTS = 100
# Bodies in flight at once. Each sender waits for its answer (HTTP answers once the events are
# stored), so 8 senders offered at most 8,000 events per answer's latency: 2,700/s at the 3 s a
# loaded server answers in, far below the rate asked for (issue 26's profile). 32 keep offering it.
HTTP_SENDERS = 32
RETRIES = 5  # attempts of one ingest body or NATS message before it counts as an error
MEMORY_EVERY_SECONDS = 20.0  # how often the server's /v1/admin/debug/memory is read
TREND = {"kind": "trends", "series": [{"event": "pageview"}, {"event": "signup"}], "interval": "hour"}
WIDGETS = [
    {"title": "Pageviews and signups", "viz": "line", "query": TREND},
    {
        "title": "Users",
        "viz": "big_number",
        "query": {"kind": "trends", "series": [{"event": "pageview", "math": "unique_users"}]},
    },
    {
        "title": "Funnel",
        "viz": "funnel",
        "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}]},
    },
]


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)


@dataclass
class Op:
    """One kind of operation: latencies (ms) and errors (with the first few messages)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    messages: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.messages) < 5:
            self.messages.append(text[:300])

    def summary(self, baseline: Op | None = None) -> dict[str, Any]:
        loaded = p95(self.latencies)
        idle = p95(baseline.latencies) if baseline else None
        return {
            "count": len(self.latencies),
            "p95_ms": loaded,
            "p50_ms": round(statistics.median(self.latencies), 2) if self.latencies else None,
            "idle_p95_ms": idle,
            "ratio_to_idle": round(loaded / idle, 2) if loaded and idle else None,
            "errors": self.errors,
            "error_messages": self.messages,
        }


class EventSource:
    """Generated events (a pool of realistic ones), each handed out with a fresh event id.

    The pool is serialized once; a body is its events' JSON with a fresh id spliced in front of
    each (ids from one read of the OS's random source). Copying each event into a new dict, one
    `uuid4()` per event and dumping the body again cost the load generator about a fifth of its
    CPU, on the machine the server shares (issue 26's profile, docs/benchmarks.md)."""

    def __init__(self) -> None:
        pool = list(generate_events(GeneratorSpec(events=50_000, days=20, seed=26)))
        # Each event without its id and without the opening brace: `"event":...}`.
        self.pool = [orjson.dumps({k: v for k, v in event.items() if k != "event_id"})[1:] for event in pool]
        self.cursor = itertools.cycle(range(0, len(self.pool) - HTTP_BODY_EVENTS, HTTP_BODY_EVENTS // 2))

    def take_body(self, count: int) -> bytes:
        """A JSON array of `count` events, each with a fresh `event_id`."""
        start = next(self.cursor)
        ids = new_event_ids(count)
        return (
            b"["
            + b",".join(
                b'{"event_id":"' + event_id.encode() + b'",' + event
                for event_id, event in zip(ids, self.pool[start : start + count], strict=True)
            )
            + b"]"
        )

    def take(self, count: int) -> list[dict[str, Any]]:
        return list(orjson.loads(self.take_body(count)))


class Pacer:
    """Lets `rate` events/s through in total; a caller ahead of schedule waits."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.granted = 0

    async def take(self, count: int) -> None:
        self.granted += count
        ahead = self.granted / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


@dataclass
class Faults:
    """Failures injected into the soak's own clients, so its resend path runs in a test (issue 26):
    each counts down as it fires, one ingest request or publish at a time.

    - `http_lost_answers`: the body reaches the server and is stored, the answer is lost
      (`httpx.ReadError`); the soak sends it again with the same event ids.
    - `http_refused`: the connection fails before the body is sent (`httpx.ConnectError`).
    - `nats_lost_acks`: JetStream stores the message, its acknowledgement is lost (a timeout); the
      soak publishes it again with the same message id.
    - `nats_refused`: the publish fails before it reaches the server."""

    http_lost_answers: int = 0
    http_refused: int = 0
    nats_lost_acks: int = 0
    nats_refused: int = 0
    fired: dict[str, int] = field(default_factory=dict)

    def take(self, name: str) -> bool:
        left = int(getattr(self, name))
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        self.fired[name] = self.fired.get(name, 0) + 1
        return True


class FaultyTransport(httpx.AsyncBaseTransport):
    """The soak's HTTP transport with `Faults` on `POST /v1/events` (the ingest bodies)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/events":
            if self.faults.take("http_refused"):
                raise httpx.ConnectError("injected: connection refused", request=request)
            if self.faults.take("http_lost_answers"):
                response = await self.inner.handle_async_request(request)
                await response.aread()
                await response.aclose()
                raise httpx.ReadError(f"injected: answer {response.status_code} lost", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FaultyJetStream:
    """The soak's JetStream context with `Faults` on `publish`."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        if self.faults.take("nats_refused"):
            raise nats.errors.NoRespondersError
        answer = await self.inner.publish(subject, payload, **kwargs)
        if self.faults.take("nats_lost_acks"):
            raise nats.errors.TimeoutError
        return answer


@dataclass
class Soak:
    url: str
    key: str
    tenant_id: str
    stream: str
    subject: str
    deadline: float
    ops: dict[str, Op]
    source: EventSource
    http_acked: int = 0
    nats_acked: int = 0
    sse_messages: int = 0
    retried: int = 0
    # Resends by path: HTTP bodies sent again with the same event ids, NATS messages published
    # again with the same message id (each acknowledged, and its events counted, once).
    resent: dict[str, int] = field(default_factory=lambda: {"http": 0, "nats": 0})

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def _with_retries(
        self, op: Op, attempt: Callable[[bool], Awaitable[tuple[str, bool] | None]], path: str
    ) -> None:
        """Calls `attempt(retry)` until it succeeds (returns None), at most `RETRIES` times, waiting
        longer before each retry (counted in `retried`). A failure is `(text, final)`: a final one is
        not retried. The last failure counts as one error of `op`."""
        failure = ""
        for number in range(RETRIES):
            if number:
                self.retried += 1
                self.resent[path] += 1
                await asyncio.sleep(0.5 * number)
            outcome = await attempt(number > 0)
            if outcome is None:
                return
            failure, final = outcome
            if final:
                break
        op.error(failure)

    async def http_ingest(self, client: httpx.AsyncClient, pacer: Pacer) -> None:
        """A body dropped on the way (connection lost, 429, 5xx) is sent again as it was, with the
        same event ids: the duplicate check stores each once. Counted in `retried`; an error is a
        body still not acknowledged after `RETRIES` attempts."""
        op = self.ops["http_ingest"]
        while self.running():
            await pacer.take(HTTP_BODY_EVENTS)
            body = self.source.take_body(HTTP_BODY_EVENTS)
            post = functools.partial(self._post_body, client, op, HTTP_BODY_EVENTS, body, time.perf_counter())
            await self._with_retries(op, post, "http")

    async def _post_body(
        self, client: httpx.AsyncClient, op: Op, count: int, body: bytes, started: float, retry: bool
    ) -> tuple[str, bool] | None:
        headers = {**self.headers, "Content-Type": "application/json"}
        try:
            response = await client.post("/v1/events", content=body, headers=headers)
        except httpx.TransportError as exc:
            return repr(exc), False
        if response.status_code == 429 or response.status_code >= 500:
            return f"{response.status_code} {response.text}", False
        if response.status_code >= 300:
            return f"{response.status_code} {response.text}", True
        answer = response.json()
        rejected = len(answer.get("rejected") or [])
        # A retry's events the lost attempt had stored are acknowledged too (stored once).
        self.http_acked += count - rejected if retry else int(answer["accepted"])
        if rejected:
            op.error(f"rejected: {answer['rejected'][:2]}")
        op.latencies.append((time.perf_counter() - started) * 1000)
        return None

    async def nats_ingest(self, js: Any, pacer: Pacer) -> None:
        """A publish JetStream did not acknowledge is sent again with the same events (and message
        id, so the stream keeps one copy; the consumer's duplicate check would also drop it)."""
        op = self.ops["nats_publish"]
        while self.running():
            await pacer.take(NATS_MESSAGE_EVENTS)
            events = self.source.take_body(NATS_MESSAGE_EVENTS)
            message = b'{"tenant_id":' + orjson.dumps(self.tenant_id) + b',"events":' + events + b"}"
            publish = functools.partial(self._publish, js, op, message, uuid.uuid4().hex, time.perf_counter())
            await self._with_retries(op, publish, "nats")

    async def _publish(
        self, js: Any, op: Op, message: bytes, message_id: str, started: float, retry: bool
    ) -> tuple[str, bool] | None:
        try:
            await js.publish(f"{self.subject}.in", message, timeout=30, headers={"Nats-Msg-Id": message_id})
        except Exception as exc:  # any publish failure is retried with the same message id
            return repr(exc), False
        self.nats_acked += NATS_MESSAGE_EVENTS  # JetStream stored it: acknowledged to the publisher
        op.latencies.append((time.perf_counter() - started) * 1000)
        return None

    async def renders(self, client: httpx.AsyncClient, dashboard_id: str, pause: float) -> None:
        op = self.ops["dashboard_render"]
        while self.running():
            started = time.perf_counter()
            try:
                response = await client.get(f"/v1/dashboards/{dashboard_id}/render", headers=self.headers)
                failed = [w["error"] for w in response.json().get("widgets", []) if w.get("error")]
                if response.status_code != 200 or failed:
                    op.error(f"{response.status_code} {failed or response.text}")
                else:
                    op.latencies.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                op.error(repr(exc))
            await asyncio.sleep(pause)

    async def sse_client(self, client: httpx.AsyncClient, dashboard_id: str) -> None:
        """One stream for the whole run: the gaps between widget updates are its latencies."""
        op = self.ops["sse_update_gap"]
        last = None
        try:
            async with client.stream("GET", f"/v1/dashboards/{dashboard_id}/stream", headers=self.headers) as response:
                if response.status_code != 200:
                    op.error(f"stream {response.status_code}")
                    return
                event = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line == "" and event:
                        if event == "widget":
                            self.sse_messages += 1
                            now = time.perf_counter()
                            if last is not None:
                                op.latencies.append((now - last) * 1000)
                            last = now
                        event = ""
                    if not self.running():
                        return
        except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
            if self.running():
                op.error(f"stream dropped: {exc!r}")
        except Exception as exc:
            if self.running():
                op.error(repr(exc))

    async def exports(self, client: httpx.AsyncClient, pause: float) -> None:
        op = self.ops["export"]
        while self.running():
            started = time.perf_counter()
            try:
                created = await client.post(
                    "/v1/exports", headers=self.headers, json={"source": {"type": "insight", "query": TREND}}
                )
                if created.status_code != 202:
                    op.error(f"{created.status_code} {created.text}")
                else:
                    export_id = created.json()["id"]
                    while True:
                        status = (await client.get(f"/v1/exports/{export_id}", headers=self.headers)).json()
                        if status["status"] not in ("queued", "running"):
                            break
                        await asyncio.sleep(0.2)
                    if status["status"] != "succeeded":
                        op.error(f"export {status['status']}: {status.get('error')}")
                    else:
                        op.latencies.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                op.error(repr(exc))
            await asyncio.sleep(pause)

    async def alerts(self, client: httpx.AsyncClient, alert_ids: list[str], pause: float) -> None:
        op = self.ops["alert_evaluation"]
        for alert_id in itertools.cycle(alert_ids):
            if not self.running():
                return
            started = time.perf_counter()
            try:
                response = await client.post(f"/v1/alerts/{alert_id}/evaluate", headers=self.headers)
                if response.status_code != 200:
                    op.error(f"{response.status_code} {response.text}")
                else:
                    op.latencies.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                op.error(repr(exc))
            await asyncio.sleep(pause)


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return ""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the process's live threads, summed by thread name (`python`,
    chDB's `ThreadPool`, `MergeMutate`, ...). On a machine shared with other work, the server's CPU per
    stored event is the figure that compares between runs; wall-clock rates depend on the neighbours."""
    tick = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return by_name


def process_cpu(pid: int) -> float:
    """CPU seconds of the whole process, its ended threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_figures(
    before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]], seconds: float, events: int
) -> dict[str, Any]:
    """Cores the server used while the load ran, its CPU per stored event, and the share of each
    thread name (threads that ended meanwhile count in the total only)."""
    total = after[0] - before[0]
    threads = {name: after[1][name] - before[1].get(name, 0.0) for name in after[1]}
    return {
        "cores": round(total / seconds, 3) if seconds > 0 else None,
        "us_per_stored_event": round(total / events * 1e6, 1) if events > 0 else None,
        "cores_by_thread": {
            name: round(spent / seconds, 3)
            for name, spent in sorted(threads.items(), key=lambda item: -item[1])
            if seconds > 0 and spent / seconds >= 0.005
        },
    }


def _sample_rss(pid: int, samples: list[tuple[float, int]], stop: threading.Event) -> None:
    started = time.monotonic()
    while not stop.wait(2.0):
        with contextlib.suppress(OSError):
            samples.append((time.monotonic() - started, _rss_kib(pid)))


def _sample_memory(
    url: str, admin: dict[str, str], reports: list[tuple[float, dict[str, Any]]], stop: threading.Event
) -> None:
    """The server's own account of its memory (`GET /v1/admin/debug/memory`) every
    MEMORY_EVERY_SECONDS: what grows, not only that the resident set does."""
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=admin, timeout=60) as client:
        while True:
            with contextlib.suppress(Exception):
                reports.append((time.monotonic() - started, client.get("/v1/admin/debug/memory?top=8").json()))
            if stop.wait(MEMORY_EVERY_SECONDS):
                return


def memory_components(reports: list[tuple[float, dict[str, Any]]], duration: float) -> dict[str, Any]:
    """Each part of the server's memory (MiB) at the load's start, middle and end, from the
    debug route's reports: the resident set, glibc's heap in use and free-but-held, the Python heap
    (tracemalloc, when on), the engine's tracked memory and caches, and the result cache."""
    if not reports:
        return {}

    def figures(report: dict[str, Any]) -> dict[str, float]:
        found: dict[str, float] = {}
        for key, value in (report.get("process") or {}).items():
            found[f"process.{key}"] = value
        for key, value in (report.get("malloc") or {}).items():
            found[f"malloc.{key}"] = value
        python = report.get("python") or {}
        if python.get("tracing"):
            found["python.traced_bytes"] = python["traced_bytes"]
        for key, value in ((report.get("engine") or {}).get("metrics") or {}).items():
            found[f"engine.{key}"] = value
        for key, value in ((report.get("engine") or {}).get("allocator") or {}).items():
            found[f"engine.jemalloc.{key}"] = value
        cache = report.get("result_cache") or {}
        if cache.get("in_process"):
            found["result_cache.value_bytes"] = cache["value_bytes"]
            found["result_cache.entries"] = cache["entries"]
        return found

    def at(fraction: float) -> tuple[float, dict[str, Any]]:
        return min(reports, key=lambda item: abs(item[0] - duration * fraction))

    points = {"start": at(0.0), "middle": at(0.5), "end": at(1.0)}
    values = {name: figures(report) for name, (_, report) in points.items()}
    table: dict[str, dict[str, float]] = {}
    for key in values["end"]:
        scale = 1 if key.endswith(("entries", "Cells")) else 1024 * 1024
        table[key] = {name: round(values[name].get(key, 0) / scale, 1) for name in points}
    last = points["end"][1]
    return {
        "at_seconds": {name: round(at_, 1) for name, (at_, _) in points.items()},
        "figures": table,
        "python_top_at_end": (last.get("python") or {}).get("top", []),
        "malloc_trim_at_end": last.get("malloc_trim"),
        "reports": len(reports),
    }


def rss_growth(samples: list[tuple[float, int]], duration: float) -> dict[str, Any]:
    """Resident memory at the middle of the run against its end (medians of nearby samples)."""
    if len(samples) < 4:
        return {"samples": len(samples)}
    middle = [kib for at, kib in samples if duration * 0.4 <= at <= duration * 0.6] or [samples[len(samples) // 2][1]]
    end = [kib for at, kib in samples if at >= duration * 0.9] or [samples[-1][1]]
    mid_kib, end_kib = statistics.median(middle), statistics.median(end)
    return {
        "samples": len(samples),
        "start_mib": round(samples[0][1] / 1024, 1),
        "middle_mib": round(mid_kib / 1024, 1),
        "end_mib": round(end_kib / 1024, 1),
        "max_mib": round(max(kib for _, kib in samples) / 1024, 1),
        "growth_last_half": round((end_kib - mid_kib) / mid_kib, 4),
    }


def _setup(url: str, key: str, admin: dict[str, str], alerts: int) -> tuple[str, list[str]]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=120) as client:
        dashboard = client.post("/v1/dashboards", headers=headers, json={"name": "Soak"}).raise_for_status().json()
        for widget in WIDGETS:
            client.post(f"/v1/dashboards/{dashboard['id']}/widgets", headers=headers, json=widget).raise_for_status()
        alert_ids = []
        for number in range(alerts):
            rule = {
                "name": f"soak-{number}",
                "source": {
                    "type": "insight",
                    "query": {"kind": "trends", "series": [{"event": "pageview"}], "interval": "hour"},
                },
                "condition": {"type": "threshold", "operator": "below", "value": 1 + number},
                "every_seconds": 3600,
            }
            alert_ids.append(client.post("/v1/alerts", headers=headers, json=rule).raise_for_status().json()["id"])
    return dashboard["id"], alert_ids


def _idle_baseline(url: str, key: str, dashboard_id: str, alert_ids: list[str]) -> dict[str, Op]:
    """Each operation on the idle server (same run): the baseline of the ratios."""
    headers = {"Authorization": f"Bearer {key}"}
    ops = {name: Op(name) for name in ("http_ingest", "dashboard_render", "alert_evaluation", "export")}
    source = EventSource()
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for _ in range(5):
            body = source.take_body(HTTP_BODY_EVENTS)
            started = time.perf_counter()
            client.post("/v1/events", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
            ops["http_ingest"].latencies.append((time.perf_counter() - started) * 1000)
        for _ in range(5):
            started = time.perf_counter()
            client.get(f"/v1/dashboards/{dashboard_id}/render").raise_for_status()
            ops["dashboard_render"].latencies.append((time.perf_counter() - started) * 1000)
        for alert_id in alert_ids[:5]:
            started = time.perf_counter()
            client.post(f"/v1/alerts/{alert_id}/evaluate").raise_for_status()
            ops["alert_evaluation"].latencies.append((time.perf_counter() - started) * 1000)
        for _ in range(2):
            started = time.perf_counter()
            export_id = client.post("/v1/exports", json={"source": {"type": "insight", "query": TREND}}).json()["id"]
            while client.get(f"/v1/exports/{export_id}").json()["status"] in ("queued", "running"):
                time.sleep(0.1)
            ops["export"].latencies.append((time.perf_counter() - started) * 1000)
    return ops


def _backfill(url: str, admin: dict[str, str], rows: int, op: Op, deadline: float) -> dict[str, Any]:
    """One sync backfill of `rows` PostgreSQL rows while everything else runs."""
    from analytics_engine.bench.backfill import make_table

    schema = f"soak_{uuid.uuid4().hex[:8]}"
    make_table(PG_DSN, schema, rows)
    outcome: dict[str, Any] = {"rows": rows}
    try:
        with httpx.Client(base_url=url, headers=admin, timeout=120) as client:
            spec = {
                "name": schema,
                "dsn": PG_DSN,
                "table": f"{schema}.donations",
                "tenant_column": "org_id",
                "cursor": "updated_at",
                "target": {"kind": "table", "table": f"{schema}_donations"},
            }
            client.post("/v1/admin/sync/sources", json=spec).raise_for_status()
            started = time.perf_counter()
            job = client.post(f"/v1/admin/sync/sources/{schema}/backfill").raise_for_status().json()
            while True:
                job = client.get(f"/v1/admin/jobs/{job['id']}").json()
                if job["state"] not in ("queued", "running"):
                    break
                if time.monotonic() > deadline + 600:
                    op.error("backfill still running 10 minutes after the soak")
                    return outcome
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            if job["state"] != "succeeded":
                op.error(f"backfill {job['state']}: {job.get('error')}")
            else:
                op.latencies.append(seconds * 1000)
                outcome.update(seconds=round(seconds, 2), rows_per_second=round(rows / seconds))
    except Exception as exc:
        op.error(repr(exc))
    finally:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return outcome


async def _load(
    soak: Soak,
    rate: int,
    nats_share: float,
    dashboard_id: str,
    alert_ids: list[str],
    sse: int,
    faults: Faults | None = None,
) -> None:
    # Idle connections are dropped after 1 s, before uvicorn's 5 s keep-alive timeout closes them
    # under a request being sent (a client-side race that reads as "Server disconnected").
    limits = httpx.Limits(max_connections=sse + 40, max_keepalive_connections=sse + 40, keepalive_expiry=1.0)
    nc = await nats.connect(NATS_URL, pending_size=64 * 1024 * 1024)
    js: Any = nc.jetstream()
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
    if faults is not None:
        js, transport = FaultyJetStream(js, faults), FaultyTransport(transport, faults)
    http_pacer, nats_pacer = Pacer(rate * (1 - nats_share)), Pacer(rate * nats_share)
    async with (
        httpx.AsyncClient(base_url=soak.url, timeout=httpx.Timeout(120), transport=transport) as client,
        httpx.AsyncClient(base_url=soak.url, timeout=httpx.Timeout(60, read=None), limits=limits) as streams,
    ):
        tasks = [asyncio.create_task(soak.sse_client(streams, dashboard_id)) for _ in range(sse)]
        await asyncio.sleep(1.0)
        if rate * (1 - nats_share) > 0:
            tasks += [asyncio.create_task(soak.http_ingest(client, http_pacer)) for _ in range(HTTP_SENDERS)]
        if rate * nats_share > 0:
            tasks += [asyncio.create_task(soak.nats_ingest(js, nats_pacer)) for _ in range(16)]
        tasks += [
            asyncio.create_task(soak.renders(client, dashboard_id, pause=1.0)),
            asyncio.create_task(soak.exports(client, pause=5.0)),
            asyncio.create_task(soak.alerts(client, alert_ids, pause=2.0)),
        ]
        while soak.running():
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        for task in tasks[:sse]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await nc.close()


def _wait_drained(url: str, key: str, admin: dict[str, str], expected: int, timeout: float = 1200) -> dict[str, Any]:
    """Until the consumer has no lag and the tenant's count reaches what was acknowledged."""
    started = time.monotonic()
    count = -1
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() - started < timeout:
            count = client.get("/v1/events/count", headers={"Authorization": f"Bearer {key}"}).json()["count"]
            if count >= expected:
                break
            time.sleep(1.0)
        status = client.get("/v1/admin/ingest/status", headers=admin).json()
    return {"count_after_drain": count, "drain_seconds": round(time.monotonic() - started, 1), "ingest_status": status}


def _verify(folder: Path, tenant_id: str) -> dict[str, Any]:
    """With `serve` stopped: what the warehouse holds for the tenant, and the derived tables' check,
    read by a child process (this one may hold another embedded warehouse: one path per process)."""
    from analytics_engine.bench.crash import inspect_warehouse

    env = {
        **os.environ,
        "ANALYTICS_DATA_DIR": str(folder),
        "ANALYTICS_WAREHOUSE_DSN": f"chdb://{folder / 'warehouse'}",
        "ANALYTICS_WAREHOUSE_DATABASE": "analytics",
    }
    found = inspect_warehouse(env)
    counts = found["tenants"].get(tenant_id, {"count": 0, "distinct": 0})
    return {
        "stored": int(counts["count"]),
        "distinct_ids": int(counts["distinct"]),
        "derived_mismatches": [
            f"{m['tenant_id']} {m['table']} {m['figure']}: {m['derived']} vs {m['raw']}" for m in found["mismatches"]
        ],
    }


def run(
    minutes: float,
    rate: int,
    nats_share: float,
    sse: int,
    backfill_rows: int,
    alerts: int,
    history: int,
    nats_batch: int = 5000,
    server_env: dict[str, str] | None = None,
    faults: Faults | None = None,
) -> dict[str, Any]:
    """The soak; `backfill_rows=0` leaves the backfill out, `faults` injects failures into its own
    ingest clients (the resend path, tests/bench/test_soak_bench.py)."""
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"SOAK_{tag}".upper(), f"soak{tag}"
    env = {
        "ANALYTICS_NATS_INGEST": "true",
        "ANALYTICS_NATS_URL": NATS_URL,
        "ANALYTICS_NATS_STREAM": stream,
        "ANALYTICS_NATS_SUBJECTS": f"{subject}.>",
        "ANALYTICS_NATS_CONSUMER": "soak",
        "ANALYTICS_NATS_BATCH_MAX_EVENTS": str(nats_batch),
        "ANALYTICS_NATS_BATCH_MAX_SECONDS": "1",
        "ANALYTICS_BUDGET_MAX_CONCURRENT_QUERIES": "0",
        "ANALYTICS_BUDGET_QUERY_SECONDS_PER_DAY": "0",
        "ANALYTICS_STREAM_MAX_PER_TENANT": str(max(50, sse * 2)),
        "ANALYTICS_SYNC_SCHEDULE": "false",
        **(server_env or {}),
    }
    source = EventSource()
    duration = minutes * 60
    try:
        with server_process(extra_env=env) as server:
            tenant_id, key = server.tenant_key("soak")
            admin = server.admin_headers()
            if history:
                print(f"loading {history:,} events of history...")
                with httpx.Client(base_url=server.url, timeout=300) as client:
                    for _ in range(0, history, 5 * HTTP_BODY_EVENTS):
                        body = b"[" + b",".join(source.take_body(HTTP_BODY_EVENTS)[1:-1] for _ in range(5)) + b"]"
                        client.post(
                            "/v1/events", headers={"Authorization": f"Bearer {key}"}, content=body
                        ).raise_for_status()
            dashboard_id, alert_ids = _setup(server.url, key, admin, alerts)
            baseline = _idle_baseline(server.url, key, dashboard_id, alert_ids)
            history_count = httpx.get(
                f"{server.url}/v1/events/count", headers={"Authorization": f"Bearer {key}"}, timeout=60
            ).json()["count"]
            print(f"soak: {minutes:g} min at {rate:,} events/s ({nats_share:.0%} over NATS), {sse} SSE clients...")
            ops = {
                name: Op(name)
                for name in (
                    "http_ingest",
                    "nats_publish",
                    "dashboard_render",
                    "sse_update_gap",
                    "export",
                    "alert_evaluation",
                    "backfill",
                )
            }
            soak = Soak(server.url, key, tenant_id, stream, subject, time.monotonic() + duration, ops, source)
            samples: list[tuple[float, int]] = []
            stop = threading.Event()
            sampler = threading.Thread(target=_sample_rss, args=(server.process.pid, samples, stop), daemon=True)
            sampler.start()
            reports: list[tuple[float, dict[str, Any]]] = []
            reporter = threading.Thread(target=_sample_memory, args=(server.url, admin, reports, stop), daemon=True)
            reporter.start()
            backfill: dict[str, Any] = {}

            def start_backfill() -> None:
                time.sleep(min(30.0, duration / 4))
                backfill.update(_backfill(server.url, admin, backfill_rows, ops["backfill"], soak.deadline))

            filler = threading.Thread(target=start_backfill, daemon=True)
            if backfill_rows:
                filler.start()
            cpu_before = (process_cpu(server.process.pid), thread_cpu(server.process.pid))
            load_started = time.monotonic()
            asyncio.run(_load(soak, rate, nats_share, dashboard_id, alert_ids, sse, faults))
            load_seconds = time.monotonic() - load_started
            cpu_after = (process_cpu(server.process.pid), thread_cpu(server.process.pid))
            stored_at_end = httpx.get(
                f"{server.url}/v1/events/count", headers={"Authorization": f"Bearer {key}"}, timeout=120
            ).json()["count"]
            cpu = cpu_figures(cpu_before, cpu_after, load_seconds, stored_at_end - history_count)
            load_samples = len(samples)
            load_reports = [item for item in reports if item[0] <= load_seconds + MEMORY_EVERY_SECONDS / 2]
            if backfill_rows:
                filler.join(timeout=900)
            acknowledged = soak.http_acked + soak.nats_acked
            drained = _wait_drained(server.url, key, admin, history_count + acknowledged)
            stop.set()
        verified = _verify(server.data_dir, tenant_id)
    finally:
        stream_messages = None
        with contextlib.suppress(Exception):
            stream_messages = asyncio.run(_stream_messages(stream))
        with contextlib.suppress(Exception):
            asyncio.run(_delete_stream(stream))
    expected = history_count + acknowledged
    memory = rss_growth(samples[:load_samples], load_seconds)
    memory["max_mib_with_drain"] = round(max((kib for _, kib in samples), default=0) / 1024, 1)
    memory["growth_whole_load"] = (
        round((samples[load_samples - 1][1] - samples[0][1]) / samples[0][1], 4) if load_samples > 1 else None
    )
    memory["components"] = memory_components(load_reports, load_seconds)
    summaries = {name: op.summary(baseline.get(name)) for name, op in ops.items()}
    errors = sum(op.errors for op in ops.values())
    result = {
        "minutes": minutes,
        "target_events_per_second": rate,
        "nats_share": nats_share,
        "nats_batch_max_events": nats_batch,
        "server_env": server_env or {},
        "sse_clients": sse,
        "load_seconds": round(load_seconds, 1),
        "acknowledged": {"http": soak.http_acked, "nats": soak.nats_acked, "history": history_count},
        "achieved_events_per_second": round(acknowledged / load_seconds),
        "stored_during_load_per_second": round((stored_at_end - history_count) / load_seconds),
        "backlog_at_load_end": history_count + acknowledged - stored_at_end,
        "server_cpu": cpu,
        "sse_widget_messages": soak.sse_messages,
        "retried": soak.retried,
        "resent": soak.resent,
        # Messages JetStream holds: one per acknowledged publish when a republish after a lost ack
        # was dropped by its message id (the consumer's duplicate check would drop its events too).
        "nats_stream_messages": stream_messages,
        "faults_injected": dict(faults.fired) if faults is not None else {},
        "load_average": _loadavg(),
        "operations": summaries,
        "errors": errors,
        "backfill": backfill,
        "memory": memory,
        "drain": {k: v for k, v in drained.items() if k != "ingest_status"},
        # The duplicate check's id filter after the drain (null when off): ids checked and looked up.
        "id_filter": (drained["ingest_status"].get("derived_tables") or {}).get("id_filter"),
        "verified": verified,
        "nothing_lost": verified["stored"] == expected
        and verified["distinct_ids"] == expected
        and not verified["derived_mismatches"],
        "targets": {"events_per_second": 20_000, "errors": 0, "rss_growth_last_half": 0.10},
    }
    rows = [
        [
            name,
            s["count"],
            s["p50_ms"] or "",
            s["p95_ms"] or "",
            s["idle_p95_ms"] or "",
            s["ratio_to_idle"] or "",
            s["errors"],
        ]
        for name, s in summaries.items()
    ]
    print_table(
        "bench soak: operations (ms)", ["operation", "count", "p50", "p95", "idle p95", "ratio", "errors"], rows
    )
    print_table(
        "bench soak: totals",
        ["figure", "value"],
        [
            ["events/s acknowledged (target 20,000)", result["achieved_events_per_second"]],
            ["acknowledged (http + nats)", f"{soak.http_acked:,} + {soak.nats_acked:,}"],
            ["events/s stored while the load ran", result["stored_during_load_per_second"]],
            [
                "NATS backlog at the end / drained in (s)",
                f"{result['backlog_at_load_end']:,} / {drained['drain_seconds']}",
            ],
            [
                "stored / distinct ids / expected",
                f"{verified['stored']:,} / {verified['distinct_ids']:,} / {expected:,}",
            ],
            ["derived tables disagreeing", len(verified["derived_mismatches"])],
            ["errors (target 0)", errors],
            [
                "sent again, then acknowledged: HTTP bodies / NATS messages",
                f"{soak.resent['http']} / {soak.resent['nats']}",
            ],
            ["load average at the end (1, 5, 15 min)", result["load_average"]],
            [
                "server: cores used / CPU per stored event (us), while loading",
                f"{cpu['cores']} / {cpu['us_per_stored_event']}",
            ],
            [
                "server: cores by thread",
                ", ".join(f"{name} {cores}" for name, cores in list(cpu["cores_by_thread"].items())[:6]),
            ],
            ["duplicate check: ids checked / looked up in event_ids (id filter)", _filter_figures(result["id_filter"])],
            ["RSS middle -> end (MiB)", f"{memory.get('middle_mib')} -> {memory.get('end_mib')}"],
            ["RSS growth over the last half (target < 10%)", memory.get("growth_last_half", "")],
            ["RSS max, the backlog's drain included (MiB)", memory["max_mib_with_drain"]],
        ],
    )
    components = memory["components"].get("figures", {})
    if components:
        print_table(
            "bench soak: server memory by part (MiB; entries as counts)",
            ["part", "load start", "middle", "end"],
            [[key, v["start"], v["middle"], v["end"]] for key, v in components.items()],
        )
    result["file"] = str(write_result("soak", result))
    return result


def _filter_figures(report: dict[str, Any] | None) -> str:
    if not report:
        return "filter off"
    return f"{report['ids_checked']:,} / {report['ids_looked_up']:,} ({report['ids']:,} ids, {report['bytes']:,} bytes)"


async def _stream_messages(stream: str) -> int:
    nc = await nats.connect(NATS_URL)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


async def _delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()
